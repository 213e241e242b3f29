"""The SQL behind ``cobra plan``: what was planned, and what planning needs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

_COLUMNS = (
    "customer_id",
    "planned_for",
    "send_at",
    "strategy",
    "step",
    "cycle",
    "variant",
    "channel",
    "template",
    "tone",
    "method",
    "tactic",
    "objective",
    "reason",
    "language",
    "subject",
    "body",
    "opt_out",
    "state",
    "hold_reason",
    "idempotency_key",
    "invoices",
    "created_at",
)


def steps_done(conn: sqlite3.Connection) -> dict[tuple[int, str, str], int]:
    """(customer, strategy, cycle) -> the furthest step already planned."""
    return {
        (row[0], row[1], row[2]): row[3]
        for row in conn.execute(
            "SELECT customer_id, strategy, cycle, MAX(step) FROM outbox"
            " WHERE state <> 'held' GROUP BY customer_id, strategy, cycle"
        )
    }


def planned_on(conn: sqlite3.Connection, day: str) -> set[tuple[int, str]]:
    """(customer, channel) pairs that already have a contact planned on *day*."""
    return {
        (row[0], row[1])
        for row in conn.execute(
            "SELECT customer_id, channel FROM outbox WHERE planned_for = ?",
            (day,),
        )
    }


def recent_contacts(
    conn: sqlite3.Connection, since: str
) -> dict[int, list[sqlite3.Row]]:
    """Contacts planned or made since *since*, by customer, for the guard's caps."""
    from cobra.store.followup import is_conversation

    found: dict[int, list[sqlite3.Row]] = {}
    for row in conn.execute(
        "SELECT customer_id, COALESCE(send_at, planned_for) AS at, channel,"
        " 0 AS conversation FROM outbox"
        " WHERE planned_for >= ? AND state NOT IN ('held', 'cancelled', 'failed')"
        " UNION ALL"
        " SELECT customer_id, at, channel,"
        f" {is_conversation()} AS conversation"
        " FROM interactions WHERE at >= ?",
        (since, since),
    ):
        found.setdefault(row["customer_id"], []).append(row)
    return found


def customer_details(conn: sqlite3.Connection) -> dict[int, sqlite3.Row]:
    return {
        row["id"]: row
        for row in conn.execute(
            "SELECT id, account, name, language, country, timezone, segment, salesperson_email"
            " FROM customers"
        )
    }


def valid_contacts(conn: sqlite3.Connection) -> dict[int, dict[str, str]]:
    """Each customer's first valid e-mail address and phone number."""
    found: dict[int, dict[str, str]] = {}
    for row in conn.execute(
        "SELECT customer_id, kind, value FROM contacts WHERE invalid_since IS NULL"
        " ORDER BY customer_id, id"
    ):
        found.setdefault(row[0], {}).setdefault(row[1], row[2])
    return found


def opt_outs(conn: sqlite3.Connection) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for row in conn.execute("SELECT customer_id, channel FROM opt_outs"):
        found.setdefault(row[0], set()).add(row[1])
    return found


def open_invoices(conn: sqlite3.Connection, customer_id: int) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT number, issue_date, due_date, currency, amount, balance, disputed_since"
        " FROM invoices WHERE customer_id = ? AND status = 'open' AND balance > 0"
        " ORDER BY due_date, number",
        (customer_id,),
    ).fetchall()


def insert(conn: sqlite3.Connection, rows: Iterable[dict]) -> int:
    """Store planned (or held) contacts in one transaction; those already
    planned are skipped. Returns how many were new."""
    from cobra.store import transaction

    placeholders = ", ".join(f":{name}" for name in _COLUMNS)
    with transaction(conn):
        before = conn.total_changes
        conn.executemany(
            f"INSERT OR IGNORE INTO outbox ({', '.join(_COLUMNS)})"
            f" VALUES ({placeholders})",
            rows,
        )
    return conn.total_changes - before
