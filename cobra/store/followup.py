"""The SQL behind ``cobra log`` and the promise check: interactions, findings,
promises, payment plans, disputes and the tasks they raise."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable


def customer(conn: sqlite3.Connection, account: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT id, account, name, country, language FROM customers WHERE account = ?",
        (account,),
    ).fetchone()


def accounts(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT account FROM customers")]


def invoices(conn, customer_id: int, numbers: Iterable[str]) -> dict[str, sqlite3.Row]:
    """The named invoices that exist, by number, with their owner."""
    numbers = list(numbers)
    if not numbers:
        return {}
    marks = ", ".join("?" * len(numbers))
    return {
        row["number"]: row
        for row in conn.execute(
            f"SELECT id, number, customer_id, status, balance, currency, disputed_since"
            f" FROM invoices WHERE number IN ({marks})",
            numbers,
        )
    }


def open_balance(conn, customer_id: int, day: str) -> dict[str, tuple[int, int]]:
    """currency -> (open balance, of which overdue on *day*) for the customer."""
    return {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "SELECT currency, SUM(balance), SUM(CASE WHEN due_date < ? THEN balance END)"
            " FROM invoices WHERE customer_id = ? AND status = 'open' AND balance > 0"
            " GROUP BY currency",
            (day, customer_id),
        )
    }


def contact_exists(conn, customer_id: int, value: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM contacts WHERE customer_id = ? AND value = ? COLLATE NOCASE",
            (customer_id, value),
        ).fetchone()
        is not None
    )


def logged(conn, source_key: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM interactions WHERE source_key = ?", (source_key,)
        ).fetchone()
        is not None
    )


# -- writing (inside the caller's transaction) ----------------------------------


def add_interaction(conn, row: dict) -> int:
    columns = ", ".join(row)
    marks = ", ".join(f":{name}" for name in row)
    return conn.execute(
        f"INSERT INTO interactions ({columns}) VALUES ({marks})", row
    ).lastrowid


def link_invoices(conn, interaction_id: int, invoice_ids: Iterable[int]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO interaction_invoices (interaction_id, invoice_id)"
        " VALUES (?, ?)",
        [(interaction_id, invoice_id) for invoice_id in invoice_ids],
    )


def add_finding(
    conn, customer_id: int, reason: str, *, at: str, collector, note
) -> None:
    """A collector's finding, which supersedes the customer's earlier ones."""
    conn.execute(
        "UPDATE findings SET superseded_at = ? WHERE customer_id = ?"
        " AND superseded_at IS NULL",
        (at, customer_id),
    )
    conn.execute(
        "INSERT INTO findings (customer_id, reason, noted_at, collector, note)"
        " VALUES (?, ?, ?, ?, ?)",
        (customer_id, reason, at, collector, note),
    )


def add_promise(
    conn,
    customer_id: int,
    *,
    made_on: str,
    due_on: str,
    currency: str,
    amount: int,
    interaction_id: int | None,
    note: str | None,
    plan_id: int | None = None,
    instalment: int | None = None,
) -> int:
    return conn.execute(
        "INSERT INTO promises (customer_id, made_on, due_on, currency, amount, note,"
        " interaction_id, plan_id, instalment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            customer_id,
            made_on,
            due_on,
            currency,
            amount,
            note,
            interaction_id,
            plan_id,
            instalment,
        ),
    ).lastrowid


def add_plan(
    conn,
    customer_id: int,
    *,
    agreed_on: str,
    currency: str,
    total: int,
    option: str | None,
    interaction_id: int,
) -> int:
    return conn.execute(
        "INSERT INTO payment_plans (customer_id, agreed_on, currency, total, option,"
        " interaction_id) VALUES (?, ?, ?, ?, ?, ?)",
        (customer_id, agreed_on, currency, total, option, interaction_id),
    ).lastrowid


def dispute(conn, invoice_ids: Iterable[int], since: str) -> int:
    ids = list(invoice_ids)
    marks = ", ".join("?" * len(ids))
    return conn.execute(
        f"UPDATE invoices SET disputed_since = ? WHERE id IN ({marks})"
        " AND disputed_since IS NULL",
        [since, *ids],
    ).rowcount


def disputed_invoices(conn, customer_id: int) -> list[sqlite3.Row]:
    """The customer's invoices in dispute, oldest dispute first."""
    return conn.execute(
        "SELECT id, number FROM invoices WHERE customer_id = ?"
        " AND disputed_since IS NOT NULL ORDER BY disputed_since, number",
        (customer_id,),
    ).fetchall()


