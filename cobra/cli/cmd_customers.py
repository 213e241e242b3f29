"""``cobra customers``: the portfolio and each customer's open balance."""

from __future__ import annotations

from datetime import date

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import AMOUNT, DATE, format_option, today
from cobra.diagnosis import REASONS
from cobra.output import emit


@click.command("customers")
@click.option("--as-of", type=DATE, default="today", help="Count overdue as of DATE.")
@click.option("--segment", help="Only customers in this segment.")
@click.option("--country", help="Only customers in this country (ISO code such as CL).")
@click.option(
    "--with-balance", is_flag=True, help="Only customers with an open balance."
)
@click.option(
    "--reason",
    type=click.Choice(REASONS),
    help="Only customers with this diagnosis (implies --with-balance).",
)
@click.option(
    "--min-balance",
    type=AMOUNT,
    metavar="AMOUNT",
    help="Only rows whose open balance is at least AMOUNT, in that row's currency.",
)
@format_option
@pass_app
def customers_command(
    app: App,
    as_of: date | None,
    segment,
    country,
    with_balance,
    reason,
    min_balance,
    fmt,
):
    """List customers with their open and overdue balance, one row per currency.

    Balances in different currencies are never added together. Customers
    with an open balance carry their diagnosis (see `cobra prioritize`).

    Example: cobra customers --with-balance --format csv > portfolio.csv
    """
    from cobra import worklist
    from cobra.money import Money

    config = app.config()
    as_of = as_of or today(str(config.get("company.timezone", "UTC")))
    store = app.store()
    reasons = {
        entry.evidence.account: entry.diagnosis.reason
        for entry in worklist.build(store, config, as_of)
    }
    floor = min_balance

    def rows():
        for row in store.portfolio(
            as_of=as_of,
            segment=segment,
            country=country,
            with_balance_only=with_balance or bool(reason) or floor is not None,
        ):
            diagnosis = reasons.get(row["account"])
            if reason and diagnosis != reason:
                continue
            currency = row["currency"]
            if (
                floor is not None
                and Money(row["balance"], currency).to_decimal() < floor
            ):
                continue
            oldest = row["oldest_due_date"]
            days = (as_of - date.fromisoformat(oldest)).days if oldest else None
            yield {
                "account": row["account"],
                "name": row["name"],
                "country": row["country"],
                "segment": row["segment"],
                "currency": currency,
                "open_invoices": row["open_invoices"],
                "balance": _amount(row["balance"], currency),
                "overdue": _amount(row["overdue"], currency),
                "oldest_due_date": oldest,
                "days_overdue": max(days, 0) if days is not None else None,
                "reason": diagnosis,
            }

    emit(rows(), fmt, empty_message="No customers yet; `cobra import FILE` loads them.")


def _amount(minor: int, currency: str | None):
    # A customer without open invoices has no currency to state its zero in.
    from cobra.money import Money

    return str(Money(minor, currency).to_decimal()) if currency else None
