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


def aware_instant(text: str) -> datetime:
    """An instant written in ISO 8601 with its UTC offset, "Z" included.

    Python 3.10's ``fromisoformat`` does not take the "Z" that 3.11 and
    most tools write for UTC, so it is spelled out first. ValueError when
    *text* is no instant or has no offset.
    """
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError("has no UTC offset; write it like 2026-12-03T15:20:00-03:00")
    return moment


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