def end_dispute(conn, invoice_ids: Iterable[int]) -> int:
    ids = list(invoice_ids)
    marks = ", ".join("?" * len(ids))
    return conn.execute(
        f"UPDATE invoices SET disputed_since = NULL WHERE id IN ({marks})"
        " AND disputed_since IS NOT NULL",
        ids,
    ).rowcount


def close_settled_dispute_tasks(conn, customer_id: int, *, at: str, note: str) -> int:
    """Close the customer's open dispute tasks none of whose invoices is still
    in dispute (a task names the invoices through the interaction that
    raised it)."""
    return conn.execute(
        "UPDATE tasks SET state = 'done', done_at = ?, note = ?"
        " WHERE customer_id = ? AND kind = 'dispute' AND state = 'open'"
        " AND NOT EXISTS (SELECT 1 FROM interaction_invoices l"
        "   JOIN invoices i ON i.id = l.invoice_id"
        "   WHERE l.interaction_id = tasks.interaction_id"
        "   AND i.disputed_since IS NOT NULL)",
        (at, note, customer_id),
    ).rowcount


def invalidate(conn, customer_id: int, value: str, *, at: str, reason: str) -> int:
    return conn.execute(
        "UPDATE contacts SET invalid_since = ?, invalid_reason = ?"
        " WHERE customer_id = ? AND value = ? COLLATE NOCASE AND invalid_since IS NULL",
        (at, reason, customer_id, value),
    ).rowcount


