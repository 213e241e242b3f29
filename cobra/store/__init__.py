"""The store: every read and write of cobra's SQLite database goes through here.

The domain asks the store for records and hands it records; it never builds
SQL, so a shared server database can later stand behind the same methods.

One file, WAL journal (readers never wait for the writer), foreign keys on,
and a busy timeout so a cron job and a collector's shell can share it. The
schema is versioned with SQLite's ``user_version``; the numbered scripts in
``migrations/`` bring any older file up to date when it is opened, and a file
written by a newer cobra is refused rather than touched.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from importlib.resources import files
from pathlib import Path

from cobra.errors import CobraInputError, CobraWorkError, StoreError

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The schema scripts shipped with this cobra, oldest first."""
    found = []
    for entry in files("cobra.store").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append(
                Migration(int(match.group(1)), entry.name, entry.read_text("utf-8"))
            )
    found.sort(key=lambda m: m.version)
    # A gap or a duplicate would leave some databases on a schema no code
    # path was written for; fail in the test suite, not in production.
    assert [m.version for m in found] == list(range(1, len(found) + 1)), found
    return found


def latest_version() -> int:
    return len(migrations())


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_location(path: Path) -> None:
    """Fail with a message that names the fix before SQLite's vaguer one."""
    folder = path.parent
    if path.is_dir():
        raise StoreError(
            f"database path {path} is a folder; name a file, such as {path / 'cobra.sqlite'}"
        )
    if not folder.exists():
        raise StoreError(
            f"cannot create the database {path}: the folder {folder} does not exist; "
            "create it first or choose another path with --db"
        )
    if not folder.is_dir():
        raise StoreError(
            f"cannot create the database {path}: {folder} is not a folder; "
            "choose another path with --db"
        )
    if not path.exists() and not os.access(folder, os.W_OK):
        raise StoreError(
            f"cannot create the database {path}: the folder {folder} is not writable; "
            "choose another path with --db"
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: all of it, or nothing.

    ``BEGIN IMMEDIATE`` takes the write lock before anything is read, so
    what the transaction checks cannot change under it, and two processes
    doing the same check-then-write never both succeed.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def savepoint(conn: sqlite3.Connection) -> Iterator[None]:
    """Part of an open transaction that can fail alone: an exception undoes
    what the block wrote and goes on up, and the transaction stays open."""
    conn.execute("SAVEPOINT part")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK TO part")
        conn.execute("RELEASE part")
        raise
    conn.execute("RELEASE part")


def _create_private(path: Path) -> None:
    """Create the file readable by its owner only: it holds personal data."""
    from cobra.paths import create_private_file

    try:
        create_private_file(path)
    except OSError as exc:
        raise StoreError(
            f"cannot create the database {path}: {exc.strerror}; choose another path with --db"
        ) from None


class Store:
    """An open cobra database."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    # -- opening and schema ------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        migrate: bool = True,
        synchronous: str = "normal",
    ) -> Store:
        path = Path(path)
        check_location(path)
        created = not path.exists()
        if created:
            _create_private(path)
        conn = None
        try:
            # isolation_level=None: cobra opens its transactions explicitly
            # (see `transaction`), so none is left open by accident.
            conn = sqlite3.connect(
                path, isolation_level=None, timeout=busy_timeout_ms / 1000
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # In WAL mode, NORMAL keeps every commit through a crash or kill of
            # the process, and only a power failure or an OS crash can roll
            # back the last ones; FULL flushes the disk at each commit, which
            # costs a sender about half a millisecond a message.
            level = {"normal": "NORMAL", "full": "FULL"}[synchronous]
            conn.execute(f"PRAGMA synchronous = {level}")
            # Temporary tables (an import's staging area) stay small, and are
            # far faster in memory than in a temporary file.
            conn.execute("PRAGMA temp_store = MEMORY")
            store = cls(conn, path)
            # Before switching to WAL, which rewrites the header of a file in
            # another journal mode: a newer file must be left untouched.
            store._refuse_newer()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise StoreError(
                f"{path} is not a cobra database ({exc}); "
                "check the path or choose another with --db"
            ) from None
        except StoreError:
            conn.close()
            raise
        if mode.lower() != "wal":
            log.warning(
                "%s: journal mode is %s, not WAL; readers may wait on writers",
                path,
                mode,
            )
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def _refuse_newer(self) -> None:
        version, known = self.schema_version, latest_version()
        if version > known:
            raise StoreError(
                f"{self.path} was written by a newer cobra (schema version {version}; "
                f"this cobra knows up to {known}); upgrade cobra to use it. "
                "The file was not changed."
            )

    def migrate(self) -> list[Migration]:
        """Apply every migration newer than the file; return those applied."""
        pending = [m for m in migrations() if m.version > self.schema_version]
        if not pending:
            return []
        if self.schema_version > 0:
            self._backup_before_migration()
        applied = []
        for migration in pending:
            # BEGIN IMMEDIATE takes the write lock first, then re-reads the
            # version: another process may have migrated while we waited.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version >= migration.version:
                    self.conn.execute("ROLLBACK")
                    continue
                for statement in _statements(migration.sql):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {migration.version}")
                self.conn.execute("COMMIT")
            except Exception:
                self.conn.execute("ROLLBACK")
                raise
            log.info("%s: applied migration %s", self.path, migration.name)
            applied.append(migration)
        return applied

    def _backup_before_migration(self) -> None:
        target = self.path.with_name(f"{self.path.name}.v{self.schema_version}.bak")
        if not target.exists():
            self.backup(target)
            log.warning(
                "%s: saved a copy as %s before upgrading its schema", self.path, target
            )

    def backup(self, destination: Path) -> Path:
        """Copy the database while other processes may be writing to it.

        SQLite's online backup copies a consistent snapshot; the copy is
        written to a temporary name and renamed, so a crash never leaves a
        half-written file under the destination name.
        """
        destination = Path(destination)
        if destination.exists():
            raise CobraInputError(
                f"{destination} already exists; choose another name or remove it"
            )
        if not destination.parent.is_dir():
            raise CobraInputError(
                f"cannot write {destination}: the folder does not exist"
            )
        partial = destination.with_name(destination.name + ".partial")
        partial.unlink(missing_ok=True)
        _create_private(partial)
        target = sqlite3.connect(partial)
        try:
            self.conn.backup(target)
        except sqlite3.Error as exc:
            target.close()
            partial.unlink(missing_ok=True)
            raise CobraWorkError(
                f"backup of {self.path} to {destination} failed: {exc}"
            ) from None
        target.close()
        os.replace(partial, destination)
        return destination

    @contextmanager
    def scratch_copy(self) -> Iterator[Store]:
        """A private copy of the database to try work on, deleted afterwards.

        For dry runs that must do everything a real one does (imports,
        plans) and keep none of it. The copy is SQLite's online backup,
        made next to the database (same disk, same protections) or, when
        that folder is not writable, in the temporary folder; 0600 either
        way, and removed with its journal files when the work ends, even
        with an error. Only a killed process leaves one behind, as
        ``.NAME.*.scratch``: safe to delete.
        """
        import tempfile

        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".scratch", dir=self.path.parent
            )
        except OSError:
            fd, name = tempfile.mkstemp(prefix="cobra-", suffix=".scratch")
        os.close(fd)
        path = Path(name)
        try:
            target = sqlite3.connect(path)
            try:
                self.conn.backup(target)
            finally:
                target.close()
            copy = Store.open(path, migrate=False)
            # Thrown away at the end: no flush to disk is worth waiting for.
            copy.conn.execute("PRAGMA synchronous = OFF")
            try:
                yield copy
            finally:
                copy.close()
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)

    # -- the portfolio -----------------------------------------------------

    def portfolio(
        self,
        *,
        as_of: date,
        segment: str | None = None,
        country: str | None = None,
        with_balance_only: bool = False,
    ) -> Iterator[sqlite3.Row]:
        """One row per customer and currency with its open balance, streamed."""
        where, params = [], {"as_of": as_of.isoformat()}
        if segment:
            where.append("c.segment = :segment")
            params["segment"] = segment
        if country:
            where.append("c.country = :country")
            params["country"] = country.upper()
        having = "HAVING COALESCE(SUM(i.open), 0) > 0" if with_balance_only else ""
        # As of a date: invoices issued later do not exist yet, and one closed
        # later was still open then (for its whole amount, as in diagnosis).
        sql = f"""
            WITH i AS (
                SELECT id, customer_id, currency, due_date,
                       CASE WHEN status = 'open' THEN balance ELSE amount END AS open
                FROM invoices
                WHERE issue_date <= :as_of AND status <> 'written_off'
                  AND ((status = 'open' AND balance > 0) OR closed_on > :as_of)
            )
            SELECT c.account, c.name, c.country, c.segment, i.currency,
                   COUNT(i.id) AS open_invoices,
                   COALESCE(SUM(i.open), 0) AS balance,
                   COALESCE(SUM(CASE WHEN i.due_date < :as_of THEN i.open END), 0)
                       AS overdue,
                   MIN(i.due_date) AS oldest_due_date
            FROM customers c
            LEFT JOIN i ON i.customer_id = c.id
            {"WHERE " + " AND ".join(where) if where else ""}
            GROUP BY c.id, i.currency
            {having}
            ORDER BY c.account, i.currency
        """
        yield from self.conn.execute(sql, params)

    def timezones(self) -> set[str]:
        """The customers' own time zones, for `cobra doctor`."""
        return {
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT timezone FROM customers WHERE timezone IS NOT NULL"
            )
        }

    def counts(self) -> dict[str, int]:
        """How many rows each main table holds, for `cobra db` and doctor."""
        tables = ["customers", "contacts", "invoices", "payments", "credit_notes"]
        return {
            t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in tables
        }


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements.

    Not ``executescript``: it commits on its own, and a migration must land
    together with its ``user_version`` bump or not at all.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and (not line.strip() or line.lstrip().startswith("--")):
            continue  # blank lines and comments between statements
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if buffer.strip():
        raise ValueError(
            f"incomplete SQL statement at the end of a migration: {buffer[:60]!r}"
        )
