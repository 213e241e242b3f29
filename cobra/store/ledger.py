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
    INSERT INTO import_conflicts (number, first_source, source)
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

_CUSTOMER_COLUMNS = """(account, name, tax_id, language, country, timezone, segment,
    salesperson_email, created_at, updated_at, seen_import, changed_import)"""

_CUSTOMER_ON_CONFLICT = f"""
ON CONFLICT (account) DO UPDATE SET
    changed_import = CASE WHEN {_CUSTOMER_CHANGED} THEN excluded.changed_import
                          ELSE changed_import END,
    updated_at = CASE WHEN {_CUSTOMER_CHANGED} THEN excluded.updated_at ELSE updated_at END,
    name = excluded.name, tax_id = excluded.tax_id, language = excluded.language,
    country = excluded.country, timezone = excluded.timezone, segment = excluded.segment,
    salesperson_email = excluded.salesperson_email, seen_import = excluded.seen_import
"""

_UPSERT_CUSTOMER_SQL = f"""
INSERT INTO customers {_CUSTOMER_COLUMNS}
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?10)
{_CUSTOMER_ON_CONFLICT}"""

_INSERT_CONTACT = """
INSERT OR IGNORE INTO contacts (customer_id, kind, value)
SELECT id, ?2, ?3 FROM customers WHERE account = ?1
"""


def _invoice_on_conflict(balance: str) -> str:
    """The upsert's update arm; *balance* is what an update sets the balance to.

    The invoice counts as changed when any field, or the balance it would
    get, differs from what is stored.
    """
    changed = f"""(amount IS NOT excluded.amount OR currency IS NOT excluded.currency
    OR balance IS NOT ({balance}) OR due_date IS NOT excluded.due_date
    OR issue_date IS NOT excluded.issue_date OR customer_id IS NOT excluded.customer_id)"""
    return f"""
ON CONFLICT (number) DO UPDATE SET
    customer_id = excluded.customer_id, issue_date = excluded.issue_date,
    due_date = excluded.due_date, currency = excluded.currency, amount = excluded.amount,
    balance = {balance},
    changed_import = CASE WHEN {changed} THEN excluded.changed_import ELSE changed_import END,
    updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE updated_at END,
    source = CASE WHEN {changed} THEN excluded.source ELSE source END,
    seen_import = excluded.seen_import
"""


_INVOICE_COLUMNS = """(customer_id, number, issue_date, due_date, currency, amount, balance,
    status, closed_on, source, created_at, updated_at, seen_import, changed_import)"""

# ?7 is the balance the source states, or NULL when the source gives payments
# instead: then the balance is the amount less what is already allocated.
_BALANCE_FROM_RECORD = """CASE WHEN ?7 IS NULL
    THEN MAX(0, excluded.amount - (SELECT COALESCE(SUM(a.amount), 0) FROM allocations a
                                   WHERE a.invoice_id = invoices.id))
    ELSE excluded.balance END"""

_UPSERT_INVOICE_SQL = f"""
INSERT INTO invoices {_INVOICE_COLUMNS}
VALUES ((SELECT id FROM customers WHERE account = ?1), ?2, ?3, ?4, ?5, ?6,
        COALESCE(?7, ?6),
        CASE WHEN COALESCE(?7, ?6) > 0 THEN 'open' ELSE 'paid' END,
        NULL,
        ?8, ?9, ?9, ?11, ?11)
{_invoice_on_conflict(_BALANCE_FROM_RECORD)}"""

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
        return self.conn.execute(
            "SELECT COUNT(*) FROM invoices WHERE status = 'open'"
        ).fetchone()[0]

    # -- writing ----------------------------------------------------------------

    def upsert_customers(self, customers: Iterable[Customer]) -> None:
        rows, contacts = [], []
        for c in customers:
            rows.append(
                (
                    c.account,
                    c.name,
                    c.tax_id,
                    c.language,
                    c.country,
                    c.timezone,
                    c.segment,
                    c.salesperson_email,
                    self.now,
                    self.run,
                )
            )
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
                (
                    i.account,
                    i.number,
                    i.issue_date.isoformat(),
                    i.due_date.isoformat(),
                    i.currency,
                    i.amount,
                    i.balance,
                    str(i.where),
                    self.now,
                    self.today,
                    self.run,
                )
                for i in invoices
            ),
        )

    def conflicts(self) -> list[tuple[str, str, str]]:
        """(number, where first seen, where seen again with other values)."""
        return list(
            self.conn.execute(
                "SELECT number, first_source, source FROM temp.import_conflicts ORDER BY rowid"
            )
        )

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
        return {
            "inserted": inserted,
            "updated": changed - inserted,
            "unchanged": seen - changed,
        }

    # -- payments and credit notes ------------------------------------------------

    def customer_id(self, account: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM customers WHERE account = ?", (account,)
        ).fetchone()
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


