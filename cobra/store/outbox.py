"""The SQL behind ``cobra send`` and the receipts: the outbox's state machine.

Every change of a message's state is one short transaction, so a process
killed at any moment leaves each message in a state that says what is known
about it. Claiming takes SQLite's write lock first (``BEGIN IMMEDIATE``), so
two senders never claim the same message.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from cobra.store import transaction

# What a sender needs about each message, read when it is claimed.
_SELECT = """
    SELECT o.*, c.account, c.name AS customer_name, c.country, c.timezone,
           c.language AS customer_language, c.salesperson_email"""
_FROM = """
    FROM outbox o JOIN customers c ON c.id = o.customer_id
"""
_MESSAGE = _SELECT + _FROM


def _event(conn, outbox_id: int, at: str, state: str, detail: str | None) -> None:
    conn.execute(
        "INSERT INTO outbox_events (outbox_id, at, state, detail) VALUES (?, ?, ?, ?)",
        (outbox_id, at, state, detail),
    )


def due(
    conn: sqlite3.Connection,
    *,
    day: str,
    now: str,
    channels: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[sqlite3.Row]:
    """Queued messages that may go now, oldest first (for a dry run)."""
    sql, params = _due_query(day, now, channels)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return conn.execute(_MESSAGE + " WHERE o.id IN (" + sql + ")", params).fetchall()


def _due_query(day: str, now: str, channels: Iterable[str] | None):
    sql = (
        "SELECT id FROM outbox WHERE state = 'queued' AND planned_for <= ?"
        " AND (send_at IS NULL OR send_at <= ?)"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
    )
    params: list = [day, now, now]
    if channels is not None:
        names = list(channels)
        sql += f" AND channel IN ({', '.join('?' * len(names))})"
        params += names
    # Plan order: the plan stores contacts most urgent first.
    sql += " ORDER BY id"
    return sql, params


# What a sender checks again about each message as it claims it: an
# opt-out, whether anything is still owed (and disputed), and which invoices
# the message asks for have been disputed since it was written.
_CHECKS = """,
    EXISTS (SELECT 1 FROM opt_outs x WHERE x.customer_id = o.customer_id
              AND x.channel = o.channel) AS opted_out,
    (SELECT COUNT(*) FROM invoices i WHERE i.customer_id = o.customer_id
       AND i.status = 'open' AND i.balance > 0) AS open_invoices,
    (SELECT COUNT(*) FROM invoices i WHERE i.customer_id = o.customer_id
       AND i.status = 'open' AND i.balance > 0 AND i.due_date < :day) AS overdue_invoices,
    (SELECT COUNT(*) FROM invoices i WHERE i.customer_id = o.customer_id
       AND i.status = 'open' AND i.balance > 0 AND i.due_date < :day
       AND i.disputed_since IS NULL) AS undisputed_overdue,
    (SELECT group_concat(i.number, ', ') FROM json_each(o.invoices) j
       JOIN invoices i ON i.number = j.value
       WHERE i.customer_id = o.customer_id AND i.status = 'open'
         AND i.disputed_since IS NOT NULL) AS disputed_since_written
