"""The SQL behind importing: customers, invoices, credit notes, payments.

:class:`LedgerWriter` works inside one transaction opened by the caller
(:func:`cobra.ledger.load`), which commits or rolls back as a whole. Rows
are written in batches.

Only what changes is written. Importing the same file again must cost no
more than importing it the first time, so a row equal to the stored one is
compared and left alone, never rewritten to say it was seen:

- customers are compared in Python with what the store held when the import
  began (:class:`CustomerBook`), so only new and changed ones are written;
- rows of cobra's tabular layout (a CSV file) are inserted blind, many rows
  a statement, while they are new invoices; once a batch meets stored ones,
  each batch is compared in Python with the stored versions of its
  invoices, fetched in one query, and only new and changed ones are written;
- an invoice record (JSON Lines, UBL, Tryton) is upserted, and the upsert's
  update arm runs only when a field differs. Its condition calls back into
  Python (``cobra_seen_at``).

Either way a stored invoice is marked as seen in a bitmap of the ids that
existed before the import, one byte each: a million invoices take a
megabyte. The marks give the inserted, updated and unchanged counts, tell
``--sync`` which open invoices the sources no longer list, and catch the
same invoice twice in one import with other values.

``seen_import`` and ``changed_import`` therefore record the last import
that wrote the row, not every import that listed it unchanged.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import chain

from cobra.records import CreditNote, Customer, Payment, Where

log = logging.getLogger(__name__)

# Marks of an invoice that existed before the import (LedgerWriter.marks).
SEEN = 1  # a source lists it
CHANGED = 2  # and it differed, so it was updated
TOUCHED = 4  # a payment or credit note of this import settled part of it

_CUSTOMER_PROFILE = (
    "name, tax_id, language, country, timezone, segment, salesperson_email"
)


def _literal(text: str) -> str:
    """*text* as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class ManyRows:
    """An INSERT of many rows per statement, for bulk writes.

    ``executemany`` runs its statement once per row, and the per-row work
    of Python's sqlite3 module costs about as much as SQLite's own: one
    ``INSERT ... VALUES (...), (...), ...`` of a few hundred rows binds the
    same values in one call, at less than half the cost. *row* is the SQL of
    one row, with ``{0}``, ``{1}``... where its parameters go (a parameter
    may be used twice); *tail* follows the VALUES (an ON CONFLICT clause).
    """

    ROWS = 250  # per statement: 250 rows of 8 parameters is far below SQLite's limit

    def __init__(self, head: str, row: str, width: int, tail: str = ""):
        self.head, self.row, self.width, self.tail = head, row, width, tail
        self.statements: dict[int, str] = {}

    def statement(self, count: int) -> str:
        found = self.statements.get(count)
        if found is None:
            width = self.width
            rows = ", ".join(
                self.row.format(*(f"?{k * width + i + 1}" for i in range(width)))
                for k in range(count)
            )
            found = self.statements[count] = f"{self.head} VALUES {rows} {self.tail}"
        return found

    def run(self, conn: sqlite3.Connection, rows: Sequence[tuple]) -> int:
        """Insert *rows*; return how many rows were inserted."""
        inserted = 0
        step = self.ROWS
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            values = list(chain.from_iterable(part))
            inserted += conn.execute(self.statement(len(part)), values).rowcount
        return inserted


def begin_bulk_load(conn: sqlite3.Connection) -> bool:
    """Write the first load of an empty store with a rollback journal.

    In WAL mode each page is written twice, into the WAL and then, at the
    checkpoint, into the database: for a million invoices that copy is
    hundreds of megabytes. Into a store that holds no invoice yet, a
    rollback journal writes each new page once, and has next to nothing to
    journal. The switch needs the file to itself: with another connection
    open it fails at once (no busy wait), and the import runs in WAL mode.
    Returns whether it switched; :func:`end_bulk_load` switches back.

    Meanwhile a reader blocks instead of seeing the empty store: nothing
    is lost, since the store has nothing yet to read.
    """
    if (
        conn.in_transaction
        or conn.execute("SELECT EXISTS (SELECT 1 FROM invoices)").fetchone()[0]
    ):
        return False
    return _journal_mode(conn, "DELETE") == "delete"


