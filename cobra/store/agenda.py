"""The SQL behind ``cobra agenda`` and ``cobra history``.

The agenda gathers what a person must do from three tables: open tasks,
open promises whose date has come, and messages no program can settle (an
interrupted send whose outcome is unknown, a message held for want of data
only a person can supply). The history reads the contact log back in time
order: the collectors' interactions, the messages cobra sent or tried, and
the customers' replies. Nothing here deletes a row of the contact log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

from cobra.store import transaction

# Hold reasons that wait for a person: no valid address for the channel
# (none in the ledger, or it bounced), which no later plan cures by itself.
# The other reasons clear without one (a contact rule's limit passes), or
# are the customer's own choice (an opt-out), or have their own agenda item
# (a promise, a dispute).
NEEDS_PERSON = ("no valid %",)

# The columns every part of the agenda returns, so the parts can be joined
# by UNION ALL and sorted together.
_AGENDA_COLUMNS = (
    "prefix, number, due, kind, account, customer, title, brief, assignee,"
    " currency, amount, channel, subject, address, detail, made_on"
)

_TASKS = """
SELECT 'T' AS prefix, t.id AS number, t.due_on AS due, t.kind AS kind,
       c.account AS account, c.name AS customer, t.title AS title,
       t.brief AS brief, t.assignee AS assignee, NULL AS currency, NULL AS amount,
       NULL AS channel, NULL AS subject, NULL AS address, NULL AS detail,
       NULL AS made_on
FROM tasks t LEFT JOIN customers c ON c.id = t.customer_id
WHERE t.state = 'open' AND t.due_on <= :day
  AND (:collector IS NULL OR t.assignee IS NULL OR t.assignee = :collector
       COLLATE NOCASE)"""

# A promise that has its own task (a promise logged with `cobra log` gets
# a promise_check task) is on the agenda through that task: listing it
# twice would ask a collector to check it twice. Instalments of a payment
# plan have none, and come on their dates.
_PROMISES = """
SELECT 'P', p.id, p.due_on, 'promise_check', c.account, c.name, NULL, p.note,
       NULL, p.currency, p.amount, NULL, NULL, NULL, NULL, p.made_on
FROM promises p JOIN customers c ON c.id = p.customer_id
WHERE p.status = 'open' AND p.due_on <= :day
  AND NOT EXISTS (SELECT 1 FROM tasks l WHERE l.promise_id = p.id)"""

_UNKNOWN = """
SELECT 'M', o.id, o.planned_for, 'message_unknown', c.account, c.name, NULL,
       NULL, NULL, NULL, NULL, o.channel, o.subject, o.address, o.error, NULL
FROM outbox o JOIN customers c ON c.id = o.customer_id
WHERE o.state = 'unknown' AND o.planned_for <= :day"""

# A held message counts only while it is the latest plan for its customer
# and channel (each day's plan holds again what is still missing, and a
# later message means the gap was filled) and while something is owed.
_HELD = """
SELECT 'M', o.id, o.planned_for, 'message_held', c.account, c.name, NULL,
       NULL, NULL, NULL, NULL, o.channel, o.subject, o.address, o.hold_reason, NULL
