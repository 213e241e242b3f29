"""Promises to pay made in a period, and how they turned out by the as-of date.

A promise counts in the period it was made. Its status is the one the
promise check recorded (``cobra plan`` and ``cobra run`` check promises),
if it was resolved on or before the as-of date; otherwise it was still open
then. kept rate = kept / (kept + partly kept + broken): open promises are
not yet a result. The instalments of a payment plan cancelled when it broke
count no more once cancelled: the missed instalment is the broken promise.
Amounts per currency.
"""

from __future__ import annotations

from collections import defaultdict

from cobra.reports import NONE, Context, money, ratio

DESCRIPTION = "Promises made, kept, partly kept and broken, with the kept rate."
FIELDS = ("customer", "segment", "country", "collector", "month")
DEFAULT_BY: tuple[str, ...] = ()
RESOLVED = ("kept", "partly_kept", "broken")


def status_as_of(promise, as_of: str) -> str:
    """kept, partly_kept, broken, cancelled (no longer a promise) or open."""
    resolved_on = promise["resolved_on"]
    if (
        promise["status"] in (*RESOLVED, "cancelled")
        and resolved_on
        and resolved_on <= as_of
    ):
        return promise["status"]
    return "open"


def build(context: Context, by: tuple[str, ...]) -> list[dict]:
    from cobra.store import reports as queries

    customers = queries.customers(context.conn)
    as_of = context.as_of.isoformat()
    cells: dict = defaultdict(lambda: defaultdict(int))
    for promise in queries.promises(
        context.conn, context.period.start.isoformat(), context.period.end.isoformat()
    ):
        status = status_as_of(promise, as_of)
        if status == "cancelled":
            continue
        customer = customers[promise["customer_id"]]
        key: tuple = ()
        for field in by:
            if field == "collector":
                # Who logged the promise, not the customer's latest collector.
                key += (promise["collector"] or NONE,)
            elif field == "month":
                key += (promise["made_on"][:7],)
            elif field == "customer":
                key += (customer["account"], customer["name"])
            else:
                key += (customer[field] or NONE,)
        cell = cells[(key, promise["currency"])]
        cell["made"] += 1
        cell[status] += 1
        cell["promised"] += promise["amount"]
        if status == "kept":
            cell["kept_amount"] += promise["amount"]
            cell["paid"] += promise["amount"]
        elif status == "partly_kept":
            cell["paid"] += promise["paid"]
    columns = []
    for field in by:
        columns += ["account", "name"] if field == "customer" else [field]
    rows = []
    for (group, currency), cell in sorted(cells.items()):
        resolved = sum(cell[status] for status in RESOLVED)
        rows.append(
            {
                **dict(zip(columns, group)),
                "currency": currency,
                "made": cell["made"],
                "kept": cell["kept"],
                "partly_kept": cell["partly_kept"],
                "broken": cell["broken"],
                "open": cell["open"],
                "promised": money(cell["promised"], currency),
                "kept_amount": money(cell["kept_amount"], currency),
                "paid": money(cell["paid"], currency),
                "kept_rate": ratio(cell["kept"], resolved),
            }
        )
    return rows