def end_bulk_load(conn: sqlite3.Connection) -> None:
    """Back to WAL after :func:`begin_bulk_load` (or at the next Store.open)."""
    if _journal_mode(conn, "WAL") != "wal":
        log.warning("the store stays in rollback-journal mode until it is opened again")


def _journal_mode(conn: sqlite3.Connection, mode: str) -> str:
    timeout = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        return conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0].lower()
    except sqlite3.OperationalError:  # another connection has the file open
        return ""
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout)}")


class CustomerBook:
    """The store's customers, to write only the new and changed ones.

    It holds, per account, the id and a hash of the stored fields (a hash,
    not the fields: a million-customer store keeps two small ints each), and
    hashes of the stored contacts, so an import that lists them again writes
    nothing. New customers get their ids here: the import holds the write
    lock, so no one else can take them.
    """

    INSERTED, UPDATED, SEEN = 1, 2, 3

    def __init__(self, conn: sqlite3.Connection, now: str, run: int):
        self.conn = conn
        self.known: dict[str, tuple[int, int]] = {}
        last = 0
        for row in conn.execute(
            f"SELECT id, account, {_CUSTOMER_PROFILE} FROM customers"
        ):
            self.known[row[1]] = (row[0], hash(tuple(row)[2:]))
            last = max(last, row[0])
        self.next_id = last + 1
        self.contacts = {
            hash(tuple(row))
            for row in conn.execute("SELECT customer_id, kind, value FROM contacts")
        }
        self.state: dict[int, int] = {}  # id -> INSERTED, UPDATED or SEEN
        self.inserts: list[tuple] = []
        self.updates: list[tuple] = []
        self.new_contacts: list[tuple] = []
        stamp = f"{_literal(now)}, {_literal(now)}, {run:d}, {run:d}"
        self._insert = ManyRows(
            f"INSERT INTO customers (id, account, {_CUSTOMER_PROFILE}, created_at,"
            " updated_at, seen_import, changed_import)",
            "({0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, " + stamp + ")",
            9,
        )
        self._insert_contacts = ManyRows(
            "INSERT INTO contacts (customer_id, kind, value)",
            "({0}, {1}, {2})",
            3,
            "ON CONFLICT DO NOTHING",
        )
        self._update_sql = (
            "UPDATE customers SET name = ?2, tax_id = ?3, language = ?4, country = ?5,"
            " timezone = ?6, segment = ?7, salesperson_email = ?8,"
            f" updated_at = {_literal(now)}, seen_import = {run:d},"
            f" changed_import = {run:d} WHERE id = ?1"
        )

    def id_of(self, account: str) -> int | None:
        entry = self.known.get(account)
        return entry[0] if entry else None

    def register(self, customer: Customer) -> int:
        """The customer's id; queues the writes it needs, if any."""
        profile = customer.profile()
        digest = hash(profile)
        entry = self.known.get(customer.account)
        if entry is None:
            customer_id = self.next_id
            self.next_id += 1
            self.known[customer.account] = (customer_id, digest)
            self.state[customer_id] = self.INSERTED
            self.inserts.append((customer_id, customer.account, *profile))
        else:
            customer_id, stored = entry
            if stored != digest:
                self.known[customer.account] = (customer_id, digest)
                self.updates.append((customer_id, *profile))
                if self.state.get(customer_id) != self.INSERTED:
                    self.state[customer_id] = self.UPDATED
            elif customer_id not in self.state:
                self.state[customer_id] = self.SEEN
        for kind, value in (("email", customer.email), ("phone", customer.phone)):
            if value:
                key = hash((customer_id, kind, value))
                if key not in self.contacts:
                    self.contacts.add(key)
                    self.new_contacts.append((customer_id, kind, value))
        return customer_id

    def flush(self, write: bool = True) -> None:
        """Write what is queued (or, when nothing will be kept, forget it)."""
        if write:
            if self.inserts:
                self._insert.run(self.conn, self.inserts)
            if self.updates:
                self.conn.executemany(self._update_sql, self.updates)
            if self.new_contacts:
                self._insert_contacts.run(self.conn, self.new_contacts)
        self.inserts.clear()
        self.updates.clear()
        self.new_contacts.clear()

    def counts(self) -> dict[str, int]:
        states = list(self.state.values())
        return {
            "inserted": states.count(self.INSERTED),
            "updated": states.count(self.UPDATED),
            "unchanged": states.count(self.SEEN),
        }


