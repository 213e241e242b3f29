"""Command-line conventions: global options, exit codes, formats, init, logs."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import sqlite3
import stat

import pytest

import cobra
from cobra import paths
from cobra.cli import cli
from cobra.errors import CobraWorkError
from cobra.store import Store


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"cobra {cobra.__version__}\n"


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_every_command(run, flag):
    result = run(flag)
    assert result.exit_code == 0
    for name in ("init", "customers", "plugins", "config", "db"):
        assert f"  {name} " in result.stdout
    assert "Exit codes: 0 success, 1 a failure while working, 2 bad usage" in result.stdout


def test_every_command_has_help_with_an_example(run):
    def walk(group, prefix):
        for name in group.list_commands(None):
            command = group.get_command(None, name)
            yield prefix + [name], command
            if hasattr(command, "list_commands"):
                yield from walk(command, prefix + [name])

    for words, command in walk(cli, []):
        result = run(*words, "--help")
        assert result.exit_code == 0, words
        if not hasattr(command, "list_commands"):
            assert "Example:" in result.stdout, f"cobra {' '.join(words)} --help has no example"


def test_unknown_command_and_bad_option_are_usage_errors(run):
    assert run("frobnicate").exit_code == 2
    result = run("customers", "--format", "xml")
    assert result.exit_code == 2
    assert "'xml' is not one of" in result.stderr


def test_a_bad_date_is_a_usage_error(run):
    result = run("customers", "--as-of", "31/12/2026")
    assert result.exit_code == 2
    assert "'31/12/2026' is not a date; write it as YYYY-MM-DD" in result.stderr


# -- init ----------------------------------------------------------------------


def test_init_writes_starter_config_and_creates_the_database(isolated, run):
    result = run("init")
    assert result.exit_code == 0, result.stderr
    written = (isolated / "cobra.toml").read_text()
    assert written.startswith("# cobra configuration.")
    assert (isolated / "cobra.toml").stat().st_mode & 0o777 == 0o600
    database = paths.user_data_dir() / "cobra.sqlite"
    assert database.exists()
    assert f"Database ready at {database}" in result.stderr


def test_init_writes_to_the_path_given(tmp_path, run):
    target = tmp_path / "elsewhere.toml"
    assert run("init", str(target)).exit_code == 0
    assert target.exists()


def test_init_writes_where_config_points(tmp_path, run, monkeypatch):
    assert run("--config", str(tmp_path / "by-option.toml"), "init").exit_code == 0
    assert (tmp_path / "by-option.toml").exists()
    monkeypatch.setenv("COBRA_CONFIG", str(tmp_path / "by-env.toml"))
    assert run("init").exit_code == 0
    assert (tmp_path / "by-env.toml").exists()


def test_init_refuses_to_overwrite_without_force(isolated, run):
    (isolated / "cobra.toml").write_text("# mine\n")
    result = run("init")
    assert result.exit_code == 2
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert (isolated / "cobra.toml").read_text() == "# mine\n"
    assert run("init", "--force").exit_code == 0
    assert (isolated / "cobra.toml").read_text().startswith("# cobra configuration.")


def test_init_with_a_bad_database_path_writes_nothing(isolated, run):
    result = run("--db", "no/such/folder/c.sqlite", "init")
    assert result.exit_code == 2
    assert "folder" in result.stderr and "does not exist" in result.stderr
    assert not (isolated / "cobra.toml").exists()


def test_init_puts_the_database_where_db_says(isolated, run):
    assert run("--db", "here.sqlite", "init").exit_code == 0
    assert (isolated / "here.sqlite").exists()


# -- output formats --------------------------------------------------------------


@pytest.fixture
def portfolio(isolated, run):
    """Three customers, one with invoices in two currencies, one with none."""
    database = isolated / "c.sqlite"
    with Store.open(database) as store:
        now = "2026-01-01T00:00:00+00:00"
        rows = [
            ("C1", "Comercial Rojas Ltda.", "CL", "smb"),
            ("C2", "Harbor Supply Co.", "US", "enterprise"),
            ("C3", "Quiet, \"Quoted\" & Co", "US", "smb"),
        ]
        for account, name, country, segment in rows:
            store.conn.execute(
                "INSERT INTO customers (account, name, country, segment, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (account, name, country, segment, now, now),
            )
        invoices = [
            ("F-1", 1, "2026-09-01", "2026-10-01", "CLP", 150000, 150000),
            ("F-2", 2, "2026-10-01", "2026-10-31", "USD", 123450, 100000),
            ("F-3", 2, "2026-11-01", "2026-12-31", "USD", 5000, 5000),
            ("F-4", 2, "2026-11-01", "2026-11-15", "EUR", 999, 999),
        ]
        for number, customer, issued, due, currency, amount, balance in invoices:
            store.conn.execute(
                "INSERT INTO invoices (customer_id, number, issue_date, due_date, currency,"
                " amount, balance, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (customer, number, issued, due, currency, amount, balance, now, now),
            )
    return ("--db", str(database))


def test_json_is_one_array_of_snake_case_objects(portfolio, run):
    result = run(*portfolio, "customers", "--as-of", "2026-12-03", "--format", "json")
    rows = json.loads(result.stdout)
    assert [(r["account"], r["currency"]) for r in rows] == [
        ("C1", "CLP"), ("C2", "EUR"), ("C2", "USD"), ("C3", None)
    ]
    usd = rows[2]
    assert usd == {
        "account": "C2",
        "name": "Harbor Supply Co.",
        "country": "US",
        "segment": "enterprise",
        "currency": "USD",
        "open_invoices": 2,
        "balance": "1050.00",
        "overdue": "1000.00",
        "oldest_due_date": "2026-10-31",
        "days_overdue": 33,
        "reason": "unknown",
    }
    assert rows[0]["balance"] == "150000"  # CLP has no minor unit
    assert rows[3]["balance"] is None


def test_jsonl_is_one_object_a_line(portfolio, run):
    result = run(*portfolio, "customers", "--format", "jsonl")
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert all(json.loads(line)["account"] for line in lines)


def test_csv_has_a_header_and_quotes_what_needs_it(portfolio, run):
    result = run(*portfolio, "customers", "--format", "csv", "--segment", "smb")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["name"] for r in rows] == ["Comercial Rojas Ltda.", 'Quiet, "Quoted" & Co']
    assert rows[1]["balance"] == ""


def test_table_is_for_people(portfolio, run):
    result = run(*portfolio, "customers", "--with-balance")
    assert "Harbor Supply Co." in result.stdout
    assert "Quiet" not in result.stdout
    assert result.stdout.splitlines()[0].split()[:2] == ["account", "name"]


def test_empty_listing_in_json_is_an_empty_array(run):
    result = run("customers", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_empty_table_explains_on_stderr(run):
    result = run("customers")
    assert result.stdout == ""
    assert "No customers yet" in result.stderr


# -- errors and logging -------------------------------------------------------------


@pytest.fixture
def failing_command():
    """A command that fails with a secret in its message, as a bug might."""
    import click

    @cli.command("explode")
    @click.argument("kind")
    def explode(kind):
        from cobra import logs

        logs.register_secret("s3cr3t-token")
        logging.getLogger("cobra.test").warning("talking to server with s3cr3t-token")
        if kind == "work":
            raise CobraWorkError("server said no to s3cr3t-token")
        raise KeyError("unexpected")

    yield
    cli.commands.pop("explode")


def test_work_failures_exit_1_with_secrets_scrubbed(failing_command, run):
    result = run("explode", "work")
    assert result.exit_code == 1
    assert "Error: server said no to ***" in result.stderr
    assert "s3cr3t" not in result.stderr


def test_unexpected_errors_are_short_without_debug(failing_command, run, monkeypatch):
    monkeypatch.delenv("COBRA_DEBUG")
    result = run("explode", "bug")
    assert result.exit_code == 1
    assert "unexpected KeyError" in result.stderr
    assert "COBRA_DEBUG=1 shows the traceback" in result.stderr
    assert "Traceback" not in result.stderr


def test_unexpected_errors_raise_with_debug(failing_command, run):
    with pytest.raises(KeyError):
        run("explode", "bug")


def test_json_log_lines_for_log_shippers(failing_command, run, tmp_path):
    log_file = tmp_path / "cobra.log"
    result = run("--log-format", "json", "--log-file", str(log_file), "explode", "work")
    record = json.loads(log_file.read_text().splitlines()[0])
    assert record["level"] == "warning"
    assert record["logger"] == "cobra.test"
    assert record["message"] == "talking to server with ***"
    assert record["time"].endswith("+00:00")
    assert json.loads(result.stderr.splitlines()[0])["message"] == record["message"]


@pytest.fixture
def umask_022():
    """The usual default umask, under which a plain open() makes files 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_log_file_and_its_folders_are_for_the_owner_only(
    failing_command, run, tmp_path, umask_022
):
    # Log lines name customers and their addresses: personal data.
    log_file = tmp_path / "logs" / "cobra" / "cobra.log"
    run("--log-file", str(log_file), "explode", "work")
    assert "talking to server with ***" in log_file.read_text()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(log_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "logs").stat().st_mode) == 0o700


