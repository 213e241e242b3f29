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

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta

_INVOICE_FACTS = """
WITH inv AS (
    SELECT i.id, i.customer_id, i.currency, i.amount, i.due_date, i.issue_date,
           i.closed_on, i.status, i.disputed_since,
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
       MIN(issue_date) AS first_issue {extra}
FROM inv
GROUP BY customer_id
{having}
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

# The latest promise is the last one made; the instalments of a payment plan
# that broke count as the broken promise they became (the later ones were
# cancelled with the plan, and are no promise any more).
_PROMISES = """
SELECT customer_id, SUM(status <> 'cancelled') AS promises_made,
       MAX(CASE WHEN status = 'open' THEN due_on END) AS open_promise_due,
       (SELECT CASE WHEN pl.status = 'broken' THEN 'broken' ELSE p2.status END
          FROM promises p2 LEFT JOIN payment_plans pl ON pl.id = p2.plan_id
          WHERE p2.customer_id = promises.customer_id AND p2.made_on <= :as_of
          AND p2.status <> 'cancelled'
          ORDER BY p2.made_on DESC, p2.id DESC LIMIT 1)
           AS latest_promise_status,
       SUM(status = 'broken' AND resolved_on <= :as_of) AS promises_broken,
       SUM(status = 'partly_kept' AND resolved_on <= :as_of) AS promises_partly_kept,
       SUM(status = 'kept' AND resolved_on <= :as_of) AS promises_kept
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


def _run(
    conn: sqlite3.Connection,
    sql: str,
    params: dict,
    customer_id: int | list[int] | None,
):
    """Run one of the queries for every customer, one, or a list of them."""
    if customer_id is None:
        return conn.execute(sql.format(only=""), params)
    if isinstance(customer_id, list):
        only = "AND customer_id IN (SELECT value FROM json_each(:customer_ids))"
        ids = json.dumps(customer_id)
        return conn.execute(sql.format(only=only), {**params, "customer_ids": ids})
    only = "AND customer_id = :customer_id"
    return conn.execute(sql.format(only=only), {**params, "customer_id": customer_id})


def invoice_facts(
    conn: sqlite3.Connection, params: dict, customer_id: int | list[int] | None = None
) -> Iterator[sqlite3.Row]:
    return _run(
        conn,
        _INVOICE_FACTS.replace("{having}", "HAVING open_invoices > 0").replace(
            "{extra}", ""
        ),
        params,
        customer_id,
    )


def grouped(
    conn: sqlite3.Connection,
    name: str,
    params: dict,
    customer_id: int | list[int] | None = None,
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
    conn: sqlite3.Connection, params: dict, customer_id: int | list[int] | None = None
) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {}
    for row in _run(conn, _OVERDUE_BY_CURRENCY, params, customer_id):
        result.setdefault(row["customer_id"], {})[row["currency"]] = row["overdue"]
    return result


def usual_billing(
    conn: sqlite3.Connection, params: dict, customer_id: int | list[int] | None = None
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
    conn: sqlite3.Connection, customer_id: int | list[int] | None = None
) -> dict[int, sqlite3.Row]:
    sql = (
        "SELECT id, account, name, segment, country, timezone, language FROM customers"
    )
    if customer_id is None:
        return {row["id"]: row for row in conn.execute(sql)}
    if isinstance(customer_id, list):
        sql += " WHERE id IN (SELECT value FROM json_each(?))"
        return {row["id"]: row for row in conn.execute(sql, (json.dumps(customer_id),))}
    return {
        row["id"]: row for row in conn.execute(sql + " WHERE id = ?", (customer_id,))
    }


# --- per-customer statistics, computed ahead ------------------------------------
#
# Migration 0007 explains the table. A row is the result of the queries above
# as of its `anchor`; the window below says for which later dates the very
# same result holds: until an open invoice falls due (or falls sixty days
# overdue), a closed one leaves the sixty-day window of "overdue sixty days
# ago", or a paid one leaves the 180 days of the late-payment trend. Dates
# are compared as text, as the queries above do.

_VALID_UNTIL = """MIN(CASE
    WHEN status = 'open' THEN
        CASE WHEN due_date >= :as_of THEN date(due_date, '+1 day')
             WHEN due_date >= :sixty_days_ago THEN date(due_date, '+61 days') END
    WHEN closed_on > :sixty_days_ago THEN
        MIN(date(closed_on, '+60 days'),
            CASE WHEN due_date >= :sixty_days_ago THEN date(due_date, '+61 days')
                 ELSE '9999-12-31' END)
    WHEN closed_on >= :recent_since AND status = 'paid'
        THEN date(closed_on, '+181 days')
    END)"""

