"""The jsonl importer, and how payments and credit notes settle invoices."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def write_jsonl(path: Path, *records: dict | str) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records),
        encoding="utf-8",
    )
    return path


CUSTOMER = {"type": "customer", "customer_id": "C1", "name": "Harbor Supply Co.",
            "email": "ap@harbor.example", "phone": "+12125550100", "country": "US"}


def invoice(number: str, amount: str, due: str = "2026-10-31", **extra) -> dict:
    return {"type": "invoice", "invoice_id": number, "customer_id": "C1",
            "issue_date": "2026-10-01", "due_date": due, "currency": "USD",
            "amount": amount, **extra}


def payment(reference: str, amount: str, *invoice_ids: str) -> dict:
    return {"type": "payment", "payment_id": reference, "customer_id": "C1",
            "date": "2026-11-15", "currency": "USD", "amount": amount,
            "invoice_ids": list(invoice_ids)}


def database(run) -> sqlite3.Connection:
    conn = sqlite3.connect(run("db", "path").stdout.strip())
    conn.row_factory = sqlite3.Row
    return conn


def balances(run) -> dict[str, tuple[int, str]]:
    rows = database(run).execute("SELECT number, balance, status FROM invoices")
    return {row["number"]: (row["balance"], row["status"]) for row in rows}


def test_payments_settle_the_oldest_invoices_first(run, tmp_path):
    source = write_jsonl(
        tmp_path / "ledger.jsonl", CUSTOMER,
        invoice("F-2", "300.00", due="2026-11-30"),
        invoice("F-1", "200.00", due="2026-10-31"),
        payment("P-1", "250.00"),
    )
    result = run("import", str(source))
    assert result.exit_code == 0, result.stderr
    assert balances(run) == {"F-1": (0, "paid"), "F-2": (25000, "open")}


def test_a_payment_naming_invoices_pays_those(run, tmp_path):
    source = write_jsonl(
        tmp_path / "ledger.jsonl", CUSTOMER,
        invoice("F-1", "200.00", due="2026-10-31"),
        invoice("F-2", "300.00", due="2026-11-30"),
        payment("P-1", "100.00", "F-2"),
    )
    assert run("import", str(source)).exit_code == 0
    assert balances(run) == {"F-1": (20000, "open"), "F-2": (20000, "open")}


def test_an_overpayment_is_kept_as_customer_credit(run, tmp_path):
    source = write_jsonl(tmp_path / "ledger.jsonl", CUSTOMER, invoice("F-1", "200.00"),
                         payment("P-1", "260.50"))
    assert run("import", str(source)).exit_code == 0
    assert balances(run) == {"F-1": (0, "paid")}
    credit = database(run).execute(
        "SELECT p.amount - COALESCE(SUM(a.amount), 0) FROM payments p"
        " LEFT JOIN allocations a ON a.payment_id = p.id GROUP BY p.id"
    ).fetchone()[0]
    assert credit == 6050


def test_a_credit_note_reduces_the_invoice_it_names(run, tmp_path):
    note = {"type": "credit_note", "credit_note_id": "NC-1", "customer_id": "C1",
            "invoice_id": "F-1", "issue_date": "2026-10-05", "currency": "USD",
            "amount": "50"}
    source = write_jsonl(tmp_path / "ledger.jsonl", CUSTOMER, invoice("F-1", "200.00"), note)
    assert run("import", str(source)).exit_code == 0
    assert balances(run) == {"F-1": (15000, "open")}


def test_reimporting_changes_nothing_and_says_so(run, tmp_path):
    source = write_jsonl(tmp_path / "ledger.jsonl", CUSTOMER, invoice("F-1", "200.00"),
                         payment("P-1", "50.00"))
    run("import", str(source))
    result = run("import", str(source), "--format", "json")
    summary = json.loads(result.stdout)
    assert summary["customers"] == {"inserted": 0, "updated": 0, "unchanged": 1}
    assert summary["invoices"] == {"inserted": 0, "updated": 0, "unchanged": 1}
    assert summary["payments"] == {"inserted": 0, "unchanged": 1}
    assert balances(run) == {"F-1": (15000, "open")}
    assert "1 unchanged" in result.stderr


def test_payments_and_balances_agree_with_the_aging_export(run, tmp_path):
    """The generator writes one history twice: as typed records with payments,
    and as an aging CSV with balances. Importing either must give the same
    portfolio, which checks allocation against an independent computation."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from generate import main as generate_main
    finally:
        sys.path.pop(0)
    out = tmp_path / "sample"
    generate_main(["--customers", "150", "--seed", "11", "--out", str(out), "--format", "both"])

    assert run("--db", "from-records.sqlite", "import", str(out / "records.jsonl")).exit_code == 0
    assert run("--db", "from-aging.sqlite", "import", str(out / "invoices.csv")).exit_code == 0
    listing = ("customers", "--as-of", "2026-06-30", "--format", "json")
    from_records = json.loads(run("--db", "from-records.sqlite", *listing).stdout)
    from_aging = json.loads(run("--db", "from-aging.sqlite", *listing).stdout)
    assert len(from_records) >= 150
    # Balances must agree; diagnoses may not, since only the records carry
    # payment dates (the aging export says what is open, not when the rest
    # was paid).
    for row in from_records + from_aging:
        del row["reason"]
    assert from_records == from_aging


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "2: not valid JSON"),
        (json.dumps({"type": "refund"}), "2: type: 'refund' is not one of customer"),
        (json.dumps(invoice("F-1", "12.345")), "2: amount: '12.345' has more decimals than USD"),
        (json.dumps(invoice("F-1", "10", currency="USDD")), "2: currency: "),
        (json.dumps(invoice("F-1", "10", due="2026-09-01")), "2: due_date: 2026-09-01 is before"),
        (json.dumps(invoice("F-1", "10", issue_date="yesterday")), "2: issue_date: 'yesterday'"),
        (json.dumps(payment("P-1", "10", "F-404")), "2: invoice_id: invoice 'F-404' is not"),
        (json.dumps({**invoice("F-1", "10"), "customer_id": "C404"}),
         "2: customer_id: unknown customer 'C404'"),
    ],
)
def test_bad_records_are_named_and_nothing_is_written(run, tmp_path, line, message):
    good = write_jsonl(tmp_path / "good.jsonl", CUSTOMER, invoice("F-0", "10.00"))
    run("import", str(good))
    before = run("customers", "--format", "json").stdout

    bad = write_jsonl(tmp_path / "bad.jsonl", CUSTOMER, line, invoice("F-9", "99.00"))
    result = run("import", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:{message}" in result.stderr
    assert "nothing was imported" in result.stderr
    assert run("customers", "--format", "json").stdout == before
    assert "F-9" not in balances(run)


def test_a_payment_imported_again_with_another_amount_is_refused(run, tmp_path):
    run("import", str(write_jsonl(tmp_path / "a.jsonl", CUSTOMER, invoice("F-1", "100"),
                                  payment("P-1", "40"))))
    result = run("import", str(write_jsonl(tmp_path / "b.jsonl", payment("P-1", "45"))))
    assert result.exit_code == 2
    assert "payment P-1 was imported before with other values" in result.stderr
    assert balances(run) == {"F-1": (6000, "open")}


def test_an_empty_file_is_bad_input(run, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run("import", str(empty))
    assert result.exit_code == 2
    assert "empty.jsonl: the file is empty" in result.stderr
