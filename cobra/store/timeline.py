"""The SQL behind ``cobra show``: one customer's records in time order.

Each event has an instant. Interactions, findings, messages (sent, or the
instant planned for them), replies and tasks (when they were raised) carry
one; a promise or a payment plan logged with ``cobra log`` has its
interaction's. The rest are dated by day only: invoices and credit notes by
their issue date, payments by the day paid, messages by the day planned
when they have no instant yet, promises and plans written without an
interaction by the day made. Nothing says when in that day they happened,
so they sort at the start of it in the company's time zone, before
anything with a time on the same day: a bill is issued, and a payment
booked, before the day's calls about it. Events at the same instant keep the
order of ``_PARTS`` (a call before the finding, plan, promises and tasks it
led to), and within a kind the order they were recorded in.

Each event's day is its instant's date in the company's zone, not in UTC: a
call logged at 23:30 in Santiago on the 3rd is on the 3rd.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from zoneinfo import ZoneInfo

from cobra.outcomes import instant, start_of

# Each part gives `at` (a stored instant, or NULL) and `day` (the day of an
# event without one); the texts are made by _text below so the SQL stays
# plain. Promises and plans join their interaction in the same query, so the
# timeline stays one query per part however long the customer's story is.
_PARTS = {
    "invoice": """SELECT NULL AS at, issue_date AS day, number, currency, amount,
                         balance, due_date, status, closed_on, disputed_since
                  FROM invoices WHERE customer_id = ? ORDER BY id""",
    "credit_note": """SELECT NULL AS at, issue_date AS day, number, currency, amount
                      FROM credit_notes WHERE customer_id = ? ORDER BY id""",
    "payment": """SELECT NULL AS at, paid_on AS day, reference, currency, amount,
                         (SELECT group_concat(i.number, ', ') FROM allocations a
                          JOIN invoices i ON i.id = a.invoice_id
                          WHERE a.payment_id = payments.id) AS settled
                  FROM payments WHERE customer_id = ? ORDER BY id""",
    "message": """SELECT COALESCE(sent_at, send_at) AS at, planned_for AS day,
                         channel, state, subject, address, hold_reason, error, template
                  FROM outbox WHERE customer_id = ? ORDER BY id""",
    "reply": """SELECT received_at AS at, NULL AS day, channel, sender, text, opt_out
                FROM inbound WHERE customer_id = ? ORDER BY id""",
    "interaction": """SELECT at, NULL AS day, channel, outcome, collector, note,
                             (SELECT group_concat(i.number, ', ')
                              FROM interaction_invoices l
                              JOIN invoices i ON i.id = l.invoice_id
                              WHERE l.interaction_id = interactions.id) AS invoices
                      FROM interactions WHERE customer_id = ? ORDER BY id""",
    "finding": """SELECT noted_at AS at, NULL AS day, reason, collector, note,
                         superseded_at
                  FROM findings WHERE customer_id = ? ORDER BY id""",
    "payment_plan": """SELECT ia.at, p.agreed_on AS day, p.currency, p.total,
                              p.option, p.status,
                              (SELECT COUNT(*) FROM promises pr WHERE pr.plan_id = p.id)
                                  AS instalments
                       FROM payment_plans p
                       LEFT JOIN interactions ia ON ia.id = p.interaction_id
                       WHERE p.customer_id = ? ORDER BY p.id""",
    "promise": """SELECT ia.at, p.made_on AS day, p.due_on, p.currency, p.amount,
                         p.status, p.resolved_on, p.instalment
                  FROM promises p LEFT JOIN interactions ia ON ia.id = p.interaction_id
                  WHERE p.customer_id = ? ORDER BY p.id""",
    "task": """SELECT created_at AS at, NULL AS day, due_on, title, state, assignee
               FROM tasks WHERE customer_id = ? ORDER BY id""",
}


def _money(currency: str, minor: int) -> str:
    from cobra.money import Money

    return f"{Money(minor, currency).to_decimal():f} {currency}"


def _text(kind: str, row: sqlite3.Row) -> str:
    if kind == "invoice":
        state = row["status"]
        if state == "open":
            state = (
                f"open, {_money(row['currency'], row['balance'])} due {row['due_date']}"
            )
        elif row["closed_on"]:
            state = f"{state} on {row['closed_on']}"
        if row["disputed_since"]:
            state += ", disputed"
        return f"{row['number']} for {_money(row['currency'], row['amount'])} ({state})"
    if kind == "payment":
        settled = (
            f", settling {row['settled']}" if row["settled"] else ", kept as credit"
        )
        return f"{row['reference']}: {_money(row['currency'], row['amount'])}{settled}"
    if kind == "credit_note":
        return f"{row['number']}: {_money(row['currency'], row['amount'])}"
    if kind == "promise":
        status = row["status"]
        if status == "cancelled":
            status = f"cancelled on {row['resolved_on']}: its payment plan was broken"
        number = row["instalment"]  # in a payment plan; 0 is the down payment
        what = ""
        if number == 0:
            what = "down payment: "
        elif number is not None:
            what = f"instalment {number}: "
        return (
            f"{what}to pay {_money(row['currency'], row['amount'])} by {row['due_on']} "
            f"({status})"
        )
    if kind == "interaction":
        who = f" by {row['collector']}" if row["collector"] else ""
        note = f": {row['note']}" if row["note"] else ""
        about = f" ({row['invoices']})" if row["invoices"] else ""
        return (
            f"{row['outcome']}{about} via {row['channel'] or 'unknown channel'}"
            f"{who}{note}"
        )
    if kind == "message":
        about = f" {row['subject']!r}" if row["subject"] else f" ({row['template']})"
        to = f" to {row['address']}" if row["address"] else ""
        why = row["hold_reason"] or row["error"]
        return f"{row['channel']}{about}{to}: {row['state']}" + (
            f" ({why})" if why else ""
        )
    if kind == "payment_plan":
        chosen = f", option {row['option']}" if row["option"] else ""
        return (
            f"{_money(row['currency'], row['total'])} in {row['instalments']} "
            f"payments{chosen} ({row['status']})"
        )
    if kind == "reply":
        stop = " (opted out)" if row["opt_out"] else ""
        text = " ".join(row["text"].split())
        text = text if len(text) <= 80 else text[:79] + "…"
        return f"via {row['channel']} from {row['sender']}: {text!r}{stop}"
    if kind == "task":
        # Dated by when it was raised; when it is due is part of what it says.
        who = f" for {row['assignee']}" if row["assignee"] else ""
        return f"{row['title']}{who}, due {row['due_on']} ({row['state']})"
    who = f" by {row['collector']}" if row["collector"] else ""
    superseded = " (superseded)" if row["superseded_at"] else ""
    return f"reason {row['reason']}{who}{superseded}"


def events(
    conn: sqlite3.Connection, customer_id: int, zone: ZoneInfo
) -> Iterator[dict]:
    """Every record of the customer as {date, at, kind, text}, oldest first.

    date is the event's day in *zone*, the company's; at its instant in
    *zone* as ISO 8601, or None for an event known by its day only.
    """
    found = []
    for kind, sql in _PARTS.items():
        for row in conn.execute(sql, (customer_id,)):
            if row["at"]:
                when, timed = instant(row["at"]).astimezone(zone), True
            else:
                day = date.fromisoformat(row["day"])
                when, timed = instant(start_of(day, zone)).astimezone(zone), False
            found.append(
                (
                    when,
                    {
                        "date": when.date().isoformat(),
                        "at": when.isoformat(timespec="seconds") if timed else None,
                        "kind": kind.replace("_", " "),
                        "text": _text(kind, row),
                    },
                )
            )
    # A stable sort: events at the same instant keep the order read above.
    found.sort(key=lambda event: event[0])
    for _, event in found:
        yield event


def contacts(conn: sqlite3.Connection, customer_id: int) -> list[dict]:
    return [
        dict(row)
        for row in conn.execute(
            "SELECT kind, value, invalid_since, invalid_reason FROM contacts"
            " WHERE customer_id = ? ORDER BY kind, id",
            (customer_id,),
        )
    ]