# The latest date anything of these customers depends on: the anchor is at
# least that, so that no row describes a ledger with later entries.
_HORIZON = """
SELECT MAX(COALESCE(MAX(issue_date), ''), COALESCE(MAX(closed_on), ''))
FROM invoices WHERE status <> 'written_off' {only}
UNION ALL SELECT MAX(paid_on) FROM payments WHERE 1 {only}
UNION ALL SELECT MAX(substr(invalid_since, 1, 10)) FROM contacts WHERE 1 {only}
"""

# Per customer and currency, in one pass: what _BILLED and
# _OVERDUE_BY_CURRENCY give (a currency with nothing overdue has no overdue
# amount there: NULL here).
_BY_CURRENCY = """
SELECT customer_id, currency, SUM(amount) AS billed, COUNT(*) AS invoices,
       SUM(CASE WHEN due_date < :as_of AND (status = 'open' OR closed_on > :as_of)
                THEN CASE WHEN status = 'open' THEN balance ELSE amount END END)
           AS overdue
FROM invoices WHERE issue_date <= :as_of AND status <> 'written_off' {only}
GROUP BY customer_id, currency
"""

# The invoice facts with, in the same pass, the latest invoice (as _LATEST
# finds it) and, for stored rows, the window.
_FACTS_AND_MORE = _INVOICE_FACTS.replace("{having}", "").replace(
    "{extra}",
    ", MAX(issue_date || printf('%012d', id)) AS latest, {valid_until} AS valid_until",
)

_STATS_COLUMNS = (
    "customer_id, anchor, valid_until, open_invoices, overdue_invoices, oldest_due, "
    "oldest_open_due, overdue_sixty_days_ago, partial_open, closed_with_date, "
    "paid_invoices, paid_on_time, avg_days_late, recent_days_late, "
    "earlier_days_late, disputed_open, disputed_overdue, invoices, first_issue, "
    "latest_currency, latest_amount, billed, billed_invoices, overdue, "
    "overdue_currency, overdue_amount, oldest_due_day, oldest_open_due_day, "
    "first_issue_day, payments, contacts, bounced_contacts"
)

# {table}: customer_stats, or the temporary table of rows computed for one
# day (see rows_as_of). Two passes over the invoices: per customer, and per
# customer and currency.
_COMPUTE = f"""
WITH f AS ({_FACTS_AND_MORE}),
m AS ({_BY_CURRENCY}),
o AS (
    SELECT customer_id, json_group_object(currency, overdue) AS overdue,
           CASE WHEN COUNT(*) = 1 THEN MAX(currency) END AS currency,
           CASE WHEN COUNT(*) = 1 THEN MAX(overdue) END AS amount
    FROM (SELECT customer_id, currency, overdue FROM m WHERE overdue IS NOT NULL
          ORDER BY customer_id, currency)
    GROUP BY customer_id
)
INSERT OR REPLACE INTO {{table}} ({_STATS_COLUMNS})
SELECT t.id, :as_of, f.valid_until,
       COALESCE(f.open_invoices, 0), COALESCE(f.overdue_invoices, 0), f.oldest_due,
       f.oldest_open_due, f.overdue_sixty_days_ago, f.partial_open,
       f.closed_with_date, f.paid_invoices, f.paid_on_time, f.avg_days_late,
       f.recent_days_late, f.earlier_days_late, f.disputed_open, f.disputed_overdue,
       COALESCE(f.invoices, 0), f.first_issue,
       l.currency, l.amount, b.billed, b.invoices,
       o.overdue, o.currency, o.amount, julianday(substr(f.oldest_due, 1, 10)),
       julianday(substr(f.oldest_open_due, 1, 10)),
       julianday(substr(f.first_issue, 1, 10)),
       COALESCE(p.payments, 0), COALESCE(k.contacts, 0),
       COALESCE(k.bounced_contacts, 0)
FROM ({{targets}}) t
LEFT JOIN f ON f.customer_id = t.id
LEFT JOIN invoices l ON l.id = CAST(substr(f.latest, 11) AS INTEGER)
LEFT JOIN m b ON b.customer_id = t.id AND b.currency = l.currency
LEFT JOIN o ON o.customer_id = t.id
LEFT JOIN ({_PAYMENTS}) p ON p.customer_id = t.id
LEFT JOIN ({_CONTACTS}) k ON k.customer_id = t.id
"""

_MISSING = """
SELECT c.id FROM customers c
WHERE NOT EXISTS (SELECT 1 FROM customer_stats s WHERE s.customer_id = c.id)
"""

