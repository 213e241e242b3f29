"""The SQL behind ``cobra report``: every figure starts as one of these reads.

Reports are computed as of a date, from the dates the records carry (an
invoice's issue date, a payment's date, an interaction's instant), never
from when they were imported, so the same database gives the same report
whenever it is run. The queries only read; the arithmetic (buckets,
ratios, intervals) lives in ``cobra.reports``.

Dates are ``YYYY-MM-DD`` text and compare as text. Instants are bounded by
UTC instants the caller works out from the company's time zone, written as
``YYYY-MM-DDTHH:MM:SS+00:00``: stored instants are UTC with an offset, so
they compare as text too (a fraction of a second sorts after the whole
second, which is also its order in time).
"""

from __future__ import annotations

import sqlite3

# An invoice's open amount as of :as_of, from what is known now:
# - still open now: its balance plus what was allocated to it after :as_of
#   (payments dated, and credit notes issued, later), so that reductions with
#   no date of their own (a balance stated by the source) count as earlier;
# - closed after :as_of (paid, settled by --sync, written off): its amount
#   less what was allocated on or before :as_of; what closed it came later.
# Invoices issued after :as_of do not exist yet; those closed on or before
# it, or closed on a date no source gave, owe nothing.
_OPEN_AS_OF = """
WITH candidate AS (
    SELECT id, customer_id, currency, issue_date, due_date, amount, balance, status
    FROM invoices
    WHERE issue_date <= :as_of AND (status = 'open' OR closed_on > :as_of)
),
owed AS (
    SELECT c.id, c.customer_id, c.currency, c.issue_date, c.due_date, c.amount,
           CASE WHEN c.status = 'open'
                THEN c.balance + COALESCE(SUM(CASE
                    WHEN COALESCE(p.paid_on, n.issue_date) > :as_of
                    THEN a.amount END), 0)
                ELSE c.amount - COALESCE(SUM(CASE
                    WHEN COALESCE(p.paid_on, n.issue_date) <= :as_of
                    THEN a.amount END), 0)
           END AS open
    FROM candidate c
    LEFT JOIN allocations a ON a.invoice_id = c.id
    LEFT JOIN payments p ON p.id = a.payment_id
    LEFT JOIN credit_notes n ON n.id = a.credit_note_id
    GROUP BY c.id
)
SELECT id, customer_id, currency, issue_date, due_date, MIN(open, amount) AS open
FROM owed
WHERE open > 0
ORDER BY customer_id, currency, due_date, id
"""


def open_invoices(conn: sqlite3.Connection, as_of: str) -> list[sqlite3.Row]:
    """Every invoice with something open on *as_of*, and how much."""
    return conn.execute(_OPEN_AS_OF, {"as_of": as_of}).fetchall()


def sales(
    conn: sqlite3.Connection,
    until: str,
    since: str | None = None,
    *,
    per_customer: bool = True,
) -> list[sqlite3.Row]:
    """Amounts invoiced per customer, currency and issue day, up to *until*;
    without *per_customer*, per currency and day (customer_id is NULL).

    Every invoice is a sale on credit, whatever became of it later (paid,
    credited, written off).
    """
    customer = "customer_id" if per_customer else "NULL"
    return conn.execute(
        f"SELECT {customer} AS customer_id, currency, issue_date,"
        " SUM(amount) AS amount FROM invoices WHERE issue_date <= :until"
        " AND (:since IS NULL OR issue_date >= :since)"
        f" GROUP BY {customer}, currency, issue_date ORDER BY issue_date",
        {"until": until, "since": since},
    ).fetchall()


def customers(conn: sqlite3.Connection) -> dict[int, sqlite3.Row]:
    return {
        row["id"]: row
        for row in conn.execute(
            "SELECT id, account, name, segment, country FROM customers"
        )
    }