# -- rows in cobra's tabular layout, checked in bulk ----------------------------
#
# An import of tabular data stages its text cells in a temporary table, then
# SQLite checks and converts every clean row in a few set-based statements:
# far faster than Python can check a million rows one by one. Rows the
# checks below do not accept are handed back to Python (`stage_exceptions`),
# which either explains what is wrong or writes them back in plain form.
# These checks only ever accept what cobra.layout.check_row accepts too.

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _plain_email(cell: str) -> str:
    """A conservative form of cobra.fields.email's rule.

    Only plain characters, one @ with something before it, a dot at least one
    character after the @, and two letters at the end. Written with instr and
    substr rather than GLOB wildcards, which backtrack and cost several times
    more on a million rows.
    """
    at = f"instr({cell}, '@')"
    return f"""({cell} = '' OR (NOT {cell} GLOB '*[^-A-Za-z0-9._%+@]*'
        AND {at} > 1 AND instr(substr({cell}, {at} + 1), '@') = 0
        AND instr(substr({cell}, {at} + 2), '.') > 0
        AND substr({cell}, -2) GLOB '[A-Za-z][A-Za-z]'))"""


def _fraction(cell: str) -> str:
    return f"CASE WHEN instr({cell}, '.') THEN substr({cell}, instr({cell}, '.') + 1) ELSE '' END"


def _plain_amount(cell: str) -> str:
    """Digits with at most one point and no more decimals than the currency has.

    At most 14 characters, so the amount in minor units (up to 4 decimals)
    stays within SQLite's 64-bit integers; longer ones go through Python.
    """
    dot = f"instr({cell}, '.')"
    return f"""({cell} GLOB '[0-9]*' AND NOT {cell} GLOB '*[^0-9.]*'
        AND instr(substr({cell}, {dot} + 1), '.') = 0 AND substr({cell}, -1) <> '.'
        AND length({cell}) <= 14
        AND ({dot} = 0 OR length(rtrim(substr({cell}, {dot} + 1), '0')) <= k.exponent))"""


def _minor(cell: str) -> str:
    """The amount in minor units: whole part times the scale, plus the fraction."""
    dot = f"instr({cell}, '.')"
    whole = f"substr({cell}, 1, CASE WHEN {dot} THEN {dot} - 1 ELSE length({cell}) END)"
    return (
        f"(CAST({whole} AS INTEGER) * scale"
        f" + CAST(substr({_fraction(cell)} || '000000', 1, exponent) AS INTEGER))"
    )


def _unpadded(*cells: str) -> str:
    return " AND ".join(f"trim({c}) = {c}" for c in cells)


_CUSTOMER_CELLS = ("customer_id, customer_name, email, phone, tax_id, language, country,"
                   " timezone, salesperson_email, segment")
_SAME_CUSTOMER = " AND ".join(
    f"b.{cell} IS s.{cell}" for cell in _CUSTOMER_CELLS.replace(" ", "").split(",")
    if cell != "customer_id"
)

