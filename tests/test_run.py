"""`cobra run` in-process: the day's summary, its failures, and where they go.

Each test runs the routine on a real SQLite store, importing a real JSON
Lines ledger through `[[sources]]` and sending through the starter config's
file backend, so what was "sent" is the files in the outbox folder.
tests/test_run_cron.py runs it from cron's point of view against real
servers.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from histories import History
from services import smtp as smtp_services

from cobra import routine, runlock

DAY = "2026-12-03"
# Thursday 3 December 2026, 11:00 in New York: inside every US contact hour.
AT = "2026-12-03T11:00:00-05:00"


def good_payer(account: str, *, phone: str | None = None) -> History:
    """Paid two years of bills early; the latest is two days late."""
    history = History(account, f"{account.title()} Inc.", phone=phone)
    history.monthly(date(2024, 11, 1), 25, "1200.00", unpaid={24})
    return history


def write_ledger(path: Path, *histories: History) -> Path:
    path.write_text(
        "".join(json.dumps(r) + "\n" for h in histories for r in h.records),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def ledger(tmp_path) -> Path:
    """Three late good payers: two by e-mail, one by SMS."""
    return write_ledger(
        tmp_path / "ledger.jsonl",
        good_payer("ACME"),
        good_payer("BOLT"),
        good_payer("CRUX", phone="+12125550100"),
    )


def use_sources(work: Path, *sources: Path, extra: str = "") -> None:
    """A cobra.toml in the working folder whose [[sources]] are *sources*."""
    tables = "".join(f'[[sources]]\nsource = "{source}"\n\n' for source in sources)
    (work / "cobra.toml").write_text(tables + extra, encoding="utf-8")


def day_run(run, *args: str):
    """`cobra [GLOBAL...] run --for DAY --at AT`; global options before `--`."""
    if "--" in args:
        split = args.index("--")
        before, after = args[:split], args[split + 1 :]
    else:
        before, after = (), args
    return run(*before, "run", "--for", DAY, "--at", AT, *after)


def outbox_rows(run) -> int:
    """Messages in the outbox, whatever their state (none without a database)."""
    database = Path(run("db", "path").stdout.strip())
    if not database.exists():
        return 0
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM outbox").fetchone()[0]


# -- failures reach the log file ------------------------------------------------------


def test_a_source_that_cannot_be_read_is_logged_to_the_log_file(
    run, isolated, ledger, tmp_path
):
    missing = tmp_path / "missing.jsonl"
    use_sources(isolated, ledger, missing)
    log_file = tmp_path / "cobra.log"
    result = day_run(run, "-q", "--log-file", str(log_file), "--")
    assert result.exit_code == 1

    # stderr has each failure once, as cron mails it ...
    problem = f"{missing}: cannot read: No such file or directory"
    assert result.stderr.count(problem) == 1
    assert f"source {missing} could not be imported" in result.stderr
    # ... and the log file has the same, with the run's summary and its end.
    logged = log_file.read_text(encoding="utf-8")
    assert re.search(rf"ERROR cobra\.run: {re.escape(problem)}$", logged, re.MULTILINE)
    assert f"ERROR cobra.run: source {missing} could not be imported" in logged
    assert f"ERROR cobra.run: Run for {DAY}: imported {ledger}" in logged
    assert "ERROR cobra.cli: cobra run failed (exit 1)" in logged
    assert outbox_rows(run) == 0


def test_log_file_from_the_config_gets_the_failures_too(run, isolated, tmp_path):
    missing = tmp_path / "missing.jsonl"
    use_sources(
        isolated, missing, extra='[log]\nfile = "logs/run.log"\nformat = "json"\n'
    )
    result = day_run(run, "-q", "--")
    assert result.exit_code == 1, result.stderr

    lines = (isolated / "logs" / "run.log").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert {"level": "error", "logger": "cobra.run"}.items() <= records[0].items()
    assert records[0]["message"] == f"{missing}: cannot read: No such file or directory"
    assert records[-1]["message"] == "cobra run failed (exit 1)"
    # JSON on stderr is for the log lines; the failures stay plain sentences.
    assert result.stderr.startswith(f"error: {missing}: cannot read")


def test_a_run_while_another_runs_is_logged_with_exit_75(
    run, isolated, ledger, tmp_path
):
    use_sources(isolated, ledger)
    database = Path(run("db", "path").stdout.strip())
    log_file = tmp_path / "cobra.log"
    with runlock.exclusive(routine.lock_path(database)):
        result = day_run(run, "-q", "--log-file", str(log_file), "--")
    assert result.exit_code == 75
    assert result.stderr.count("another cobra run is working on this database") == 1
    logged = log_file.read_text(encoding="utf-8")
    assert "ERROR cobra.cli: cobra run failed (exit 75): another cobra run" in logged
    assert outbox_rows(run) == 0


def test_a_successful_quiet_run_logs_nothing(run, isolated, ledger, tmp_path):
    use_sources(isolated, ledger)
    log_file = tmp_path / "cobra.log"
    result = day_run(run, "-q", "--log-file", str(log_file), "--")
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    assert log_file.read_text(encoding="utf-8") == ""


# -- the summary ----------------------------------------------------------------------


def imported(ledger: Path) -> str:
    return (
        f"  imported {ledger} (jsonl): customers 3 inserted; invoices 75 inserted; "
        "payments 72 inserted"
    )


def sent_files(work: Path) -> list[Path]:
    """What the file backend wrote: one .eml per e-mail, one .json per SMS."""
    folder = work / "outbox"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_the_text_summary_names_each_step_on_stderr(run, isolated, ledger):
    use_sources(isolated, ledger)
    result = day_run(run)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Run for {DAY}:",
        imported(ledger),
        "  promises: 0 kept, 0 partly kept, 0 broken, 0 still open",
        "  planned 3, held back 0 (3 new in the outbox)",
        "  sent 3, failed 0, held 0, retried 0, waiting 0",
        "  on the agenda: 0 (cobra agenda)",
    ]
    files = sent_files(isolated)
    assert [f.suffix for f in files] == [".eml", ".eml", ".json"]
    assert {f.name.split("_")[0] for f in files} == {"ACME", "BOLT", "CRUX"}


def test_quiet_prints_nothing_when_the_day_went_well(run, isolated, ledger):
    use_sources(isolated, ledger)
    result = day_run(run, "-q", "--")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert len(sent_files(isolated)) == 3


def test_the_json_summary_is_one_object_on_stdout(run, isolated, ledger):
    use_sources(isolated, ledger)
    result = day_run(run, "-q", "--", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    summary = json.loads(result.stdout)
    assert summary["day"] == DAY
    assert (summary["ok"], summary["dry_run"], summary["stopped"]) == (
        True,
        False,
        None,
    )
    [source] = summary["sources"]
    assert source["source"] == str(ledger) and source["importer"] == "jsonl"
    assert source["counts"]["customers"] == {
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
    }
    assert source["error"] is None
    assert summary["promises"] == {"kept": 0, "partly_kept": 0, "broken": 0}
    assert (summary["planned"], summary["planned_new"], summary["held_in_plan"]) == (
        3,
        3,
        0,
    )
    assert summary["send"]["sent"] == 3 and summary["send"]["failed"] == 0
    assert summary["tasks_due"] == 0

    # The same day again: everything is already done.
    again = json.loads(day_run(run, "--format", "json").stdout)
    assert again["sources"][0]["counts"]["customers"]["unchanged"] == 3
    assert (again["planned"], again["planned_new"], again["send"]["sent"]) == (0, 0, 0)
    assert len(sent_files(isolated)) == 3


def test_a_source_that_cannot_be_read_stops_the_run_before_planning(
    run, isolated, ledger, tmp_path
):
    missing = tmp_path / "missing.jsonl"
    use_sources(isolated, ledger, missing)
    result = day_run(run, "--format", "json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["ok"] is False
    assert summary["stopped"].startswith(f"source {missing} could not be imported")
    assert [s["error"] for s in summary["sources"]] == [
        None,
        f"{missing}: cannot read: No such file or directory",
    ]
    assert (summary["planned"], summary["send"]) == (0, None)
    # The text summary is printed even though the run was not asked to be
    # loud: a failure always is. Nothing was planned or sent.
    assert "\n  planned " not in result.stderr
    assert f"Run for {DAY}:\n  imported {ledger} (jsonl)" in result.stderr
    assert outbox_rows(run) == 0
    assert sent_files(isolated) == []


# -- --dry-run -------------------------------------------------------------------


def dump(run) -> list[str]:
    """Every table's rows, as SQL, to compare a store before and after."""
    database = Path(run("db", "path").stdout.strip())
    with sqlite3.connect(database) as conn:
        return list(conn.iterdump())


