"""The SQL behind ``cobra show``: one customer's records in time order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

# Each part yields (date, kind, text); amounts are formatted by the caller's
# helper below so the SQL stays plain.
_PARTS = {
    "invoice": """SELECT issue_date AS date, number, currency, amount, balance, due_date,
                         status, closed_on, disputed_since
                  FROM invoices WHERE customer_id = ?""",
    "payment": """SELECT paid_on AS date, reference, currency, amount,
                         (SELECT group_concat(i.number, ', ') FROM allocations a
                          JOIN invoices i ON i.id = a.invoice_id
                          WHERE a.payment_id = payments.id) AS settled
                  FROM payments WHERE customer_id = ?""",
    "credit_note": """SELECT issue_date AS date, number, currency, amount
                      FROM credit_notes WHERE customer_id = ?""",
    "promise": """SELECT made_on AS date, due_on, currency, amount, status, resolved_on,
                         instalment
                  FROM promises WHERE customer_id = ?""",
    "interaction": """SELECT substr(at, 1, 10) AS date, channel, outcome, collector, note,
                             (SELECT group_concat(i.number, ', ')
                              FROM interaction_invoices l
                              JOIN invoices i ON i.id = l.invoice_id
                              WHERE l.interaction_id = interactions.id) AS invoices
                      FROM interactions WHERE customer_id = ?""",
    "message": """SELECT substr(COALESCE(sent_at, send_at, planned_for), 1, 10) AS date,
                         channel, state, subject, address, hold_reason, error, template
                  FROM outbox WHERE customer_id = ?""",
    "reply": """SELECT substr(received_at, 1, 10) AS date, channel, sender, text, opt_out
                FROM inbound WHERE customer_id = ?""",
    "task": """SELECT due_on AS date, kind, title, state, assignee
               FROM tasks WHERE customer_id = ?""",
    "payment_plan": """SELECT agreed_on AS date, currency, total, option, status,
                              (SELECT COUNT(*) FROM promises p WHERE p.plan_id = payment_plans.id)
                                  AS instalments
                       FROM payment_plans WHERE customer_id = ?""",
    "finding": """SELECT substr(noted_at, 1, 10) AS date, reason, collector, note,
                         superseded_at
                  FROM findings WHERE customer_id = ?""",
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
        disputed = ", disputed" if row["disputed_since"] else ""
        return f"{row['number']} for {_money(row['currency'], row['amount'])} ({state}{disputed})"
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
        who = f" for {row['assignee']}" if row["assignee"] else ""
        return f"{row['title']}{who} ({row['state']})"
    who = f" by {row['collector']}" if row["collector"] else ""
    superseded = " (superseded)" if row["superseded_at"] else ""
    return f"reason {row['reason']}{who}{superseded}"


def events(conn: sqlite3.Connection, customer_id: int) -> Iterator[dict]:
    """Every record of the customer as {date, kind, text}, oldest first."""
    found = []
    for kind, sql in _PARTS.items():
        for row in conn.execute(sql, (customer_id,)):
            found.append(
                {
                    "date": row["date"],
                    "kind": kind.replace("_", " "),
                    "text": _text(kind, row),
                }
            )
    found.sort(key=lambda event: event["date"])
    yield from found


def contacts(conn: sqlite3.Connection, customer_id: int) -> list[dict]:
    return [
        dict(row)
        for row in conn.execute(
            "SELECT kind, value, invalid_since, invalid_reason FROM contacts"
            " WHERE customer_id = ? ORDER BY kind, id",
            (customer_id,),
        )
    ]
