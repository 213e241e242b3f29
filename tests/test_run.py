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
    use_sources(isolated, missing, extra='[log]\nfile = "logs/run.log"\nformat = "json"\n')
    result = day_run(run, "-q", "--")
    assert result.exit_code == 1, result.stderr

    lines = (isolated / "logs" / "run.log").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert {"level": "error", "logger": "cobra.run"}.items() <= records[0].items()
    assert records[0]["message"] == f"{missing}: cannot read: No such file or directory"
    assert records[-1]["message"] == "cobra run failed (exit 1)"
    # JSON on stderr is for the log lines; the failures stay plain sentences.
    assert result.stderr.startswith(f"error: {missing}: cannot read")


def test_a_run_while_another_runs_is_logged_with_exit_75(run, isolated, ledger, tmp_path):
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
    assert (summary["ok"], summary["dry_run"], summary["stopped"]) == (True, False, None)
    [source] = summary["sources"]
    assert source["source"] == str(ledger) and source["importer"] == "jsonl"
    assert source["counts"]["customers"] == {"inserted": 3, "updated": 0, "unchanged": 0}
    assert source["error"] is None
    assert summary["promises"] == {"kept": 0, "partly_kept": 0, "broken": 0}
    assert (summary["planned"], summary["planned_new"], summary["held_in_plan"]) == (3, 3, 0)
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
    assert sorted(p.name for p in database.parent.iterdir() if "scratch" in p.name) == []

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
        "inserted": 1, "updated": 0, "unchanged": 3,
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