def test_a_dry_run_on_a_fresh_store_plans_what_the_import_would_bring(
    run, isolated, ledger
):
    use_sources(isolated, ledger)
    run("db", "migrate")
    before = dump(run)

    result = day_run(run, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Dry run for {DAY}:",
        imported(ledger),
        "  promises: 0 kept, 0 partly kept, 0 broken, 0 still open",
        "  planned 3, held back 0 (3 would be new in the outbox)",
        "  on the agenda: 0 (cobra agenda)",
    ]
    # Nothing of it was kept, and nothing was sent.
    assert dump(run) == before
    assert sent_files(isolated) == []
    assert json.loads(run("customers", "--format", "json").stdout) == []
    database = Path(run("db", "path").stdout.strip())
    assert (
        sorted(p.name for p in database.parent.iterdir() if "scratch" in p.name) == []
    )

    # The real run then does what the dry run announced.
    real = json.loads(day_run(run, "--format", "json").stdout)
    assert (real["planned"], real["planned_new"], real["send"]["sent"]) == (3, 3, 3)


def test_a_dry_run_plans_a_new_customer_of_the_source_and_keeps_it_out(
    run, isolated, ledger
):
    use_sources(isolated, ledger)
    assert day_run(run).exit_code == 0
    with ledger.open("a", encoding="utf-8") as more:
        more.writelines(json.dumps(r) + "\n" for r in good_payer("DUNE").records)
    before = dump(run)

    summary = json.loads(day_run(run, "--dry-run", "--format", "json").stdout)
    assert summary["dry_run"] is True
    assert summary["sources"][0]["counts"]["customers"] == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 3,
    }
    # Only the newcomer is due: the others had their reminder this morning.
    assert (summary["planned"], summary["planned_new"], summary["send"]) == (1, 1, None)
    assert dump(run) == before
    assert len(sent_files(isolated)) == 3


