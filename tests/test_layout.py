"""The bulk checks in SQLite agree with the row-by-row checks in Python.

Clean rows of a large CSV are checked by SQL expressions, the rest by
cobra.layout.check_row. The SQL may send a valid row to Python (that only
costs time) but must never accept a row Python would reject, nor read a
value differently.
"""

from __future__ import annotations

import random

import pytest

from cobra.layout import FIELDS, LayoutSettings, check_row
from cobra.records import Rejected, Where
from cobra.store import Store
from cobra.store.ledger import LayoutStage, LedgerWriter

BASE = {
    "customer_id": "C1", "customer_name": "Comercial Rojas Ltda.",
    "email": "pagos@rojas.cl", "phone": "+56987654321", "invoice_id": "F-1",
    "issue_date": "2026-10-01", "due_date": "2026-10-31", "currency": "CLP",
    "amount": "150000", "balance": "150000", "tax_id": "76.123.456-K",
    "language": "es", "country": "CL", "timezone": "America/Santiago",
    "salesperson_email": "ventas@andesur.example", "segment": "smb",
}

TRICKY = {
    "customer_id": ["", " C1", "C1 ", "C-é", "0"],
    "customer_name": ["", "  ", "Ñandú & Cía", " padded"],
    "email": ["", "a@b.co", "a@b.c", "a@.co", "@b.co", "a@b@c.co", "a b@c.co", "a@b.co ",
              "first.last@sub.example.com", "a@b.c1", "a@b.1c", "a@bco", "a,b@c.co",
              "ñ@b.co", "a@b.co.", "A@B.CO", "a+tag@b.io"],
    "phone": ["", "+56987654321", "+5698765432", "+0987654321", "56987654321",
              "+56 9 8765 4321", "9 8765 4321", "+1234567", "+123456789012345",
              "+1234567890123456", "+56-987654321", "+56987654321x"],
    "invoice_id": ["", "F 1", " F1"],
    "issue_date": ["2026-02-29", "2024-02-29", "2026-13-01", "2026-1-5", "20261001",
                   "2026-10-01T00:00", "01/10/2026", "", "2026-10-01 "],
    "due_date": ["2026-09-30", "2026-10-01", "2026-02-30", "2027-01-01"],
    "currency": ["USD", "usd", "XXX", "XAU", "", "EURO", "KWD", "CLF", "JPY"],
    "amount": ["0", "1", "12.5", "12.50", "12.500", "12.501", "1.", ".5", "1,000",
               "1.000.000", "-5", "1e3", " 12", "00012", "123456789012345678",
               "1234567890123456789", "12.0000", "12..5", "١٢"],
    "balance": ["0", "-1", "0.00", "5.5", "abc", ""],
    "language": ["", "es", "en-US", "en_US", "EN", "eng", "en-us", "e"],
    "country": ["", "CL", "cl", "CHL", "C1"],
    "timezone": ["", "UTC", "America/Santiago", "Mars/Base", "america/santiago"],
    "salesperson_email": ["", "x@y.zz", "nope"],
    "tax_id": ["", " 1"],
    "segment": ["", "smb ", "enterprise"],
}


def rows() -> list[tuple[str, ...]]:
    """Every tricky value in a clean row, plus random mixes of them."""
    variants = []
    for field, values in TRICKY.items():
        for value in values:
            cells = dict(BASE, **{field: value})
            if field in ("amount", "balance") and value and value.replace(".", "").isdigit():
                for currency in ("CLP", "USD", "KWD", "CLF"):
                    variants.append(dict(cells, currency=currency))
            variants.append(cells)
    rng = random.Random(4)
    for _ in range(400):
        cells = dict(BASE)
        for field in rng.sample(list(TRICKY), 3):
            cells[field] = rng.choice(TRICKY[field])
        variants.append(cells)
    return [tuple(v[name] for name in FIELDS) for v in variants]


@pytest.fixture
def stage(tmp_path):
    store = Store.open(tmp_path / "c.sqlite")
    store.conn.execute("BEGIN")
    writer = LedgerWriter(store.conn, "2026-12-03T00:00:00+00:00", ["test"], sync=False)
    yield LayoutStage(writer)
    store.conn.execute("ROLLBACK")
    store.close()


def test_sql_accepts_nothing_python_rejects(stage):
    cases = rows()
    stage.add(stage.source_id("t.csv"), 0, True,
              [(line, *cells) for line, cells in enumerate(cases, start=1)])
    rejected_by_sql = {row["line"] for row in stage.exceptions()}
    settings = LayoutSettings()

    accepted_by_sql = 0
    for line, cells in enumerate(cases, start=1):
        if line in rejected_by_sql:
            continue
        accepted_by_sql += 1
        checked = check_row(cells, Where("t.csv", line), settings)
        assert not isinstance(checked, Rejected), (cells, checked)
    # The fast path must still take the ordinary clean rows.
    assert accepted_by_sql > 50


def test_sql_reads_amounts_exactly_as_python_does(stage):
    from cobra.store.ledger import _minor

    cases = [c for c in rows()]
    stage.add(stage.source_id("t.csv"), 0, True,
              [(line, *cells) for line, cells in enumerate(cases, start=1)])
    bad = {row["line"] for row in stage.exceptions()}
    read = dict(stage.conn.execute(
        f"SELECT s.line, {_minor('s.amount')} FROM stage s"
        " JOIN stage_currencies k ON k.code = s.currency"
    ).fetchall())
    compared = 0
    for line, cells in enumerate(cases, start=1):
        if line in bad:
            continue
        _, invoice = check_row(cells, Where("t.csv", line), LayoutSettings())
        assert read[line] == invoice.amount, cells
        compared += 1
    assert compared > 50


def test_rows_with_options_always_go_through_python(stage):
    cells = tuple(BASE[name] for name in FIELDS)
    stage.add(stage.source_id("t.csv"), 0, False, [(1, *cells)])
    assert [row["line"] for row in stage.exceptions()] == [1]
