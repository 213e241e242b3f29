"""What a contact achieved: the one outcome ``cobra report tactics`` shows
and ``cobra plan`` learns step variants from.

A contact is an outbox message that went out and was not failed since (a
bounce reached no one), calls and third-party steps included from the
moment they were handed to a person as a task. Its day is its sending
instant's date in the company's time zone, not in UTC: a message sent at
13:00 UTC is the next day's in Auckland.

As of a date, with a window of N days:

- a contact is evaluated when its N days are over (its day + N is on or
  before the as-of date); a younger one is neither a success nor a failure
  yet;
- it succeeded when the customer paid anything, in any currency, from its
  day to N days after it (both included), or made a promise in those days
  that was kept, the promise check having resolved it by the as-of date.

Each payment is also credited, once, to the customer's latest contact sent
on or before the payment's date, if that contact is at most N days older:
what the tactics report shows as recovered.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


class Contact:
    """One contact with its outcome as of a date."""

    __slots__ = ("day", "evaluated", "recovered", "row", "succeeded")

    def __init__(self, row: sqlite3.Row, day: date):
        self.row, self.day = row, day
        self.evaluated = False
        self.succeeded = False
        self.recovered: dict[str, int] = defaultdict(int)


def start_of(day: date, zone: ZoneInfo) -> str:
    """Midnight of *day* in *zone*, as a UTC instant."""
    start = datetime.combine(day, time(), zone)
    return start.astimezone(timezone.utc).isoformat()


def instant(stored: str) -> datetime:
    """A stored instant as an aware datetime (UTC if it has no offset)."""
    parsed = datetime.fromisoformat(stored)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def local_day(stored: str, zone: ZoneInfo) -> date:
    """The calendar day in *zone* of a stored instant (UTC if it has no offset)."""
    return instant(stored).astimezone(zone).date()


def _any_within(days: list[date], first: date, last: date) -> bool:
    """Whether the sorted *days* hold one in [first, last]."""
    index = bisect_left(days, first)
    return index < len(days) and days[index] <= last


def contacts(
    conn: sqlite3.Connection, zone: ZoneInfo, as_of: date, within_days: int
) -> list[Contact]:
    """Every contact sent up to the end of *as_of*, in sending order, with
    its outcome as of that day."""
    from cobra.store import reports as queries

    until = start_of(as_of + timedelta(days=1), zone)
    sent = [
        Contact(row, local_day(row["sent_at"], zone))
        for row in queries.messages_sent(conn, None, until, reached=True)
    ]
    if not sent:
        return []
    first = min(contact.day for contact in sent).isoformat()
    payments = queries.payments(conn, first, as_of.isoformat())
    paid_on: dict[int, list[date]] = defaultdict(list)
    for payment in payments:  # in date order
        paid_on[payment["customer_id"]].append(date.fromisoformat(payment["paid_on"]))
    kept_on: dict[int, list[date]] = defaultdict(list)
    for promise in queries.kept_promises(conn, first, as_of.isoformat()):
        kept_on[promise["customer_id"]].append(date.fromisoformat(promise["made_on"]))

    within = timedelta(days=within_days)
    by_customer: dict[int, list[Contact]] = defaultdict(list)
    for contact in sent:
        customer_id = contact.row["customer_id"]
        by_customer[customer_id].append(contact)
        last = contact.day + within
        contact.evaluated = last <= as_of
        contact.succeeded = _any_within(
            paid_on.get(customer_id, []), contact.day, last
        ) or _any_within(kept_on.get(customer_id, []), contact.day, last)

    # Each payment's amount goes to the latest contact on or before its day.
    # Contacts are in sending order, so their days are sorted.
    days = {
        customer_id: [contact.day for contact in found]
        for customer_id, found in by_customer.items()
    }
    for payment in payments:
        customer_id = payment["customer_id"]
        day = date.fromisoformat(payment["paid_on"])
        index = bisect_right(days.get(customer_id, []), day) - 1
        if index >= 0:
            contact = by_customer[customer_id][index]
            if day - contact.day <= within:
                contact.recovered[payment["currency"]] += payment["amount"]
    return sent


def variant_outcomes(
    conn: sqlite3.Connection, zone: ZoneInfo, as_of: date, within_days: int
) -> dict[tuple, tuple[int, int]]:
    """(strategy, step, reason, variant) -> (evaluated, succeeded) as of a day,
    over every contact so far: what learning draws from."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for contact in contacts(conn, zone, as_of, within_days):
        if contact.evaluated:
            row = contact.row
            key = (row["strategy"], row["step"], row["reason"], row["variant"])
            counts[key][0] += 1
            counts[key][1] += contact.succeeded
    return {key: (count[0], count[1]) for key, count in counts.items()}
