"""Report periods: from/to dates, a calendar month, quarter or year, or N days.

A period is a closed range of days. Reports that look at a period (DSO, CEI,
promises, activity, tactics) take ``--from/--to`` or ``--period``; the as-of
date is the day the data is read as of, by default the period's last day.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from cobra.errors import CobraInputError

PERIOD_FORMS = "YYYY-MM, YYYY-Qn, YYYY or Nd (the N days up to --as-of)"


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def months(self) -> list[Period]:
        """The calendar months this period touches, each cut to the period."""
        found = []
        first = self.start.replace(day=1)
        while first <= self.end:
            last = month_end(first)
            found.append(Period(max(first, self.start), min(last, self.end)))
            first = last + timedelta(days=1)
        return found

    def __str__(self) -> str:
        return f"{self.start} to {self.end}"


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def calendar_period(text: str) -> Period | None:
    """YYYY-MM, YYYY-Qn or YYYY as a Period; None when *text* is none of them."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{2})|-[Qq]([1-4]))?", text.strip())
    if not match:
        return None
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        if not 1 <= month <= 12:
            return None
        first = date(year, month, 1)
        return Period(first, month_end(first))
    if match.group(3):
        quarter = int(match.group(3))
        first = date(year, 3 * quarter - 2, 1)
        return Period(first, month_end(date(year, 3 * quarter, 1)))
    return Period(date(year, 1, 1), date(year, 12, 31))


def resolve(
    *,
    today: date,
    default_days: int,
    as_of: date | None = None,
    start: date | None = None,
    end: date | None = None,
    period: str | None = None,
) -> tuple[date, Period]:
    """The as-of date and the period the options name; raises CobraInputError.

    Without options: the *default_days* days up to today. The as-of date is
    the period's last day, or today if that is later than today; a period
    running past the as-of date is cut there (``--period 2026 --as-of
    2026-07-31``: the year to date), unless ``--to`` and ``--as-of`` both
    say so, which is a contradiction.
    """
    if period and (start or end):
        raise CobraInputError("--period cannot be combined with --from or --to")
    if period:
        days = re.fullmatch(r"\s*(\d+)\s*d\s*", period)
        if days:
            count = int(days.group(1))
            if count < 1:
                raise CobraInputError("--period: a period has at least 1 day (1d)")
            last = as_of or today
            chosen = Period(last - timedelta(days=count - 1), last)
        else:
            chosen = calendar_period(period)
            if chosen is None:
                raise CobraInputError(
                    f"--period: {period!r} is not a period; write {PERIOD_FORMS}"
                )
    else:
        last = end or as_of or today
        chosen = Period(start or last - timedelta(days=default_days - 1), last)
    if end and as_of and end > as_of:
        raise CobraInputError(
            f"--to {end} is after --as-of {as_of}: a report cannot read days it "
            "does not know yet; move one of them"
        )
    as_of = as_of or min(chosen.end, today)
    chosen = Period(chosen.start, min(chosen.end, as_of))
    if chosen.start > chosen.end:
        raise CobraInputError(
            f"the period starts on {chosen.start}, after its end {chosen.end}"
            + (" (the as-of date)" if chosen.end == as_of else "")
        )
    return as_of, chosen
