"""Option types and decorators shared by several commands."""

from __future__ import annotations

from datetime import date, datetime

import click

from cobra.output import format_option  # re-exported: the one --format option

__all__ = ["DATE", "format_option", "today"]


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


def today(timezone_name: str) -> date:
    """Today's date where the collections team works, not where the server is."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(timezone_name)).date()