"""


def claim(
    conn: sqlite3.Connection,
    *,
    owner: str,
    day: str,
    now: str,
    channel: str,
    count: int,
    address_kind: str | None,
) -> list[sqlite3.Row]:
    """Move up to *count* due messages of *channel* to ``sending`` for *owner*.

    One UPDATE statement: SQLite takes the write lock before it reads, so
    two senders never claim the same message. It records the address the
    message goes to, the customer's first valid one of *address_kind* (None
    when there is none, and for a task), so a sender that finds the claim
    after a crash knows where it went. The rows come back with what the
    sender checks again (see ``_CHECKS``).
    """
    if count <= 0:
        return []
    sql, params = _due_query(day, now, [channel])
    ids = [
        row[0]
        for row in conn.execute(
            "UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_at = ?,"
            " attempts = attempts + 1, address = (SELECT value FROM contacts a"
            " WHERE a.customer_id = outbox.customer_id AND a.kind = ?"
            " AND a.invalid_since IS NULL ORDER BY a.id LIMIT 1)"
            f" WHERE id IN ({sql} LIMIT ?) RETURNING id",
            [owner, now, address_kind or "", *params, count],
        )
    ]
    if not ids:
        return []
    return conn.execute(
        # Placeholders, not the ids themselves: the statement's text depends
        # only on how many, so SQLite prepares it once, not once per claim.
        _SELECT
        + _CHECKS
        + _FROM
        + f" WHERE o.id IN ({', '.join(f':id{n}' for n in range(len(ids)))})"
        " ORDER BY o.id",
        {
            "day": day,
            **{f"id{n}": value for n, value in enumerate(ids)},
        },
    ).fetchall()


def next_retry(
    conn: sqlite3.Connection, *, day: str, channels: Iterable[str]
) -> str | None:
    """The earliest moment a queued message waits for after a transient error."""
    channels = list(channels)
    if not channels:
        return None
    marks = ", ".join("?" * len(channels))
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued'"
        f" AND planned_for <= ? AND next_attempt_at IS NOT NULL AND channel IN ({marks})",
        [day, *channels],
    ).fetchone()
    return row[0]


def mark_sent(
    conn,
    outbox_id: int,
    *,
    at: str,
    backend: str,
    address: str | None,
    provider_id: str | None,
) -> None:
    # One statement, its own transaction. A delivery report can arrive before
    # this is recorded (a fast gateway); it must not be undone by "sent".
    # sent_at and provider_id are the event: no outbox_events row is needed.
    conn.execute(
        "UPDATE outbox SET state = CASE WHEN state IN ('sending', 'unknown')"
        " THEN 'sent' ELSE state END, provider_id = COALESCE(?, provider_id),"
        " sent_at = ?, backend = ?, address = ?, error = NULL,"
        " claimed_by = NULL WHERE id = ?",
        (provider_id, at, backend, address, outbox_id),
    )


def requeue(
    conn,
    outbox_id: int,
    *,
    at: str,
    retry_at: str | None,
    error: str | None,
    send_at: str | None = None,
    count_attempt: bool = True,
) -> None:
    """Back to ``queued``: after a transient error, or to wait for a later moment."""
    with transaction(conn):
        conn.execute(
            "UPDATE outbox SET state = 'queued', next_attempt_at = ?, error = ?,"
            " send_at = COALESCE(?, send_at), claimed_by = NULL, claimed_at = NULL,"
            " attempts = attempts - ? WHERE id = ?",
            (retry_at, error, send_at, 0 if count_attempt else 1, outbox_id),
        )
        _event(conn, outbox_id, at, "queued", error)


def finish(
    conn,
    outbox_id: int,
    state: str,
    *,
    at: str,
    reason: str,
    backend: str | None = None,
    address: str | None = None,
) -> None:
    """End a message's sending: ``failed``, ``held``, ``cancelled`` or ``unknown``."""
    assert state in ("failed", "held", "cancelled", "unknown"), state
    column = "hold_reason" if state == "held" else "error"
    with transaction(conn):
        conn.execute(
            f"UPDATE outbox SET state = ?, {column} = ?, claimed_by = NULL,"
            " backend = COALESCE(?, backend), address = COALESCE(?, address)"
            " WHERE id = ?",
            (state, reason, backend, address, outbox_id),
        )
        _event(conn, outbox_id, at, state, reason)


def stale_claims(conn, *, owner_alive) -> list[sqlite3.Row]:
    """Messages left in ``sending`` by a sender that is no longer running."""
    rows = conn.execute(_MESSAGE + " WHERE o.state = 'sending'").fetchall()
    return [
        row for row in rows if not owner_alive(row["claimed_by"], row["claimed_at"])
    ]


