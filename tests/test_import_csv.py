"""The ``csv`` importer, through the command line as a user runs it.

Files in cobra's own layout are written by the tests, one behaviour each;
the samples of the shipped mappings' exports, in their vendors' layout with
title lines, group headers, subtotals and multi-line cells, are stored in
``tests/data/csv``. Every refused input is checked for its message, its
exit code, and for leaving the store exactly as it was: an earlier import's
customers, invoices and contacts intact, and no import recorded.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import click.testing
import pytest

from cobra import ledger

DATA = Path(__file__).resolve().parent / "data" / "csv"
REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.stem for p in (REPO / "config" / "mappings").glob("*.toml"))

COLUMNS = (
    "customer_id",
    "customer_name",
    "email",
    "phone",
    "invoice_id",
    "issue_date",
    "due_date",
    "currency",
    "amount",
    "balance",
    "tax_id",
    "country",
    "segment",
)


def row(**fields) -> dict:
    """One invoice row of cobra's layout; keyword arguments change cells."""
    return {
        "customer_id": "76.123.456-7",
        "customer_name": "Viña Los Robles SpA",
        "email": "pagos@losrobles.cl",
        "phone": "",
        "invoice_id": "F-1001",
        "issue_date": "2026-03-02",
        "due_date": "2026-04-01",
        "currency": "CLP",
        "amount": "1190000",
        "balance": "1190000",
        "tax_id": "76.123.456-7",
        "country": "CL",
        "segment": "wholesale",
        **fields,
    }


def nandu(**fields) -> dict:
    """A second customer's invoice: a national phone number, no e-mail, no tax id."""
    return row(
        customer_id="B-77",
        customer_name="Ferretería El Ñandú Ltda",
        email="",
        phone="9 8765 4321",
        invoice_id="F-0990",
        issue_date="2026-01-15",
        due_date="2026-02-14",
        amount="250000",
        balance="250000",
        tax_id="",
        segment="",
        **fields,
    )


