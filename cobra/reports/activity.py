"""Activity: the contacts made in a period, per channel, collector and outcome.

Two kinds of contact count: interactions the collectors logged (their
channel, collector and outcome as logged), and messages cobra sent (the
outbox rows a provider accepted, whatever the delivery reports said later:
their outcome is the message's state, sent, delivered or failed, and their
collector is ``cobra``). Calls and third-party steps handed to a person as
tasks are not contacts until the person logs what happened. A contact's day
is its instant's date in the company's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from cobra.reports import NONE, Context

DESCRIPTION = "Contacts per channel, collector and outcome: interactions and messages."
FIELDS = ("kind", "channel", "collector", "outcome", "customer", "segment")
DEFAULT_BY = ("kind", "channel", "collector", "outcome")
# The collector of messages cobra sent on its own.
AUTOMATED = "cobra"
# The backend that hands calls and third-party steps to a person.
TASK_BACKEND = "task"


def contacts(context: Context):
    """Every contact in the period as (customer id, {field: value})."""
    from cobra.store import reports as queries

    since = context.start_of(context.period.start)
    until = context.start_of(context.period.end + timedelta(days=1))
    for row in queries.interactions(context.conn, since, until):
        yield (
            row["customer_id"],
            {
                "kind": "interaction",
                "channel": row["channel"] or NONE,
                "collector": row["collector"] or NONE,
                "outcome": row["outcome"],
            },
        )
    for row in queries.messages_sent(context.conn, since, until):
        if row["backend"] == TASK_BACKEND:
            continue
        yield (
            row["customer_id"],
            {
                "kind": "message",
                "channel": row["channel"],
                "collector": AUTOMATED,
                "outcome": row["state"],
            },
        )


def build(context: Context, by: tuple[str, ...]) -> list[dict]:
    from cobra.store import reports as queries

    customers = queries.customers(context.conn)
    counts: dict = defaultdict(int)
    reached: dict = defaultdict(set)
    for customer_id, fields in contacts(context):
        customer = customers[customer_id]
        key: tuple = ()
        for field in by:
            if field == "customer":
                key += (customer["account"], customer["name"])
            elif field == "segment":
                key += (customer["segment"] or NONE,)
            else:
                key += (fields[field],)
        counts[key] += 1
        reached[key].add(customer_id)
    columns = []
    for field in by:
        columns += ["account", "name"] if field == "customer" else [field]
    return [
        {**dict(zip(columns, key)), "contacts": count, "customers": len(reached[key])}
        for key, count in sorted(counts.items())
    ]
