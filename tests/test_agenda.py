"""`cobra agenda`: what is due for a person, and closing or moving tasks.

The stores are real: calls become tasks through `cobra send`'s task
backend, promises and follow-ups through `cobra log`, held messages through
the checks `cobra send` makes, and an interrupted send is settled the way
the sender settles it.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from histories import database, good_payer, load, struggling
from outbox_seed import seed

DAY = "2026-12-03"
# Thursday 3 December 2026, 11:00 in New York: inside every US contact hour.
AT = "2026-12-03T11:00:00-05:00"
BRIEF = "Llamar a {name}\nFactura {invoice} vencida.\nOfrecer un plan de pagos."


def db_path(run) -> Path:
    return Path(run("db", "path").stdout.strip())


def send(run, *args: str):
    result = run("send", "--for", DAY, "--at", AT, *args)
    assert result.exit_code == 0, result.stderr
    return result


def agenda(run, *args: str) -> list[dict]:
    result = run("agenda", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def tasks(run) -> list[tuple]:
    with sqlite3.connect(db_path(run)) as conn:
        return conn.execute("SELECT * FROM tasks ORDER BY id").fetchall()


def calls(run, count: int = 2) -> None:
    """*count* calls planned for DAY, sent: tasks T1.. on the agenda."""
    seed(db_path(run), count, channel="call", body=BRIEF)
    send(run)


def future(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


# -- listing -------------------------------------------------------------------------


def test_calls_are_listed_with_their_brief(run):
    calls(run)
    rows = agenda(run, "--for", DAY)
    assert [row["id"] for row in rows] == ["T1", "T2"]
    first = rows[0]
    assert first == {
        "id": "T1",
        "due": DAY,
        "kind": "call",
        "account": "C000000",
        "customer": "Cliente 0 Ltda.",
        "title": "Call Cliente 0 Ltda. (C000000)",
        "assignee": None,
        "brief": "Llamar a Cliente 0 Ltda.\nFactura F-000000 vencida.\n"
        "Ofrecer un plan de pagos.",
    }

    table = run("agenda", "--for", DAY)
    assert table.exit_code == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "id", "due", "kind", "account", "customer", "title", "assignee", "brief"
    ]  # fmt: skip
    assert "Llamar a Cliente 0 Ltda." in lines[2]
    assert "Ofrecer" not in table.stdout  # the table shows the first line only

    csv_text = run("agenda", "--for", DAY, "--format", "csv").stdout
    assert "Ofrecer un plan de pagos." in csv_text


def test_nothing_due_before_the_day_the_calls_were_planned_for(run):
    calls(run)
    result = run("agenda", "--for", "2026-12-02")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "Nothing due on or before 2026-12-02." in result.stderr
    # Later days still show what was not done.
    assert len(agenda(run, "--for", "2026-12-20")) == 2


def test_the_default_day_is_today_in_the_company_time_zone(run):
    calls(run)
    # The calls were planned for 3 December 2026; "today" is the clock's.
    listed = agenda(run)
    assert len(listed) == (2 if date.today() >= date(2026, 12, 3) else 0)
    assert agenda(run, "--for", "today") == listed


def test_a_promise_is_checked_through_its_task_and_instalments_on_their_dates(
    run, tmp_path
):
    load(run, tmp_path, good_payer(), struggling())
    promised = run(
        "log", "ACME", "--outcome", "promise", "--amount", "500", "--on",
        "2026-12-10", "--collector", "ana", "--at", "2026-12-03T15:00:00+00:00",
    )  # fmt: skip
    assert promised.exit_code == 0, promised.stderr
    agreed = run(
        "log", "BRICK", "--outcome", "plan_agreed",
        "--instalment", "2026-12-15=1650.00", "--instalment", "2027-01-15=1650.00",
        "--note", "Two payments, agreed by phone",
        "--at", "2026-12-03T16:00:00+00:00",
    )  # fmt: skip
    assert agreed.exit_code == 0, agreed.stderr

    # The promise has its own task (due after the grace days): it is listed
    # once, as that task, not a second time as a promise.
    rows = agenda(run, "--for", "2026-12-15")
    assert [(r["id"], r["due"], r["kind"], r["account"]) for r in rows] == [
        ("T1", "2026-12-12", "promise_check", "ACME"),
        ("P2", "2026-12-15", "promise_check", "BRICK"),
    ]
    instalment = rows[1]
    assert instalment["title"] == "Check the promise to pay 1650.00 USD by 2026-12-15"
    assert instalment["brief"] == (
        "Promised on 2026-12-03: Two payments, agreed by phone"
    )
    assert instalment["customer"] == "Brickwork Builders LLC"
    assert rows[0]["assignee"] == "ana"
    # The second instalment comes on its own date.
    assert [r["id"] for r in agenda(run, "--for", "2027-01-15")] == ["T1", "P2", "P3"]


def test_rows_are_sorted_by_due_date_then_kind(run, tmp_path):
    load(run, tmp_path, good_payer())
    for args in (
        ("--outcome", "callback", "--follow-up", "2026-12-04"),
        ("--outcome", "promise", "--amount", "100", "--on", "2026-12-03"),
        ("--outcome", "dispute", "--invoice", "ACME-0025"),  # due the day logged
    ):
        result = run("log", "ACME", *args, "--at", "2026-12-03T15:00:00+00:00")
        assert result.exit_code == 0, result.stderr
    calls(run, 1)  # created last, listed first
    rows = agenda(run, "--for", "2026-12-10")
    assert rows[0]["id"] == "T4"
    assert [(r["due"], r["kind"]) for r in rows] == [
        (DAY, "call"),
        (DAY, "dispute"),
        ("2026-12-04", "follow_up"),
        ("2026-12-05", "promise_check"),
    ]


def test_collector_keeps_their_tasks_and_everyone_s_but_not_another_s(run, tmp_path):
    calls(run, 1)  # nobody's yet
    load(run, tmp_path, good_payer(), struggling())
    for account, who in (("ACME", "ana"), ("BRICK", "bob")):
        result = run(
            "log", account, "--outcome", "callback", "--follow-up", DAY,
            "--collector", who, "--at", "2026-12-02T15:00:00+00:00",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr

    def listed(*args):
        return [(r["account"], r["assignee"]) for r in agenda(run, "--for", DAY, *args)]

    assert listed() == [("C000000", None), ("ACME", "ana"), ("BRICK", "bob")]
    assert listed("--collector", "ana") == [("C000000", None), ("ACME", "ana")]
    assert listed("--collector", "ANA") == [("C000000", None), ("ACME", "ana")]
    assert listed("--collector", "carla") == [("C000000", None)]


# -- messages that wait for a person ----------------------------------------------


def test_an_interrupted_send_waits_for_a_person_until_it_is_sent_again(run):
    from cobra.store import Store, outbox

    seed(db_path(run), 2)
    with Store.open(db_path(run)) as store:
        # What `cobra send` records for a message a killed sender left
        # behind, when its backend cannot ask the provider.
        store.conn.execute("UPDATE outbox SET state = 'sending' WHERE id = 1")
        outbox.finish(
            store.conn,
            1,
            "unknown",
            at="2026-12-03T16:00:00+00:00",
            reason="the sender stopped while handing it over",
            backend="smtp",
            address="ap0@cliente0.example",
        )
    send(run)  # sends the other one; leaves the unknown alone
    [row] = agenda(run, "--for", DAY)
    assert row["id"] == "M1"
    assert row["kind"] == "message_unknown"
    assert row["title"] == (
        "Check whether the email 'Factura F-000000 vencida' to ap0@cliente0.example"
        " arrived"
    )
    assert "(the sender stopped while handing it over)" in row["brief"]
    assert "`cobra send --retry-unknown`" in row["brief"]

    send(run, "--retry-unknown")
    assert agenda(run, "--for", DAY) == []


def test_a_message_held_for_want_of_an_address_waits_for_a_person(run):
    seed(db_path(run), 3)
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "UPDATE contacts SET invalid_since = '2026-12-02'"
            " WHERE value = 'ap1@cliente1.example'"
        )
        conn.execute(
            "INSERT INTO opt_outs (customer_id, channel, since)"
            " SELECT id, 'email', '2026-12-02' FROM customers"
            " WHERE account = 'C000002'"
        )
    send(run)
    # Both are held; only the missing address needs someone. An opt-out is
    # the customer's choice, not a chore.
    [row] = agenda(run, "--for", DAY)
    assert (row["id"], row["kind"], row["account"]) == (
        "M2",
        "message_held",
        "C000001",
    )
    assert row["title"] == (
        "Held email 'Factura F-000001 vencida': no valid email for email"
    )
    assert row["brief"].startswith("Find a valid address")

    # Once nothing is owed, there is nothing to chase.
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "UPDATE invoices SET balance = 0, status = 'paid' WHERE number = 'F-000001'"
        )
    assert agenda(run, "--for", DAY) == []


def test_a_later_plan_for_the_customer_replaces_a_held_message(run):
    seed(db_path(run), 1)
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute("UPDATE contacts SET invalid_since = '2026-12-02'")
    send(run)
    assert [r["id"] for r in agenda(run, "--for", DAY)] == ["M1"]
    # The next day's plan for the same channel (the address was fixed):
    # the held one is history, not a chore.
    with sqlite3.connect(db_path(run)) as conn:
        conn.execute(
            "INSERT INTO outbox (customer_id, planned_for, strategy, step, cycle,"
            " channel, template, state, idempotency_key, created_at)"
            " SELECT customer_id, '2026-12-04', strategy, step, cycle, channel,"
            " template, 'queued', idempotency_key || '+1', created_at FROM outbox"
        )
    assert [r["id"] for r in agenda(run, "--for", DAY)] == ["M1"]
    assert agenda(run, "--for", "2026-12-04") == []


# -- done ------------------------------------------------------------------------------


def test_done_closes_a_task_with_the_time_and_a_note(run):
    calls(run)
    result = run("agenda", "done", "T1", "--note", "Called; will pay Friday")
    assert result.exit_code == 0, result.stderr
    assert "Closed T1: Call Cliente 0 Ltda. (C000000)." in result.stderr
    with sqlite3.connect(db_path(run)) as conn:
        conn.row_factory = sqlite3.Row
        task = conn.execute("SELECT * FROM tasks WHERE id = 1").fetchone()
    assert task["state"] == "done"
    assert task["note"] == "Called; will pay Friday"
    closed = datetime.fromisoformat(task["done_at"])
    assert closed.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - closed) < timedelta(minutes=1)
    assert [r["id"] for r in agenda(run, "--for", DAY)] == ["T2"]

    # A bare number names the same task.
    assert run("agenda", "done", "2").exit_code == 0
    assert agenda(run, "--for", DAY) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["done", "T1"], "task T1 is already done (closed "),
        (["done", "1", "--note", "again"], "cannot close it. Nothing changed."),
        (["done", "T99"], "no task T99; `cobra agenda` lists the open ones."),
        (["done", "P1"], "P1 is a promise, not a task"),
        (["done", "M1"], "M1 is a message, not a task"),
        (["done", "call-1"], "'call-1' is not a task; name it as `cobra agenda` lists"),
        (["snooze", "T1", "--to", "2099-01-01"], "task T1 is already done"),
        (["snooze", "T99", "--to", "2099-01-01"], "no task T99"),
        (["snooze", "T2", "--to", "2020-01-01"], "cannot snooze T2 to 2020-01-01: "),
        (["snooze", "T2", "--to", "1/1/2099"], "'1/1/2099' is not a date"),
        (["snooze", "T2"], "Missing option '--to'"),
    ],
)
def test_bad_input_changes_nothing(run, args, message):
    calls(run)
    assert run("agenda", "done", "T1").exit_code == 0
    before = tasks(run)
    result = run("agenda", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert tasks(run) == before


# -- snooze ----------------------------------------------------------------------------


def test_snooze_moves_the_due_date_and_notes_it(run):
    calls(run)
    later = future(7)
    result = run("agenda", "snooze", "T1", "--to", later, "--note", "Away this week")
    assert result.exit_code == 0, result.stderr
    assert f"Moved T1 from {DAY} to {later}." in result.stderr
    [task] = [t for t in database(run).execute("SELECT * FROM tasks WHERE id = 1")]
    assert task["due_on"] == later
    assert task["state"] == "open"
    assert task["note"].startswith(f"snoozed from {DAY} to {later} at ")
    assert task["note"].endswith(": Away this week")

    assert "T1" not in [r["id"] for r in agenda(run, "--for", future(6))]
    assert "T1" in [r["id"] for r in agenda(run, "--for", later)]

    # Snoozed again, then closed: the note keeps every line.
    assert run("agenda", "snooze", "1", "--to", "today").exit_code == 0
    assert run("agenda", "done", "T1", "--note", "Paid").exit_code == 0
    note = database(run).execute("SELECT note FROM tasks WHERE id = 1").fetchone()[0]
    lines = note.splitlines()
    assert len(lines) == 3
    assert lines[1].startswith(f"snoozed from {later} to {date.today()} at ")
    assert lines[2] == "Paid"