_STAGE_SCHEMA = [
    """CREATE TEMP TABLE IF NOT EXISTS stage (
        line INTEGER, source_id INTEGER, settings_id INTEGER, plain INTEGER,
        checked INTEGER NOT NULL DEFAULT 0,
        customer_id, customer_name, email, phone, invoice_id, issue_date, due_date,
        currency, amount, balance, tax_id, language, country, timezone,
        salesperson_email, segment)""",
    """CREATE TEMP TABLE IF NOT EXISTS stage_currencies (
        code TEXT PRIMARY KEY, exponent INTEGER, scale INTEGER) WITHOUT ROWID""",
    "CREATE TEMP TABLE IF NOT EXISTS stage_zones (name TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS stage_sources (id INTEGER PRIMARY KEY, path TEXT)",
    # The distinct customers of the staged rows whose cells the checks below
    # do not accept: filled by LayoutStage.exceptions before the view is read.
    f"""CREATE TEMP TABLE IF NOT EXISTS stage_bad_customers ({_CUSTOMER_CELLS})""",
    "CREATE INDEX IF NOT EXISTS temp.stage_bad_by_id ON stage_bad_customers (customer_id)",
    f"""CREATE TEMP VIEW IF NOT EXISTS stage_view AS
    SELECT s.rowid AS row_id, s.*, k.exponent, k.scale, (s.checked OR (
        s.plain
        AND s.invoice_id <> '' AND {_unpadded("s.invoice_id")}
        AND date(s.issue_date, '+0 days') IS s.issue_date
        AND date(s.due_date, '+0 days') IS s.due_date
        AND s.due_date >= s.issue_date
        AND k.code IS NOT NULL
        AND {_plain_amount("s.amount")}
        AND {_plain_amount("s.balance")}
        AND NOT EXISTS (SELECT 1 FROM stage_bad_customers b
                        WHERE b.customer_id = s.customer_id AND {_SAME_CUSTOMER})
    )) AS ok
    FROM stage s LEFT JOIN stage_currencies k ON k.code = s.currency""",
]

# A customer's cells repeat on each of its invoices' rows: they are checked
# once per distinct combination, not once per row.
_FIND_BAD_CUSTOMERS = f"""
INSERT INTO stage_bad_customers
SELECT * FROM (SELECT DISTINCT {_CUSTOMER_CELLS} FROM stage WHERE plain AND NOT checked) s
WHERE NOT (
    s.customer_id <> '' AND s.customer_name <> ''
    AND {_unpadded("s.customer_id", "s.customer_name", "s.tax_id", "s.segment")}
    AND {_plain_email("s.email")}
    AND {_plain_email("s.salesperson_email")}
    AND (s.phone = '' OR (s.phone GLOB '+[1-9]*' AND NOT s.phone GLOB '+*[^0-9]*'
                          AND length(s.phone) BETWEEN 8 AND 16))
    AND (s.country = '' OR s.country GLOB '[A-Z][A-Z]')
    AND (s.language = '' OR s.language GLOB '[a-z][a-z]'
         OR s.language GLOB '[a-z][a-z]-[A-Z][A-Z]')
    AND (s.timezone = '' OR s.timezone IN (SELECT name FROM stage_zones))
)"""

# Where the batch comes from is the same for every row of it, so it is
# written into the statement (whole numbers only) rather than bound per row.
_STAGE_INSERT = (
    "INSERT INTO stage VALUES (?, {source_id:d}, {settings_id:d}, {plain:d}, 0, "
    + ", ".join("?" * 16)
    + ")"
)

_STAGE_CUSTOMERS = """
CREATE TEMP TABLE stage_customers AS
SELECT customer_id, customer_name, NULLIF(email, '') AS email, NULLIF(phone, '') AS phone,
       NULLIF(tax_id, '') AS tax_id, NULLIF(language, '') AS language,
       NULLIF(country, '') AS country, NULLIF(timezone, '') AS timezone,
       NULLIF(segment, '') AS segment,
       NULLIF(salesperson_email, '') AS salesperson_email, MAX(line) AS line
FROM stage GROUP BY customer_id
"""

_PROMOTE_INVOICES = f"""
INSERT INTO invoices {_INVOICE_COLUMNS}
SELECT c.id, s.invoice_id, s.issue_date, s.due_date, s.currency,
       {_minor("s.amount")}, {_minor("s.balance")},
       CASE WHEN {_minor("s.balance")} > 0 THEN 'open' ELSE 'paid' END,
       NULL,
       p.path || ':' || s.line, :now, :now, :run, :run
FROM stage s
JOIN stage_currencies k ON k.code = s.currency
JOIN customers c ON c.account = s.customer_id
JOIN stage_sources p ON p.id = s.source_id
ORDER BY s.rowid
{_invoice_on_conflict("excluded.balance")}"""

