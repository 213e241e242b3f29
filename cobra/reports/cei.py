"""Collection effectiveness index: the share of what could be collected in a
period that was.

    CEI = (beginning + sales - ending) / (beginning + sales - ending current) x 100

beginning: receivables at the end of the day before the period; sales:
invoiced in the period; ending: receivables at the end of its last day;
ending current: the part of those not yet past due. Per currency; none when
nothing could be collected (the divisor is 0).
"""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from cobra.reports import Context, Customers, money, rounded
from cobra.reports.period import Period

DESCRIPTION = "Collection effectiveness index for a period, per currency."
FIELDS = ("customer", "segment", "country", "collector", "month")
DEFAULT_BY: tuple[str, ...] = ()


def _open(context: Context, customers: Customers, day: date) -> tuple[dict, dict]:
    """({key: open}, {key: open and not yet due}) at the end of *day*."""
    from cobra.store import reports as queries

    total: dict = {}
    current: dict = {}
    for invoice in queries.open_invoices(context.conn, day.isoformat()):
        key = (customers.key(invoice["customer_id"]), invoice["currency"])
        total[key] = total.get(key, 0) + invoice["open"]
        if invoice["due_date"] >= day.isoformat():
            current[key] = current.get(key, 0) + invoice["open"]
    return total, current


def figures(context: Context, customers: Customers, period: Period) -> dict:
    from cobra.store import reports as queries

    beginning, _ = _open(context, customers, period.start - timedelta(days=1))
    ending, current = _open(context, customers, period.end)
    sales: dict = {}
    for sale in queries.sales(
        context.conn,
        period.end.isoformat(),
        period.start.isoformat(),
        per_customer=bool(customers.by),
    ):
        key = (customers.key(sale["customer_id"]), sale["currency"])
        sales[key] = sales.get(key, 0) + sale["amount"]
    found = {}
    for key in sorted(set(beginning) | set(ending) | set(sales)):
        begin, sold = beginning.get(key, 0), sales.get(key, 0)
        end, end_current = ending.get(key, 0), current.get(key, 0)
        if not (begin or sold or end):
            continue
        collected = begin + sold - end
        collectible = begin + sold - end_current
        currency = key[1]
        found[key] = {
            "currency": currency,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "beginning": money(begin, currency),
            "sales": money(sold, currency),
            "ending": money(end, currency),
            "ending_current": money(end_current, currency),
            "collected": money(collected, currency),
            "cei": (
                rounded(Fraction(collected * 100, collectible), 1)
                if collectible > 0
                else None
            ),
        }
    return found


def build(context: Context, by: tuple[str, ...]) -> list[dict]:
    customers = Customers(context, by)
    periods = context.period.months() if "month" in by else [context.period]
    rows = []
    for period in periods:
        for (group, _), figure in figures(context, customers, period).items():
            row = dict(zip(customers.columns, group))
            if "month" in by:
                row["month"] = period.start.strftime("%Y-%m")
            rows.append({**row, **figure})
    return rows
