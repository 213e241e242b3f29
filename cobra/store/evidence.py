"""The SQL that gathers what is known about each customer, for diagnosis.

Everything is computed for all customers with an open balance in a handful
of grouped queries, so diagnosing a hundred thousand customers reads the
invoices once rather than once per customer. Each query returns rows keyed
by ``customer_id``; :mod:`cobra.evidence` puts them together.

As of a date D: invoices issued after D do not exist yet; an invoice closed
after D was still open on D (with its whole amount if it is closed now, a
simplification for invoices that were partly paid before D).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta

_INVOICE_FACTS = """
WITH inv AS (
    SELECT i.customer_id, i.currency, i.amount, i.due_date, i.issue_date, i.closed_on,
           i.status, i.disputed_since,
           CASE WHEN i.status = 'open' THEN i.balance
                WHEN i.closed_on > :as_of THEN i.amount ELSE 0 END AS open_amount
    FROM invoices i
    WHERE i.issue_date <= :as_of AND i.status <> 'written_off' {only}
)
SELECT customer_id,
       SUM(open_amount > 0) AS open_invoices,
       SUM(open_amount > 0 AND due_date < :as_of) AS overdue_invoices,
       MIN(CASE WHEN open_amount > 0 AND due_date < :as_of THEN due_date END) AS oldest_due,
       MIN(CASE WHEN open_amount > 0 THEN due_date END) AS oldest_open_due,
       SUM(due_date < :sixty_days_ago
           AND (status = 'open' OR closed_on > :sixty_days_ago)) AS overdue_sixty_days_ago,
       SUM(open_amount > 0 AND open_amount < amount) AS partial_open,
       SUM(open_amount = 0 AND closed_on IS NOT NULL AND status = 'paid') AS closed_with_date,
       SUM(open_amount = 0 AND status = 'paid') AS paid_invoices,
       SUM(open_amount = 0 AND status = 'paid' AND closed_on <= due_date) AS paid_on_time,
       AVG(CASE WHEN open_amount = 0 AND status = 'paid' AND closed_on > due_date
                THEN julianday(closed_on) - julianday(due_date) END) AS avg_days_late,
       AVG(CASE WHEN open_amount = 0 AND status = 'paid' AND closed_on >= :recent_since
                THEN MAX(0, julianday(closed_on) - julianday(due_date)) END)
           AS recent_days_late,
       AVG(CASE WHEN open_amount = 0 AND status = 'paid' AND closed_on < :recent_since
                THEN MAX(0, julianday(closed_on) - julianday(due_date)) END)
           AS earlier_days_late,
       SUM(disputed_since IS NOT NULL AND open_amount > 0) AS disputed_open,
       SUM(disputed_since IS NOT NULL AND open_amount > 0 AND due_date < :as_of)
           AS disputed_overdue,
       COUNT(*) AS invoices,
       MIN(issue_date) AS first_issue
FROM inv
GROUP BY customer_id
HAVING open_invoices > 0
"""

# The latest invoice of each customer and what it billed per currency: the
# latest against the average of the others says whether a bill is unusual.
# (Two grouped passes, cheaper than a window function over every invoice.)
_LATEST = """
SELECT l.customer_id, i.currency, i.amount
FROM (SELECT customer_id, MAX(issue_date || printf('%012d', id)) AS latest
      FROM invoices WHERE issue_date <= :as_of AND status <> 'written_off' {only}
      GROUP BY customer_id) l
JOIN invoices i ON i.id = CAST(substr(l.latest, 11) AS INTEGER)
"""

_BILLED = """
SELECT customer_id, currency, SUM(amount) AS billed, COUNT(*) AS invoices
FROM invoices WHERE issue_date <= :as_of AND status <> 'written_off' {only}
GROUP BY customer_id, currency
"""

_OVERDUE_BY_CURRENCY = """
SELECT customer_id, currency,
       SUM(CASE WHEN status = 'open' THEN balance ELSE amount END) AS overdue
FROM invoices
WHERE issue_date <= :as_of AND due_date < :as_of AND status <> 'written_off'
  AND (status = 'open' OR closed_on > :as_of) {only}
GROUP BY customer_id, currency
"""

_PAYMENTS = """
SELECT customer_id, COUNT(*) AS payments, MAX(paid_on) AS last_payment
FROM payments WHERE paid_on <= :as_of {only} GROUP BY customer_id
"""

_CONTACTS = """
SELECT customer_id, COUNT(*) AS contacts,
       SUM(invalid_since IS NOT NULL AND invalid_since < :next_day) AS bounced_contacts
