"""The numbers a collections manager is judged by, one module per report.

Each report module has ``DESCRIPTION``, ``FIELDS`` (what ``--by`` may name,
in order), ``DEFAULT_BY`` and ``build(context, by) -> list[dict]``: rows with
stable snake_case keys, amounts as decimal strings in the currency's major
unit next to a ``currency`` column, ratios as exact numbers (``RATIOS``),
rounded where they are shown. Amounts in different currencies are never
added together: a report that sums money has one row per currency, or lists
one total per currency.

docs/reports.md defines every figure with its formula.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from importlib import import_module
from types import ModuleType
from typing import ClassVar
from zoneinfo import ZoneInfo

from cobra import outcomes
from cobra.reports.period import Period

# name -> module; `html` draws the others on one page.
REPORTS = {
    "aging": "cobra.reports.aging",
    "dso": "cobra.reports.dso",
    "cei": "cobra.reports.cei",
    "promises": "cobra.reports.promises",
    "activity": "cobra.reports.activity",
    "tactics": "cobra.reports.tactics",
    "html": "cobra.reports.html",
}

# What a missing segment, collector or channel is shown as.
NONE = "(none)"


def module(name: str) -> ModuleType:
    return import_module(REPORTS[name])


@dataclass
class Context:
    """What every report is computed from."""

    store: object
    config: object
    as_of: date
    period: Period
    zone: ZoneInfo
    within_days: int = 7
    allocation_days: int = 14

    @property
    def conn(self):
        return self.store.conn

    def start_of(self, day: date) -> str:
        """Midnight of *day* in the company's zone, as a UTC instant."""
        return outcomes.start_of(day, self.zone)

    def local_day(self, stored: str) -> date:
        """The company's calendar day of a stored instant (UTC if it has no
        offset)."""
        return outcomes.local_day(stored, self.zone)


def money(minor: int, currency: str) -> str:
    """Minor units as a decimal string in the currency's major unit."""
    from cobra.money import Money

    return f"{Money(minor, currency).to_decimal():f}"


def money_list(totals: dict[str, int]) -> list[dict]:
    """One {currency, amount} per currency with an amount, sorted by code."""
    return [
        {"currency": currency, "amount": money(amount, currency)}
        for currency, amount in sorted(totals.items())
        if amount
    ]


# The ratios (0-1) among the reports' columns. Reports keep them exact (a
# Fraction, or a float for an interval's bounds) and they are rounded once,
# when shown: share() for scripts, percent() for people. Rounding for the
# JSON first and again for the table would show 2 of 3's upper bound,
# 0.93851, as 0.9385 and then 93.8%.
RATIOS = (
    "kept_rate",
    "success_rate",
    "rate_low",
    "rate_high",
    "allocation",
    "would_allocate",
)


def ratio(numerator: int, denominator: int) -> Fraction | None:
    """numerator / denominator exactly, or None when nothing to divide."""
    if not denominator:
        return None
    return Fraction(numerator, denominator)


def _quantized(
    value: Fraction | Decimal | float, places: int, scale: int = 0
) -> Decimal:
    """*value* times 10**scale, rounded half up to *places* decimals."""
    if isinstance(value, Fraction):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        exact = Decimal(value)
    step = Decimal(1).scaleb(-places)
    return exact.scaleb(scale).quantize(step, rounding=ROUND_HALF_UP)


def rounded(value: Fraction | Decimal | float, places: int) -> float:
    """An exact value rounded half up to *places* decimals, for display."""
    return float(_quantized(value, places))


def share(value: Fraction | float | None) -> float | None:
    """A ratio for scripts: rounded half up to 4 decimals (0.9385)."""
    return None if value is None else rounded(value, 4)


def percent(value: Fraction | float | None, places: int = 1) -> str | None:
    """A ratio for people: a percentage rounded half up (93.9%)."""
    return None if value is None else f"{_quantized(value, places, scale=2)}%"


class Customers:
    """Customer columns for ``--by customer|segment|country|collector``.

    The collector of a customer is whoever logged its latest interaction
    before the end of the as-of day; a customer nobody has logged has none.
    """

    COLUMNS: ClassVar[dict[str, tuple[str, ...]]] = {
        "customer": ("account", "name"),
        "segment": ("segment",),
        "country": ("country",),
        "collector": ("collector",),
    }

    def __init__(self, context: Context, by: Iterable[str]):
        from datetime import timedelta

        from cobra.store import reports as queries

        self.by = [field for field in by if field in self.COLUMNS]
        self.rows = queries.customers(context.conn)
        self.collectors = (
            queries.last_collectors(
                context.conn, context.start_of(context.as_of + timedelta(days=1))
            )
            if "collector" in self.by
            else {}
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for field in self.by for column in self.COLUMNS[field])

    def key(self, customer_id: int | None) -> tuple:
        """The group of a customer; () when grouping by nothing (customer_id
        may then be None: rows summed over customers)."""
        if not self.by:
            return ()
        row = self.rows[customer_id]
        values: list[str] = []
        for field in self.by:
            if field == "customer":
                values += [row["account"], row["name"]]
            elif field == "collector":
                values.append(self.collectors.get(customer_id) or NONE)
            else:
                values.append(row[field] or NONE)
        return tuple(values)