FROM outbox o JOIN customers c ON c.id = o.customer_id
WHERE o.state = 'held' AND o.planned_for <= :day AND ({reasons})
  AND NOT EXISTS (SELECT 1 FROM outbox n WHERE n.customer_id = o.customer_id
                  AND n.channel = o.channel AND n.planned_for > o.planned_for
                  AND n.planned_for <= :day)
  AND EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = o.customer_id
              AND i.status = 'open' AND i.balance > 0)"""


def due(
    conn: sqlite3.Connection, *, day: str, collector: str | None = None
) -> Iterator[sqlite3.Row]:
    """Everything due on or before *day*, by due date, then kind, then id.

    With *collector*, tasks assigned to someone else are left out; tasks
    nobody was given, promises and messages stay (they are everyone's).
    """
    params: dict = {"day": day, "collector": collector}
    for number, pattern in enumerate(NEEDS_PERSON):
        params[f"reason{number}"] = pattern
    reasons = " OR ".join(
        f"o.hold_reason LIKE :reason{number}" for number in range(len(NEEDS_PERSON))
    )
    sql = (
        f"SELECT {_AGENDA_COLUMNS} FROM ("
        + " UNION ALL ".join(
            [
                _TASKS,
                _PROMISES,
                _UNKNOWN,
                _HELD.format(reasons=reasons),
            ]
        )
        + ") ORDER BY due, kind, prefix DESC, number"
    )
    yield from conn.execute(sql, params)


# -- closing and moving tasks ----------------------------------------------------


def task(conn: sqlite3.Connection, task_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()


# The task's note keeps every line written to it: a snooze, then the note
# of whoever closed it.
_APPEND_NOTE = (
    "note = CASE WHEN note IS NULL OR note = '' THEN :note"
    " ELSE note || char(10) || :note END"
)


def close_task(
    conn: sqlite3.Connection, task_id: int, *, at: str, note: str | None
) -> tuple[sqlite3.Row | None, bool]:
    """Mark an open task done; returns (the task as it was, whether it changed).

    The read and the write share one write transaction, so two people
    closing the same task at once close it once.
    """
    with transaction(conn):
        before = task(conn, task_id)
        if before is None or before["state"] != "open":
            return before, False
        conn.execute(
            "UPDATE tasks SET state = 'done', done_at = :at"
            + (f", {_APPEND_NOTE}" if note else "")
            + " WHERE id = :id",
            {"at": at, "note": note, "id": task_id},
        )
    return before, True


def snooze_task(
    conn: sqlite3.Connection, task_id: int, *, due_on: str, at: str, note: str | None
) -> tuple[sqlite3.Row | None, bool]:
    """Move an open task to *due_on*; returns (the task as it was, changed).

    The task's note gains a line saying from when to when, at what time,
    and why (*note*).
    """
    with transaction(conn):
        before = task(conn, task_id)
        if before is None or before["state"] != "open":
            return before, False
        line = f"snoozed from {before['due_on']} to {due_on} at {at}"
        conn.execute(
            f"UPDATE tasks SET due_on = :due, {_APPEND_NOTE} WHERE id = :id",
            {"due": due_on, "note": f"{line}: {note}" if note else line, "id": task_id},
        )
    return before, True


# -- the contact log -------------------------------------------------------------

# Messages that reached a provider, or were handed to one: those waiting,
# held or cancelled never left. Tasks (calls, briefs for a salesperson) are
# work for a person, not a contact; the call itself is logged as an
# interaction.
HISTORY_STATES = ("sent", "delivered", "failed", "unknown")

_HISTORY_COLUMNS = (
    "sort_at, at, kind, ref, account, customer, direction, channel, outcome,"
    " collector, address, subject, text, provider_id, error"
)

_INTERACTIONS = """
SELECT julianday(i.at) AS sort_at, i.at AS at, 'interaction' AS kind,
       'I' || i.id AS ref, c.account AS account, c.name AS customer,
       NULL AS direction, i.channel AS channel, i.outcome AS outcome,
       i.collector AS collector, NULL AS address, NULL AS subject,
       i.note AS text, NULL AS provider_id, NULL AS error
FROM interactions i JOIN customers c ON c.id = i.customer_id
WHERE julianday(i.at) >= julianday(:since)
  AND (:until IS NULL OR julianday(i.at) < julianday(:until)){accounts_i}"""

_MESSAGES = """
SELECT julianday(COALESCE(o.sent_at, o.claimed_at, o.created_at)),
       COALESCE(o.sent_at, o.claimed_at, o.created_at), 'message', 'M' || o.id,
       c.account, c.name, 'out', o.channel, o.state, NULL, o.address, o.subject,
       o.body, o.provider_id, o.error
FROM outbox o JOIN customers c ON c.id = o.customer_id
WHERE o.state IN ({states}) AND COALESCE(o.backend, '') <> 'task'
  AND julianday(COALESCE(o.sent_at, o.claimed_at, o.created_at))
      >= julianday(:since)
  AND (:until IS NULL OR julianday(COALESCE(o.sent_at, o.claimed_at, o.created_at))
       < julianday(:until)){accounts_o}"""

_REPLIES = """
SELECT julianday(r.received_at), r.received_at, 'reply', 'R' || r.id,
       c.account, c.name, 'in', r.channel,
       CASE WHEN r.opt_out THEN 'opt_out' ELSE 'received' END, NULL, r.sender,
       m.subject, r.text, r.provider_id, NULL
FROM inbound r LEFT JOIN customers c ON c.id = r.customer_id
     LEFT JOIN outbox m ON m.id = r.outbox_id
WHERE julianday(r.received_at) >= julianday(:since)
  AND (:until IS NULL OR julianday(r.received_at) < julianday(:until)){accounts_r}"""


def contact_log(
    conn: sqlite3.Connection,
    *,
    since: str,
    until: str | None,
    customer_ids: Iterable[int] | None = None,
) -> Iterator[sqlite3.Row]:
    """Interactions, messages and replies from *since* to before *until*, in order.

    *since* and *until* are aware instants; stored instants carry their own
    offsets, so they are compared and sorted as instants (``julianday``),
    not as text. The rows come one at a time from SQLite's sorter, which
    spills to a temporary file rather than holding a large log in memory.
    """
    ids = None if customer_ids is None else [int(i) for i in customer_ids]
    filters = {}
    for alias, name in (("i", "accounts_i"), ("o", "accounts_o"), ("r", "accounts_r")):
        filters[name] = (
            ""
            if ids is None
            else f" AND {alias}.customer_id IN ({', '.join(map(str, ids)) or 'NULL'})"
        )
    states = ", ".join(f"'{state}'" for state in HISTORY_STATES)
    sql = (
        f"SELECT {_HISTORY_COLUMNS} FROM ("
        + " UNION ALL ".join(
            [
                _INTERACTIONS.format(**filters),
                _MESSAGES.format(states=states, **filters),
                _REPLIES.format(**filters),
            ]
        )
        + ") ORDER BY sort_at, kind, CAST(substr(ref, 2) AS INTEGER)"
    )
    (previous,) = conn.execute("PRAGMA temp_store").fetchone()
    conn.execute("PRAGMA temp_store = FILE")
    try:
        yield from conn.execute(sql, {"since": since, "until": until})
    finally:
        conn.execute(f"PRAGMA temp_store = {int(previous)}")