def _changed(balance: str) -> str:
    """True when the upserted invoice differs from the stored one.

    *balance* is what the update would set the balance to.
    """
    return f"""(amount IS NOT excluded.amount OR currency IS NOT excluded.currency
    OR balance IS NOT ({balance}) OR due_date IS NOT excluded.due_date
    OR issue_date IS NOT excluded.issue_date OR customer_id IS NOT excluded.customer_id)"""


def _update_arm(balance: str, today: str) -> str:
    """The upsert's update arm; *balance* is what it sets the balance to.

    Status follows the balance, except for a written-off invoice; one
    closed by an earlier --sync reopens when a source shows it open again.
    `closed_on` is kept unless the status changes.
    """
    status = f"(CASE WHEN {balance} > 0 THEN 'open' ELSE 'paid' END)"
    return f"""
    customer_id = excluded.customer_id, issue_date = excluded.issue_date,
    due_date = excluded.due_date, currency = excluded.currency, amount = excluded.amount,
    balance = {balance},
    status = CASE WHEN status = 'written_off' THEN status ELSE {status} END,
    closed_on = CASE WHEN status = 'written_off' OR status = {status} THEN closed_on
                     WHEN {balance} > 0 THEN NULL
                     ELSE COALESCE(closed_on, {today}) END,
    source = excluded.source, updated_at = excluded.updated_at,
    seen_import = excluded.seen_import, changed_import = excluded.changed_import"""


# The stored versions of a batch's invoices: the columns of a checked layout
# row, then the id and whether the status does not follow the balance (an
# invoice closed by an earlier --sync and listed as paid). At most _IN_LIMIT
# numbers a query: SQLite takes 32766 parameters.
_STORED = """SELECT customer_id, number, issue_date, due_date, currency, amount, balance, id,
    status <> 'written_off' AND status <> CASE WHEN balance > 0 THEN 'open' ELSE 'paid' END
    FROM invoices"""
_STORED_INVOICES = _STORED + " WHERE number IN ({})"
_STORED_BETWEEN = _STORED + " WHERE number BETWEEN ? AND ?"
_COUNT_BETWEEN = "SELECT COUNT(*) FROM invoices WHERE number BETWEEN ? AND ?"
_IN_LIMIT = 5000

# A changed layout invoice: ?1 to ?7 as in a checked row. As in _update_arm.
_UPDATE_LAYOUT = """customer_id = ?1, issue_date = ?3, due_date = ?4, currency = ?5,
    amount = ?6, balance = ?7,
    status = CASE WHEN status = 'written_off' THEN status
                  WHEN ?7 > 0 THEN 'open' ELSE 'paid' END,
    closed_on = CASE WHEN status = 'written_off'
                       OR status = (CASE WHEN ?7 > 0 THEN 'open' ELSE 'paid' END)
                     THEN closed_on
                     WHEN ?7 > 0 THEN NULL
                     ELSE COALESCE(closed_on, {today}) END"""

_INVOICE_COLUMNS = """(customer_id, number, issue_date, due_date, currency, amount, balance,
    status, source, created_at, updated_at, seen_import, changed_import)"""

# ?7 is the balance the source states, or NULL when the source gives payments
# instead: then the balance is the amount less what is already allocated.
_BALANCE_FROM_RECORD = """(CASE WHEN ?7 IS NULL
    THEN MAX(0, excluded.amount - (SELECT COALESCE(SUM(a.amount), 0) FROM allocations a
                                   WHERE a.invoice_id = invoices.id))
    ELSE excluded.balance END)"""

# Status follows the balance (see _STORED).
_SETTLE = """
UPDATE invoices
SET status = CASE WHEN balance > 0 THEN 'open' ELSE 'paid' END,
    closed_on = CASE WHEN balance > 0 THEN NULL ELSE COALESCE(closed_on, ?2) END
WHERE id = ?1"""