_ONLY_LISTED = "AND customer_id IN (SELECT value FROM json_each(:customer_ids))"


def _compute(
    conn: sqlite3.Connection, table: str, day: date, ids: list[int] | None
) -> int:
    """Rows of statistics as of *day* for *ids* (None: every customer)."""
    stored = table == "customer_stats"
    sql = (
        _COMPUTE.replace(
            "{targets}",
            "SELECT id FROM customers"
            if ids is None
            else "SELECT value AS id FROM json_each(:customer_ids)",
        )
        .replace("{table}", table)
        .replace("{valid_until}", _VALID_UNTIL if stored else "NULL")
        .format(only="" if ids is None else _ONLY_LISTED)
    )
    bound = params(day)
    if ids is not None:
        bound["customer_ids"] = json.dumps(ids)
    before = conn.total_changes  # rowcount says -1 for a statement led by WITH
    conn.execute(sql, bound)
    return conn.total_changes - before


def refresh_customer_stats(
    conn: sqlite3.Connection, customer_ids: list[int] | None = None
) -> int:
    """Compute the statistics of every customer that has none; return how many.

    The triggers of migration 0007 delete the rows of customers whose
    invoices, payments or contacts change, so this recomputes exactly what
    changed. Rows whose window has closed by the new anchor are computed
    again too. *customer_ids* recomputes those customers whatever their
    state. Runs in the caller's transaction (``cobra import`` calls it at
    the end of its own).
    """
    if customer_ids is not None:
        ids = sorted(set(customer_ids))
    elif conn.execute("SELECT 1 FROM customer_stats LIMIT 1").fetchone() is None:
        ids = None  # none yet: every customer, without a list to join
    else:
        ids = [row[0] for row in conn.execute(_MISSING)]
    if ids == []:
        return 0
    anchor = _anchor(conn, ids)
    if ids is not None:
        # Rows still valid but whose window ends by the new anchor: an
        # anchor later than the window would leave them out of every date.
        ids = sorted(
            set(ids)
            | {
                row[0]
                for row in conn.execute(
                    "SELECT customer_id FROM customer_stats WHERE valid_until <= ?",
                    (anchor.isoformat(),),
                )
            }
        )
    return _compute(conn, "customer_stats", anchor, ids)


def _anchor(conn: sqlite3.Connection, ids: list[int] | None) -> date:
    """The latest date in the ledger of *ids*, or of any row already computed."""
    found = [
        row[0]
        for row in conn.execute(
            _HORIZON.format(only="" if ids is None else _ONLY_LISTED),
            {} if ids is None else {"customer_ids": json.dumps(ids)},
        )
    ]
    found.append(conn.execute("SELECT MAX(anchor) FROM customer_stats").fetchone()[0])
    dates = [value for value in found if value]
    return date.fromisoformat(max(dates)[:10]) if dates else date(1970, 1, 1)


def stale_customers(
    conn: sqlite3.Connection, params: dict, customer_id: int | None = None
) -> list[int]:
    """Customers whose statistics are missing or do not hold on ``as_of``."""
    if customer_id is not None:
        sql = (
            "SELECT c.id FROM customers c "
            "LEFT JOIN customer_stats s ON s.customer_id = c.id "
            "WHERE (s.customer_id IS NULL OR s.anchor > :as_of "
            "OR s.valid_until <= :as_of) AND c.id = :customer_id"
        )
        return [
            row[0] for row in conn.execute(sql, {**params, "customer_id": customer_id})
        ]
    stale = [
        row[0]
        for row in conn.execute(
            "SELECT customer_id FROM customer_stats "
            "WHERE anchor > :as_of OR valid_until <= :as_of",
            params,
        )
    ]
    # Rows are missing only where a trigger deleted them since the last
    # import, or for customers added since: counting is cheaper than looking.
    stored = conn.execute("SELECT COUNT(*) FROM customer_stats").fetchone()[0]
    if stored != customer_count(conn):
        stale += [row[0] for row in conn.execute(_MISSING)]
    return stale


def customer_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]


_STORED_ROWS = (
    "SELECT * FROM main.customer_stats WHERE anchor <= :as_of"
    " AND (valid_until IS NULL OR valid_until > :as_of)"
)
_COMPUTED_ROWS = "SELECT * FROM temp.customer_stats_now"