def test_a_dry_run_fails_on_a_bad_source_as_the_run_would(
    run, isolated, ledger, tmp_path
):
    missing = tmp_path / "missing.jsonl"
    use_sources(isolated, ledger, missing)
    result = day_run(run, "--dry-run")
    assert result.exit_code == 1
    assert f"error: {missing}: cannot read" in result.stderr
    assert json.loads(run("customers", "--format", "json").stdout) == []


# -- [[sources]] with an importer, its options and sync ----------------------------

# As a spreadsheet set to a European locale exports it: semicolons between
# fields, decimal commas, day-first dates.
EUROPEAN = {"delimiter": ";", "decimal": ",", "date_format": "%d/%m/%Y"}
HEADER = (
    "customer_id;customer_name;email;invoice_id;issue_date;due_date;currency;"
    "amount;balance"
)
ROWS = {
    "A-1": "ACME;Acme Tools Inc.;ap@acme.example;A-1;"
    "01/10/2026;31/10/2026;USD;1234,50;1234,50",
    "B-1": "BOLT;Bolt Inc.;ap@bolt.example;B-1;05/10/2026;04/11/2026;USD;800,00;800,00",
    "C-1": "CRUX;Crux Inc.;ap@crux.example;C-1;10/10/2026;09/11/2026;USD;99,99;99,99",
}
NEXT_DAY, NEXT_AT = "2026-12-04", "2026-12-04T11:00:00-05:00"


def european_csv(path: Path, *numbers: str) -> Path:
    path.write_text("\n".join([HEADER, *(ROWS[n] for n in numbers)]) + "\n", "utf-8")
    return path


