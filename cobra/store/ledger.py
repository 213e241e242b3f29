"""The SQL behind importing: customers, invoices, credit notes, payments.

:class:`LedgerWriter` works inside one transaction opened by the caller
(:func:`cobra.ledger.load`), which commits or rolls back as a whole. Rows
are written in batches with ``executemany``; the database itself tells
inserted from updated from unchanged rows (``seen_import`` and
``changed_import``), so the import keeps no per-invoice state in memory.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from cobra.records import CreditNote, Customer, Invoice, Payment

# The same invoice number twice in one import with different contents is an
# error in the source. A trigger catches it at the moment of the second
# write, records it, and leaves the first version in place (RAISE(IGNORE)
# skips only that row's update).
_CONFLICT_TRIGGER = """
CREATE TEMP TRIGGER IF NOT EXISTS import_invoice_conflict
BEFORE UPDATE OF amount ON main.invoices
WHEN NEW.seen_import = OLD.seen_import
 AND (NEW.amount IS NOT OLD.amount OR NEW.currency IS NOT OLD.currency
      OR NEW.balance IS NOT OLD.balance OR NEW.due_date IS NOT OLD.due_date
      OR NEW.issue_date IS NOT OLD.issue_date OR NEW.customer_id IS NOT OLD.customer_id)
BEGIN
    INSERT INTO temp.import_conflicts (number, first_source, source)
    VALUES (OLD.number, OLD.source, NEW.source);
    SELECT RAISE(IGNORE);
END
"""


# SQLite's upsert: on a known account, refresh the row; `changed_import` and
# `updated_at` move only when something really changed.
_CUSTOMER_CHANGED = """(name IS NOT excluded.name OR tax_id IS NOT excluded.tax_id
    OR language IS NOT excluded.language OR country IS NOT excluded.country
    OR timezone IS NOT excluded.timezone OR segment IS NOT excluded.segment
    OR salesperson_email IS NOT excluded.salesperson_email)"""

_UPSERT_CUSTOMER_SQL = f"""
INSERT INTO customers (account, name, tax_id, language, country, timezone, segment,
                       salesperson_email, created_at, updated_at,
                       seen_import, changed_import)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?10)
ON CONFLICT (account) DO UPDATE SET
    changed_import = CASE WHEN {_CUSTOMER_CHANGED} THEN excluded.changed_import
                          ELSE changed_import END,
    updated_at = CASE WHEN {_CUSTOMER_CHANGED} THEN excluded.updated_at ELSE updated_at END,
    name = excluded.name, tax_id = excluded.tax_id, language = excluded.language,
    country = excluded.country, timezone = excluded.timezone, segment = excluded.segment,
    salesperson_email = excluded.salesperson_email, seen_import = excluded.seen_import
"""

_INSERT_CONTACT = """
INSERT OR IGNORE INTO contacts (customer_id, kind, value)
SELECT id, ?2, ?3 FROM customers WHERE account = ?1
"""

_INVOICE_CHANGED = """(amount IS NOT excluded.amount OR currency IS NOT excluded.currency
    OR balance IS NOT excluded.balance OR due_date IS NOT excluded.due_date
    OR issue_date IS NOT excluded.issue_date OR customer_id IS NOT excluded.customer_id)"""

# ?7 is the balance the source states, or NULL when the source gives payments
# instead: then the balance is the amount less what is already allocated.
_UPSERT_INVOICE_SQL = f"""
INSERT INTO invoices (customer_id, number, issue_date, due_date, currency, amount, balance,
                      status, closed_on, source, created_at, updated_at,
                      seen_import, changed_import)
VALUES ((SELECT id FROM customers WHERE account = ?1), ?2, ?3, ?4, ?5, ?6,
        COALESCE(?7, ?6),
        CASE WHEN COALESCE(?7, ?6) > 0 THEN 'open' ELSE 'paid' END,
        CASE WHEN COALESCE(?7, ?6) > 0 THEN NULL ELSE ?10 END,
        ?8, ?9, ?9, ?11, ?11)