def rows_as_of(
    conn: sqlite3.Connection, params: dict, customer_id: int | None = None
) -> str:
    """The statistics of every customer as of ``as_of``, as an SQL source.

    Stored rows where they hold on that day; for the other customers, rows
    computed now by the very same queries into a temporary table. When most
    customers are in that case (a day long past or long after the ledger),
    every row is computed: one pass over the ledger is cheaper than many
    lookups. Returns a SELECT to use as a subquery.
    """
    stale = stale_customers(conn, params, customer_id)
    if not stale:
        return _STORED_ROWS
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS customer_stats_now AS "
        "SELECT * FROM main.customer_stats LIMIT 0"
    )
    conn.execute("DELETE FROM temp.customer_stats_now")
    day = date.fromisoformat(params["as_of"])
    if customer_id is None and len(stale) * 4 > customer_count(conn):
        _compute(conn, "temp.customer_stats_now", day, None)
        return _COMPUTED_ROWS
    _compute(conn, "temp.customer_stats_now", day, stale)
    return f"{_STORED_ROWS} UNION ALL {_COMPUTED_ROWS}"


_FRESH = """
SELECT s.*, c.account, c.name, c.segment
FROM ({source}) s JOIN customers c ON c.id = s.customer_id
WHERE s.open_invoices > 0 {where}
"""


def fresh_stats(
    conn: sqlite3.Connection,
    params: dict,
    customer_id: int | None = None,
    overdue_only: bool = False,
) -> sqlite3.Cursor:
    """The rows as of ``as_of`` of customers with something open."""
    source = rows_as_of(conn, params, customer_id)
    where = " AND s.overdue_invoices > 0" if overdue_only else ""
    if customer_id is not None:
        where += " AND s.customer_id = :customer_id"
        params = {**params, "customer_id": customer_id}
    return conn.execute(_FRESH.format(source=source, where=where), params)


# --- the worklist in one query ---------------------------------------------------
#
# Every fact of cobra.evidence.FACTS as an SQL expression over the statistics
# (and the promises and interactions, read live), computed exactly as
# cobra.evidence._facts computes it from the same figures: the same integer
# and floating-point operations in the same order, so that a rule compares
# the very same numbers. :jd is the Julian day of as_of; dates in the store
# fall on midnight, so differences of Julian days are whole numbers.

_BASE = f"""
SELECT s.*, c.account, c.name, c.segment,
       CASE WHEN s.billed_invoices > 1
            THEN CAST(s.billed - s.latest_amount AS REAL) / (s.billed_invoices - 1)
            END AS usual,
       COALESCE(json_extract(s.overdue, '$.' || s.latest_currency), 0)
           AS overdue_in_latest,
       pr.promises_made AS pr_made, pr.promises_broken AS pr_broken,
       pr.promises_kept AS pr_kept, pr.promises_partly_kept AS pr_partly_kept,
       ix.last_contact
FROM ({{source}}) s
JOIN customers c ON c.id = s.customer_id
LEFT JOIN ({_PROMISES.format(only="")}) pr ON pr.customer_id = s.customer_id
LEFT JOIN ({_INTERACTIONS.format(only="")}) ix ON ix.customer_id = s.customer_id
WHERE s.open_invoices > 0 {{where}}
"""


def _days_sql(column: str) -> str:
    # _days() in cobra.evidence: 0 without a date.
    return f"COALESCE(CAST(:jd - {column} AS INTEGER), 0)"


FACT_SQL: dict[str, str] = {
    "open_invoices": "b.open_invoices",
    "overdue_invoices": "b.overdue_invoices",
    "oldest_days_overdue": _days_sql("b.oldest_due_day"),
    "overdue_growth": "b.overdue_invoices - COALESCE(b.overdue_sixty_days_ago, 0)",
    "overdue_vs_usual": (
        "CASE WHEN (CASE WHEN b.usual <> 0 THEN b.usual ELSE b.latest_amount END) <> 0"
        " THEN CAST(b.overdue_in_latest AS REAL)"
        " / (CASE WHEN b.usual <> 0 THEN b.usual ELSE b.latest_amount END)"
        " ELSE 0.0 END"
    ),
    "partial_open": "COALESCE(b.partial_open, 0)",
    "paid_invoices": "COALESCE(b.paid_invoices, 0)",
    "paid_on_time": "COALESCE(b.paid_on_time, 0)",
    "paid_with_date": "COALESCE(b.closed_with_date, 0)",
    "on_time_share": (
        "CASE WHEN COALESCE(b.closed_with_date, 0) <> 0"
        " THEN CAST(COALESCE(b.paid_on_time, 0) AS REAL) / b.closed_with_date"
        " ELSE 0.0 END"
    ),
    "avg_days_late": "COALESCE(b.avg_days_late, 0.0)",
    "late_trend_days": (
        "CASE WHEN b.recent_days_late IS NOT NULL AND b.earlier_days_late IS NOT NULL"
        " THEN b.recent_days_late - b.earlier_days_late ELSE 0.0 END"
    ),
    "payments": "b.payments",
    "paid_anything": (
        "CASE WHEN COALESCE(b.paid_invoices, 0) <> 0 OR b.payments <> 0"
        " THEN 1 ELSE 0 END"
    ),
    "disputed_open": "COALESCE(b.disputed_open, 0)",
    "disputed_overdue": "COALESCE(b.disputed_overdue, 0)",
    "undisputed_overdue": "b.overdue_invoices - COALESCE(b.disputed_overdue, 0)",
    "contacts": "b.contacts",
    "bounced_contacts": "b.bounced_contacts",
    "account_age_days": _days_sql("b.first_issue_day"),
    "invoices": "b.invoices",
    "latest_vs_usual": (
        "CASE WHEN b.usual <> 0 THEN b.latest_amount / b.usual ELSE 1.0 END"
    ),
    "promises_made": "COALESCE(b.pr_made, 0)",
    "promises_broken": "COALESCE(b.pr_broken, 0)",
    "promises_kept": "COALESCE(b.pr_kept, 0)",
    "promises_partly_kept": "COALESCE(b.pr_partly_kept, 0)",
    "days_since_contact": (
        "CASE WHEN b.last_contact IS NULL THEN 999 ELSE "
        "CAST(:jd - julianday(substr(b.last_contact, 1, 10)) AS INTEGER) END"
    ),
    "days_past_due": _days_sql("b.oldest_open_due_day"),
}