def source_table(
    source: Path, importer: str = "csv", *, sync: bool = False, **options: str
) -> str:
    """A [[sources]] table, options in dotted keys as a user may write them."""
    lines = ["[[sources]]", f'source = "{source}"', f'importer = "{importer}"']
    if sync:
        lines.append("sync = true")
    lines += [f"options.{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n\n"


def keyed(run, query: str) -> dict[str, tuple]:
    """The rows of *query* in the database, by their first column."""
    database = Path(run("db", "path").stdout.strip())
    with sqlite3.connect(database) as conn:
        return {key: tuple(rest) for key, *rest in conn.execute(query)}


def invoices(run) -> dict[str, tuple]:
    """Each invoice's amount, balance, currency, dates and status."""
    return keyed(
        run,
        "SELECT number, amount, balance, currency, issue_date, due_date, status"
        " FROM invoices",
    )


def test_a_csv_source_is_read_with_the_options_of_its_table(run, isolated, tmp_path):
    source = european_csv(tmp_path / "ledger.csv", "A-1", "B-1", "C-1")

    # Without its options the file cannot be read (day-first dates, decimal
    # commas), so what the run below imports is what the options made of it.
    (isolated / "cobra.toml").write_text(source_table(source), "utf-8")
    plain = day_run(run, "-q", "--")
    assert plain.exit_code == 1
    assert f"error: {source}: 3 invalid records; nothing was imported" in plain.stderr
    assert outbox_rows(run) == 0

    (isolated / "cobra.toml").write_text(source_table(source, **EUROPEAN), "utf-8")
    result = day_run(run, "--format", "json")
    assert result.exit_code == 0, result.stderr
    [imported] = json.loads(result.stdout)["sources"]
    assert (imported["importer"], imported["error"]) == ("csv", None)
    assert imported["counts"]["invoices"] == {
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
    }
    assert invoices(run) == {
        "A-1": (123450, 123450, "USD", "2026-10-01", "2026-10-31", "open"),
        "B-1": (80000, 80000, "USD", "2026-10-05", "2026-11-04", "open"),
        "C-1": (9999, 9999, "USD", "2026-10-10", "2026-11-09", "open"),
    }


@pytest.mark.parametrize("sync", [True, False])
def test_a_sync_source_closes_the_invoices_it_no_longer_lists(
    run, isolated, tmp_path, sync
):
    source = european_csv(tmp_path / "ledger.csv", "A-1", "B-1", "C-1")
    (isolated / "cobra.toml").write_text(
        source_table(source, sync=sync, **EUROPEAN), "utf-8"
    )
    assert day_run(run, "-q", "--").exit_code == 0

    # CRUX paid: the next day's export of open invoices no longer has C-1.
    european_csv(source, "A-1", "B-1")
    result = run("run", "--for", NEXT_DAY, "--at", NEXT_AT, "--format", "json")
    assert result.exit_code == 0, result.stderr
    [imported] = json.loads(result.stdout)["sources"]
    assert imported["closed_by_sync"] == (1 if sync else 0)
    line = f"  imported {source} (csv): customers 2 unchanged; invoices 2 unchanged"
    closed = "; closed by sync 1 invoices" if sync else ""
    assert result.stderr.splitlines()[1] == line + closed

    stored = invoices(run)
    assert stored["C-1"][1:] == (
        (0, "USD", "2026-10-10", "2026-11-09", "settled_by_sync")
        if sync
        else (9999, "USD", "2026-10-10", "2026-11-09", "open")
    )
    assert {stored[n][-1] for n in ("A-1", "B-1")} == {"open"}


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            {"delimitr": ";", "decimal": ",", "date_format": "%d/%m/%Y"},
            (
                "options: 'delimitr' is not an option of the csv importer; did you "
                "mean 'delimiter'? (its options: date_format, decimal, delimiter, "
                "encoding, map, mapping, thousands)"
            ),
        ),
        (
            # The command line's spelling, where the config wants underscores.
            {"delimiter": ";", "decimal": ",", "date-format": "%d/%m/%Y"},
            (
                "options: 'date-format' is not an option of the csv importer; did "
                "you mean 'date_format'?"
            ),
        ),
        (
            {"importer": "cvs", **EUROPEAN},
            (
                "no importer named 'cvs'; did you mean 'csv'? (installed: csv, "
                "jsonl, tryton, ubl)"
            ),
        ),
    ],
    ids=["misspelled", "dashed", "importer"],
)
def test_a_bad_source_table_stops_the_run_before_anything_is_imported(
    run, isolated, ledger, tmp_path, table, problem
):
    source = european_csv(tmp_path / "ledger.csv", "A-1")
    options = dict(table)
    importer = options.pop("importer", "csv")
    (isolated / "cobra.toml").write_text(
        f'[[sources]]\nsource = "{ledger}"\n\n'
        + source_table(source, importer, **options),
        "utf-8",
    )
    log_file = tmp_path / "cobra.log"

    result = day_run(run, "-q", "--log-file", str(log_file), "--")

    assert result.exit_code == 2
    where = f"{Path('cobra.toml').resolve()}: sources: source 2 ({source}): "
    assert result.stderr.count(where + problem) == 1, result.stderr
    assert "ERROR cobra.cli: cobra run failed (exit 2)" in log_file.read_text("utf-8")
    # Not even the good source before it was imported, and nothing was sent.
    assert json.loads(run("customers", "--format", "json").stdout) == []
    assert outbox_rows(run) == 0
    assert sent_files(isolated) == []

    # `cobra config check` finds the same problem.
    checked = run("config", "check")
    assert checked.exit_code == 2
    assert where + problem in checked.stderr


