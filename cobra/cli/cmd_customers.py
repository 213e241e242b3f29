"""``cobra customers``: the portfolio and each customer's open balance."""

from __future__ import annotations

from datetime import date

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import DATE, format_option, today
from cobra.output import emit


@click.command("customers")
@click.option("--as-of", type=DATE, default="today", help="Count overdue as of DATE.")
@click.option("--segment", help="Only customers in this segment.")
@click.option("--country", help="Only customers in this country (ISO code such as CL).")
@click.option("--with-balance", is_flag=True, help="Only customers with an open balance.")
@format_option
@pass_app
def customers_command(app: App, as_of: date | None, segment, country, with_balance, fmt):
    """List customers with their open and overdue balance, one row per currency.

    Balances in different currencies are never added together.

    Example: cobra customers --with-balance --format csv > portfolio.csv
    """
    from cobra.money import Money

    as_of = as_of or today(str(app.config().get("company.timezone", "UTC")))
    store = app.store()

    def rows():
        for row in store.portfolio(
            as_of=as_of, segment=segment, country=country, with_balance_only=with_balance
        ):
            currency = row["currency"]
            oldest = row["oldest_due_date"]
            days = (as_of - date.fromisoformat(oldest)).days if oldest else None
            yield {
                "account": row["account"],
                "name": row["name"],
                "country": row["country"],
                "segment": row["segment"],
                "currency": currency,
                "open_invoices": row["open_invoices"],
                "balance": _amount(Money, row["balance"], currency),
                "overdue": _amount(Money, row["overdue"], currency),
                "oldest_due_date": oldest,
                "days_overdue": max(days, 0) if days is not None else None,
            }

    emit(rows(), fmt, empty_message="No customers yet; `cobra import FILE` loads them.")


def _amount(money_type, minor: int, currency: str | None):
    # A customer without open invoices has no currency to state its zero in.
    return str(money_type(minor, currency).to_decimal()) if currency else None

