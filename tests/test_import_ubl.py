"""The ``ubl`` importer, through the command line as a user runs it.

Two kinds of input: the public UBL examples of the EN 16931 work (shared
with the other projects, outside this repository, so their tests skip when
the folder is absent) and small documents crafted here for one behaviour
each (``tests/data/ubl``).
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cobra_plugins.importer_ubl import UblImporter, _days_to_pay

DATA = Path(__file__).resolve().parent / "data" / "ubl"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "ubl"
REFUSED = "refused: the XML declares entities (DTD), which cobra never expands"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"the public UBL samples are not at {SAMPLES}")
    return SAMPLES


def database(run) -> sqlite3.Connection:
    result = run("db", "path")
    assert result.exit_code == 0, result.stderr
    conn = sqlite3.connect(result.stdout.strip())
    conn.row_factory = sqlite3.Row
    return conn


def customers(run) -> dict[str, list[dict]]:
    """The portfolio by account: one row per currency the customer owes in."""
    result = run("customers", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows: dict[str, list[dict]] = {}
    for row in json.loads(result.stdout):
        rows.setdefault(row["account"], []).append(row)
    return rows


def folder(tmp_path: Path, *names: str) -> Path:
    """A folder holding copies of the named fixtures."""
    target = tmp_path / "inbox"
    target.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(DATA / name, target / name)
    return target


def variant(tmp_path: Path, old: str, new: str, name: str = "variant.xml") -> Path:
    """The stated-due-date invoice with one piece of text changed."""
    text = (DATA / "invoice-inv-1.xml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def summary(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- the public samples ----------------------------------------------------------


def test_samples_reuse_invoice_numbers_so_a_plain_import_writes_nothing(run, samples):
    # The examples come from different sellers and several reuse a number
    # (TOSL108, TOSL110) for other buyers and amounts: in one seller's
    # ledger that is an error, and the import is all or nothing.
    result = run("import", str(samples))

    assert result.exit_code == 2
    assert "3 invalid records; nothing was imported" in result.stderr
    assert "invoice TOSL108 appears again with other values" in result.stderr
    assert "ubl-tc434-example3.xml" in result.stderr
    assert "invoice TOSL110 appears again" in result.stderr
    assert "Traceback" not in result.stderr
    assert customers(run) == {}


def test_samples_import_with_skip_invalid(run, samples, tmp_path):
    rejects = tmp_path / "rejects.csv"
    result = run(
        "import",
        str(samples),
        "--skip-invalid",
        "--rejects",
        str(rejects),
        "--format",
        "json",
    )

    counts = summary(result)
    assert counts["customers"] == {"inserted": 10, "updated": 0, "unchanged": 0}
    assert counts["invoices"] == {"inserted": 6, "updated": 0, "unchanged": 0}
    assert counts["credit_notes"] == {"inserted": 1, "unchanged": 0}
    assert counts["rejected"] == 3
    assert "customers: 10 inserted, 0 updated, 0 unchanged" in result.stderr
    assert "invoices: 6 inserted, 0 updated, 0 unchanged" in result.stderr
    assert "credit notes: 1 inserted" in result.stderr
    with open(rejects, newline="", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert [Path(row["source"]).name for row in rejected] == [
        "ubl-tc434-example3.xml",
        "ubl-tc434-example5.xml",
        "ubl-tc434-example6.xml",
    ]
    assert {row["field"] for row in rejected} == {"invoice_id"}

    conn = database(run)
    invoices = {
        row["number"]: row
        for row in conn.execute(
            "SELECT i.*, c.account FROM invoices i JOIN customers c ON c.id = i.customer_id"
        )
    }
    # Each currency stays its own, in its own minor units (all four have 2).
    assert {
        n: (r["currency"], r["amount"], r["balance"]) for n, r in invoices.items()
    } == {
        "12115118": ("EUR", 25033, 25033),
        "TOSL108": ("NOK", 80178, 80178),
        "TOSL110": ("DKK", 467500, 467500),
        "INVOICE_test_7": ("SEK", 320000, 320000),
        "1100512149": ("EUR", 109978, 109978),
        "20150483": ("EUR", 17787, 17787),
    }
    # TOSL108 states 1801.78 with 1000.00 prepaid: what is owed is the rest.
    assert invoices["TOSL108"]["account"] == "3456789012098"
    # Due dates as stated; example 7 states none but says "Payment within
    # 30 days", read from its payment terms.
    assert {n: (r["issue_date"], r["due_date"]) for n, r in invoices.items()} == {
        "12115118": ("2015-01-09", "2015-01-09"),
        "TOSL108": ("2013-06-30", "2013-07-20"),
        "TOSL110": ("2013-04-10", "2013-05-10"),
        "INVOICE_test_7": ("2013-03-11", "2013-04-10"),
        "1100512149": ("2014-11-10", "2014-11-24"),
        "20150483": ("2015-04-01", "2015-04-14"),
    }

    portfolio = customers(run)
    owed = {
        (account, row["currency"]): row["balance"]
        for account, rows in portfolio.items()
        for row in rows
        if row["currency"]
    }
    assert owed == {
        ("10202", "EUR"): "250.33",
        ("3456789012098", "NOK"): "801.78",
        ("5790000436057", "DKK"): "4675.00",
        ("THe Buyercompany", "SEK"): "3200.00",
        ("1081119", "EUR"): "1099.78",
        ("Provide Verzekeringen", "EUR"): "177.87",
    }

    # The credit note names no invoice and its buyer has none open: it is
    # kept as the buyer's credit, reducing nobody else's balance.
    note = conn.execute(
        "SELECT n.*, c.account FROM credit_notes n JOIN customers c ON c.id = n.customer_id"
    ).fetchone()
    assert (note["number"], note["account"], note["currency"], note["amount"]) == (
        "018304 / 28865",
        "0000000295",
        "EUR",
        10011,
    )
    assert note["invoice_id"] is None
    assert conn.execute("SELECT COUNT(*) FROM allocations").fetchone()[0] == 0
    assert portfolio["0000000295"][0]["balance"] is None


def test_sample_buyers(run, samples, tmp_path):
    result = run(
        "import",
        str(samples),
        "--skip-invalid",
        "--rejects",
        str(tmp_path / "rejects.csv"),
    )
    assert result.exit_code == 0, result.stderr
    # Bad phone numbers are dropped with a warning, never the invoice.
    assert "'5121230' is not a valid phone number for NO" in result.stderr

    conn = database(run)
    buyers = {row["account"]: row for row in conn.execute("SELECT * FROM customers")}
    contacts = {
        (row["account"], row["kind"], row["value"])
        for row in conn.execute(
            "SELECT c.account, k.kind, k.value FROM contacts k"
            " JOIN customers c ON c.id = k.customer_id"
        )
    }
    # Account from cbc:EndpointID; name from cac:PartyName before the
    # registration name; tax id and country as written.
    credited = buyers["0000000295"]
    assert (credited["name"], credited["tax_id"], credited["country"]) == (
        "My Customer Company S.A.",
        "BE0000000295",
        "BE",
    )
    # Account from cac:PartyIdentification, name from the legal entity.
    assert (buyers["10202"]["name"], buyers["10202"]["country"]) == ("ODIN 59", "NL")
    # No identifier at all: the registration name is the account.
    assert buyers["Provide Verzekeringen"]["name"] == "Provide Verzekeringen"
    assert contacts == {
        ("0000000295", "email", "pete.smith@mycustomercompany.be"),
        ("3456789012098", "email", "john@buyercompany.no"),
        ("info@buyercompany.dk", "email", "john.hansen@buyercompany.dk"),
        ("info@buyercompany.dk", "phone", "+4598989898"),
        ("THe Buyercompany", "email", "john@buyercompany.no"),
    }


def test_importing_the_samples_twice_changes_nothing(run, samples, tmp_path):
    args = (
        "import",
        str(samples),
        "--skip-invalid",
        "--rejects",
        str(tmp_path / "rejects.csv"),
        "--format",
        "json",
    )
    summary(run(*args))
    before = customers(run)

    again = run(*args)

    counts = summary(again)
    assert counts["customers"] == {"inserted": 0, "updated": 0, "unchanged": 10}
    assert counts["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 6}
    assert counts["credit_notes"] == {"inserted": 0, "unchanged": 1}
    assert "customers: 0 inserted, 0 updated, 10 unchanged" in again.stderr
    assert "invoices: 0 inserted, 0 updated, 6 unchanged" in again.stderr
    assert customers(run) == before


# -- crafted documents -------------------------------------------------------------


def test_credit_note_reduces_the_invoice_it_names(run, tmp_path):
    # The credit note's file sorts first: it still finds its invoice.
    inbox = folder(tmp_path, "credit-note-inv-1.xml", "invoice-inv-1.xml")

    counts = summary(run("import", str(inbox), "--format", "json"))

    assert counts["invoices"]["inserted"] == 1
    assert counts["credit_notes"]["inserted"] == 1
    [row] = customers(run)["C-1"]
    assert (row["name"], row["currency"], row["balance"]) == (
        "Quinta Ltda",
        "EUR",
        "750.00",
    )
    assert row["oldest_due_date"] == "2026-04-01"
    conn = database(run)
    invoice = conn.execute("SELECT * FROM invoices WHERE number = 'INV-1'").fetchone()
    assert (invoice["amount"], invoice["balance"], invoice["status"]) == (
        100000,
        75000,
        "open",
    )
    note = conn.execute("SELECT * FROM credit_notes").fetchone()
    assert (note["number"], note["amount"], note["invoice_id"]) == (
        "CN-1",
        25000,
        invoice["id"],
    )
    buyer = conn.execute("SELECT * FROM customers WHERE account = 'C-1'").fetchone()
    assert (buyer["tax_id"], buyer["country"]) == ("ESB12345678", "ES")
    contacts = {(r["kind"], r["value"]) for r in conn.execute("SELECT * FROM contacts")}
    assert contacts == {("email", "pagos@quinta.example"), ("phone", "+34912345678")}

    again = summary(run("import", str(inbox), "--format", "json"))
    assert again["credit_notes"] == {"inserted": 0, "unchanged": 1}
    assert customers(run)["C-1"][0]["balance"] == "750.00"


def test_reimporting_a_credited_invoice_changes_nothing(run, tmp_path):
    inbox = folder(tmp_path, "credit-note-inv-1.xml", "invoice-inv-1.xml")
    summary(run("import", str(inbox), "--format", "json"))

    again = summary(run("import", str(inbox), "--format", "json"))

    assert again["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 1}


def test_yen_invoice_with_terms_and_bad_contacts(run):
    result = run("import", str(DATA / "invoice-jpy-terms.xml"))

    assert result.exit_code == 0, result.stderr
    # Contacts that do not check out are dropped, with a warning each.
    assert "cac:Contact/cbc:Telephone dropped" in result.stderr
    assert "cac:Contact/cbc:ElectronicMail dropped" in result.stderr
    conn = database(run)
    invoice = conn.execute(
        "SELECT i.*, c.account FROM invoices i JOIN customers c ON c.id = i.customer_id"
    ).fetchone()
    # Yen has no minor unit; PayableAmount is already net of the prepayment;
    # "Net 30" wins over the discount's 10 days; the date's zone is dropped.
    assert (invoice["account"], invoice["currency"], invoice["amount"]) == (
        "1234567890123",
        "JPY",
        54000,
    )
    assert (invoice["issue_date"], invoice["due_date"]) == ("2026-01-15", "2026-02-14")
    assert conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0] == 0
    assert customers(run)["1234567890123"][0]["name"] == "Kaisha KK"


@pytest.mark.parametrize("fixture", ["external-entity.xml", "billion-laughs.xml"])
def test_entities_are_refused_and_nothing_is_written(run, fixture):
    result = run("import", str(DATA / fixture))

    assert result.exit_code == 2
    assert f"{fixture}: {REFUSED}" in result.stderr
    assert "nothing was imported" in result.stderr
    assert "Traceback" not in result.stderr
    assert "root:" not in result.stderr + result.stdout  # /etc/passwd stayed unread
    assert "hahaha" not in result.stderr + result.stdout
    assert customers(run) == {}


def test_external_entity_refused_in_a_real_process(cobra_process):
    process = cobra_process("import", str(DATA / "external-entity.xml"))

    assert process.returncode == 2
    assert REFUSED in process.stderr
    assert "Traceback" not in process.stderr
    assert "root:" not in process.stderr + process.stdout


def test_truncated_xml_names_the_file_and_the_line(run):
    result = run("import", str(DATA / "truncated.xml"))

    assert result.exit_code == 2
    assert "truncated.xml: not well-formed XML:" in result.stderr
    assert "no element found: line 6, column 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert customers(run) == {}


def test_xml_that_is_not_ubl_is_rejected(run):
    result = run("import", str(DATA / "not-ubl.xml"))

    assert result.exit_code == 2
    assert "not-ubl.xml: not a UBL Invoice or CreditNote" in result.stderr
    assert "catalog" in result.stderr


def test_invoice_without_currency_is_rejected(run):
    result = run("import", str(DATA / "no-currency.xml"))

    assert result.exit_code == 2
    assert (
        "no-currency.xml: cbc:DocumentCurrencyCode: missing currency" in result.stderr
    )
    assert customers(run) == {}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "<cbc:DueDate>2026-04-01</cbc:DueDate>",
            "<cbc:DueDate>2026-02-01</cbc:DueDate>",
            "cbc:DueDate: due date 2026-02-01 is before the issue date 2026-03-02",
        ),
        (
            "<cbc:IssueDate>2026-03-02</cbc:IssueDate>",
            "<cbc:IssueDate>02/03/2026</cbc:IssueDate>",
            "cbc:IssueDate: '02/03/2026' is not a date in the YYYY-MM-DD form UBL uses",
        ),
        ("<cbc:ID>INV-1</cbc:ID>", "", "cbc:ID: missing"),
        (
            '<cbc:PayableAmount currencyID="EUR">1000.00',
            '<cbc:PayableAmount currencyID="USD">1000.00',
            (
                "cac:LegalMonetaryTotal/cbc:PayableAmount: the amount is in USD but "
                "the document's currency is EUR"
            ),
        ),
        (
            '<cbc:PayableAmount currencyID="EUR">1000.00',
            '<cbc:PayableAmount currencyID="EUR">1000.005',
            "more decimals than EUR allows",
        ),
        (
            '<cbc:PayableAmount currencyID="EUR">1000.00',
            '<cbc:PayableAmount currencyID="EUR">-1000.00',
            "'-1000.00' is negative",
        ),
        (
            "<cbc:DocumentCurrencyCode>EUR",
            "<cbc:DocumentCurrencyCode>EUX",
            "cbc:DocumentCurrencyCode: ",
        ),
    ],
)
def test_invalid_fields_name_the_ubl_element(run, tmp_path, old, new, expected):
    result = run("import", str(variant(tmp_path, old, new)))

    assert result.exit_code == 2
    assert "variant.xml: " in result.stderr
    assert expected in result.stderr
    assert customers(run) == {}


def test_due_date_from_payment_means_else_due_on_issue(run, tmp_path):
    means = variant(
        tmp_path,
        "<cbc:DueDate>2026-04-01</cbc:DueDate>",
        "",
        "means.xml",
    )
    text = means.read_text(encoding="utf-8").replace(
        "<cac:LegalMonetaryTotal>",
        "<cac:PaymentMeans><cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>"
        "<cbc:PaymentDueDate>2026-03-20</cbc:PaymentDueDate></cac:PaymentMeans>"
        "<cac:LegalMonetaryTotal>",
    )
    means.write_text(text, encoding="utf-8")
    silent = variant(
        tmp_path, "<cbc:DueDate>2026-04-01</cbc:DueDate>", "", "silent.xml"
    )
    silent.write_text(
        silent.read_text(encoding="utf-8").replace("INV-1", "INV-2"), encoding="utf-8"
    )

    assert run("import", str(means), str(silent)).exit_code == 0
    dues = dict(database(run).execute("SELECT number, due_date FROM invoices"))
    assert dues == {"INV-1": "2026-03-20", "INV-2": "2026-03-02"}


def test_skip_invalid_imports_the_good_files_of_a_folder(run, tmp_path):
    inbox = folder(
        tmp_path,
        "invoice-inv-1.xml",
        "credit-note-inv-1.xml",
        "invoice-jpy-terms.xml",
        "truncated.xml",
        "no-currency.xml",
        "not-ubl.xml",
        "external-entity.xml",
        "billion-laughs.xml",
    )
    # Neither an AppleDouble file nor a non-XML file is a document.
    (inbox / "._invoice-inv-1.xml").write_bytes(b"\x00\x05\x16\x07 not xml")
    (inbox / "README.txt").write_text("scanned by the mail room\n")

    result = run("import", str(inbox), "--skip-invalid", "--format", "json")

    counts = summary(result)
    assert counts["invoices"]["inserted"] == 2
    assert counts["credit_notes"]["inserted"] == 1
    assert counts["rejected"] == 5
    rejects = Path(f"{inbox}.rejects.csv")
    with open(rejects, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    problems = {
        Path(row["source"]).name: (row["field"], row["problem"]) for row in rows
    }
    assert set(problems) == {
        "truncated.xml",
        "no-currency.xml",
        "not-ubl.xml",
        "external-entity.xml",
        "billion-laughs.xml",
    }
    assert problems["external-entity.xml"] == ("", REFUSED)
    assert problems["no-currency.xml"] == (
        "cbc:DocumentCurrencyCode",
        "missing currency",
    )
    assert all(row["line"] == "" for row in rows)
    assert set(customers(run)) == {"C-1", "1234567890123"}


def test_credit_note_with_nothing_payable_reads_only_its_buyer(run, tmp_path):
    note = tmp_path / "zero.xml"
    note.write_text(
        (DATA / "credit-note-inv-1.xml")
        .read_text(encoding="utf-8")
        .replace('"EUR">250.00', '"EUR">0.00'),
        encoding="utf-8",
    )

    counts = summary(run("import", str(note), "--format", "json"))

    assert counts["customers"]["inserted"] == 1
    assert counts["credit_notes"] == {"inserted": 0, "unchanged": 0}


def test_dry_run_writes_nothing(run):
    result = run("import", str(DATA / "invoice-inv-1.xml"), "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert "Would import" in result.stderr
    assert customers(run) == {}


def test_missing_source_is_bad_input(run, tmp_path):
    result = run("import", str(tmp_path / "absent.xml"), "--using", "ubl")

    assert result.exit_code == 2
    assert "absent.xml: no such file or folder" in result.stderr


def test_registered_as_a_builtin_importer(run):
    result = run("plugins", "--format", "json")

    assert result.exit_code == 0, result.stderr
    [ubl] = [row for row in json.loads(result.stdout) if row["name"] == "ubl"]
    assert (ubl["importers"], ubl["builtin"], ubl["error"]) == (["ubl"], True, None)
    importer = UblImporter()
    assert importer.recognizes(str(DATA / "invoice-inv-1.xml"))
    assert importer.recognizes(str(DATA))
    assert not importer.recognizes("invoices.csv")


@pytest.mark.parametrize(
    ("note", "days"),
    [
        ("Net 30", 30),
        ("net30", 30),
        ("Payment within 30 days", 30),
        ("Payment terms: 14 days", 14),
        ("60 days net", 60),
        ("2% discount if paid within 10 days, net 45", 45),
        (
            "2 % discount if paid within 2 days\nPenalty percentage 10% from due date",
            None,
        ),
        ("50% prepaid, 50% within one month", None),
        ("Betaling binnen 30 dagen", None),
    ],
)
def test_days_to_pay_read_from_payment_terms(note, days):
    assert _days_to_pay(note) == days
