"""Tests of cobra.store and `cobra db`: opening, migrating, refusing, backing up.

Every test uses a real SQLite file; where two programs share the database the
other one is a real process.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

import pytest

from cobra.store import Store, _statements, latest_version, migrations

REPO = Path(__file__).resolve().parent.parent
NOW = "2024-01-01T00:00:00+00:00"


# -- helpers ---------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def folder_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def created_by(sql: str, kind: str) -> set[str]:
    """The names a migration script creates with CREATE TABLE / CREATE INDEX."""
    return set(re.findall(rf"CREATE\s+{kind}\s+(\w+)", sql, flags=re.IGNORECASE))


def make_v1_database(path: Path) -> None:
    """A file as the first cobra left it: migration 0001 only, with data."""
    first = migrations()[0]
    assert first.version == 1
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in _statements(first.sql):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO customers (id, account, name, country, created_at, updated_at)"
        " VALUES (1, 'C-001', 'Ferretería Núñez', 'CL', ?, ?)",
        (NOW, NOW),
    )
    conn.execute(
        "INSERT INTO invoices (id, customer_id, number, issue_date, due_date,"
        " currency, amount, balance, created_at, updated_at)"
        " VALUES (1, 1, 'F-100', '2024-01-01', '2024-01-31', 'CLP', 150000, 100000, ?, ?)",
        (NOW, NOW),
    )
    conn.execute(
        "INSERT INTO payments (id, customer_id, reference, paid_on, currency, amount,"
        " created_at) VALUES (1, 1, 'P-1', '2024-01-15', 'CLP', 50000, ?)",
        (NOW,),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()


def v1_data(conn: sqlite3.Connection) -> dict[str, list[tuple]]:
    queries = {
        "customers": "SELECT id, account, name, country FROM customers",
        "invoices": "SELECT id, customer_id, number, due_date, currency, amount,"
        " balance, status FROM invoices",
        "payments": "SELECT id, customer_id, reference, paid_on, currency, amount"
        " FROM payments",
    }
    return {
        table: [tuple(row) for row in conn.execute(sql)]
        for table, sql in queries.items()
    }


V1_DATA = {
    "customers": [(1, "C-001", "Ferretería Núñez", "CL")],
    "invoices": [(1, 1, "F-100", "2024-01-31", "CLP", 150000, 100000, "open")],
    "payments": [(1, 1, "P-1", "2024-01-15", "CLP", 50000)],
}


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def make_newer_database(path: Path, journal_mode: str) -> None:
    """A file a future cobra wrote: user_version one past what we know.

    Everything is in the main file when this returns (no -wal content), so
    comparing the main file's bytes compares the whole database.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE from_the_future (x)")
    conn.execute("INSERT INTO from_the_future VALUES (42)")
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not wal_has_content(path)


