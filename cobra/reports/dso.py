"""Days sales outstanding: how many days of sales are still owed.

Two methods, both per currency (docs/reports.md works an example):

- simple: ``receivables at the period's end / sales in the period x days in
  the period``; none when nothing was sold in the period.
- countback: take the receivables at the period's end and walk back through
  the calendar months (the month of the end date up to that date first),
  taking away each month's sales while they fit, counting the month's days;
  the month that no longer fits adds its share ``what is left / its sales x
  its days``. Seasonal sales do not skew it as they skew the simple method.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from fractions import Fraction

from cobra.reports import Context, Customers, money, rounded
from cobra.reports.period import Period

DESCRIPTION = "Days sales outstanding, by the simple and the countback method."
FIELDS = ("customer", "segment", "country", "collector", "month")
DEFAULT_BY: tuple[str, ...] = ()


def receivables(context: Context, customers: Customers, day: date) -> dict:
    """{(group, currency): open amount} at the end of *day*."""
    from cobra.store import reports as queries

    found: dict = defaultdict(int)
    for invoice in queries.open_invoices(context.conn, day.isoformat()):
        found[(customers.key(invoice["customer_id"]), invoice["currency"])] += invoice[
            "open"
        ]
    return found


def daily_sales(context: Context, customers: Customers, until: date) -> dict:
    """{(group, currency): {issue day: amount invoiced}} up to *until*."""
    from cobra.store import reports as queries

    found: dict = defaultdict(lambda: defaultdict(int))
    rows = queries.sales(
        context.conn, until.isoformat(), per_customer=bool(customers.by)
    )
    for sale in rows:
        key = (customers.key(sale["customer_id"]), sale["currency"])
        found[key][date.fromisoformat(sale["issue_date"])] += sale["amount"]
    return found


def countback(owed: int, sales: dict[date, int], end: date) -> Fraction:
    """Days of the latest sales that add up to *owed*, counted back from *end*."""
    months: dict[date, int] = defaultdict(int)
    for day, amount in sales.items():
        if day <= end:
            months[day.replace(day=1)] += amount
    remaining, days = owed, Fraction(0)
    earliest = min(months, default=end.replace(day=1))
    last, first = end, end.replace(day=1)
    while remaining > 0:
        span = (last - first).days + 1
        sold = months.get(first, 0)
        if sold >= remaining:
            return days + Fraction(remaining * span, sold)
        days += span
        remaining -= sold
        if first <= earliest:
            # Open amounts never exceed what was ever invoiced; this only
            # guards against a ledger edited by hand.
            return days
        last = first - timedelta(days=1)
        first = last.replace(day=1)
    return days


def figures(
    context: Context, customers: Customers, period: Period, sales: dict
) -> dict:
    """{(group, currency): row} for one period; groups with no data left out."""
    owed = receivables(context, customers, period.end)
    found = {}
    for key in sorted(set(owed) | set(sales)):
        days_sold = sales.get(key, {})
        sold = sum(
            amount
            for day, amount in days_sold.items()
            if period.start <= day <= period.end
        )
        open_amount = owed.get(key, 0)
        if not sold and not open_amount:
            continue
        currency = key[1]
        simple = rounded(Fraction(open_amount * period.days, sold), 1) if sold else None
        found[key] = {
            "currency": currency,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "days": period.days,
            "receivables": money(open_amount, currency),
            "sales": money(sold, currency),
            "dso_simple": simple,
            "dso_countback": rounded(countback(open_amount, days_sold, period.end), 1),
        }
    return found


def build(context: Context, by: tuple[str, ...]) -> list[dict]:
    customers = Customers(context, by)
    periods = context.period.months() if "month" in by else [context.period]
    sales = daily_sales(context, customers, context.period.end)
    rows = []
    for period in periods:
        for (group, _), figure in figures(context, customers, period, sales).items():
            row = dict(zip(customers.columns, group))
            if "month" in by:
                row["month"] = period.start.strftime("%Y-%m")
            rows.append({**row, **figure})
    return rows