def write_layout(
    path: Path,
    rows: list[dict],
    *,
    columns=COLUMNS,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> Path:
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(
            handle,
            columns,
            delimiter=delimiter,
            lineterminator="\r\n",
            extrasaction="ignore",
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


def database(run) -> sqlite3.Connection:
    result = run("db", "path")
    assert result.exit_code == 0, result.stderr
    conn = sqlite3.connect(result.stdout.strip())
    conn.row_factory = sqlite3.Row
    return conn


def invoices(run) -> dict[str, dict]:
    conn = database(run)
    try:
        return {
            row["number"]: dict(row)
            for row in conn.execute(
                "SELECT i.number, c.account, i.issue_date, i.due_date, i.currency,"
                " i.amount, i.balance, i.status, i.closed_on, i.source, i.updated_at"
                " FROM invoices i JOIN customers c ON c.id = i.customer_id"
            )
        }
    finally:
        conn.close()


def snapshot(run) -> dict:
    """Everything an import may write, to prove a refused one wrote nothing."""
    result = run("customers", "--format", "json")
    assert result.exit_code == 0, result.stderr
    conn = database(run)
    try:
        tables = {
            "contacts": sorted(
                tuple(r)
                for r in conn.execute(
                    "SELECT c.account, k.kind, k.value FROM contacts k"
                    " JOIN customers c ON c.id = k.customer_id"
                )
            ),
            "imports": conn.execute("SELECT COUNT(*) FROM imports").fetchone()[0],
        }
    finally:
        conn.close()
    return {"customers": json.loads(result.stdout), "invoices": invoices(run), **tables}


def summary(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def refused(result, *expected: str) -> None:
    """Exit 2, each expected text in the message, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.fixture
def earlier(run, tmp_path) -> dict:
    """A store holding one earlier, good import; returns its snapshot."""
    source = write_layout(
        tmp_path / "earlier.csv",
        [
            row(),
            row(invoice_id="F-1002", amount="595000", balance="95000"),
            nandu(),
        ],
    )
    summary(run("import", str(source), "--format", "json"))
    before = snapshot(run)
    assert len(before["invoices"]) == 3 and before["imports"] == 1
    return before


# -- cobra's own layout ----------------------------------------------------------------


def test_layout_imports_and_the_same_file_again_changes_nothing(run, tmp_path):
    source = write_layout(
        tmp_path / "invoices.csv",
        [
            row(),
            row(invoice_id="F-1002", amount="595000", balance="0"),
            row(
                customer_id="B-77",
                customer_name="Ferretería El Ñandú Ltda",
                email="cobranza@nandu.cl",
                invoice_id="USD-7",
                currency="usd",
                amount="1250.50",
                balance="1250.50",
            ),
        ],
    )

    first = run("import", str(source))

    assert first.exit_code == 0, first.stderr
    assert "customers: 2 inserted, 0 updated, 0 unchanged" in first.stderr
    assert "invoices: 3 inserted, 0 updated, 0 unchanged" in first.stderr
    stored = invoices(run)
    assert {
        n: (r["account"], r["currency"], r["amount"], r["balance"], r["status"])
        for n, r in stored.items()
    } == {
        "F-1001": ("76.123.456-7", "CLP", 1190000, 1190000, "open"),
        "F-1002": ("76.123.456-7", "CLP", 595000, 0, "paid"),
        "USD-7": ("B-77", "USD", 125050, 125050, "open"),
    }
    before = snapshot(run)

    again = run("import", str(source))
    as_json = run("import", str(source), "--format", "json")

    assert again.exit_code == 0, again.stderr
    assert "customers: 0 inserted, 0 updated, 2 unchanged" in again.stderr
    assert "invoices: 0 inserted, 0 updated, 3 unchanged" in again.stderr
    counts = summary(as_json)
    assert counts["customers"] == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert counts["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 3}
    assert counts["rejected"] == 0 and counts["dry_run"] is False
    # The summary goes to stderr as well; stdout holds only the JSON.
    assert "invoices: 0 inserted" in as_json.stderr
    after = snapshot(run)
    assert after["invoices"] == before["invoices"]
    assert after["customers"] == before["customers"]


def test_a_changed_balance_is_one_update(run, tmp_path, earlier):
    source = write_layout(
        tmp_path / "next-week.csv",
        [
            row(),
            row(invoice_id="F-1002", amount="595000", balance="0"),
            nandu(),
        ],
    )

    result = run("import", str(source), "--format", "json")

    counts = summary(result)
    assert counts["invoices"] == {"inserted": 0, "updated": 1, "unchanged": 2}
    assert counts["customers"] == {"inserted": 0, "updated": 0, "unchanged": 2}
    assert "invoices: 0 inserted, 1 updated, 2 unchanged" in result.stderr
    paid = invoices(run)["F-1002"]
    assert (paid["balance"], paid["status"]) == (0, "paid")


# -- encodings, separators, number and date formats ------------------------------------


def test_utf8_with_a_byte_order_mark(run, tmp_path):
    # Excel's "CSV UTF-8" starts with a BOM, which must not end up in the
    # name of the first column.
    source = write_layout(tmp_path / "excel.csv", [row()], encoding="utf-8-sig")
    assert source.read_bytes().startswith(b"\xef\xbb\xbfcustomer_id,")

    counts = summary(run("import", str(source), "--format", "json"))

    assert counts["invoices"]["inserted"] == 1
    assert snapshot(run)["customers"][0]["name"] == "Viña Los Robles SpA"


def cp1252_file(tmp_path: Path) -> Path:
    return write_layout(
        tmp_path / "legacy.csv",
        [
            row(
                customer_id="C-9",
                customer_name="Compañía Minera Ñuñoa Ltda",
                invoice_id="F-9",
            ),
            row(
                customer_id="FR-1",
                customer_name="Société Générale d'Éclairage",
                email="",
                invoice_id="FR-100",
                currency="EUR",
                amount="99.90",
                balance="99.90",
                country="FR",
                tax_id="",
            ),
        ],
        encoding="cp1252",
    )


def test_cp1252_file_with_encoding_option(run, tmp_path):
    result = run("import", str(cp1252_file(tmp_path)), "--encoding", "cp1252")

    assert result.exit_code == 0, result.stderr
    names = {c["account"]: c["name"] for c in snapshot(run)["customers"]}
    assert names == {
        "C-9": "Compañía Minera Ñuñoa Ltda",
        "FR-1": "Société Générale d'Éclairage",
    }


def test_cp1252_file_without_encoding_is_refused(run, tmp_path, earlier):
    source = cp1252_file(tmp_path)

    result = run("import", str(source))

    refused(
        result,
        f"{source}: not UTF-8 text (byte b'\\xf1' cannot be decoded)",
        "--encoding cp1252",
    )
    assert snapshot(run) == earlier


@pytest.mark.parametrize(
    "delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"]
)
def test_separator_is_sniffed(run, tmp_path, delimiter):
    # Names with commas must not fool the sniffing.
    source = write_layout(
        tmp_path / "export.csv",
        [
            row(customer_name="Los Robles, Viña y Bodega SpA"),
            row(
                customer_id="B-77",
                customer_name="Ñandú, Ferretería",
                invoice_id="F-7",
                email="",
            ),
        ],
        delimiter=delimiter,
    )

    counts = summary(run("import", str(source), "--format", "json"))

    assert counts["invoices"]["inserted"] == 2
    names = sorted(c["name"] for c in snapshot(run)["customers"])
    assert names == ["Los Robles, Viña y Bodega SpA", "Ñandú, Ferretería"]


def test_delimiter_option(run, tmp_path):
    source = write_layout(tmp_path / "export.txt", [row()], delimiter="\t")

    # "\t" typed in a shell arrives as backslash-t.
    counts = summary(
        run("import", str(source), "--delimiter", "\\t", "--format", "json")
    )

    assert counts["invoices"]["inserted"] == 1


def test_wrong_delimiter_option_says_what_it_found(run, tmp_path, earlier):
    source = write_layout(tmp_path / "semicolons.csv", [row()], delimiter=";")

    result = run("import", str(source), "--delimiter", ",")

    refused(
        result,
        f"{source}: missing required columns customer_id, customer_name",
        "found: customer_id;customer_name;email",
        "the separator may not be a comma: try --delimiter ';'",
    )
    assert snapshot(run) == earlier


def test_delimiter_of_two_characters_is_refused(run, tmp_path, earlier):
    source = write_layout(tmp_path / "export.csv", [row()])

    refused(
        run("import", str(source), "--delimiter", ";;"),
        "--delimiter ';;': give one character",
    )
    assert snapshot(run) == earlier


def european(tmp_path: Path) -> Path:
    return write_layout(
        tmp_path / "europa.csv",
        [
            row(
                customer_id="ES-1",
                customer_name="Distribuciones Ébano S.L.",
                invoice_id="A-1",
                issue_date="31/01/2026",
                due_date="02/03/2026",
                currency="EUR",
                amount="1.234.567,89",
                balance="234.567,80",
                country="ES",
                tax_id="B12345678",
            ),
            row(
                customer_id="ES-1",
                customer_name="Distribuciones Ébano S.L.",
                invoice_id="A-2",
                issue_date="15/02/2026",
                due_date="17/03/2026",
                currency="EUR",
                amount="980,00",
                balance="980,00",
                country="ES",
                tax_id="B12345678",
            ),
        ],
        delimiter=";",
    )


def test_decimal_comma_thousands_and_day_first_dates(run, tmp_path):
    result = run(
        "import",
        str(european(tmp_path)),
        "--decimal",
        ",",
        "--thousands",
        ".",
        "--date-format",
        "%d/%m/%Y",
    )

    assert result.exit_code == 0, result.stderr
    stored = invoices(run)
    assert {
        n: (r["issue_date"], r["due_date"], r["amount"], r["balance"])
        for n, r in stored.items()
    } == {
        "A-1": ("2026-01-31", "2026-03-02", 123456789, 23456780),
        "A-2": ("2026-02-15", "2026-03-17", 98000, 98000),
    }


def test_decimal_comma_without_options_hints_at_them(run, tmp_path, earlier):
    source = european(tmp_path)

    result = run("import", str(source), "--date-format", "%d/%m/%Y")

    refused(
        result,
        "2 invalid records; nothing was imported",
        f"{source}:2: amount: cannot read '1.234.567,89'",
        "with --decimal , and --thousands . it reads as 1234567.89",
    )
    assert snapshot(run) == earlier


def test_day_first_dates_without_date_format_hint_at_it(run, tmp_path, earlier):
    source = european(tmp_path)

    result = run("import", str(source), "--decimal", ",", "--thousands", ".")

    refused(
        result,
        f"{source}:2: issue_date: '31/01/2026' is not a date in YYYY-MM-DD form",
        "use --date-format %d/%m/%Y",
        f"{source}:3: issue_date: '15/02/2026'",
    )
    assert snapshot(run) == earlier


# -- bad files and bad rows: message, exit 2, nothing written --------------------------


def test_missing_required_column_is_named_with_what_was_found(run, tmp_path, earlier):
    columns = tuple(c for c in COLUMNS if c != "due_date")
    source = write_layout(tmp_path / "no-due.csv", [row()], columns=columns)

    result = run("import", str(source))

    refused(
        result,
        f"{source}: missing required column due_date (read with the cobra layout;",
        "found: customer_id, customer_name, email, phone, invoice_id, issue_date, "
        "currency, amount, balance, tax_id, country, segment)",
    )
    assert snapshot(run) == earlier


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (
            {"currency": "USX"},
            ":2: currency: unknown currency 'USX': name its 3-letter ISO 4217 code",
        ),
        (
            {"issue_date": "2026-02-30"},
            ":2: issue_date: '2026-02-30' is not a date in YYYY-MM-DD form",
        ),
        ({"amount": "1 190 000 pesos"}, ":2: amount: cannot read '1 190 000 pesos'"),
        ({"balance": "n/a"}, ":2: balance: cannot read 'n/a'"),
        (
            {"issue_date": "2026-04-02", "due_date": "2026-03-02"},
            ":2: due_date: 2026-03-02 is before the issue date 2026-04-02",
        ),
        (
            {"balance": "-5000"},
            ":2: balance: negative balance -5000: an invoice cannot owe the customer",
        ),
        (
            {"amount": "1190000.5"},
            ":2: amount: '1190000.5' has more decimals than CLP allows (0)",
        ),
        (
            {"email": "pagos@losrobles"},
            ":2: email: 'pagos@losrobles' is not an e-mail address",
        ),
        ({"phone": "12345"}, ":2: phone: '12345' is not a valid phone number for CL"),
        ({"customer_id": ""}, ":2: customer_id: missing customer id"),
    ],
    ids=[
        "currency",
        "date",
        "amount",
        "balance",
        "due-before-issue",
        "negative-balance",
        "decimals",
        "email",
        "phone",
        "no-customer-id",
    ],
)
def test_bad_cell_is_refused_and_nothing_is_written(
    run, tmp_path, earlier, cells, expected
):
    source = write_layout(
        tmp_path / "bad.csv",
        [row(invoice_id="F-2001", **cells), row(invoice_id="F-2002")],
    )

    result = run("import", str(source))

    refused(
        result,
        "1 invalid record; nothing was imported",
        f"{source}{expected}",
        "--skip-invalid",
    )
    assert snapshot(run) == earlier


def test_unknown_currency_suggests_the_likely_code(run, tmp_path, earlier):
    source = write_layout(
        tmp_path / "typo.csv", [row(currency="EUROS", amount="10.00", balance="10.00")]
    )

    result = run("import", str(source))

    refused(
        result, f"{source}:2: currency: unknown currency 'EUROS'", "did you mean", "EUR"
    )
    assert snapshot(run) == earlier


def test_same_invoice_twice_with_other_amounts_names_both_lines(run, tmp_path, earlier):
    source = write_layout(
        tmp_path / "twice.csv",
        [
            row(invoice_id="F-3001"),
            row(invoice_id="F-3002"),
            row(invoice_id="F-3001", amount="1250000", balance="1250000"),
        ],
    )

    result = run("import", str(source))

    refused(
        result,
        f"{source}:4: invoice_id: invoice F-3001 appears again with other values "
        f"(first at {source}:2)",
    )
    assert snapshot(run) == earlier


def test_same_invoice_twice_with_the_same_values_is_one_invoice(run, tmp_path):
    # Exports with one row per invoice line repeat the invoice's totals.
    source = write_layout(
        tmp_path / "lines.csv", [row(), row(), row(invoice_id="F-1002")]
    )

    counts = summary(run("import", str(source), "--format", "json"))

    assert counts["invoices"] == {"inserted": 2, "updated": 0, "unchanged": 0}


@pytest.mark.parametrize(
    "content", [b"", b"\r\n\r\n  \r\n"], ids=["zero-bytes", "blank-lines"]
)
def test_empty_file_is_refused(run, tmp_path, earlier, content):
    source = tmp_path / "empty.csv"
    source.write_bytes(content)

    result = run("import", str(source))

    refused(
        result,
        f"{source}: the file is empty; expected a header row with the columns "
        "customer_id, customer_name, invoice_id, issue_date, due_date, currency, "
        "amount, balance",
    )
    assert snapshot(run) == earlier


def test_header_only_file_imports_nothing_and_succeeds(run, tmp_path, earlier):
    # An ERP with nothing open exports just the header: that is not an error.
    source = write_layout(tmp_path / "nothing-open.csv", [])

    table = run("import", str(source))
    counts = summary(run("import", str(source), "--format", "json"))

    assert table.exit_code == 0, table.stderr
    assert "nothing new" in table.stderr
    assert counts["customers"] == {"inserted": 0, "updated": 0, "unchanged": 0}
    assert counts["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 0}
    after = snapshot(run)
    assert after["invoices"] == earlier["invoices"]
    assert after["customers"] == earlier["customers"]
    assert after["imports"] == earlier["imports"] + 2


def test_header_only_file_with_sync_would_close_everything_so_is_refused(
    run, tmp_path, earlier
):
    source = write_layout(tmp_path / "nothing-open.csv", [])

    result = run("import", str(source), "--sync")

    refused(
        result,
        "--sync would close 3 of 3 open invoices (100%, more than the 50% allowed)",
        "--force",
        "Nothing was imported.",
    )
    assert snapshot(run) == earlier


def test_phone_is_stored_in_e164_read_in_the_customers_country(run, tmp_path):
    source = write_layout(
        tmp_path / "phones.csv",
        [
            row(phone="9 8765 4321"),
            # No country: read in company.country (US in the default config).
            row(
                customer_id="US-1",
                customer_name="Bayside Supply Co",
                email="",
                country="",
                phone="(415) 555-0132",
                invoice_id="US-1",
                currency="USD",
                amount="10.00",
                balance="10.00",
                tax_id="",
            ),
            row(
                customer_id="AR-1",
                customer_name="Estancia La Pampa SA",
                email="",
                country="AR",
                phone="+54 9 11 2345-6789",
                invoice_id="AR-1",
                currency="ARS",
                amount="10.00",
                balance="10.00",
                tax_id="",
            ),
        ],
    )

    assert run("import", str(source)).exit_code == 0

    phones = {
        account: value
        for account, kind, value in snapshot(run)["contacts"]
        if kind == "phone"
    }
    assert phones == {
        "76.123.456-7": "+56987654321",
        "US-1": "+14155550132",
        "AR-1": "+5491123456789",
    }


def test_more_than_twenty_bad_rows_show_twenty_then_a_count(run, tmp_path, earlier):
    rows = [
        row(invoice_id=f"F-{4000 + i}", amount="1.190.000" if i % 2 else "1190000")
        for i in range(50)
    ]
    source = write_layout(tmp_path / "many.csv", rows)

    result = run("import", str(source))

    refused(result, "25 invalid records; nothing was imported", "... and 5 more")
    shown = re.findall(
        rf"^{re.escape(str(source))}:(\d+): amount: ", result.stderr, flags=re.MULTILINE
    )
    assert shown == [str(line) for line in range(3, 43, 2)]  # the first 20, in order
    lines = result.stderr.splitlines()
    twentieth = next(
        i for i, line in enumerate(lines) if line.startswith(f"{source}:41: ")
    )
    assert lines[twentieth + 1] == "... and 5 more"
    assert snapshot(run) == earlier


# -- --skip-invalid, --dry-run, --sync -------------------------------------------------


def mixed(tmp_path: Path) -> Path:
    return write_layout(
        tmp_path / "mixed.csv",
        [
            row(invoice_id="F-5001"),
            row(invoice_id="F-5002", issue_date="02/03/2026"),
            row(
                invoice_id="F-5003",
                customer_id="B-88",
                customer_name="Agrícola Sur Ltda",
                email="cobranza@agricolasur",
            ),
            row(invoice_id="F-5004", amount="500000", balance="500000"),
        ],
    )


def read_rejects(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["source", "line", "field", "problem"]
        return list(reader)


def test_skip_invalid_imports_the_valid_rows_and_writes_rejects_next_to_the_source(
    run, tmp_path, earlier
):
    source = mixed(tmp_path)

    result = run("import", str(source), "--skip-invalid", "--format", "json")

    counts = summary(result)
    assert counts["invoices"] == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert counts["rejected"] == 2
    assert f"rejected: 2 (written to {source}.rejects.csv)" in result.stderr
    rejects = read_rejects(Path(f"{source}.rejects.csv"))
    assert [(r["source"], r["line"], r["field"]) for r in rejects] == [
        (str(source), "3", "issue_date"),
        (str(source), "4", "email"),
    ]
    assert rejects[1]["problem"] == "'cobranza@agricolasur' is not an e-mail address"
    stored = invoices(run)
    assert set(stored) == set(earlier["invoices"]) | {"F-5001", "F-5004"}
    # The rejected row's customer was not created either.
    assert "B-88" not in {c["account"] for c in snapshot(run)["customers"]}


def test_skip_invalid_with_rejects_path(run, tmp_path):
    target = tmp_path / "out" / "rejected.csv"
    target.parent.mkdir()
    source = mixed(tmp_path)

    result = run("import", str(source), "--skip-invalid", "--rejects", str(target))

    assert result.exit_code == 0, result.stderr
    assert len(read_rejects(target)) == 2
    assert not Path(f"{source}.rejects.csv").exists()


def test_skip_invalid_without_rejects_writes_no_file(run, tmp_path):
    source = write_layout(tmp_path / "clean.csv", [row()])

    assert run("import", str(source), "--skip-invalid").exit_code == 0
    assert not Path(f"{source}.rejects.csv").exists()


def test_dry_run_counts_and_writes_nothing(run, tmp_path, earlier):
    source = write_layout(
        tmp_path / "next.csv",
        [
            row(),
            row(invoice_id="F-1002", amount="595000", balance="0"),
            row(
                invoice_id="F-6001",
                customer_id="B-99",
                customer_name="Nueva Cliente SpA",
                email="",
            ),
        ],
    )

    result = run("import", str(source), "--dry-run", "--format", "json")

    counts = summary(result)
    assert counts["dry_run"] is True and counts["import_id"] is None
    assert counts["customers"] == {"inserted": 1, "updated": 0, "unchanged": 1}
    assert counts["invoices"] == {"inserted": 1, "updated": 1, "unchanged": 1}
    assert "Would import" in result.stderr
    assert snapshot(run) == earlier


def test_sync_closes_invoices_the_source_no_longer_lists(run, tmp_path, earlier):
    # Three open invoices; the new export lists two: one third is closed.
    source = write_layout(
        tmp_path / "open-now.csv",
        [
            row(),
            nandu(),
        ],
    )

    result = run("import", str(source), "--sync", "--format", "json")

    assert summary(result)["closed_by_sync"] == 1
    assert "closed by sync: 1 invoices" in result.stderr
    conn = database(run)
    closed = conn.execute(
        "SELECT status, balance, closed_on FROM invoices WHERE number = 'F-1002'"
    ).fetchone()
    statuses = dict(conn.execute("SELECT number, status FROM invoices"))
    conn.close()
    assert (closed["status"], closed["balance"]) == ("settled_by_sync", 0)
    assert closed["closed_on"]
    assert statuses == {"F-1001": "open", "F-1002": "settled_by_sync", "F-0990": "open"}


def test_sync_with_a_truncated_export_is_refused_then_forced(run, tmp_path, earlier):
    # The export stopped after its first row, and that row changed: neither
    # the closing nor the change may be written.
    source = write_layout(tmp_path / "truncated.csv", [row(balance="100000")])

    result = run("import", str(source), "--sync")

    refused(
        result,
        "--sync would close 2 of 3 open invoices (67%, more than the 50% "
        "allowed); if the source really is the complete open ledger, repeat "
        "with --force. Nothing was imported.",
    )
    assert snapshot(run) == earlier

    forced = run("import", str(source), "--sync", "--force", "--format", "json")

    assert summary(forced)["closed_by_sync"] == 2
    assert {n: (r["status"], r["balance"]) for n, r in invoices(run).items()} == {
        "F-1001": ("open", 100000),
        "F-1002": ("settled_by_sync", 0),
        "F-0990": ("settled_by_sync", 0),
    }


# -- --map, --mapping, options that do not apply ---------------------------------------


def test_map_reads_an_erp_export_with_its_own_column_names(run, tmp_path):
    # A Chilean ERP's listing: its own titles, semicolons, decimal commas.
    source = tmp_path / "cartera.csv"
    source.write_text(
        "RUT Cliente;Razón Social;Correo;Folio;Fecha Emisión;Vencimiento;Moneda;"
        "Total;Saldo;Vendedor\n"
        "76.123.456-7;Viña Los Robles SpA;pagos@losrobles.cl;33-1001;02/03/2026;"
        "01/04/2026;CLP;1.190.000;1.190.000;ana@example.com\n"
        "96.555.444-1;Agrícola Sur Ltda;;33-1002;05/03/2026;04/04/2026;USD;"
        "2.500,50;1.000,00;ana@example.com\n",
        encoding="utf-8",
    )
    maps = [
        "customer_id=RUT Cliente",
        "customer_name=Razón Social",
        "email=Correo",
        "invoice_id=Folio",
        "issue_date=Fecha Emisión",
        "due_date=Vencimiento",
        "currency=Moneda",
        "amount=Total",
        "balance=Saldo",
        "salesperson_email=Vendedor",
        "tax_id=RUT Cliente",
    ]

    result = run(
        "import",
        str(source),
        *[a for m in maps for a in ("--map", m)],
        "--decimal",
        ",",
        "--thousands",
        ".",
        "--date-format",
        "%d/%m/%Y",
    )

    assert result.exit_code == 0, result.stderr
    assert {
        n: (r["account"], r["currency"], r["amount"], r["balance"])
        for n, r in invoices(run).items()
    } == {
        "33-1001": ("76.123.456-7", "CLP", 1190000, 1190000),
        "33-1002": ("96.555.444-1", "USD", 250050, 100000),
    }
    conn = database(run)
    people = dict(conn.execute("SELECT account, salesperson_email FROM customers"))
    conn.close()
    assert people == {
        "76.123.456-7": "ana@example.com",
        "96.555.444-1": "ana@example.com",
    }


def test_map_renames_one_column_of_the_cobra_layout(run, tmp_path):
    columns = tuple("client_code" if c == "customer_id" else c for c in COLUMNS)
    rows = [{**row(), "client_code": "K-1"}]
    source = write_layout(tmp_path / "renamed.csv", rows, columns=columns)

    result = run("import", str(source), "--map", "customer_id=client_code")

    assert result.exit_code == 0, result.stderr
    assert invoices(run)["F-1001"]["account"] == "K-1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "client=Cliente",
            (
                "--map 'client=Cliente': write FIELD=COLUMN with FIELD one of "
                "customer_id, customer_name"
            ),
        ),
        ("customer_id", "--map 'customer_id': write FIELD=COLUMN"),
        ("customer_id=", "--map 'customer_id=': write FIELD=COLUMN"),
    ],
    ids=["unknown-field", "no-equals", "no-column"],
)
def test_bad_map_is_refused(run, tmp_path, earlier, value, expected):
    source = write_layout(tmp_path / "ok.csv", [row(invoice_id="F-9999")])

    refused(run("import", str(source), "--map", value), expected)
    assert snapshot(run) == earlier


def test_unknown_mapping_name_lists_the_shipped_ones(run, tmp_path, earlier):
    source = write_layout(tmp_path / "ok.csv", [row(invoice_id="F-9999")])

    result = run("import", str(source), "--mapping", "sage-aging")

    refused(
        result,
        "--mapping sage-aging: no such file, and no shipped mapping of that name "
        f"(shipped: {', '.join(SHIPPED)})",
    )
    assert SHIPPED == ["quickbooks-aging", "xero-invoices"]
    assert snapshot(run) == earlier


def test_csv_option_with_a_ubl_source_is_a_usage_error(run, earlier):
    ubl = Path(__file__).resolve().parent / "data" / "ubl" / "invoice-inv-1.xml"

    result = run("import", str(ubl), "--delimiter", ";")

    assert result.exit_code == 2
    assert (
        f"--delimiter does not apply to the ubl importer (reading {ubl})"
        in result.stderr
    )
    assert snapshot(run) == earlier


def user_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-erp.toml"
    path.write_text(text, encoding="utf-8")
    return path


MY_ERP = """
[columns]
customer_id = "Account"
customer_name = "Name"
invoice_id = "Document"
issue_date = "Posted"
due_date = "Due"
amount = "Gross"
balance = "Outstanding"

[constants]
currency = "MXN"
country = "MX"

[options]
date_format = "%d.%m.%Y"
"""


def test_user_mapping_file_with_constants_and_options(run, tmp_path):
    mapping = user_mapping(tmp_path, MY_ERP)
    source = tmp_path / "erp.csv"
    source.write_text(
        "Account,Name,Document,Posted,Due,Gross,Outstanding,Phone\n"
        "MX-1,Abarrotes Doña Lupe,D-1,03.02.2026,05.03.2026,11600.00,5800.00,"
        "55 1234 5678\n",
        encoding="utf-8",
    )

    result = run(
        "import", str(source), "--mapping", str(mapping), "--map", "phone=Phone"
    )

    assert result.exit_code == 0, result.stderr
    stored = invoices(run)["D-1"]
    assert (
        stored["currency"],
        stored["issue_date"],
        stored["amount"],
        stored["balance"],
    ) == ("MXN", "2026-02-03", 1160000, 580000)
    assert snapshot(run)["contacts"] == [("MX-1", "phone", "+525512345678")]


def test_command_line_options_win_over_the_mappings_options(run, tmp_path):
    mapping = user_mapping(tmp_path, MY_ERP)
    source = tmp_path / "erp.csv"
    source.write_text(
        "Account,Name,Document,Posted,Due,Gross,Outstanding\n"
        "MX-1,Abarrotes Doña Lupe,D-1,2026/02/03,2026/03/05,11600.00,5800.00\n",
        encoding="utf-8",
    )

    result = run(
        "import", str(source), "--mapping", str(mapping), "--date-format", "%Y/%m/%d"
    )

    assert result.exit_code == 0, result.stderr
    assert invoices(run)["D-1"]["issue_date"] == "2026-02-03"


def test_map_wins_over_a_mappings_constant(run, tmp_path):
    mapping = user_mapping(tmp_path, MY_ERP)
    source = tmp_path / "erp.csv"
    source.write_text(
        "Account,Name,Document,Posted,Due,Gross,Outstanding,Moneda\n"
        "MX-1,Abarrotes Doña Lupe,D-1,03.02.2026,05.03.2026,100.00,100.00,USD\n",
        encoding="utf-8",
    )

    result = run(
        "import", str(source), "--mapping", str(mapping), "--map", "currency=Moneda"
    )

    assert result.exit_code == 0, result.stderr
    assert invoices(run)["D-1"]["currency"] == "USD"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            MY_ERP.replace("date_format", "date-format"),
            (
                "unknown [options] key(s) date-format; keys are encoding, delimiter, "
                "decimal, thousands, date_format"
            ),
        ),
        (MY_ERP.replace("customer_name =", "name ="), "unknown cobra field(s) name;"),
        ('skip_when_empty = ["date"]\n' + MY_ERP, "unknown cobra field(s) date;"),
        (MY_ERP.replace("[columns]", "[columns"), "not valid TOML"),
    ],
    ids=["misspelt-option", "unknown-field", "unknown-skip-field", "bad-toml"],
)
def test_bad_mapping_file_is_refused(run, tmp_path, earlier, text, expected):
    mapping = user_mapping(tmp_path, text)
    source = write_layout(tmp_path / "ok.csv", [row(invoice_id="F-9999")])

    refused(
        run("import", str(source), "--mapping", str(mapping)), f"{mapping}", expected
    )
    assert snapshot(run) == earlier


# -- line numbers, progress ------------------------------------------------------------


def test_line_numbers_count_lines_inside_quoted_cells(run, tmp_path, earlier):
    source = tmp_path / "quoted.csv"
    source.write_text(
        "customer_id,customer_name,email,invoice_id,issue_date,due_date,currency,"
        "amount,balance\r\n"
        'C-1,"Robles, Viña y Bodega",,F-1,2026-03-02,2026-04-01,CLP,1000,1000\r\n'
        'C-2,"Casa Matriz\r\nSucursal Norte\r\nBodega 3",,F-2,02/03/2026,'
        "2026-04-01,CLP,1000,1000\r\n"
        'C-3,"Comercial ""La Estrella"", Ltda",,F-3,2026-03-02,2026-04-01,CLP,'
        "1000,1000\r\n"
        "C-4,Sin Comillas,,F-4,2026-03-02,2026-04-01,CLP,mil,1000\r\n",
        encoding="utf-8",
    )

    result = run("import", str(source))

    refused(result, "2 invalid records")
    # The record spanning lines 3-5 is reported where it starts; the bad
    # row after it is on line 7 of the file, as an editor shows it.
    assert f"{source}:3: issue_date: '02/03/2026'" in result.stderr
    assert f"{source}:7: amount: cannot read 'mil'" in result.stderr
    assert snapshot(run) == earlier


class _Clock:
    """A stand-in for the time module in which each reading is a second later."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


def big_file(tmp_path: Path, rows: int = 25000) -> Path:
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        handle.write(
            "customer_id,customer_name,invoice_id,issue_date,due_date,currency,"
            "amount,balance\n"
        )
        for i in range(rows):
            handle.write(
                f"C-{i % 500},Customer {i % 500},F-{i},2026-03-02,2026-04-01,USD,"
                "100.00,100.00\n"
            )
    return path


def test_no_progress_output_when_stderr_is_not_a_terminal(run, tmp_path, monkeypatch):
    # The clock says every record took a second: only the terminal check
    # keeps the progress line out of a log file or a pipe.
    monkeypatch.setattr(ledger, "time", _Clock())

    result = run("import", str(big_file(tmp_path)))

    assert result.exit_code == 0, result.stderr
    assert "\r" not in result.stderr
    assert "records..." not in result.stderr
    assert result.stderr.splitlines()[0] == f"Imported {tmp_path / 'big.csv'}"


def test_progress_on_a_terminal_counts_rows(run, tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "time", _Clock())
    monkeypatch.setattr(
        click.testing._NamedTextIOWrapper, "isatty", lambda self: True, raising=False
    )

    result = run("import", str(big_file(tmp_path)))

    assert result.exit_code == 0, result.stderr
    # The file has a header and 25,000 rows: the estimate counts its lines.
    assert "] 100%  25,000 of about 25,001 records" in result.stderr
    assert "[###############---------------]  50%  12,500 of" in result.stderr
    assert "read 25,000 records; saving..." in result.stderr
    # The bar is blanked out before the summary, which starts a clean line.
    last = result.stderr.split("\r")[-2]
    assert last.strip() == "" and len(last) >= len("  read 25,000 records; saving...")
    assert result.stderr.split("\r")[-1].startswith("Imported ")


def test_progress_without_a_file_to_measure_is_a_running_count():
    from cobra.cli.cmd_import import Progress

    assert Progress(("tryton://localhost:8000/db",)).total is None
    assert Progress((str(DATA),)).total is None  # a folder


# -- the shipped mappings, on exports in their vendors' layout -------------------------


QUICKBOOKS = DATA / "quickbooks-aging.csv"
XERO = DATA / "xero-invoices.csv"


def test_quickbooks_aging_detail(run):
    result = run(
        "import", str(QUICKBOOKS), "--mapping", "quickbooks-aging", "--format", "json"
    )

    counts = summary(result)
    # Title lines, bucket headers, "Total for ..." lines, TOTAL and the
    # time stamp are passed over: five invoices, four customers.
    assert counts["invoices"] == {"inserted": 5, "updated": 0, "unchanged": 0}
    assert counts["customers"] == {"inserted": 4, "updated": 0, "unchanged": 0}
    stored = invoices(run)
    assert {
        n: (
            r["account"],
            r["issue_date"],
            r["due_date"],
            r["currency"],
            r["amount"],
            r["balance"],
        )
        for n, r in stored.items()
    } == {
        "1048": (
            "Harbor View Dental",
            "2026-03-12",
            "2026-04-11",
            "USD",
            125000,
            125000,
        ),
        "1052": ("Ortiz, Paula", "2026-03-28", "2026-04-27", "USD", 48000, 48000),
        "1041": (
            "Greenway Property Group:Elm Street Lot",
            "2026-02-20",
            "2026-03-22",
            "USD",
            340000,
            215000,
        ),
        "1033": ("Peña Family Bakery", "2026-01-15", "2026-02-14", "USD", 87550, 87550),
        "1012": (
            "Harbor View Dental",
            "2025-11-03",
            "2025-12-03",
            "USD",
            1234567,
            1234567,
        ),
    }
    # The display name is both the id and the name.
    names = {c["account"]: c["name"] for c in snapshot(run)["customers"]}
    assert all(account == name for account, name in names.items())
    # Each invoice is known by where it is in the file.
    conn = database(run)
    source = conn.execute(
        "SELECT source FROM invoices WHERE number = '1033'"
    ).fetchone()[0]
    conn.close()
    assert source == f"{QUICKBOOKS}:14"

    again = summary(
        run(
            "import",
            str(QUICKBOOKS),
            "--mapping",
            "quickbooks-aging",
            "--format",
            "json",
        )
    )
    assert again["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 5}


def test_quickbooks_aging_uses_the_company_currency(run, tmp_path):
    # The report has no currency column: company.currency says what it is.
    (Path.cwd() / "cobra.toml").write_text(
        '[company]\ncurrency = "CAD"\ncountry = "CA"\n', encoding="utf-8"
    )

    result = run("import", str(QUICKBOOKS), "--mapping", "quickbooks-aging")

    assert result.exit_code == 0, result.stderr
    assert {r["currency"] for r in invoices(run).values()} == {"CAD"}


def quickbooks_variant(
    tmp_path: Path, old: str, new: str, name: str = "aging.csv"
) -> Path:
    text = QUICKBOOKS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_quickbooks_credit_memo_is_refused_unless_skipped(run, tmp_path, earlier):
    source = quickbooks_variant(
        tmp_path,
        '"Total for Current"',
        ",03/30/2026,Credit Memo,1053,Harbor View Dental,03/30/2026,,-150.00,-150.00\n"
        '"Total for Current"',
    )

    result = run("import", str(source), "--mapping", "quickbooks-aging")

    refused(result, f"{source}:9: balance: negative balance -150.00", "--skip-invalid")
    assert snapshot(run) == earlier

    skipped = run(
        "import",
        str(source),
        "--mapping",
        "quickbooks-aging",
        "--skip-invalid",
        "--format",
        "json",
    )
    assert summary(skipped)["invoices"]["inserted"] == 5
    assert summary(skipped)["rejected"] == 1


def test_quickbooks_day_first_company_overrides_the_date_format(run, tmp_path):
    # A UK company's report: the same layout, dates day first.
    source = tmp_path / "aging-uk.csv"
    source.write_text(
        "Thames Garden Services Ltd\nA/R Aging Detail\nAs of 31 March 2026\n\n"
        ",Date,Transaction Type,Num,Customer,Due Date,Past Due,Amount,Open Balance\n"
        "31 - 60 days past due,,,,,,,,\n"
        ',15/01/2026,Invoice,1033,Peña Family Bakery,14/02/2026,45,"1,875.50",875.50\n'
        '"Total for 31 - 60 days past due",,,,,,,"£1,875.50",£875.50\n',
        encoding="utf-8",
    )

    month_first = run("import", str(source), "--mapping", "quickbooks-aging")
    refused(month_first, "'15/01/2026' is not a date in the form %m/%d/%Y")

    day_first = run(
        "import",
        str(source),
        "--mapping",
        "quickbooks-aging",
        "--date-format",
        "%d/%m/%Y",
    )
    assert day_first.exit_code == 0, day_first.stderr
    assert invoices(run)["1033"]["issue_date"] == "2026-01-15"


def test_quickbooks_multicurrency_columns_through_map(run, tmp_path):
    source = tmp_path / "multicurrency.csv"
    source.write_text(
        "Lakeside Landscaping LLC\nA/R Aging Detail\nAs of March 31, 2026\n\n"
        ",Date,Transaction Type,Num,Customer,Due Date,Currency,Amount,Open Balance,"
        "Foreign Amount,Foreign Open Balance\n"
        "Current,,,,,,,,,,\n"
        ",03/12/2026,Invoice,1060,Maple Leaf Nurseries,04/11/2026,CAD,"
        '"1,095.00","1,095.00","1,500.00","1,500.00"\n'
        ",03/15/2026,Invoice,1061,Harbor View Dental,04/14/2026,USD,"
        "800.00,800.00,800.00,800.00\n"
        '"Total for Current",,,,,,,"$1,895.00","$1,895.00",,\n',
        encoding="utf-8",
    )

    result = run(
        "import",
        str(source),
        "--mapping",
        "quickbooks-aging",
        "--map",
        "currency=Currency",
        "--map",
        "amount=Foreign Amount",
        "--map",
        "balance=Foreign Open Balance",
    )

    assert result.exit_code == 0, result.stderr
    assert {
        n: (r["currency"], r["amount"], r["balance"]) for n, r in invoices(run).items()
    } == {
        "1060": ("CAD", 150000, 150000),
        "1061": ("USD", 80000, 80000),
    }


def test_quickbooks_next_export_with_sync_closes_what_was_paid(run, tmp_path):
    summary(
        run(
            "import",
            str(QUICKBOOKS),
            "--mapping",
            "quickbooks-aging",
            "--format",
            "json",
        )
    )
    # A month later: 1052 was paid and left the report, 1041 was partly paid.
    source = quickbooks_variant(
        tmp_path,
        ',03/28/2026,Invoice,1052,"Ortiz, Paula",04/27/2026,-27,480.00,480.00\n',
        "",
    )
    source.write_text(
        source.read_text(encoding="utf-8").replace(
            '"3,400.00","2,150.00"', '"3,400.00","1,150.00"'
        ),
        encoding="utf-8",
    )

    result = run(
        "import",
        str(source),
        "--mapping",
        "quickbooks-aging",
        "--sync",
        "--format",
        "json",
    )

    counts = summary(result)
    assert counts["closed_by_sync"] == 1
    assert counts["invoices"] == {"inserted": 0, "updated": 1, "unchanged": 3}
    stored = invoices(run)
    assert (stored["1052"]["status"], stored["1052"]["balance"]) == (
        "settled_by_sync",
        0,
    )
    assert stored["1041"]["balance"] == 115000


def test_xero_invoice_export(run):
    result = run("import", str(XERO), "--mapping", "xero-invoices", "--format", "json")

    counts = summary(result)
    # Six rows, one per invoice line: four invoices of three contacts.
    assert counts["invoices"] == {"inserted": 4, "updated": 0, "unchanged": 0}
    assert counts["customers"] == {"inserted": 3, "updated": 0, "unchanged": 0}
    stored = invoices(run)
    assert {
        n: (
            r["account"],
            r["issue_date"],
            r["due_date"],
            r["currency"],
            r["amount"],
            r["balance"],
            r["status"],
        )
        for n, r in stored.items()
    } == {
        "INV-0041": (
            "Kauri Timber Ltd",
            "2026-02-03",
            "2026-03-03",
            "NZD",
            115000,
            115000,
            "open",
        ),
        "INV-0042": (
            "Tui Café",
            "2026-02-17",
            "2026-03-17",
            "NZD",
            46000,
            26000,
            "open",
        ),
        "INV-0043": (
            "Pacific Imports Pty Ltd",
            "2026-02-20",
            "2026-03-22",
            "AUD",
            230000,
            230000,
            "open",
        ),
        "INV-0038": ("Tui Café", "2026-01-10", "2026-02-10", "NZD", 34500, 0, "paid"),
    }
    after = snapshot(run)
    assert after["contacts"] == [
        ("Kauri Timber Ltd", "email", "accounts@kauritimber.co.nz"),
        ("Pacific Imports Pty Ltd", "email", "payables@pacificimports.com.au"),
        ("Tui Café", "email", "hello@tuicafe.co.nz"),
    ]
    # POCountry holds "New Zealand", not a code: it is not read.
    assert {c["country"] for c in after["customers"]} == {None}

    again = summary(
        run("import", str(XERO), "--mapping", "xero-invoices", "--format", "json")
    )
    assert again["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 4}


def test_xero_us_organisation_overrides_the_date_format(run, tmp_path):
    text = XERO.read_text(encoding="utf-8")
    for day_first, month_first in (
        ("03/02/2026", "02/03/2026"),
        ("03/03/2026", "03/03/2026"),
        ("17/02/2026", "02/17/2026"),
        ("17/03/2026", "03/17/2026"),
        ("20/02/2026", "02/20/2026"),
        ("22/03/2026", "03/22/2026"),
        ("10/01/2026", "01/10/2026"),
        ("10/02/2026", "02/10/2026"),
    ):
        text = text.replace(f'"{day_first}"', f'"{month_first}"')
    source = tmp_path / "Export.csv"
    source.write_text(text, encoding="utf-8")

    result = run(
        "import", str(source), "--mapping", "xero-invoices", "--date-format", "%m/%d/%Y"
    )

    assert result.exit_code == 0, result.stderr
    assert invoices(run)["INV-0042"]["issue_date"] == "2026-02-17"


def test_xero_lines_of_one_invoice_that_disagree_are_refused(run, tmp_path, earlier):
    # Two line rows of INV-0043 with different amounts due: the export was
    # edited by hand, and cobra cannot know which one is right.
    text = XERO.read_bytes().decode("utf-8")  # kept with its CRLF line ends
    first = text.index('"Totara sleepers"')
    row_start = text.rindex("\r\n", 0, first) + 2
    row_end = text.index("\r\n", first)
    line = text[row_start:row_end]
    text = (
        text[:row_start]
        + line.replace(
            '"2300.00","0.00","0.00","2300.00"', '"2300.00","0.00","0.00","1300.00"'
        )
        + text[row_end:]
    )
    source = tmp_path / "Export.csv"
    source.write_bytes(text.encode("utf-8"))

    result = run("import", str(source), "--mapping", "xero-invoices")

    refused(
        result,
        f"{source}:7: invoice_id: invoice INV-0043 appears again with other "
        f"values (first at {source}:6)",
    )
    assert snapshot(run) == earlier


def test_shipped_mappings_are_named_in_the_help_and_documented(run):
    result = run("import", "--help")

    assert result.exit_code == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    assert f"({', '.join(SHIPPED)})" in help_text
    docs = (REPO / "docs" / "mappings.md").read_text(encoding="utf-8")
    for name in SHIPPED:
        assert f"`{name}`" in docs, name
        header = (REPO / "config" / "mappings" / f"{name}.toml").read_text(
            encoding="utf-8"
        )
        # Each file says where its columns are documented.
        assert re.search(r"^#\s+https://", header, flags=re.MULTILINE), name


def test_the_worked_example_in_the_docs_imports(run, tmp_path):
    # docs/mappings.md walks through a mapping for an ERP report; its file
    # and its mapping must do what the page says.
    docs = (REPO / "docs" / "mappings.md").read_text(encoding="utf-8")
    example = docs[docs.index("## Writing your own") :]
    blocks = re.findall(
        r"^```(\w*)\n(.*?)^```", example, flags=re.MULTILINE | re.DOTALL
    )
    report = next(text for lang, text in blocks if "Informe de Cartera" in text)
    mapping = next(text for lang, text in blocks if lang == "toml")
    source = tmp_path / "cartera.csv"
    source.write_bytes(
        report.replace("\n", "\r\n").encode("cp1252")
    )  # Excel on Windows
    (tmp_path / "erp-cartera.toml").write_text(mapping, encoding="utf-8")
    command = ["--mapping", str(tmp_path / "erp-cartera.toml")]

    dry = summary(run("import", str(source), *command, "--dry-run", "--format", "json"))
    assert dry["invoices"]["inserted"] == 3 and snapshot(run)["invoices"] == {}

    result = run("import", str(source), *command, "--sync")

    assert result.exit_code == 0, result.stderr
    assert {
        n: (r["account"], r["currency"], r["amount"], r["balance"], r["due_date"])
        for n, r in invoices(run).items()
    } == {
        "1001": ("76.123.456-7", "CLP", 1190000, 1190000, "2026-04-01"),
        "1002": ("76.123.456-7", "CLP", 595000, 95000, "2026-04-04"),
        "1003": ("96.555.444-1", "CLP", 2300000, 2300000, "2026-03-12"),
    }
    assert ("76.123.456-7", "phone", "+56987654321") in snapshot(run)["contacts"]

    # The page's example message, for a due date that does not exist.
    broken = tmp_path / "broken.csv"
    broken.write_bytes(source.read_bytes().replace(b"12-03-2026", b"31-02-2026"))
    message = re.search(r"`cartera\.csv:(\d+): (due_date: .*?)`", docs)
    refused(
        run("import", str(broken), *command),
        f"{broken}:{message.group(1)}: {message.group(2)}",
    )


def test_rows_of_separators_only_are_passed_over(run, tmp_path):
    # Spreadsheets save emptied rows as separators only, often at the end.
    source = write_layout(tmp_path / "from-excel.csv", [row()])
    with open(source, "a", newline="", encoding="utf-8") as handle:
        handle.write("," * (len(COLUMNS) - 1) + "\r\n")
        handle.write(" ," * (len(COLUMNS) - 1) + "\r\n")
        handle.write("\r\n")

    counts = summary(run("import", str(source), "--format", "json"))

    assert counts["invoices"]["inserted"] == 1 and counts["rejected"] == 0


def test_after_a_reject_later_rows_are_checked_and_dropped(tmp_path, monkeypatch):
    """Once a bad row dooms the import, later batches are checked, to report
    every bad row, and dropped: a million-row file with a bad first row must
    neither fill memory nor pay for writes that will be rolled back."""
    from cobra.importers import ImportContext
    from cobra.store import Store
    from cobra_plugins import importer_csv

    monkeypatch.setattr(importer_csv, "BATCH", 2)
    rows = [row(invoice_id=f"F-{i}") for i in range(20)]
    for index in (2, 9, 17):
        rows[index]["issue_date"] = "not a date"
    path = write_layout(tmp_path / "chunks.csv", rows)
    store = Store.open(tmp_path / "c.sqlite")
    records = importer_csv.CsvImporter().read(str(path), {}, ImportContext())
    rejected, written = [], []

    def on_reject(rejected_row):
        rejected.append(rejected_row)
        written.append(
            store.conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0]
        )

    with pytest.raises(ledger.ImportRejected, match="3 invalid records"):
        ledger.load(
            store, records, [str(path)], ledger.LoadOptions(), on_reject=on_reject
        )
    assert [r.where.line for r in rejected] == [4, 11, 19]
    # The two rows of the first batch were written before the bad one was
    # read; nothing after it.
    assert written == [2, 2, 2], written
    assert store.conn.execute("SELECT COUNT(*) FROM invoices").fetchone()[0] == 0
    store.close()
