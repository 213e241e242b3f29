"""Aging: what is open on the as-of date, by how long it is past due.

Each open invoice's open amount (as of the date: see cobra.store.reports)
goes into one bucket by its days past due, ``as_of - due_date``: current
(0 or less: not yet due), 1-30, 31-60, 61-90, 91-120, over 120.
One row per currency, or per group and currency.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from cobra.reports import Context, Customers, money

DESCRIPTION = "Open amounts by days past due, per currency."
FIELDS = ("customer", "segment", "country", "collector")
DEFAULT_BY: tuple[str, ...] = ()

# (column, label for charts, last day past due of the bucket or None: no end)
BUCKETS = (
    ("current", "current", 0),
    ("days_1_30", "1-30", 30),
    ("days_31_60", "31-60", 60),
    ("days_61_90", "61-90", 90),
    ("days_91_120", "91-120", 120),
    ("days_over_120", "120+", None),
)


def bucket(days_past_due: int) -> str:
    for column, _, last in BUCKETS:
        if last is None or days_past_due <= last:
            return column
    raise AssertionError("the last bucket has no end")


def totals(context: Context, by: tuple[str, ...]) -> tuple[tuple[str, ...], dict]:
    """(group columns, {(group, currency): {column: minor units, "invoices": n}})."""
    from cobra.store import reports as queries

    customers = Customers(context, by)
    found: dict = defaultdict(lambda: defaultdict(int))
    for invoice in queries.open_invoices(context.conn, context.as_of.isoformat()):
        late = (context.as_of - date.fromisoformat(invoice["due_date"])).days
        cell = found[(customers.key(invoice["customer_id"]), invoice["currency"])]
        cell[bucket(late)] += invoice["open"]
        cell["invoices"] += 1
    return customers.columns, found


def build(context: Context, by: tuple[str, ...]) -> list[dict]:
    columns, found = totals(context, by)
    rows = []
    for (group, currency), cell in sorted(found.items()):
        row = dict(zip(columns, group))
        row["currency"] = currency
        row["invoices"] = cell["invoices"]
        for column, _, _ in BUCKETS:
            row[column] = money(cell[column], currency)
        total = sum(cell[column] for column, _, _ in BUCKETS)
        row["total"] = money(total, currency)
        row["overdue"] = money(total - cell["current"], currency)
        rows.append(row)
    return rows
