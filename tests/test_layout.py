"""The batch reading of layout rows agrees with the row-by-row checks.

cobra.layout.LayoutChecker reads most rows of a large file without calling
cobra.layout.check_row: it remembers dates and currencies, checks a
customer's cells once per run of equal cells, and reads plain amounts
inline. Whatever it does, each row must come out exactly as check_row
reads it (the same values, the same customer) or be rejected with
check_row's own message. And since the ledger writes what it accepts with
the invoices table's CHECK constraints switched off, what it accepts must
satisfy them.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from cobra.layout import FIELDS, LayoutChecker, LayoutSettings, check_row, plain_minor
from cobra.records import Rejected, Where
from cobra.store import Store
from cobra.store.ledger import LedgerWriter

BASE = {
    "customer_id": "C1", "customer_name": "Comercial Rojas Ltda.",
    "email": "pagos@rojas.cl", "phone": "+56987654321", "invoice_id": "F-1",
    "issue_date": "2026-10-01", "due_date": "2026-10-31", "currency": "CLP",
    "amount": "150000", "balance": "150000", "tax_id": "76.123.456-K",
    "language": "es", "country": "CL", "timezone": "America/Santiago",
    "salesperson_email": "ventas@andesur.example", "segment": "smb",
}  # fmt: skip

TRICKY = {
    "customer_id": ["", " C1", "C1 ", "C-é", "0"],
    "customer_name": ["", "  ", "Ñandú & Cía", " padded"],
    "email": ["", "a@b.co", "a@b.c", "a@.co", "@b.co", "a@b@c.co", "a b@c.co", "a@b.co ",
              "first.last@sub.example.com", "a@b.c1", "a@b.1c", "a@bco", "a,b@c.co",
              "ñ@b.co", "a@b.co.", "A@B.CO", "a+tag@b.io"],
    "phone": ["", "+56987654321", "+5698765432", "+0987654321", "56987654321",
              "+56 9 8765 4321", "9 8765 4321", "+1234567", "+123456789012345",
              "+1234567890123456", "+56-987654321", "+56987654321x"],
    "invoice_id": ["", "F 1", " F1", "F-2 "],
    "issue_date": ["2026-02-29", "2024-02-29", "2026-13-01", "2026-1-5", "20261001",
                   "2026-10-01T00:00", "01/10/2026", "", "2026-10-01 ", "2026-W40-4"],
    "due_date": ["2026-09-30", "2026-10-01", "2026-02-30", "2027-01-01", "02/10/2026"],
    "currency": ["USD", "usd", "XXX", "XAU", "", "EURO", "KWD", "CLF", "JPY", " CLP"],
    "amount": ["0", "1", "12.5", "12.50", "12.500", "12.501", "1.", ".5", "1,000",
               "1.000.000", "-5", "1e3", " 12", "00012", "123456789012345678",
               "1234567890123456789", "12.0000", "12..5", "١٢", "١٢.٥٠", "+5", "1_000",
               "99999999999999", "999999999999999", "0.00", "1.2.3", "²"],
    "balance": ["0", "-1", "0.00", "5.5", "abc", "", "0.000", "0.", "1,5", "150000.0"],
    "language": ["", "es", "en-US", "en_US", "EN", "eng", "en-us", "e"],
    "country": ["", "CL", "cl", "CHL", "C1"],
    "timezone": ["", "UTC", "America/Santiago", "Mars/Base", "america/santiago"],
    "salesperson_email": ["", "x@y.zz", "nope"],
    "tax_id": ["", " 1"],
    "segment": ["", "smb ", "enterprise"],
}  # fmt: skip

SETTINGS = {
    "plain": LayoutSettings(),
    "decimal comma": LayoutSettings(decimal=",", thousands="."),
    "day first": LayoutSettings(date_format="%d/%m/%Y", default_country="CL"),
}
# The clean row as each setting writes it.
BASES = {
    "plain": BASE,
    "decimal comma": dict(BASE, currency="USD", amount="1.500,50", balance="1.500,50"),
    "day first": dict(BASE, issue_date="01/10/2026", due_date="31/10/2026"),
}


def rows(base: dict = BASE) -> list[tuple[str, ...]]:
    """Every tricky value in a clean row, plus random mixes of them.

    Rows of one customer follow each other, as in an export, and the
    customer's cells change now and then, so that runs of equal cells
    begin and end everywhere.
    """
    variants = []
    for field, values in TRICKY.items():
        for value in values:
            cells = dict(base, **{field: value})
            if (
                field in ("amount", "balance")
                and value
                and value.replace(".", "").isdigit()
            ):
                for currency in ("CLP", "USD", "KWD", "CLF"):
                    variants.append(dict(cells, currency=currency))
            variants.append(cells)
    rng = random.Random(4)
    for _ in range(600):
        cells = dict(variants[-1]) if rng.random() < 0.5 else dict(base)
        for field in rng.sample(list(TRICKY), 2):
            cells[field] = rng.choice(TRICKY[field])
        variants.append(cells)
    return [tuple(v[name] for name in FIELDS) for v in variants]


def read_in_batches(cases, settings, size=37):
    """LayoutChecker's reading of *cases*, in batches, as the ledger calls it.

    Returns, per line, the checked row or the Rejected, and the customers
    registered in order (an id is the customer's place in that list).
    """
    customers = []

    def register(customer):
        customers.append(customer)
        return len(customers)

    checker = LayoutChecker(settings, register)
    found = {}
    for start in range(0, len(cases), size):
        lines = list(range(start + 1, start + 1 + len(cases[start : start + size])))
        batch = [list(cells) for cells in cases[start : start + size]]
        rejects = []
        for row in checker.check("t.csv", batch, lines, rejects.append):
            found[row[-1]] = row
        for rejected in rejects:
            found[rejected.where.line] = rejected
    return found, customers


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_batch_reading_reads_every_row_as_check_row_does(name):
    settings = SETTINGS[name]
    cases = rows(BASES[name])
    found, customers = read_in_batches(cases, settings)

    accepted = 0
    for line, cells in enumerate(cases, start=1):
        expected = check_row(cells, Where("t.csv", line), settings)
        got = found[line]
        if isinstance(expected, Rejected):
            assert got == expected, cells
            continue
        customer, invoice = expected
        assert not isinstance(got, Rejected), (cells, got)
        customer_id, number, issued, due, currency, amount, balance, at = got
        assert (number, issued, due, currency, amount, balance, at) == (
            invoice.number,
            invoice.issue_date.isoformat(),
            invoice.due_date.isoformat(),
            invoice.currency,
            invoice.amount,
            invoice.balance,
            line,
        ), cells
        registered = customers[customer_id - 1]
        assert replace(registered, where=customer.where) == customer, cells
        accepted += 1
    # The quick reading must still take the ordinary clean rows.
    assert accepted > 100


def test_a_customer_is_registered_once_per_run_and_only_with_a_valid_row():
    good = tuple(BASE[name] for name in FIELDS)
    bad_invoice = tuple(dict(BASE, amount="abc")[name] for name in FIELDS)
    other = tuple(dict(BASE, customer_id="C2")[name] for name in FIELDS)
    found, customers = read_in_batches(
        [bad_invoice, good, good, other, bad_invoice], LayoutSettings(), size=2
    )

    assert [c.account for c in customers] == ["C1", "C2"]
    assert [found[line][0] for line in (2, 3, 4)] == [1, 1, 2]
    assert isinstance(found[1], Rejected) and isinstance(found[5], Rejected)


def test_plain_minor_reads_what_parse_amount_reads():
    from cobra import fields

    for text in TRICKY["amount"] + TRICKY["balance"]:
        for currency, exponent in (("CLP", 0), ("USD", 2), ("KWD", 3), ("CLF", 4)):
            quick = plain_minor(text, exponent)
            if quick is None:
                continue
            assert quick == fields.parse_amount(text, currency), (text, currency)


@pytest.fixture
def writer(tmp_path):
    store = Store.open(tmp_path / "c.sqlite")
    store.conn.execute("BEGIN")
    yield LedgerWriter(store.conn, "2026-12-03T00:00:00+00:00", ["test"], sync=False)
    store.conn.execute("ROLLBACK")
    store.close()


def test_what_the_batch_reading_accepts_satisfies_the_invoices_constraints(writer):
    # The ledger writes accepted rows with CHECK constraints off: written
    # here with them on, no row may break one.
    for name, settings in SETTINGS.items():
        checker = LayoutChecker(settings, writer.customers.register)
        cases = [list(cells) for cells in rows(BASES[name])]
        accepted = checker.check(
            name, cases, list(range(1, len(cases) + 1)), lambda rejected: None
        )
        writer.customers.flush()
        writer.upsert_invoices([(*row[:7], f"{name}:{row[7]}") for row in accepted])
        assert accepted
    assert writer.conn.execute("PRAGMA ignore_check_constraints").fetchone()[0] == 0