def take_over(
    conn, outbox_id: int, *, owner: str, at: str, claimed_by, claimed_at
) -> bool:
    """Make a stale claim *owner*'s before settling it; False when another
    sender got there first (or the message is no longer ``sending``).

    One statement, its own transaction, matching the claim as it was read:
    of two senders recovering the same message, only one changes the row, so
    only one looks it up and settles it.
    """
    changed = conn.execute(
        "UPDATE outbox SET claimed_by = ?, claimed_at = ? WHERE id = ?"
        " AND state = 'sending' AND claimed_by IS ? AND claimed_at IS ?",
        (owner, at, outbox_id, claimed_by, claimed_at),
    ).rowcount
    return bool(changed)


def release_unknown(conn, *, at: str, channels: Iterable[str] | None = None) -> int:
    """``unknown`` messages back to ``queued``: a person asked to resend them."""
    sql = "SELECT id FROM outbox WHERE state = 'unknown'"
    params: list = []
    if channels is not None:
        names = list(channels)
        sql += f" AND channel IN ({', '.join('?' * len(names))})"
        params += names
    with transaction(conn):
        ids = [row[0] for row in conn.execute(sql, params)]
        for outbox_id in ids:
            conn.execute(
                "UPDATE outbox SET state = 'queued', next_attempt_at = NULL"
                " WHERE id = ?",
                (outbox_id,),
            )
            _event(conn, outbox_id, at, "queued", "resend requested (--retry-unknown)")
    return len(ids)


def states_of(conn, ids: list[int]) -> dict[int, str]:
    marks = ", ".join("?" * len(ids))
    return dict(
        conn.execute(f"SELECT id, state FROM outbox WHERE id IN ({marks})", ids)
    )


def confirm_unknown(conn, outbox_id: int, *, at: str) -> bool:
    """A person found an ``unknown`` message did arrive: it is ``sent``."""
    with transaction(conn):
        changed = conn.execute(
            "UPDATE outbox SET state = 'sent', sent_at = COALESCE(sent_at, ?),"
            " error = NULL WHERE id = ? AND state = 'unknown'",
            (at, outbox_id),
        ).rowcount
        if changed:
            _event(conn, outbox_id, at, "sent", "confirmed by a person")
    return bool(changed)


# -- what the sender checks again at send time ---------------------------------


def address(conn, customer_id: int, kind: str) -> str | None:
    """The customer's first valid e-mail address or phone number."""
    row = conn.execute(
        "SELECT value FROM contacts WHERE customer_id = ? AND kind = ?"
        " AND invalid_since IS NULL ORDER BY id LIMIT 1",
        (customer_id, kind),
    ).fetchone()
    return row[0] if row else None


def contacts_made(conn, customer_id: int, since: str, *, besides: int):
    """Contacts made with the customer since *since*, for the contact rules."""
    from cobra.store.followup import is_conversation

    return conn.execute(
        "SELECT COALESCE(sent_at, send_at) AS at, channel, 0 AS conversation"
        " FROM outbox WHERE customer_id = ? AND id <> ?"
        " AND state IN ('sending', 'sent', 'delivered', 'unknown')"
        " AND COALESCE(sent_at, send_at) >= ?"
        " UNION ALL"
        " SELECT at, channel,"
        f" {is_conversation()} AS conversation"
        " FROM interactions WHERE customer_id = ? AND at >= ?",
        (customer_id, besides, since, customer_id, since),
    ).fetchall()


# -- receipts and replies --------------------------------------------------------


def find_message(conn, *, key: str | None, provider_id: str | None):
    if key:
        row = conn.execute(
            "SELECT * FROM outbox WHERE idempotency_key = ?", (key,)
        ).fetchone()
        if row is not None:
            return row
    if provider_id:
        return conn.execute(
            "SELECT * FROM outbox WHERE provider_id = ? ORDER BY id DESC LIMIT 1",
            (provider_id,),
        ).fetchone()
    return None


