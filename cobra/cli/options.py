"""Option types and decorators shared by several commands."""

from __future__ import annotations

from datetime import date, datetime

import click

from cobra.output import format_option  # re-exported: the one --format option

__all__ = ["AMOUNT", "DATE", "format_option", "today"]


class DateParam(click.ParamType):
    """A calendar date written as YYYY-MM-DD, or `today`."""

    name = "DATE"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        if value == "today":
            return None  # the command decides in which time zone "today" is
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date; write it as YYYY-MM-DD", param, ctx)


DATE = DateParam()


class AmountParam(click.ParamType):
    """An amount in major units such as 1500 or 1500.50, read exactly (no float)."""

    name = "AMOUNT"

    def convert(self, value, param, ctx):
        from decimal import Decimal, InvalidOperation

        if isinstance(value, Decimal):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite():
            self.fail(
                f"{value!r} is not an amount; write it like 1500 or 1500.50", param, ctx
            )
        return amount


AMOUNT = AmountParam()


def today(timezone_name: str) -> date:
    """Today's date where the collections team works, not where the server is."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(timezone_name)).date()