ON CONFLICT (number) DO UPDATE SET
    customer_id = excluded.customer_id, issue_date = excluded.issue_date,
    due_date = excluded.due_date, currency = excluded.currency, amount = excluded.amount,
    balance = CASE WHEN ?7 IS NULL
                   THEN MAX(0, excluded.amount - (SELECT COALESCE(SUM(a.amount), 0)
                                                  FROM allocations a
                                                  WHERE a.invoice_id = invoices.id))
                   ELSE excluded.balance END,
    changed_import = CASE WHEN {_INVOICE_CHANGED} THEN excluded.changed_import
                          ELSE changed_import END,
    updated_at = CASE WHEN {_INVOICE_CHANGED} THEN excluded.updated_at ELSE updated_at END,
    source = CASE WHEN {_INVOICE_CHANGED} THEN excluded.source ELSE source END,
    seen_import = excluded.seen_import
"""

# After the upserts, status follows the balance: one pass over the rows this
# import touched is cheaper than CASE arms inside every upsert. An invoice
# closed by an earlier --sync reopens when a source shows it open again;
# one written off stays so.
_SETTLE_STATUS = """
UPDATE invoices
SET status = CASE WHEN balance > 0 THEN 'open' ELSE 'paid' END,
    closed_on = CASE WHEN balance > 0 THEN NULL ELSE COALESCE(closed_on, :today) END
WHERE (seen_import = :run OR changed_import = :run)
  AND status <> 'written_off'
  AND status <> CASE WHEN balance > 0 THEN 'open' ELSE 'paid' END