def test_a_log_file_that_exists_keeps_its_mode(failing_command, run, tmp_path):
    log_file = tmp_path / "cobra.log"
    log_file.write_text("")
    log_file.chmod(0o640)  # as logrotate's `create 0640` would leave it
    run("--log-file", str(log_file), "explode", "work")
    assert "talking to server" in log_file.read_text()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o640


def test_a_log_file_that_cannot_be_written_is_bad_input(run, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = run("--log-file", str(tmp_path / "a-file" / "cobra.log"), "customers")
    assert result.exit_code == 2
    assert f"cannot write the log file {tmp_path / 'a-file' / 'cobra.log'}" in result.stderr
    assert "--log-file or log.file" in result.stderr


def test_a_failed_command_is_in_the_log_file_and_once_on_stderr(
    failing_command, run, tmp_path
):
    log_file = tmp_path / "cobra.log"
    result = run("-q", "--log-file", str(log_file), "explode", "work")
    assert result.exit_code == 1
    assert result.stderr == "Error: server said no to ***\n"
    logged = log_file.read_text()
    assert "ERROR cobra.cli: cobra explode failed (exit 1): server said no to ***" in logged
    assert "s3cr3t" not in logged


def test_an_unexpected_error_leaves_its_traceback_in_the_log_file(
    failing_command, run, tmp_path, monkeypatch
):
    monkeypatch.delenv("COBRA_DEBUG")
    log_file = tmp_path / "cobra.log"
    result = run("--log-file", str(log_file), "explode", "bug")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    logged = log_file.read_text()
    assert "cobra explode failed (exit 1): unexpected KeyError: 'unexpected'" in logged
    assert "Traceback" in logged and 'raise KeyError("unexpected")' in logged


def test_a_usage_error_is_in_the_log_file(run, tmp_path):
    log_file = tmp_path / "cobra.log"
    result = run("--log-file", str(log_file), "customers", "--no-such-option")
    assert result.exit_code == 2
    logged = log_file.read_text()
    assert "cobra customers failed (exit 2): No such option '--no-such-option'" in logged


def test_quiet_hides_warnings_and_verbose_shows_info(failing_command, run):
    assert "talking to server" not in run("-q", "explode", "work").stderr
    assert "talking to server" in run("explode", "work").stderr


def test_log_level_from_config_and_flags(isolated, run):
    (isolated / "cobra.toml").write_text('[log]\nlevel = "error"\n')
    # -v twice moves error -> warning -> info; migrations log at info.
    result = run("-vv", "--db", "new.sqlite", "db", "migrate")
    assert "applied migration 0001_initial.sql" in result.stderr


def test_no_traceback_for_a_database_that_is_not_sqlite(isolated, run):
    (isolated / "bad.sqlite").write_text("this is not a database" * 100)
    result = run("--db", "bad.sqlite", "customers")
    assert result.exit_code == 2
    assert "bad.sqlite is not a cobra database" in result.stderr
    assert "Traceback" not in result.stderr


def test_cobra_runs_as_a_real_process(cobra_process):
    result = cobra_process("customers", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    assert sqlite3.connect(paths.user_data_dir() / "cobra.sqlite").execute(
        "PRAGMA user_version"
    ).fetchone()[0] >= 1


# -- files that hold personal data ---------------------------------------------------


def test_a_report_written_with_out_is_for_the_owner_only(
    portfolio, run, tmp_path, umask_022
):
    # A report names customers and what they owe.
    report = ("report", "aging", "--as-of", "2026-12-03", "--by", "customer")
    printed = run(*portfolio, *report, "--format", "csv")
    assert printed.exit_code == 0, printed.stderr
    assert "Harbor Supply Co." in printed.stdout

    out = tmp_path / "aging.csv"
    result = run(*portfolio, *report, "--format", "csv", "--out", str(out))
    assert (result.exit_code, result.stdout) == (0, ""), result.stderr
    assert out.read_text(encoding="utf-8") == printed.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert list(tmp_path.glob("*.partial")) == []


def test_a_report_written_over_a_file_keeps_its_mode(portfolio, run, tmp_path):
    out = tmp_path / "aging.json"
    out.write_text("yesterday's report\n")
    out.chmod(0o640)  # for the accountants' group, as its owner chose
    report = ("report", "aging", "--as-of", "2026-12-03", "--format", "json")
    result = run(*portfolio, *report, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8") == run(*portfolio, *report).stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_report_written_through_a_link_replaces_the_file_it_points_to(
    portfolio, run, tmp_path
):
    shared = tmp_path / "shared"
    shared.mkdir()
    target = shared / "aging.json"
    target.write_text("yesterday's report\n")
    link = tmp_path / "aging.json"
    link.symlink_to(target)
    report = ("report", "aging", "--as-of", "2026-12-03", "--format", "json")
    result = run(*portfolio, *report, "--out", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()  # still the link the user made
    assert target.read_text(encoding="utf-8") == run(*portfolio, *report).stdout
    assert list(tmp_path.rglob("*.partial")) == []


def test_a_report_written_to_a_named_pipe_goes_through_it(portfolio, run, tmp_path):
    import threading

    pipe = tmp_path / "aging.fifo"
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(
        target=lambda: received.append(pipe.read_text(encoding="utf-8")),
        daemon=True,  # a cobra that replaced the pipe would leave it waiting
    )
    reader.start()
    report = ("report", "aging", "--as-of", "2026-12-03", "--format", "json")
    result = run(*portfolio, *report, "--out", str(pipe))
    reader.join(10)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # not replaced by a file
    assert received == [run(*portfolio, *report).stdout]


LAYOUT = (
    "customer_id,customer_name,email,invoice_id,issue_date,due_date,currency,"
    "amount,balance\n"
)


def rejecting_csv(folder) -> str:
    """A cobra-layout CSV whose second row has an address that is not one."""
    source = folder / "ledger.csv"
    source.write_text(
        LAYOUT
        + "C1,Comercial Rojas Ltda.,pagos@rojas.example,F-1,2026-10-01,2026-10-31,"
        "USD,100.00,100.00\n"
        + "C2,Harbor Supply Co.,ap@harbor,F-2,2026-10-01,2026-10-31,USD,50.00,50.00\n",
        encoding="utf-8",
    )
    return str(source)


def test_the_rejects_of_skip_invalid_are_for_the_owner_only(run, tmp_path, umask_022):
    source = rejecting_csv(tmp_path)
    result = run("import", source, "--skip-invalid")
    assert result.exit_code == 0, result.stderr
    rejects = tmp_path / "ledger.csv.rejects.csv"
    assert f"rejected: 1 (written to {rejects})" in result.stderr
    assert list(csv.reader(io.StringIO(rejects.read_text(encoding="utf-8")))) == [
        ["source", "line", "field", "problem"],
        [source, "3", "email", "'ap@harbor' is not an e-mail address"],
    ]
    assert stat.S_IMODE(rejects.stat().st_mode) == 0o600
    assert not (tmp_path / "ledger.csv.rejects.csv.partial").exists()


def test_rejects_for_a_folder_that_does_not_exist_import_nothing(run, tmp_path):
    source = rejecting_csv(tmp_path)
    target = tmp_path / "no" / "such" / "rejects.csv"
    result = run("import", source, "--skip-invalid", "--rejects", str(target))
    assert result.exit_code == 2
    assert (
        f"Error: cannot write {target}: the folder {target.parent} does not exist"
        in result.stderr
    )
    assert json.loads(run("customers", "--format", "json").stdout) == []
    assert not (tmp_path / "no").exists()


def test_an_import_that_fails_leaves_no_rejects_file(run, tmp_path):
    ledger = tmp_path / "first.csv"
    ledger.write_text(
        LAYOUT
        + "".join(
            f"C9,Nine Ltd.,ap@nine.example,N-{n},2026-10-01,2026-10-31,USD,1.00,1.00\n"
            for n in range(3)
        ),
        encoding="utf-8",
    )
    assert run("import", str(ledger)).exit_code == 0
    source = rejecting_csv(tmp_path)

    # As the complete ledger, the file would close all three open invoices.
    result = run("import", source, "--skip-invalid", "--sync")
    assert result.exit_code == 2
    assert "--sync would close 3 of 3 open invoices" in result.stderr
    assert not (tmp_path / "ledger.csv.rejects.csv").exists()
    assert list(tmp_path.glob("*.partial")) == []


@pytest.mark.parametrize(
    ("text", "offset_hours"),
    [
        ("2026-12-07T19:00:00Z", 0),  # what most tools write for UTC
        ("2026-12-07T19:00:00z", 0),
        (" 2026-12-07T19:00:00+00:00 ", 0),
        ("2026-12-07T16:00:00-03:00", -3),
    ],
)
def test_an_instant_is_read_with_its_offset_on_every_python(text, offset_hours):
    # Python 3.10's datetime.fromisoformat refuses "Z"; cobra must not.
    from datetime import timedelta, timezone

    from cobra.cli.options import aware_instant

    moment = aware_instant(text)
    assert moment.utcoffset() == timedelta(hours=offset_hours)
    assert moment.astimezone(timezone.utc).hour == 19


@pytest.mark.parametrize("text", ["2026-12-07T19:00:00", "yesterday", "Z"])
def test_an_instant_without_an_offset_is_refused(text):
    from cobra.cli.options import aware_instant

    with pytest.raises(ValueError):
        aware_instant(text)


def test_a_database_another_process_keeps_locked_is_a_temporary_failure(
    run, tmp_path, isolated
):
    # A real second connection holds the write lock, as a `cobra run` from
    # cron does while it imports; a collector's `cobra log` gives up after
    # store.busy_timeout_ms with exit 75, and nothing is logged.
    from datetime import date

    from histories import History, database, load

    (isolated / "cobra.toml").write_text("[store]\nbusy_timeout_ms = 200\n")
    acme = History("ACME", "Acme Tools Inc.")
    acme.invoice(date(2026, 5, 1), "1200.00")
    load(run, tmp_path, acme)
    path = run("db", "path").stdout.strip()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = run(
            "log", "ACME", "--outcome", "no_answer",
            "--at", "2026-06-10T15:00:00-04:00",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 75
    assert "the database is busy: another cobra command" in result.stderr
    assert "unexpected" not in result.stderr
    assert database(run).execute("SELECT COUNT(*) FROM interactions").fetchone()[0] == 0