def wal_has_content(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


def start_python(code: str, *args: str) -> subprocess.Popen:
    """Run a short Python program as another process sharing the database."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process: subprocess.Popen, expected: str) -> None:
    line = process.stdout.readline().strip()
    if line != expected:
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"helper process said {line!r}, not {expected!r}: {err}")


@pytest.fixture
def db(tmp_path) -> Path:
    """A database at the latest schema, created by the store itself."""
    path = tmp_path / "cobra.sqlite"
    Store.open(path).close()
    return path


# -- a new database --------------------------------------------------------


def test_new_database_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "new.sqlite"
    old_umask = os.umask(0)  # so only the store's own choice of mode shows
    try:
        Store.open(path).close()
    finally:
        os.umask(old_umask)

    assert mode_of(path) == 0o600


def test_new_database_uses_wal_foreign_keys_and_the_busy_timeout_given(tmp_path):
    with Store.open(tmp_path / "new.sqlite", busy_timeout_ms=1234) as store:
        pragma = lambda name: store.conn.execute(f"PRAGMA {name}").fetchone()[0]
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 1234


def test_new_database_rejects_a_row_pointing_at_a_missing_customer(tmp_path):
    with Store.open(tmp_path / "new.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            store.conn.execute(
                "INSERT INTO payments (customer_id, reference, paid_on, currency,"
                " amount, created_at) VALUES (999, 'P-1', '2024-01-01', 'CLP', 1, ?)",
                (NOW,),
            )
        assert store.counts()["payments"] == 0


def test_new_database_is_at_the_latest_schema_with_every_table_and_index(tmp_path):
    path = tmp_path / "new.sqlite"
    with Store.open(path) as store:
        assert store.schema_version == latest_version()
        present = {
            (kind, name)
            for kind, name in store.conn.execute(
                "SELECT type, name FROM sqlite_master"
            )
        }

    expected = set()
    for migration in migrations():
        expected |= {("table", n) for n in created_by(migration.sql, "TABLE")}
        expected |= {("index", n) for n in created_by(migration.sql, "INDEX")}
    assert ("table", "customers") in expected and ("table", "allocations") in expected
    # A later migration may replace a table (0005 rebuilds planned_contacts
    # as the outbox); what it dropped is not expected.
    dropped = {("table", "planned_contacts"), ("index", "planned_by_customer"),
               ("index", "planned_by_date")}
    assert expected - dropped <= present
    assert not dropped & present
    assert user_version(path) == latest_version()


def test_new_database_is_not_backed_up_before_its_first_migration(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()

    Store.open(folder / "new.sqlite").close()

    assert folder_listing(folder) == ["new.sqlite"]


# -- upgrading the first schema -------------------------------------------


def test_opening_a_v1_database_migrates_it_to_the_latest_schema(tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_database(path)

    with Store.open(path) as store:
        assert store.schema_version == latest_version()
        invoice_columns = {
            row["name"] for row in store.conn.execute("PRAGMA table_info(invoices)")
        }
        tables = {
            row[0]
            for row in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert "closed_on" in invoice_columns
    assert {"credit_notes", "allocations"} <= tables


def test_opening_a_v1_database_keeps_its_customers_invoices_and_payments(tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_database(path)

    with Store.open(path) as store:
        assert v1_data(store.conn) == V1_DATA
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_opening_a_v1_database_first_saves_a_v1_copy_next_to_it(tmp_path):
    path = tmp_path / "old.sqlite"
    make_v1_database(path)

    Store.open(path).close()

    copy = tmp_path / "old.sqlite.v1.bak"
    assert copy.is_file()
    assert mode_of(copy) == 0o600
    assert user_version(copy) == 1
    conn = sqlite3.connect(copy)
    try:
        assert v1_data(conn) == V1_DATA
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='allocations'"
                            ).fetchone()[0] == 0
    finally:
        conn.close()
    assert not list(tmp_path.glob("*.partial"))


def test_db_migrate_reports_the_schema_change_then_says_up_to_date(tmp_path, run):
    path = tmp_path / "old.sqlite"
    make_v1_database(path)

    first = run("--db", str(path), "db", "migrate")
    assert first.exit_code == 0, first.stderr
    assert f"from schema 1 to {latest_version()}" in first.stderr
    assert str(path) in first.stderr
    assert first.stdout == ""
    assert user_version(path) == latest_version()
    assert user_version(tmp_path / "old.sqlite.v1.bak") == 1

    second = run("--db", str(path), "db", "migrate")
    assert second.exit_code == 0, second.stderr
    assert "up to date" in second.stderr
    assert f"schema {latest_version()}" in second.stderr
    assert "Migrated" not in second.stderr


# -- a database from a newer cobra ----------------------------------------


@pytest.mark.parametrize("journal_mode", ["wal", "delete"])
@pytest.mark.parametrize("command", [["customers"], ["db", "migrate"]])
def test_database_from_a_newer_cobra_is_refused_and_left_unchanged(
    tmp_path, cobra_process, journal_mode, command
):
    path = tmp_path / "future.sqlite"
    make_newer_database(path, journal_mode)
    before = sha256(path)
    newer, known = latest_version() + 1, latest_version()

    result = cobra_process("--db", str(path), *command)

    assert result.returncode == 2, result.stderr
    assert "newer cobra" in result.stderr
    assert f"schema version {newer}" in result.stderr
    assert f"knows up to {known}" in result.stderr
    assert str(path) in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert sha256(path) == before
    assert not wal_has_content(path)
    assert user_version(path) == newer
    assert not list(tmp_path.glob("*.bak"))


# -- bad database paths ----------------------------------------------------


def test_database_in_a_folder_that_does_not_exist_is_refused(tmp_path, run):
    path = tmp_path / "missing" / "cobra.sqlite"

    result = run("--db", str(path), "customers")

    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert f"the folder {path.parent} does not exist" in result.stderr
    assert "create it first or choose another path with --db" in result.stderr
    assert not path.parent.exists()


def test_database_under_a_regular_file_is_refused(tmp_path, run):
    folder = tmp_path / "data"
    folder.mkdir()
    parent = folder / "notes.txt"
    parent.write_text("not a folder\n")
    path = parent / "cobra.sqlite"

    result = run("--db", str(path), "customers")

    assert result.exit_code == 2
    assert str(path) in result.stderr
    assert "is not a folder" in result.stderr
    assert "choose another path with --db" in result.stderr
    assert parent.read_text() == "not a folder\n"
    assert folder_listing(folder) == ["notes.txt"]


def test_database_path_that_is_a_folder_is_refused(tmp_path, run):
    folder = tmp_path / "data"
    folder.mkdir()

    result = run("--db", str(folder), "customers")

    assert result.exit_code == 2
    assert f"database path {folder} is a folder" in result.stderr
    assert str(folder / "cobra.sqlite") in result.stderr  # the fix: name a file
    assert folder_listing(folder) == []


def test_file_that_is_not_sqlite_is_refused_unchanged(tmp_path, run):
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "invoices.csv"
    path.write_text("number,amount\nF-1,100\n" * 200)
    before = sha256(path)

    result = run("--db", str(path), "customers")

    assert result.exit_code == 2
    assert f"{path} is not a cobra database" in result.stderr
    assert "--db" in result.stderr  # the fix: point cobra at the right file
    assert sha256(path) == before
    assert folder_listing(folder) == ["invoices.csv"]  # no -wal, -shm or journal


# Runs cobra with another interpreter whose site-packages is this test's.
_BOOTSTRAP = (
    "import runpy, site, sys; site.addsitedir(sys.argv.pop(1)); "
    "runpy.run_module('cobra', run_name='__main__', alter_sys=True)"
)


def _cobra_command_for(user: str) -> list[str]:
    """`python -m cobra` as `user` may execute it.

    The test's own interpreter may live where `user` cannot reach (a pyenv
    under /root); the system Python of the same version then runs cobra with
    this environment's site-packages (where the editable install lives).
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    site_packages = sysconfig.get_paths()["purelib"]
    candidates = [[sys.executable, "-m", "cobra"]] + [
        [exe, "-c", _BOOTSTRAP, site_packages]
        for exe in (f"/usr/bin/python{version}", f"/usr/local/bin/python{version}")
    ]
    for command in candidates:
        try:
            probe = subprocess.run(
                [*command, "--version"], user=user, cwd="/", capture_output=True,
                timeout=60,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return command
    pytest.skip(f"no Python {version} that runs cobra is executable by {user}")


def test_database_in_a_folder_that_is_not_writable_is_refused(tmp_path, run):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        path = locked / "cobra.sqlite"
        try:
            result = run("--db", str(path), "customers")
            exit_code, stderr = result.exit_code, result.stderr
        finally:
            locked.chmod(0o755)
    else:
        # Root writes through permission bits, so cobra runs as `nobody`, in
        # folders under /tmp that `nobody` can reach (tmp_path is private).
        cobra = _cobra_command_for("nobody")
        base = Path(tempfile.mkdtemp(dir="/tmp"))
        home = Path(tempfile.mkdtemp(dir="/tmp"))
        try:
            base.chmod(0o755)
            home.chmod(0o777)
            locked = base / "locked"
            locked.mkdir()
            locked.chmod(0o555)
            path = locked / "cobra.sqlite"
            result = subprocess.run(
                [*cobra, "--db", "locked/cobra.sqlite", "customers"],
                user="nobody",
                cwd=base,
                env={**os.environ, "COBRA_HOME": str(home)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            exit_code, stderr = result.returncode, result.stderr
            created = folder_listing(locked)
        finally:
            shutil.rmtree(base)
            shutil.rmtree(home)
        assert created == []

    assert exit_code == 2, stderr
    assert str(path) in stderr
    assert f"the folder {path.parent} is not writable" in stderr
    assert "choose another path with --db" in stderr
    assert "Traceback" not in stderr


# -- where the database is -------------------------------------------------


def test_db_path_defaults_to_cobra_home_without_creating_the_file(run):
    home = Path(os.environ["COBRA_HOME"])

    result = run("db", "path")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{home / 'cobra.sqlite'}\n"
    assert not (home / "cobra.sqlite").exists()


def test_db_option_overrides_the_default_relative_to_the_working_directory(
    isolated, run
):
    result = run("--db", "data/ar.sqlite", "db", "path")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{isolated / 'data' / 'ar.sqlite'}\n"


def test_cobra_db_environment_variable_overrides_the_default(tmp_path, run):
    target = tmp_path / "from-env.sqlite"

    result = run("db", "path", env={"COBRA_DB": str(target)})

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{target}\n"


def test_db_option_wins_over_cobra_db(tmp_path, run):
    result = run(
        "--db", str(tmp_path / "option.sqlite"), "db", "path",
        env={"COBRA_DB": str(tmp_path / "env.sqlite")},
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'option.sqlite'}\n"


# -- backups ---------------------------------------------------------------

WRITER = """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    deadline = time.monotonic() + float(sys.argv[2])
    written = 0
    while time.monotonic() < deadline:
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(5):
            written += 1
            conn.execute(
                "INSERT INTO customers (account, name, created_at, updated_at)"
                " VALUES (?, ?, '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')",
                (f"W-{written:06d}", "x" * 200),
            )
        conn.execute("COMMIT")
        if written == 5:
            print("writing", flush=True)
    conn.close()
    print(written, flush=True)
"""


def test_db_backup_copies_a_consistent_private_snapshot_while_another_process_writes(
    db, tmp_path, cobra_process
):
    dest = tmp_path / "backups" / "copy.sqlite"
    dest.parent.mkdir()
    writer = start_python(WRITER, str(db), "1.5")
    try:
        wait_for_line(writer, "writing")
        result = cobra_process("--db", str(db), "db", "backup", str(dest))
        writer_still_running = writer.poll() is None
        out, err = writer.communicate(timeout=30)
    finally:
        writer.kill()
    assert writer.returncode == 0, err
    written = int(out.strip())

    assert result.returncode == 0, result.stderr
    assert f"Backed up {db} to {dest}" in result.stderr
    assert writer_still_running, "the backup ended after the writer; lengthen the writer"
    assert folder_listing(dest.parent) == ["copy.sqlite"]  # no .partial, no journal
    assert mode_of(dest) == 0o600
    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()
        copied = conn.execute("SELECT COUNT(*) FROM customers").fetchone()[0]
    finally:
        conn.close()
    # A snapshot between two of the writer's transactions: never part of one.
    assert 5 <= copied <= written
    assert copied % 5 == 0
    # The original has every row the writer committed.
    with Store.open(db) as store:
        assert store.counts()["customers"] == written


def test_db_backup_refuses_an_existing_destination_and_leaves_it_alone(
    db, tmp_path, run
):
    dest = tmp_path / "copy.sqlite"
    dest.write_bytes(b"yesterday's backup")

    result = run("--db", str(db), "db", "backup", str(dest))

    assert result.exit_code == 2
    assert f"{dest} already exists" in result.stderr
    assert "choose another name or remove it" in result.stderr
    assert dest.read_bytes() == b"yesterday's backup"
    assert not list(tmp_path.glob("*.partial"))


def test_db_backup_into_a_missing_folder_is_refused(db, tmp_path, run):
    dest = tmp_path / "nowhere" / "copy.sqlite"

    result = run("--db", str(db), "db", "backup", str(dest))

    assert result.exit_code == 2
    assert str(dest) in result.stderr
    assert "folder does not exist" in result.stderr
    assert not dest.parent.exists()
    assert not list(tmp_path.glob("**/*.partial"))


# -- two processes sharing the file ---------------------------------------

HOLDER = """
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO customers (account, name, created_at, updated_at)"
        " VALUES ('HOLDER', 'held', '2024-01-01T00:00:00+00:00', '2024-01-01T00:00:00+00:00')"
    )
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
    conn.close()
"""

INSERT_TEST_CUSTOMER = (
    "INSERT INTO customers (account, name, created_at, updated_at)"
    f" VALUES ('TEST', 'mine', '{NOW}', '{NOW}')"
)


def test_a_write_waits_for_another_process_transaction_within_the_busy_timeout(db):
    holder = start_python(HOLDER, str(db), "1.0")
    try:
        wait_for_line(holder, "locked")
        with Store.open(db, busy_timeout_ms=5000) as store:
            started = time.monotonic()
            store.conn.execute(INSERT_TEST_CUSTOMER)
            waited = time.monotonic() - started
            accounts = {r[0] for r in store.conn.execute("SELECT account FROM customers")}
        _, err = holder.communicate(timeout=30)
    finally:
        holder.kill()

    assert holder.returncode == 0, err
    assert waited > 0.3  # it did wait for the other transaction to end
    assert accounts == {"HOLDER", "TEST"}


def test_a_write_fails_as_locked_when_the_busy_timeout_runs_out(db):
    holder = start_python(HOLDER, str(db), "1.0")
    try:
        wait_for_line(holder, "locked")
        with Store.open(db, busy_timeout_ms=100) as store:
            started = time.monotonic()
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                store.conn.execute(INSERT_TEST_CUSTOMER)
            gave_up_after = time.monotonic() - started
        _, err = holder.communicate(timeout=30)
    finally:
        holder.kill()

    assert holder.returncode == 0, err
    assert gave_up_after < 0.9  # it gave up before the holder let go
    with Store.open(db) as store:
        accounts = [r[0] for r in store.conn.execute("SELECT account FROM customers")]
    assert accounts == ["HOLDER"]


# -- the portfolio ---------------------------------------------------------


@pytest.fixture
def portfolio_store(tmp_path):
    """Three customers: two currencies; no invoices; only a paid invoice."""
    store = Store.open(tmp_path / "portfolio.sqlite")
    conn = store.conn
    for cid, account, name, country, segment in [
        (1, "A-1", "Alfa", "CL", "retail"),
        (2, "B-2", "Beta", "CL", "retail"),
        (3, "C-3", "Gamma", "MX", "wholesale"),
    ]:
        conn.execute(
            "INSERT INTO customers (id, account, name, country, segment, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (cid, account, name, country, segment, NOW, NOW),
        )
    for number, cid, due, currency, amount, balance, status in [
        ("F-1", 1, "2024-01-10", "CLP", 1000, 1000, "open"),
        ("F-2", 1, "2024-02-01", "CLP", 700, 500, "open"),
        ("F-3", 1, "2024-01-15", "USD", 250, 250, "open"),
        ("F-4", 1, "2023-12-01", "CLP", 9000, 0, "paid"),
        ("F-5", 3, "2024-01-05", "MXN", 800, 0, "paid"),
    ]:
        conn.execute(
            "INSERT INTO invoices (customer_id, number, issue_date, due_date, currency,"
            " amount, balance, status, created_at, updated_at)"
            " VALUES (?, ?, '2023-12-01', ?, ?, ?, ?, ?, ?, ?)",
            (cid, number, due, currency, amount, balance, status, NOW, NOW),
        )
    yield store
    store.close()


def rows(store: Store, **kwargs) -> list[dict]:
    kwargs.setdefault("as_of", date(2024, 2, 1))
    return [dict(row) for row in store.portfolio(**kwargs)]


def test_portfolio_has_one_row_per_customer_and_currency(portfolio_store):
    assert [(r["account"], r["currency"]) for r in rows(portfolio_store)] == [
        ("A-1", "CLP"),
        ("A-1", "USD"),
        ("B-2", None),
        ("C-3", None),
    ]


def test_portfolio_never_adds_balances_of_different_currencies(portfolio_store):
    alfa = {r["currency"]: r for r in rows(portfolio_store) if r["account"] == "A-1"}

    assert alfa["CLP"]["balance"] == 1500
    assert alfa["CLP"]["open_invoices"] == 2  # the paid F-4 is not open
    assert alfa["CLP"]["oldest_due_date"] == "2024-01-10"
    assert alfa["USD"]["balance"] == 250
    assert alfa["USD"]["open_invoices"] == 1


@pytest.mark.parametrize(
    "as_of, clp_overdue, usd_overdue",
    [
        (date(2024, 1, 10), 0, 0),  # due today is not overdue
        (date(2024, 1, 11), 1000, 0),
        (date(2024, 2, 1), 1000, 250),
        (date(2024, 2, 2), 1500, 250),
    ],
)
def test_portfolio_counts_overdue_from_the_as_of_date(
    portfolio_store, as_of, clp_overdue, usd_overdue
):
    alfa = {
        r["currency"]: r
        for r in rows(portfolio_store, as_of=as_of)
        if r["account"] == "A-1"
    }

    assert alfa["CLP"]["overdue"] == clp_overdue
    assert alfa["USD"]["overdue"] == usd_overdue
    assert alfa["CLP"]["balance"] == 1500  # the balance does not depend on as_of


def test_portfolio_lists_customers_without_open_invoices_at_zero(portfolio_store):
    others = {r["account"]: r for r in rows(portfolio_store) if r["account"] != "A-1"}

    assert set(others) == {"B-2", "C-3"}
    for row in others.values():
        assert row["currency"] is None
        assert row["balance"] == 0
        assert row["overdue"] == 0
        assert row["open_invoices"] == 0
        assert row["oldest_due_date"] is None


def test_portfolio_with_balance_only_leaves_out_customers_owing_nothing(
    portfolio_store,
):
    found = rows(portfolio_store, with_balance_only=True)

    assert {r["account"] for r in found} == {"A-1"}


def test_portfolio_filters_by_segment_and_country(portfolio_store):
    assert {r["account"] for r in rows(portfolio_store, segment="wholesale")} == {"C-3"}
    assert {r["account"] for r in rows(portfolio_store, country="cl")} == {"A-1", "B-2"}