# A report never moves a message backwards: a late "sent" after "delivered"
# (reports can arrive out of order) only adds an event.
_RANK = {
    "queued": 0,
    "sending": 1,
    "unknown": 1,
    "sent": 2,
    "failed": 3,
    "delivered": 4,
}


def apply_report(conn, row, state: str, *, at: str, detail: str) -> bool:
    """Record a delivery report; True when it changed the message's state."""
    with transaction(conn):
        _event(conn, row["id"], at, state, detail or None)
        current = conn.execute(
            "SELECT state FROM outbox WHERE id = ?", (row["id"],)
        ).fetchone()[0]
        if _RANK.get(state, 0) <= _RANK.get(current, 5):
            return False
        conn.execute(
            "UPDATE outbox SET state = ?,"
            " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,"
            " error = CASE WHEN ? = 'failed' THEN ? ELSE error END WHERE id = ?",
            (state, state, at, state, detail, row["id"]),
        )
    return True


def invalidate_contact(
    conn, customer_id: int, value: str, *, at: str, reason: str
) -> bool:
    with transaction(conn):
        changed = conn.execute(
            "UPDATE contacts SET invalid_since = ?, invalid_reason = ?"
            " WHERE customer_id = ? AND value = ? AND invalid_since IS NULL",
            (at, reason, customer_id, value),
        ).rowcount
    return bool(changed)


def customer_by_address(conn, kind: str, value: str) -> int | None:
    row = conn.execute(
        "SELECT customer_id FROM contacts WHERE kind = ? AND value = ? COLLATE NOCASE"
        " ORDER BY invalid_since IS NOT NULL, id LIMIT 1",
        (kind, value),
    ).fetchone()
    return row[0] if row else None


def store_inbound(
    conn,
    *,
    customer_id: int | None,
    channel: str,
    sender: str,
    received_at: str,
    text: str,
    outbox_id: int | None,
    opt_out: bool,
    provider_id: str | None,
) -> bool:
    """Keep a customer's message, and its opt-out; False if already stored."""
    with transaction(conn):
        added = conn.execute(
            "INSERT OR IGNORE INTO inbound (customer_id, channel, sender, received_at,"
            " text, outbox_id, opt_out, provider_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                customer_id,
                channel,
                sender,
                received_at,
                text,
                outbox_id,
                int(opt_out),
                provider_id,
            ),
        ).rowcount
        if added and opt_out and customer_id is not None:
            conn.execute(
                "INSERT OR IGNORE INTO opt_outs (customer_id, channel, since, note)"
                " VALUES (?, ?, ?, ?)",
                (customer_id, channel, received_at, f"replied {text.strip()[:40]!r}"),
            )
    return bool(added)


# -- tasks ------------------------------------------------------------------------


def add_task(
    conn,
    *,
    customer_id: int | None,
    kind: str,
    due_on: str,
    title: str,
    brief: str | None,
    assignee: str | None,
    source_key: str | None,
    at: str,
) -> tuple[int, bool]:
    """Create a task once per *source_key*; returns (id, created)."""
    with transaction(conn):
        if source_key:
            row = conn.execute(
                "SELECT id FROM tasks WHERE source_key = ?", (source_key,)
            ).fetchone()
            if row:
                return row[0], False
        cursor = conn.execute(
            "INSERT INTO tasks (customer_id, kind, due_on, title, brief, assignee,"
            " source_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (customer_id, kind, due_on, title, brief, assignee, source_key, at),
        )
    return cursor.lastrowid, True


def task_for(conn, source_key: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM tasks WHERE source_key = ?", (source_key,)
    ).fetchone()
    return row[0] if row else None


def customer_id_for(conn, account: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM customers WHERE account = ?", (account,)
    ).fetchone()
    return row[0] if row else None