"""


class LedgerWriter:
    """Writes one import run's records; the caller owns the transaction."""

    def __init__(self, conn: sqlite3.Connection, now: str, sources: Sequence[str], sync: bool):
        self.conn = conn
        self.now = now
        self.today = now[:10]
        cursor = conn.execute(
            "INSERT INTO imports (started_at, sources, sync) VALUES (?, ?, ?)",
            (now, json.dumps(list(sources)), int(sync)),
        )
        self.run = cursor.lastrowid
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_conflicts "
            "(number TEXT, first_source TEXT, source TEXT)"
        )
        conn.execute("DELETE FROM temp.import_conflicts")
        conn.execute(_CONFLICT_TRIGGER)

    # -- what is already there -------------------------------------------------

    def known_accounts(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT account FROM customers")}

    def count(self, table: str) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def open_invoice_count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM invoices WHERE status = 'open'").fetchone()[0]

    # -- writing ----------------------------------------------------------------

    def upsert_customers(self, customers: Iterable[Customer]) -> None:
        rows, contacts = [], []
        for c in customers:
            rows.append((c.account, c.name, c.tax_id, c.language, c.country, c.timezone,
                         c.segment, c.salesperson_email, self.now, self.run))
            if c.email:
                contacts.append((c.account, "email", c.email))
            if c.phone:
                contacts.append((c.account, "phone", c.phone))
        self.conn.executemany(_UPSERT_CUSTOMER_SQL, rows)
        self.conn.executemany(_INSERT_CONTACT, contacts)

    def upsert_invoices(self, invoices: Iterable[Invoice]) -> None:
        self.conn.executemany(
            _UPSERT_INVOICE_SQL,
            (
                (i.account, i.number, i.issue_date.isoformat(), i.due_date.isoformat(),
                 i.currency, i.amount, i.balance, str(i.where), self.now,
                 self.today, self.run)
                for i in invoices
            ),
        )

    def conflicts(self) -> list[tuple[str, str, str]]:
        """(number, where first seen, where seen again with other values)."""
        return list(self.conn.execute(
            "SELECT number, first_source, source FROM temp.import_conflicts ORDER BY rowid"
        ))

    def settle_statuses(self) -> None:
        self.conn.execute(_SETTLE_STATUS, {"run": self.run, "today": self.today})

    def counts(self, table: str, before: int) -> dict[str, int]:
        """Inserted, updated and unchanged rows of *table* in this run."""
        seen, changed = self.conn.execute(
            f"SELECT COUNT(*), COALESCE(SUM(changed_import = ?1), 0) FROM {table}"
            " WHERE seen_import = ?1",
            (self.run,),
        ).fetchone()
        inserted = self.count(table) - before
        return {"inserted": inserted, "updated": changed - inserted,
                "unchanged": seen - changed}

    # -- payments and credit notes ------------------------------------------------

    def customer_id(self, account: str) -> int | None:
        row = self.conn.execute("SELECT id FROM customers WHERE account = ?", (account,)).fetchone()
        return row[0] if row else None

    def existing_payment(self, reference: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT p.paid_on, p.currency, p.amount, c.account FROM payments p"
            " JOIN customers c ON c.id = p.customer_id WHERE p.reference = ?",
            (reference,),
        ).fetchone()

    def existing_credit_note(self, number: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT n.issue_date, n.currency, n.amount, c.account FROM credit_notes n"
            " JOIN customers c ON c.id = n.customer_id WHERE n.number = ?",
            (number,),
        ).fetchone()

    def insert_payment(self, payment: Payment, customer_id: int) -> int:
        return self.conn.execute(
            "INSERT INTO payments (customer_id, reference, paid_on, currency, amount, source,"
            " import_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (customer_id, payment.reference, payment.paid_on.isoformat(), payment.currency,
             payment.amount, str(payment.where), self.run, self.now),
        ).lastrowid

    def insert_credit_note(self, note: CreditNote, customer_id: int,
                           invoice_id: int | None) -> int:
        return self.conn.execute(
            "INSERT INTO credit_notes (customer_id, number, invoice_id, issue_date, currency,"
            " amount, source, import_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (customer_id, note.number, invoice_id, note.issue_date.isoformat(), note.currency,
             note.amount, str(note.where), self.run, self.now),
        ).lastrowid

    def invoice(self, number: str) -> sqlite3.Row | None:
        return self.conn.execute(
            "SELECT i.id, i.currency, i.balance, c.account FROM invoices i"
            " JOIN customers c ON c.id = i.customer_id WHERE i.number = ?",
            (number,),
        ).fetchone()

    def open_invoices(self, customer_id: int, currency: str) -> list[sqlite3.Row]:
        """The customer's open invoices in *currency*, oldest due first."""
        return self.conn.execute(
            "SELECT id, balance FROM invoices WHERE customer_id = ? AND currency = ?"
            " AND status = 'open' AND balance > 0 ORDER BY due_date, issue_date, number",
            (customer_id, currency),
        ).fetchall()

    def allocate(self, invoice_id: int, amount: int, *, payment_id: int | None = None,
                 credit_note_id: int | None = None) -> None:
        self.conn.execute(
            "INSERT INTO allocations (invoice_id, payment_id, credit_note_id, amount)"
            " VALUES (?, ?, ?, ?)",
            (invoice_id, payment_id, credit_note_id, amount),
        )
        self.conn.execute(
            "UPDATE invoices SET balance = balance - ?1, updated_at = ?2,"
            " changed_import = ?3,"
            " status = CASE WHEN balance - ?1 > 0 THEN 'open' ELSE 'paid' END,"
            " closed_on = CASE WHEN balance - ?1 > 0 THEN NULL ELSE ?4 END"
            " WHERE id = ?5",
            (amount, self.now, self.run, self.today, invoice_id),
        )

    # -- sync ---------------------------------------------------------------------

    def open_not_seen(self) -> int:
        return self.conn.execute(
            "SELECT COUNT(*) FROM invoices WHERE status = 'open' AND seen_import IS NOT ?",
            (self.run,),
        ).fetchone()[0]

    def close_not_seen(self) -> int:
        return self.conn.execute(
            "UPDATE invoices SET status = 'settled_by_sync', balance = 0, closed_on = ?,"
            " updated_at = ?, changed_import = ? WHERE status = 'open' AND seen_import IS NOT ?",
            (self.today, self.now, self.run, self.run),
        ).rowcount

    def finish(self, summary: dict) -> None:
        self.conn.execute(
            "UPDATE imports SET finished_at = ?, summary = ? WHERE id = ?",
            (self.now, json.dumps(summary), self.run),
        )