# The same for every invoice that invoice records listed unchanged, when
# the upsert met any. The condition is cheap, so the call into Python rare.
_SETTLE_SEEN = """
UPDATE invoices
SET status = CASE WHEN balance > 0 THEN 'open' ELSE 'paid' END,
    closed_on = CASE WHEN balance > 0 THEN NULL ELSE COALESCE(closed_on, :today) END
WHERE id <= :before
  AND CASE WHEN status <> 'written_off'
                AND status <> CASE WHEN balance > 0 THEN 'open' ELSE 'paid' END
           THEN cobra_invoice_seen(id) ELSE 0 END
"""


class LedgerWriter:
    """Writes one import run's records; the caller owns the transaction."""

    def __init__(
        self, conn: sqlite3.Connection, now: str, sources: Sequence[str], sync: bool
    ):
        self.conn = conn
        self.now = now
        self.today = now[:10]
        cursor = conn.execute(
            "INSERT INTO imports (started_at, sources, sync) VALUES (?, ?, ?)",
            (now, json.dumps(list(sources)), int(sync)),
        )
        self.run = cursor.lastrowid
        self.customers = CustomerBook(conn, now, self.run)
        # Invoices up to this id existed before the import; later ones are
        # its own inserts.
        self.before = conn.execute(
            "SELECT COALESCE(MAX(id), 0) FROM invoices"
        ).fetchone()[0]
        self.marks = bytearray(self.before + 1)
        # (invoice id or number, where it appeared again with other values)
        self.repeated: list[tuple[int | str, Where]] = []
        # Layout invoices listed unchanged whose status must follow their
        # balance; and whether the upsert of invoice records met any stored.
        self.unsettled: list[tuple[int]] = []
        self.records_met = False
        conn.create_function("cobra_seen_at", 3, self._seen_at)
        conn.create_function("cobra_invoice_seen", 1, self._marked_seen)
        stamp = f"{_literal(now)}, {_literal(now)}, {self.run:d}, {self.run:d}"
        today = _literal(self.today)
        self._record_sql = f"""
INSERT INTO invoices {_INVOICE_COLUMNS}
VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, ?6),
        CASE WHEN COALESCE(?7, ?6) > 0 THEN 'open' ELSE 'paid' END, ?8, {stamp})
ON CONFLICT (number) DO UPDATE SET {_update_arm(_BALANCE_FROM_RECORD, today)}
WHERE cobra_seen_at(invoices.id, {_changed(_BALANCE_FROM_RECORD)}, ?8)"""
        self._stamp = stamp
        self._layout_inserts: dict[str, ManyRows] = {}  # per source
        # ?9 is the stored invoice's id; ?2, the number, is not needed.
        self._layout_update_sql = f"""
UPDATE invoices SET {_UPDATE_LAYOUT.format(today=today)},
    source = {{where}} || ?8, updated_at = {_literal(now)},
    seen_import = {self.run:d}, changed_import = {self.run:d}
WHERE id = ?9"""
        # Whether the last batch of layout rows met no stored invoice.
        self.layout_new = True
        self._bulk = False

    # -- the seen marks ------------------------------------------------------------

    def _seen(self, invoice_id: int, changed: int, where) -> int:
        """The upsert found *invoice_id*: update it (1) or leave it (0)."""
        if invoice_id > self.before:
            mark = SEEN  # inserted by this import, so listed already
        else:
            self.records_met = True
            mark = self.marks[invoice_id]
        if mark & SEEN:
            # Listed before in this import: the first version stands.
            if changed:
                self.repeated.append((invoice_id, where))
            return 0
        self.marks[invoice_id] = mark | SEEN | (CHANGED if changed else 0)
        return changed

    def _seen_at(self, invoice_id: int, changed: int, where: str | None) -> int:
        source, _, line = (where or "").rpartition(":")
        place = Where(source, int(line)) if source and line.isdigit() else Where(where)
        return self._seen(invoice_id, changed, place)

    def _marked_seen(self, invoice_id: int) -> int:
        return invoice_id > self.before or bool(self.marks[invoice_id] & SEEN)

    # -- what is already there -------------------------------------------------

    def count(self, table: str) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def open_invoice_count(self) -> int:
        return self.conn.execute(
            "SELECT COUNT(*) FROM invoices WHERE status = 'open'"
        ).fetchone()[0]

    # -- writing ----------------------------------------------------------------

    def upsert_layout_invoices(self, source: str, rows: Sequence[tuple]) -> None:
        """Rows of (customer id, number, issue date, due date, currency, amount,
        balance, line), checked by cobra.layout.LayoutChecker.

        While the rows are new invoices, they are inserted blind, many rows a
        statement (DO NOTHING for any that exists, which the row count then
        tells). A batch that met stored invoices is compared with them
        instead: one query fetches the stored versions of the whole batch,
        Python compares, and only new and changed invoices are written; the
        next batches are compared too, until one meets no stored invoice.
        """
        self.bulk(True)
        insert = self._layout_insert(source)
        if self.layout_new and insert.run(self.conn, rows) == len(rows):
            return
        self.layout_new = not self._merge_layout(source, insert, rows)

    def bulk(self, on: bool) -> None:
        """Switch to writing checked layout rows in bulk, or back.

        In bulk, SQLite does not evaluate the tables' CHECK constraints:
        LayoutChecker has checked everything the invoices table's ask (a
        known currency, a balance not below zero, a due date not before the
        issue date; the status is computed here), and its `status IN (...)`
        alone costs as much as the rest of a row. Switching expires the
        prepared statements, so it is done only when the kind of record
        written changes. (Dropping the invoices' secondary index for a
        first load and building it at the end was tried too: slower.)
        """
        if on != self._bulk:
            self._bulk = on
            self.conn.execute(f"PRAGMA ignore_check_constraints = {int(on)}")

    def end(self) -> None:
        """After the import's transaction, or its rollback: CHECKs apply again."""
        self.conn.execute("PRAGMA ignore_check_constraints = 0")
        self._bulk = False

    def _layout_insert(self, source: str) -> ManyRows:
        insert = self._layout_inserts.get(source)
        if insert is None:
            insert = self._layout_inserts[source] = ManyRows(
                f"INSERT INTO invoices {_INVOICE_COLUMNS}",
                "({0}, {1}, {2}, {3}, {4}, {5}, {6},"
                " CASE WHEN {6} > 0 THEN 'open' ELSE 'paid' END,"
                f" {_literal(f'{source}:')} || {{7}}, {self._stamp})",
                8,
                "ON CONFLICT (number) DO NOTHING",
            )
        return insert

    def _merge_layout(
        self, source: str, insert: ManyRows, rows: Sequence[tuple]
    ) -> int:
        """Compare *rows* with the stored invoices; return how many were stored."""
        stored = self._stored_invoices([row[1] for row in rows])
        met = 0
        before, marks = self.before, self.marks
        inserts, updates = [], []
        for row in rows:
            found = stored.get(row[1])
            if found is None:
                # New: inserted below, or listed again in this batch.
                stored[row[1]] = row[:7] + (None, 0)
                inserts.append(row)
                continue
            invoice_id = found[7]
            if invoice_id is not None:
                met += 1
            if invoice_id is None or invoice_id > before:
                mark = SEEN  # inserted by this import
            else:
                mark = marks[invoice_id]
            same = found[:7] == row[:7]
            if mark & SEEN:
                # Listed before in this import: the first version stands.
                if not same:
                    self.repeated.append((row[1], Where(source, row[7])))
                continue
            if same:
                marks[invoice_id] = mark | SEEN
                if found[8]:
                    self.unsettled.append((invoice_id,))
            else:
                marks[invoice_id] = mark | SEEN | CHANGED
                updates.append((*row, invoice_id))
                stored[row[1]] = row[:7] + (invoice_id, 0)
        if inserts:
            insert.run(self.conn, inserts)
        if updates:
            where = _literal(f"{source}:")
            self.conn.executemany(
                self._layout_update_sql.replace("{where}", where, 1), updates
            )
        return met

    def _stored_invoices(self, numbers: list[str]) -> dict[str, tuple]:
        """The stored versions of these invoices, by number.

        Exports list invoices in order, so a batch's numbers are usually the
        stored invoices between its lowest and its highest number: one walk
        along the index reads them, cheaper than looking each up. When that
        range holds many more, each number is looked up.
        """
        conn = self.conn
        low, high = min(numbers), max(numbers)
        span = conn.execute(_COUNT_BETWEEN, (low, high)).fetchone()[0]
        if span <= 2 * len(numbers):
            return {
                found[1]: found for found in conn.execute(_STORED_BETWEEN, (low, high))
            }
        stored = {}
        for start in range(0, len(numbers), _IN_LIMIT):
            part = numbers[start : start + _IN_LIMIT]
            statement = _STORED_INVOICES.format(", ".join("?" * len(part)))
            for found in conn.execute(statement, part):
                stored[found[1]] = found
        return stored

    def upsert_invoices(self, rows: Iterable[tuple]) -> None:
        """Rows of (customer id, number, issue date, due date, currency, amount,
        balance or None, where) from invoice records."""
        self.bulk(False)
        self.conn.executemany(self._record_sql, rows)

    def repeated_invoices(self) -> list[tuple[str, str, Where]]:
        """(number, where first seen, where seen again with other values)."""
        found = []
        for key, where in self.repeated:
            column = "number" if isinstance(key, str) else "id"
            number, first = self.conn.execute(
                f"SELECT number, source FROM invoices WHERE {column} = ?", (key,)
            ).fetchone()
            found.append((number, first, where))
        return found

    def settle_statuses(self) -> None:
        """Status follows the balance on the invoices listed but not written."""
        self.bulk(False)
        if self.unsettled:
            self.conn.executemany(
                _SETTLE, ((invoice_id, self.today) for (invoice_id,) in self.unsettled)
            )
        if self.records_met:
            self.conn.execute(
                _SETTLE_SEEN, {"before": self.before, "today": self.today}
            )

    def invoice_counts(self) -> dict[str, int]:
        """Inserted, updated and unchanged invoices in this run."""
        inserted = self.conn.execute(
            "SELECT COUNT(*) FROM invoices WHERE id > ?", (self.before,)
        ).fetchone()[0]
        seen = sum(self.marks.count(m) for m in range(1, 8) if m & SEEN)
        updated = sum(
            self.marks.count(m)
            for m in range(1, 8)
            if m & SEEN and m & (CHANGED | TOUCHED)
        )
        return {"inserted": inserted, "updated": updated, "unchanged": seen - updated}

    # -- payments and credit notes ------------------------------------------------

    def customer_id(self, account: str) -> int | None:
        return self.customers.id_of(account)

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
        self.bulk(False)
        return self.conn.execute(
            "INSERT INTO payments (customer_id, reference, paid_on, currency, amount, source,"
            " import_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                customer_id,
                payment.reference,
                payment.paid_on.isoformat(),
                payment.currency,
                payment.amount,
                str(payment.where),
                self.run,
                self.now,
            ),
        ).lastrowid

    def insert_credit_note(
        self, note: CreditNote, customer_id: int, invoice_id: int | None
    ) -> int:
        self.bulk(False)
        return self.conn.execute(
            "INSERT INTO credit_notes (customer_id, number, invoice_id, issue_date, currency,"
            " amount, source, import_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                customer_id,
                note.number,
                invoice_id,
                note.issue_date.isoformat(),
                note.currency,
                note.amount,
                str(note.where),
                self.run,
                self.now,
            ),
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

    def allocate(
        self,
        invoice_id: int,
        amount: int,
        on: str,
        *,
        payment_id: int | None = None,
        credit_note_id: int | None = None,
    ) -> None:
        """Settle *amount* of an invoice; *on* (a date) is when, if that closes it."""
        self.bulk(False)
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
            (amount, self.now, self.run, on, invoice_id),
        )
        if invoice_id <= self.before:
            self.marks[invoice_id] |= TOUCHED

    # -- sync ---------------------------------------------------------------------

    def open_not_seen(self) -> int:
        return self.conn.execute(
            "SELECT COUNT(*) FROM invoices WHERE status = 'open' AND id <= ?"
            " AND NOT cobra_invoice_seen(id)",
            (self.before,),
        ).fetchone()[0]

    def close_not_seen(self) -> int:
        self.bulk(False)
        return self.conn.execute(
            "UPDATE invoices SET status = 'settled_by_sync', balance = 0, closed_on = ?,"
            " updated_at = ?, changed_import = ? WHERE status = 'open' AND id <= ?"
            " AND NOT cobra_invoice_seen(id)",
            (self.today, self.now, self.run, self.before),
        ).rowcount

    def finish(self, summary: dict) -> None:
        self.bulk(False)
        self.conn.execute(
            "UPDATE imports SET finished_at = ?, summary = ? WHERE id = ?",
            (self.now, json.dumps(summary), self.run),
        )
