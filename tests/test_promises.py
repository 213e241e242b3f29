"""The promise check, through the commands that run it (`cobra plan`, `cobra run`,
`cobra import`): promises kept, partly kept and broken, its grace period, and
a payment plan broken by a missed instalment."""

from __future__ import annotations

import json
from datetime import date, timedelta

from histories import database, load, pay, struggling

D1 = date(2026, 6, 10)


def day(offset: int) -> str:
    return (D1 + timedelta(days=offset)).isoformat()


def at(offset: int, hour: int = 15) -> str:
    return f"{day(offset)}T{hour:02d}:00:00+00:00"


def plan(run, offset: int) -> tuple[list[dict], str]:
    """`cobra plan` for D1 + *offset*: the contacts, and what it said."""
    result = run("plan", "--for", day(offset), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def log(run, *args: str, today: int):
    result = run("log", *args, "--at", at(today))
    assert result.exit_code == 0, result.stderr
    return result


def owed(run) -> int:
    """What BRICK owes, in cents."""
    return database(run).execute(
        "SELECT SUM(balance) FROM invoices WHERE status = 'open'").fetchone()[0]


def cents(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def promises(run) -> list[tuple]:
    return [tuple(r) for r in database(run).execute(
        "SELECT instalment, due_on, status, resolved_on FROM promises ORDER BY id")]


def broken_tasks(run) -> list[str]:
    return [r[0] for r in database(run).execute(
        "SELECT title FROM tasks WHERE kind = 'broken_promise' ORDER BY id")]


# -- a payment plan broken by a missed instalment ----------------------------------


def agree_three_instalments(run, tmp_path) -> list[str]:
    """BRICK agrees on D1 to pay what it owes on days 5, 35 and 65."""
    brick = struggling()
    brick.records[0]["phone"] = "+12125550188"
    load(run, tmp_path, brick)
    total = owed(run)
    first = total - 2 * (total // 3)
    dates = [day(5), day(35), day(65)]
    amounts = [first, total // 3, total // 3]
    log(run, "BRICK", "--outcome", "plan_agreed", "--collector", "ana",
        *[arg for due, amount in zip(dates, amounts)
          for arg in ("--instalment", f"{due}={cents(amount)}")], today=0)
    return dates


def test_a_missed_instalment_breaks_the_plan_and_the_customer_is_pressed_again(
    run, tmp_path
):
    dates = agree_three_instalments(run, tmp_path)
    # While the plan runs, the plan's instalments set the contacts.
    reminders, _ = plan(run, 2)
    assert [(c["strategy"], c["template"]) for c in reminders] == [
        ("payment-plan", "instalment-reminder")]

    # Nothing paid on day 5; two days of grace later, on day 8, the promise
    # check of `cobra plan` finds the instalment broken, and the plan with it.
    contacts, said = plan(run, 8)
    assert "1 broken" in said
    assert "1 payment plan broken, 2 later instalments cancelled" in said
    assert promises(run) == [
        (1, dates[0], "broken", day(7)),
        (2, dates[1], "cancelled", day(8)),
        (3, dates[2], "cancelled", day(8)),
    ]
    assert database(run).execute(
        "SELECT status, resolved_on FROM payment_plans").fetchone()[:] == (
        "broken", day(8))
    [task] = broken_tasks(run)
    assert task.startswith("Brickwork Builders LLC (BRICK) did not keep the promise")
    assert task.endswith(
        "(instalment 1 of a payment plan, now broken; its 2 later instalments "
        "cancelled)")

    # The customer moves to the strategy for a broken promise, and nothing
    # waits for the instalments still to come: the message goes out.
    assert {c["strategy"] for c in contacts} == {"broken-promise"}
    assert [(c["channel"], c["state"], c["held_because"]) for c in contacts] == [
        ("email", "planned", None)]

    # The cancelled instalments are no promise to check on their dates, and
    # the history says why they ended.
    agenda = run("agenda", "--for", dates[1], "--format", "json")
    assert agenda.exit_code == 0, agenda.stderr
    assert [i["kind"] for i in json.loads(agenda.stdout)] == ["broken_promise"]
    shown = json.loads(run("show", "BRICK", "--format", "json").stdout)["timeline"]
    assert [e["text"] for e in shown if e["kind"] == "promise"][1:] == [
        f"instalment {n}: to pay {cents(a)} USD by {d} (cancelled on {day(8)}: its "
        "payment plan was broken)"
        for n, a, d in [(2, owed(run) // 3, dates[1]), (3, owed(run) // 3, dates[2])]
    ]


def test_a_payment_after_the_plan_broke_goes_to_the_promise_made_since(
    run, tmp_path
):
    dates = agree_three_instalments(run, tmp_path)
    plan(run, 8)  # the plan breaks
    # A new promise, due after the second (cancelled) instalment's date: the
    # payment that keeps it is not spent on the cancelled instalment.
    assert dates[1] < day(36)
    log(run, "BRICK", "--outcome", "promise", "--amount", "300", "--on", day(36),
        today=10)
    said = pay(run, tmp_path, day(30), "300.00", "BRICK-P-AFTER")
    assert "promises: 1 kept" in said
    assert [p[2] for p in promises(run)] == ["broken", "cancelled", "cancelled", "kept"]


# -- the check in each command that runs it ------------------------------------------


def promise_by(run, tmp_path, due: int) -> None:
    """BRICK promises on D1 to pay 400.00 on D1 + *due*."""
    load(run, tmp_path, struggling())
    log(run, "BRICK", "--outcome", "promise", "--amount", "400", "--on", day(due),
        "--channel", "call", today=0)


def test_cobra_run_finds_a_broken_promise_and_raises_a_task(run, tmp_path):
    promise_by(run, tmp_path, 3)
    result = run("run", "--for", day(6), "--at", at(6, 14), "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["promises"] == {"kept": 0, "partly_kept": 0, "broken": 1}
    assert "promises: 0 kept, 0 partly kept, 1 broken" in result.stderr
    assert promises(run) == [(None, day(3), "broken", day(5))]
    [task] = broken_tasks(run)
    assert task == (
        "Brickwork Builders LLC (BRICK) did not keep the promise to pay 400.00 USD "
        f"by {day(3)}")
    # The check closed the task to check the promise, and the day's plan,
    # made after it, follows the broken promise.
    conn = database(run)
    assert conn.execute(
        "SELECT state FROM tasks WHERE kind = 'promise_check'").fetchone()[0] == "done"
    assert {r[0] for r in conn.execute("SELECT strategy FROM outbox")} == {
        "broken-promise"}


def test_the_configured_grace_period_decides_when_a_promise_is_broken(
    run, tmp_path, isolated
):
    (isolated / "cobra.toml").write_text("[follow_up]\npromise_grace_days = 5\n")
    promise_by(run, tmp_path, 3)
    # The task to check it comes after the configured grace, not the default 2.
    assert database(run).execute(
        "SELECT due_on FROM tasks WHERE kind = 'promise_check'").fetchone()[0] == day(8)
    # Three days after its date the promise is still open (two would have
    # broken it); the day after the fifth, it is broken.
    _, said = plan(run, 6)
    assert promises(run) == [(None, day(3), "open", None)]
    assert broken_tasks(run) == []
    _, said = plan(run, 9)
    assert "1 broken" in said
    assert promises(run) == [(None, day(3), "broken", day(8))]
    assert len(broken_tasks(run)) == 1


def test_a_partial_promise_is_checked_like_any_promise(run, tmp_path):
    load(run, tmp_path, struggling())
    logged = log(run, "BRICK", "--outcome", "partial_promise", "--amount", "200",
                 "--on", day(4), "--note", "200 now, the rest after their client pays",
                 today=0)
    assert "Logged partial_promise for BRICK; 1 promise; 1 task raised." in logged.stderr
    row = database(run).execute(
        "SELECT amount, currency, made_on, due_on, note FROM promises").fetchone()
    assert tuple(row) == (20000, "USD", day(0), day(4),
                          "200 now, the rest after their client pays")
    said = pay(run, tmp_path, day(4), "200.00", "BRICK-PARTIAL")
    assert "promises: 1 kept" in said
    assert promises(run) == [(None, day(4), "kept", day(4))]