_PROMOTE_CUSTOMERS = f"""
INSERT INTO customers {_CUSTOMER_COLUMNS}
SELECT customer_id, customer_name, tax_id, language, country, timezone, segment,
       salesperson_email, :now, :now, :run, :run
FROM stage_customers WHERE true
{_CUSTOMER_ON_CONFLICT}"""


class LayoutStage:
    """The temporary table of layout rows for one import, and its promotion."""

    def __init__(self, writer: LedgerWriter):
        from zoneinfo import available_timezones

        from cobra.currencies import MINOR_UNITS

        self.writer = writer
        self.conn = writer.conn
        for statement in _STAGE_SCHEMA:
            self.conn.execute(statement)
        for table in ("stage", "stage_currencies", "stage_zones", "stage_sources",
                      "stage_bad_customers"):
            self.conn.execute(f"DELETE FROM temp.{table}")
        self.conn.executemany(
            "INSERT INTO stage_currencies VALUES (?, ?, ?)",
            ((code, exp, 10**exp) for code, exp in MINOR_UNITS.items()),
        )
        self.conn.executemany(
            "INSERT INTO stage_zones VALUES (?)",
            ((zone,) for zone in available_timezones()),
        )
        self.sources: dict[str, int] = {}
        self.rows = 0

    def source_id(self, path: str) -> int:
        if path not in self.sources:
            self.sources[path] = len(self.sources) + 1
            self.conn.execute(
                "INSERT INTO stage_sources VALUES (?, ?)", (self.sources[path], path)
            )
        return self.sources[path]

    def add(
        self, source_id: int, settings_id: int, plain: bool, rows: list[tuple]
    ) -> None:
        statement = _STAGE_INSERT.format(
            source_id=source_id, settings_id=settings_id, plain=int(plain)
        )
        self.conn.executemany(statement, rows)
        self.rows += len(rows)

    def exceptions(self) -> list[sqlite3.Row]:
        """Rows the bulk checks did not accept, for Python to look at."""
        self.conn.execute("DELETE FROM stage_bad_customers")
        self.conn.execute(_FIND_BAD_CUSTOMERS)
        return self.conn.execute(
            "SELECT row_id, line, source_id, settings_id, customer_id, customer_name, email,"
            " phone, invoice_id, issue_date, due_date, currency, amount, balance, tax_id,"
            " language, country, timezone, salesperson_email, segment"
            " FROM stage_view WHERE NOT ok ORDER BY line"
        ).fetchall()

    def replace(self, row_id: int, cells: tuple[str, ...]) -> None:
        self.conn.execute(
            "UPDATE stage SET checked = 1, customer_id = ?, customer_name = ?, email = ?,"
            " phone = ?, invoice_id = ?, issue_date = ?, due_date = ?, currency = ?,"
            " amount = ?, balance = ?, tax_id = ?, language = ?, country = ?, timezone = ?,"
            " salesperson_email = ?, segment = ? WHERE rowid = ?",
            (*cells, row_id),
        )

    def drop(self, row_id: int) -> None:
        self.conn.execute("DELETE FROM stage WHERE rowid = ?", (row_id,))

    def promote(self) -> None:
        """Upsert the staged customers, contacts and invoices, then empty the stage.

        Every staged row is valid by now (see `exceptions`), so promotion
        converts without checking again.
        """
        if not self.rows:
            return
        writer = self.writer
        self.conn.execute("DROP TABLE IF EXISTS temp.stage_customers")
        self.conn.execute(_STAGE_CUSTOMERS)
        self.conn.execute(_PROMOTE_CUSTOMERS, {"now": writer.now, "run": writer.run})
        for kind in ("email", "phone"):
            self.conn.execute(
                f"INSERT OR IGNORE INTO contacts (customer_id, kind, value)"
                f" SELECT c.id, '{kind}', s.{kind} FROM stage_customers s"
                f" JOIN customers c ON c.account = s.customer_id WHERE s.{kind} IS NOT NULL"
            )
        self.conn.execute(
            _PROMOTE_INVOICES,
            {"now": writer.now, "run": writer.run, "today": writer.today},
        )
        self.clear()

    def clear(self) -> None:
        """Empty the stage (after promoting it, or when nothing will be kept)."""
        self.conn.execute("DELETE FROM temp.stage")
        self.rows = 0