def add_task(
    conn,
    *,
    customer_id: int,
    kind: str,
    due_on: str,
    title: str,
    at: str,
    assignee: str | None = None,
    brief: str | None = None,
    source_key: str | None = None,
    promise_id: int | None = None,
    interaction_id: int | None = None,
) -> int | None:
    """A task, once per *source_key*; None when it already existed."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO tasks (customer_id, kind, due_on, title, brief, assignee,"
        " source_key, created_at, promise_id, interaction_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            customer_id,
            kind,
            due_on,
            title,
            brief,
            assignee,
            source_key,
            at,
            promise_id,
            interaction_id,
        ),
    )
    return cursor.lastrowid if cursor.rowcount else None


# -- promises against payments -----------------------------------------------------


def promises_to_check(conn) -> list[sqlite3.Row]:
    """Every promise of each customer with an open one, oldest due first.

    Resolved promises come too: their share of the payments is spent.
    """
    return conn.execute(
        "SELECT p.*, c.account, c.name FROM promises p"
        " JOIN customers c ON c.id = p.customer_id"
        " WHERE p.customer_id IN (SELECT customer_id FROM promises WHERE status = 'open')"
        " ORDER BY p.customer_id, p.currency, p.due_on, p.id"
    ).fetchall()


# What payments and credit notes dated before (``<``) or from (``>=``) the
# day promise ``q`` was made settled of invoice ``i``.
_SETTLED_FROM_PROMISE = (
    "(SELECT COALESCE(SUM(a.amount), 0) FROM allocations a"
    " LEFT JOIN payments p ON p.id = a.payment_id"
    " LEFT JOIN credit_notes n ON n.id = a.credit_note_id"
    " WHERE a.invoice_id = i.id AND COALESCE(p.paid_on, n.issue_date) {} q.made_on)"
)


def payment_parts(
    conn, customer_id: int, currency: str, since: str
) -> list[tuple[str, int, frozenset[int]]]:
    """The customer's payments in *currency* since *since*, cut into parts,
    each with the promises it may count towards: (paid on, amount, promise ids).

    A part is what a payment settled of one invoice, or what it left
    unallocated (a credit). The credit counts towards every promise. A part
    settling an invoice counts towards a promise that named invoices (the
    ``--invoice`` of the interaction that made it) only if it is one of them,
    and towards any other promise only if the invoice was due by the day the
    promise was made: a customer's current bills are not what it promised.
    But a promise for more than was due that day (a payment plan, by its
    total: one for everything owed, or with interest) is about the bills
    already issued too, and counts any invoice issued by then.
    Cancelled instalments take nothing. Parts come in date order, a payment's
    invoices oldest due first and its credit last; a part that counts towards
    no promise is left out.
    """
    parts: dict[tuple, tuple[str, int, set[int]]] = {}
    for row in conn.execute(
        "WITH paid AS (SELECT id, paid_on, amount FROM payments"
        "   WHERE customer_id = :customer AND currency = :currency"
        "   AND paid_on >= :since),"
        " parts AS (SELECT p.id AS payment, p.paid_on, i.id AS invoice, i.due_date,"
        "   i.issue_date, SUM(a.amount) AS amount FROM paid p"
        "   JOIN allocations a ON a.payment_id = p.id"
        "   JOIN invoices i ON i.id = a.invoice_id GROUP BY p.id, i.id"
        "  UNION ALL"
        "  SELECT p.id, p.paid_on, NULL, NULL, NULL, p.amount - COALESCE((SELECT"
        "   SUM(a.amount) FROM allocations a WHERE a.payment_id = p.id), 0)"
        "   FROM paid p),"
        " named AS (SELECT q.id AS promise, l.invoice_id FROM promises q"
        "   JOIN interaction_invoices l ON l.interaction_id = q.interaction_id"
        "   WHERE q.customer_id = :customer AND q.currency = :currency),"
        # What was due the day a promise was made: what is open now of its
        # bills due by then, plus what payments and credit notes dated from
        # that day on settled of them. The balance, not the amount: a source
        # may state a balance without the payments behind it, and a bill
        # closed by --sync or written off before that day was not owed then
        # (one closed later still was, less what had been paid of it).
        " due AS (SELECT q.id AS promise, COALESCE(pl.total, q.amount) AS promised,"
        "   (SELECT COALESCE(SUM(CASE WHEN i.status IN ('open', 'paid')"
        f"       THEN i.balance + {_SETTLED_FROM_PROMISE.format('>=')}"
        "       WHEN i.closed_on > q.made_on"
        f"       THEN i.amount - {_SETTLED_FROM_PROMISE.format('<')}"
        "       ELSE 0 END), 0)"
        "     FROM invoices i WHERE i.customer_id = :customer"
        "     AND i.currency = :currency AND i.due_date <= q.made_on) AS owed"
        "   FROM promises q LEFT JOIN payment_plans pl ON pl.id = q.plan_id"
        "   WHERE q.customer_id = :customer AND q.currency = :currency)"
        " SELECT t.payment, t.paid_on, t.invoice, t.amount, q.id AS promise"
        " FROM parts t JOIN promises q ON q.customer_id = :customer"
        "   AND q.currency = :currency AND q.status <> 'cancelled'"
        " JOIN due d ON d.promise = q.id"
        " WHERE t.amount > 0 AND (t.invoice IS NULL OR CASE"
        "   WHEN q.id IN (SELECT promise FROM named)"
        "   THEN t.invoice IN (SELECT invoice_id FROM named WHERE promise = q.id)"
        "   WHEN d.promised > d.owed THEN t.issue_date <= q.made_on"
        "   ELSE t.due_date <= q.made_on END)"
        " ORDER BY t.paid_on, t.payment, t.invoice IS NULL, t.due_date, t.invoice",
        {"customer": customer_id, "currency": currency, "since": since},
    ):
        key = (row["payment"], row["invoice"])
        parts.setdefault(key, (row["paid_on"], row["amount"], set()))[2].add(
            row["promise"]
        )
    return [
        (paid_on, amount, frozenset(ids)) for paid_on, amount, ids in parts.values()
    ]


def resolve_promise(
    conn, promise_id: int, *, status: str, paid: int, resolved_on: str | None
) -> None:
    conn.execute(
        "UPDATE promises SET status = ?, paid = ?, resolved_on = ? WHERE id = ?",
        (status, paid, resolved_on, promise_id),
    )


def close_tasks(conn, promise_id: int, *, kind: str, at: str, note: str) -> None:
    conn.execute(
        "UPDATE tasks SET state = 'done', done_at = ?, note = ?"
        " WHERE promise_id = ? AND kind = ? AND state = 'open'",
        (at, note, promise_id, kind),
    )


def settle_plans(conn, *, at_day: str) -> tuple[set[int], int]:
    """Plans with a broken instalment are broken; with all kept, completed.

    Returns the ids of the plans broken now, and how many were completed.
    """
    broken = {
        row[0]
        for row in conn.execute(
            "UPDATE payment_plans SET status = 'broken', resolved_on = ?"
            " WHERE status = 'active' AND id IN (SELECT plan_id FROM promises"
            "   WHERE plan_id IS NOT NULL AND status IN ('broken', 'partly_kept'))"
            " RETURNING id",
            (at_day,),
        )
    }
    completed = conn.execute(
        "UPDATE payment_plans SET status = 'completed', resolved_on = ?"
        " WHERE status = 'active' AND NOT EXISTS (SELECT 1 FROM promises"
        "   WHERE plan_id = payment_plans.id AND status <> 'kept')",
        (at_day,),
    ).rowcount
    return broken, completed


def cancel_instalments_of_broken_plans(conn, *, at: str) -> dict[int, int]:
    """The open instalments of broken plans cancelled; plan id -> how many.

    The plan ended with the instalment missed: the later ones hold no
    contact back and wait for no payment, but stay, dated the day the plan
    broke, so the history shows them. Their open tasks are closed.
    """
    cancelled: dict[int, int] = {}
    ids = []
    for promise_id, plan_id in conn.execute(
        "UPDATE promises SET status = 'cancelled', resolved_on = (SELECT"
        "   pl.resolved_on FROM payment_plans pl WHERE pl.id = promises.plan_id)"
        " WHERE status = 'open' AND plan_id IN"
        "   (SELECT id FROM payment_plans WHERE status = 'broken')"
        " RETURNING id, plan_id"
    ).fetchall():
        cancelled[plan_id] = cancelled.get(plan_id, 0) + 1
        ids.append(promise_id)
    if ids:
        marks = ", ".join("?" * len(ids))
        conn.execute(
            "UPDATE tasks SET state = 'done', done_at = ?,"
            " note = 'the payment plan was broken: this instalment is cancelled'"
            f" WHERE state = 'open' AND promise_id IN ({marks})",
            [at, *ids],
        )
    return cancelled


def next_instalments(conn) -> dict[int, sqlite3.Row]:
    """Each active plan's next open instalment, by customer."""
    found: dict[int, sqlite3.Row] = {}
    for row in conn.execute(
        "SELECT p.customer_id, p.id, p.due_on, p.currency, p.amount, p.paid,"
        " p.instalment, pl.id AS plan_id, pl.agreed_on,"
        " (SELECT COUNT(*) FROM promises q WHERE q.plan_id = pl.id) AS instalments"
        " FROM payment_plans pl JOIN promises p ON p.plan_id = pl.id"
        " WHERE pl.status = 'active' AND p.status = 'open'"
        " ORDER BY p.customer_id, p.due_on, p.id"
    ):
        found.setdefault(row["customer_id"], row)
    return found


def is_conversation() -> str:
    """SQL true for an interaction row whose outcome was a conversation."""
    from cobra.followup import CONVERSATIONS

    return f"outcome IN ({', '.join(repr(o) for o in CONVERSATIONS)})"