FROM contacts WHERE 1 {only} GROUP BY customer_id
"""

_PROMISES = """
SELECT customer_id, COUNT(*) AS promises_made,
       MAX(CASE WHEN status = 'open' THEN due_on END) AS open_promise_due,
       (SELECT p2.status FROM promises p2 WHERE p2.customer_id = promises.customer_id
          AND p2.made_on <= :as_of ORDER BY p2.made_on DESC, p2.id DESC LIMIT 1)
           AS latest_promise_status,
       SUM(status = 'broken' AND resolved_on <= :as_of) AS promises_broken,
       SUM(status IN ('kept', 'partly_kept') AND resolved_on <= :as_of) AS promises_kept
FROM promises WHERE made_on <= :as_of {only} GROUP BY customer_id
"""

_INTERACTIONS = """
SELECT customer_id, MAX(at) AS last_contact FROM interactions
WHERE at < :next_day {only} GROUP BY customer_id
"""

# A finding holds from when it was noted until a newer one supersedes it.
_FINDINGS = """
SELECT customer_id, reason, noted_at, collector, note FROM findings
WHERE noted_at < :next_day AND (superseded_at IS NULL OR superseded_at >= :next_day) {only}
ORDER BY noted_at
"""


def params(as_of: date) -> dict:
    """Query parameters for the state of things at the end of *as_of*."""
    return {
        "as_of": as_of.isoformat(),
        # Instants are stored as ISO text in UTC; everything before the next
        # day's start counts as "by the end of as_of".
        "next_day": (as_of + timedelta(days=1)).isoformat(),
        "sixty_days_ago": (as_of - timedelta(days=60)).isoformat(),
        "recent_since": (as_of - timedelta(days=180)).isoformat(),
    }


def _run(conn: sqlite3.Connection, sql: str, params: dict, customer_id: int | None):
    if customer_id is None:
        return conn.execute(sql.format(only=""), params)
    only = "AND customer_id = :customer_id"
    return conn.execute(sql.format(only=only), {**params, "customer_id": customer_id})


def invoice_facts(
    conn: sqlite3.Connection, params: dict, customer_id: int | None = None
) -> Iterator[sqlite3.Row]:
    return _run(conn, _INVOICE_FACTS, params, customer_id)


def grouped(
    conn: sqlite3.Connection, name: str, params: dict, customer_id: int | None = None
) -> dict[int, sqlite3.Row]:
    """One of the small per-customer queries, as a dict by customer id."""
    sql = {
        "payments": _PAYMENTS,
        "contacts": _CONTACTS,
        "promises": _PROMISES,
        "interactions": _INTERACTIONS,
        "findings": _FINDINGS,
    }[name]
    # For findings several rows may match; ordered oldest first, the dict
    # keeps the latest.
    return {row["customer_id"]: row for row in _run(conn, sql, params, customer_id)}


def overdue_by_currency(
    conn: sqlite3.Connection, params: dict, customer_id: int | None = None
) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {}
    for row in _run(conn, _OVERDUE_BY_CURRENCY, params, customer_id):
        result.setdefault(row["customer_id"], {})[row["currency"]] = row["overdue"]
    return result


def usual_billing(
    conn: sqlite3.Connection, params: dict, customer_id: int | None = None
) -> dict[int, tuple]:
    """customer -> (latest currency, latest amount, usual amount, earlier count).

    The usual amount is the average of the customer's earlier invoices in
    the latest invoice's currency (None when there is no earlier one).
    """
    billed: dict[tuple[int, str], tuple[int, int]] = {
        (row[0], row[1]): (row[2], row[3])
        for row in _run(conn, _BILLED, params, customer_id)
    }
    result = {}
    for cid, currency, amount in _run(conn, _LATEST, params, customer_id):
        total, count = billed.get((cid, currency), (amount, 1))
        usual = (total - amount) / (count - 1) if count > 1 else None
        result[cid] = (currency, amount, usual, count - 1)
    return result


def customers(
    conn: sqlite3.Connection, customer_id: int | None = None
) -> dict[int, sqlite3.Row]:
    sql = (
        "SELECT id, account, name, segment, country, timezone, language FROM customers"
    )
    if customer_id is None:
        return {row["id"]: row for row in conn.execute(sql)}
    return {
        row["id"]: row for row in conn.execute(sql + " WHERE id = ?", (customer_id,))
    }