def last_collectors(conn: sqlite3.Connection, before: str) -> dict[int, str]:
    """Each customer's collector: who logged its latest interaction before
    the instant *before* (interactions without a collector are passed over)."""
    rows = conn.execute(
        "SELECT customer_id, collector FROM ("
        "  SELECT customer_id, collector, ROW_NUMBER() OVER ("
        "      PARTITION BY customer_id ORDER BY at DESC, id DESC) AS latest"
        "  FROM interactions"
        "  WHERE at < :before AND collector IS NOT NULL AND collector <> ''"
        ") WHERE latest = 1",
        {"before": before},
    )
    return {row["customer_id"]: row["collector"] for row in rows}


def promises(
    conn: sqlite3.Connection, made_from: str, made_to: str
) -> list[sqlite3.Row]:
    """Promises made between two days, with the collector who logged each."""
    return conn.execute(
        "SELECT p.id, p.customer_id, p.made_on, p.due_on, p.currency, p.amount,"
        " p.status, p.resolved_on, p.paid, i.collector"
        " FROM promises p LEFT JOIN interactions i ON i.id = p.interaction_id"
        " WHERE p.made_on BETWEEN :made_from AND :made_to"
        " ORDER BY p.made_on, p.id",
        {"made_from": made_from, "made_to": made_to},
    ).fetchall()


def kept_promises(
    conn: sqlite3.Connection, made_from: str, resolved_by: str
) -> list[sqlite3.Row]:
    """Promises made on or after *made_from* and kept by *resolved_by*."""
    return conn.execute(
        "SELECT customer_id, made_on FROM promises"
        " WHERE status = 'kept' AND made_on >= :made_from"
        " AND resolved_on <= :resolved_by ORDER BY made_on",
        {"made_from": made_from, "resolved_by": resolved_by},
    ).fetchall()


def interactions(conn: sqlite3.Connection, since: str, until: str) -> list[sqlite3.Row]:
    """Interactions logged in [since, until), two UTC instants."""
    return conn.execute(
        "SELECT customer_id, at, channel, outcome, collector FROM interactions"
        " WHERE at >= :since AND at < :until ORDER BY at, id",
        {"since": since, "until": until},
    ).fetchall()


# A message went out when the provider took it: sent, then perhaps delivered,
# or failed later by a delivery report or a bounce.
_SENT_STATES = "('sent', 'delivered', 'failed')"


def messages_sent(
    conn: sqlite3.Connection,
    since: str | None,
    until: str,
    *,
    reached: bool = False,
) -> list[sqlite3.Row]:
    """Outbox messages sent in [since, until) (*since* None: from the start).

    With *reached*, only those not failed since (a bounce reached no one).
    """
    states = "('sent', 'delivered')" if reached else _SENT_STATES
    return conn.execute(
        "SELECT id, customer_id, sent_at, strategy, step, variant, channel,"
        " template, tone, method, tactic, reason, state, backend"
        f" FROM outbox WHERE state IN {states} AND sent_at IS NOT NULL"
        " AND (:since IS NULL OR sent_at >= :since) AND sent_at < :until"
        " ORDER BY sent_at, id",
        {"since": since, "until": until},
    ).fetchall()


def payments(conn: sqlite3.Connection, since: str, until: str) -> list[sqlite3.Row]:
    """Payments dated between two days, inclusive."""
    return conn.execute(
        "SELECT customer_id, paid_on, currency, amount FROM payments"
        " WHERE paid_on BETWEEN :since AND :until ORDER BY paid_on, id",
        {"since": since, "until": until},
    ).fetchall()


def planned_variants(
    conn: sqlite3.Connection, since: str, until: str
) -> list[sqlite3.Row]:
    """How many contacts each step variant got, planned between two days.

    Every contact the plan assigned counts, whatever became of it (held,
    cancelled): the allocation is the planner's decision, not the outcome.
    """
    return conn.execute(
        "SELECT o.strategy, o.step, o.variant, o.reason, c.segment,"
        " COUNT(*) AS planned"
        " FROM outbox o JOIN customers c ON c.id = o.customer_id"
        " WHERE o.planned_for BETWEEN :since AND :until"
        " GROUP BY o.strategy, o.step, o.variant, o.reason, c.segment",
        {"since": since, "until": until},
    ).fetchall()