# The score's components, weighted, as cobra.scoring computes them, but for
# the amount's rank among all customers, which needs every row first: the
# caller adds it, and the others in their order (cobra.worklist.ranked).
_WORKLIST = """
WITH f AS (SELECT b.customer_id, b.account, b.name, b.segment, b.overdue,
                  b.overdue_currency, b.overdue_amount, {facts} FROM ({base}) b)
SELECT f.customer_id, f.account, f.name, f.segment, f.overdue_currency,
       f.overdue_amount, CASE WHEN f.overdue_currency IS NULL THEN f.overdue END,
       f.oldest_days_overdue,
       {diagnosis} AS rule,
       -- cobra.scoring.SUMMED_IN_SQL, added from 0.0 in that order
       0.0
       + (CASE WHEN f.oldest_days_overdue <= 0 THEN 0.0
               WHEN f.oldest_days_overdue <= 30 THEN :age_1
               WHEN f.oldest_days_overdue <= 60 THEN :age_2
               WHEN f.oldest_days_overdue <= 90 THEN :age_3
               ELSE :age_4 END) * :w_age
       + CAST(f.paid_invoices + 1 AS REAL)
           / (f.paid_invoices + f.overdue_invoices + 2) * :w_likelihood
       + CAST(MIN(f.promises_broken + f.promises_partly_kept / 2.0, 3) AS REAL) / 3
           * :w_broken_promises
       + CAST(MIN(f.days_since_contact, 30) AS REAL) / 30 * :w_staleness,
       {segment_weight}
FROM f
"""

# What the score reads, whatever the rules read.
_SCORE_FACTS = (
    "oldest_days_overdue",
    "paid_invoices",
    "overdue_invoices",
    "promises_broken",
    "promises_partly_kept",
    "days_since_contact",
)


def worklist(
    conn: sqlite3.Connection,
    params: dict,
    diagnosis: str,
    bound: dict,
    segment_weight: str,
    overdue_only: bool = True,
) -> sqlite3.Cursor:
    """Customers with fresh statistics: facts, rule and raw score, in one query.

    *diagnosis* is an SQL expression over the facts (a CASE giving the
    number of the first rule that holds, 0 for none) and *segment_weight*
    one over ``f.segment``; *bound* holds their parameters and the weights.
    """
    where = "AND s.overdue_invoices > 0" if overdue_only else ""
    # Only the facts the rules and the score read: each costs per customer.
    read = set(_SCORE_FACTS).union(re.findall(r"\bf\.(\w+)", diagnosis))
    facts = ", ".join(
        f"{sql} AS {name}" for name, sql in FACT_SQL.items() if name in read
    )
    source = rows_as_of(conn, params)
    sql = _WORKLIST.format(
        base=_BASE.format(source=source, where=where),
        facts=facts,
        diagnosis=diagnosis,
        segment_weight=segment_weight,
    )
    jd = as_julian_day(date.fromisoformat(params["as_of"]))
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: a Row per customer costs
    return cursor.execute(sql, {**params, **bound, "jd": jd})


def as_julian_day(day: date) -> float:
    """SQLite's julianday() of a date at midnight."""
    return day.toordinal() + 1721424.5