def test_an_option_for_an_importer_that_takes_none(run, isolated, ledger):
    (isolated / "cobra.toml").write_text(
        source_table(ledger, "jsonl", delimiter=";"), "utf-8"
    )
    result = day_run(run, "-q", "--")
    assert result.exit_code == 2
    assert (
        f"source 1 ({ledger}): options: 'delimiter' is not an option of the jsonl "
        "importer (it takes none)" in result.stderr
    )
    assert outbox_rows(run) == 0


# -- a send that fails -------------------------------------------------------------

# The loopback SMTP server of tests/services, with a login required.
smtp_certs = smtp_services.smtp_certs
smtp_server = smtp_services.smtp_server
USER, PASSWORD = "cobranza@example.com", "run-s3cret"


def smtp_channel(server, ca_file: Path) -> str:
    """[channels.email] on the server, with quick retries, as cobra.toml text."""
    return (
        "[send]\nbackoff_seconds = 0.01\nmax_wait_seconds = 5\n\n"
        '[channels.email]\nbackend = "smtp"\n'
        f'host = "{server.host}"\nport = {server.port}\n'
        f'from = "{USER}"\nusername = "{USER}"\npassword_env = "SMTP_PASSWORD"\n'
        f'ca_file = "{ca_file}"\n'
    )


def outbox_states(run) -> dict[str, tuple]:
    """Each message's channel, state and attempts, by account."""
    return keyed(
        run,
        "SELECT c.account, o.channel, o.state, o.attempts FROM outbox o"
        " JOIN customers c ON c.id = o.customer_id",
    )


def test_a_wrong_smtp_password_fails_the_run_and_keeps_the_mail_queued(
    run, isolated, ledger, tmp_path, smtp_server, smtp_certs, monkeypatch
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    use_sources(isolated, ledger, extra=smtp_channel(server, smtp_certs.ca_file))
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password")
    log_file = tmp_path / "cobra.log"

    result = day_run(run, "-q", "--log-file", str(log_file), "--")

    # docs/operations.md: exit 1 when a channel could not be used.
    assert result.exit_code == 1
    problem = (
        f"channel email: the SMTP server {server.host}:{server.port} refused the "
        f"login of {USER}"
    )
    assert result.stderr.count(f"error: {problem}") == 1, result.stderr
    assert "  sent 1, failed 0, held 0, retried 0, waiting 0" in result.stderr
    logged = log_file.read_text(encoding="utf-8")
    assert f"ERROR cobra.run: {problem}" in logged
    assert "sent 1, failed 0, held 0, retried 0, waiting 0" in logged
    assert "ERROR cobra.cli: cobra run failed (exit 1)" in logged
    assert "not-the-password" not in result.stderr + logged
    # The two e-mails were never tried: queued, not lost; the SMS went out.
    assert outbox_states(run) == {
        "ACME": ("email", "queued", 0),
        "BOLT": ("email", "queued", 0),
        "CRUX": ("sms", "sent", 1),
    }
    assert server.received == []

    # With the password fixed, the next run sends them, and only them.
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    fixed = day_run(run, "-q", "--")
    assert (fixed.exit_code, fixed.stderr) == (0, "")
    assert sorted(r.rcpt_tos[0] for r in server.received) == [
        "ap@acme.example",
        "ap@bolt.example",
    ]
    assert {state for _, state, _ in outbox_states(run).values()} == {"sent"}


def test_a_lock_file_from_an_older_cobra_gives_no_warning(tmp_path):
    # Before runs recorded their end, the lock file held only "pid N,
    # started T": that says nothing of how the run ended.
    from cobra import runlock

    lock = tmp_path / "cobra.sqlite.run.lock"
    lock.write_text("pid 4242, started 2026-12-01T09:00:00+00:00")
    with runlock.exclusive(lock) as unended:
        assert unended is None
        assert lock.read_text().endswith(", running")
    assert ", ended " in lock.read_text()
    with runlock.exclusive(lock) as unended:
        assert unended is None
    # A run that never got to its end leaves "running" behind.
    lock.write_text("pid 4243, started 2026-12-02T09:00:00+00:00, running")
    with runlock.exclusive(lock) as unended:
        assert unended == "pid 4243, started 2026-12-02T09:00:00+00:00"
