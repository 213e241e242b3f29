"""The promise check, through the commands that run it (`cobra plan`, `cobra run`,
`cobra import`): promises kept, partly kept and broken, its grace period, what
of a payment counts towards a promise (the bills owed when it was made, not
the current ones), and a payment plan broken by a missed instalment."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from histories import History, database, load, pay, struggling

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


def promise(run, amount: str, on: str, *args: str, today: int):
    """BRICK promises on D1 + *today* to pay *amount* by *on*."""
    return log(
        run,
        "BRICK",
        "--outcome",
        "promise",
        "--amount",
        amount,
        "--on",
        on,
        *args,
        today=today,
    )


def owed(run) -> int:
    """What BRICK owes, in cents."""
    return (
        database(run)
        .execute("SELECT SUM(balance) FROM invoices WHERE status = 'open'")
        .fetchone()[0]
    )


def cents(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def promises(run) -> list[tuple]:
    return [
        tuple(r)
        for r in database(run).execute(
            "SELECT instalment, due_on, status, resolved_on FROM promises ORDER BY id"
        )
    ]


def broken_tasks(run) -> list[str]:
    return [
        r[0]
        for r in database(run).execute(
            "SELECT title FROM tasks WHERE kind = 'broken_promise' ORDER BY id"
        )
    ]


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
    log(
        run,
        "BRICK",
        "--outcome",
        "plan_agreed",
        "--collector",
        "ana",
        *[
            arg
            for due, amount in zip(dates, amounts)
            for arg in ("--instalment", f"{due}={cents(amount)}")
        ],
        today=0,
    )
    return dates


def test_a_missed_instalment_breaks_the_plan_and_the_customer_is_pressed_again(
    run, tmp_path
):
    dates = agree_three_instalments(run, tmp_path)
    # While the plan runs, the plan's instalments set the contacts.
    reminders, _ = plan(run, 2)
    assert [(c["strategy"], c["template"]) for c in reminders] == [
        ("payment-plan", "instalment-reminder")
    ]

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
        "SELECT status, resolved_on FROM payment_plans"
    ).fetchone()[:] == ("broken", day(8))
    [task] = broken_tasks(run)
    assert task.startswith("Brickwork Builders LLC (BRICK) did not keep the promise")
    assert task.endswith(
        "(instalment 1 of a payment plan, now broken; its 2 later instalments "
        "cancelled)"
    )

    # The customer moves to the strategy for a broken promise, and nothing
    # waits for the instalments still to come: the message goes out.
    assert {c["strategy"] for c in contacts} == {"broken-promise"}
    assert [(c["channel"], c["state"], c["held_because"]) for c in contacts] == [
        ("email", "planned", None)
    ]

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


def test_a_payment_after_the_plan_broke_goes_to_the_promise_made_since(run, tmp_path):
    dates = agree_three_instalments(run, tmp_path)
    plan(run, 8)  # the plan breaks
    # A new promise, due after the second (cancelled) instalment's date: the
    # payment that keeps it is not spent on the cancelled instalment.
    assert dates[1] < day(36)
    promise(run, "300", day(36), today=10)
    said = pay(run, tmp_path, day(30), "300.00", "BRICK-P-AFTER")
    assert "promises: 1 kept" in said
    assert [p[2] for p in promises(run)] == ["broken", "cancelled", "cancelled", "kept"]


# -- what a payment counts towards: the bills owed when the promise was made ---------

OVERDUE, CURRENT = "LATE-0004", "LATE-0005"


def overdue_and_current(run, tmp_path) -> None:
    """LATE paid its bills on time until April's 400.00 (OVERDUE, due May 20,
    overdue on D1); May's 400.00 (CURRENT) is due on D1 + 9, not yet on D1."""
    late = History("LATE", "Latecomer Supplies Co.")
    late.monthly(date(2026, 1, 20), 4, "400.00", unpaid={3})
    late.invoice(date(2026, 5, 20), "400.00")
    load(run, tmp_path, late)
    assert [
        tuple(r)
        for r in database(run).execute(
            "SELECT number, due_date, status FROM invoices WHERE status = 'open'"
        )
    ] == [(OVERDUE, "2026-05-20", "open"), (CURRENT, day(9), "open")]


def promise_late(run, *invoices: str) -> None:
    """LATE promises on D1 to pay 400.00 by D1 + 10, about *invoices* if named."""
    named = [arg for number in invoices for arg in ("--invoice", number)]
    log(
        run,
        "LATE",
        "--outcome",
        "promise",
        "--amount",
        "400",
        "--on",
        day(10),
        *named,
        today=0,
    )


def late_promise(run) -> tuple:
    return tuple(
        database(run)
        .execute("SELECT status, paid, resolved_on FROM promises")
        .fetchone()
    )


def status_of(run, number: str) -> str:
    return (
        database(run)
        .execute("SELECT status FROM invoices WHERE number = ?", (number,))
        .fetchone()[0]
    )


def test_paying_the_current_bill_on_time_keeps_no_promise_about_the_overdue_one(
    run, tmp_path
):
    overdue_and_current(run, tmp_path)
    promise_late(run)
    # The customer pays the bill falling due on day 9, naming it, and not the
    # one it promised about: the promise is broken, though 400.00 came in.
    said = pay(
        run, tmp_path, day(8), "400.00", "LATE-JUNE", "LATE", invoices=(CURRENT,)
    )
    assert "promises: 0 kept, 0 partly kept, 1 broken" in said
    assert late_promise(run) == ("broken", 0, day(12))
    assert (status_of(run, OVERDUE), status_of(run, CURRENT)) == ("open", "paid")
    assert broken_tasks(run) == [
        (
            "Latecomer Supplies Co. (LATE) did not keep the promise to pay 400.00 USD "
            f"by {day(10)}"
        )
    ]


def test_a_payment_on_account_goes_to_the_overdue_bill_and_keeps_the_promise(
    run, tmp_path
):
    overdue_and_current(run, tmp_path)
    promise_late(run)
    said = pay(run, tmp_path, day(8), "400.00", "LATE-ON-ACCOUNT", "LATE")
    assert "promises: 1 kept" in said
    assert late_promise(run) == ("kept", 40000, day(8))
    assert (status_of(run, OVERDUE), status_of(run, CURRENT)) == ("paid", "open")


@pytest.mark.parametrize(
    ("settles", "status", "paid"),
    [
        ((CURRENT,), "kept", 40000),
        # The overdue bill is not what this promise was about.
        ((OVERDUE,), "broken", 0),
        ((), "broken", 0),  # on account: the overdue bill too
    ],
)
def test_a_promise_naming_its_invoices_counts_what_settles_them(
    run, tmp_path, settles, status, paid
):
    overdue_and_current(run, tmp_path)
    promise_late(run, CURRENT)  # "the bill due on the 19th, by the 20th"
    pay(run, tmp_path, day(9), "400.00", "LATE-PAID", "LATE", invoices=settles)
    assert late_promise(run)[:2] == (status, paid)


@pytest.mark.parametrize(
    ("amount", "settles", "counted"),
    [
        # 400.00 to the current bill, 100.00 to the overdue one.
        ("500.00", (CURRENT, OVERDUE), 10000),
        # 400.00 to the current bill, 50.00 left over as the customer's credit.
        ("450.00", (CURRENT,), 5000),
    ],
)
def test_only_the_part_of_a_payment_for_the_overdue_bill_or_left_over_counts(
    run, tmp_path, amount, settles, counted
):
    overdue_and_current(run, tmp_path)
    promise_late(run)
    said = pay(run, tmp_path, day(8), amount, "LATE-SPLIT", "LATE", invoices=settles)
    assert "promises: 0 kept, 1 partly kept, 0 broken" in said
    assert late_promise(run) == ("partly_kept", counted, day(12))
    [task] = broken_tasks(run)
    assert task.endswith(
        f"paid only part of 400.00 USD promised by {day(10)}: "
        f"{cents(40000 - counted)} USD still owed"
    )


def agree_and_pay_two_instalments(run, tmp_path, first: str, second: str) -> None:
    """LATE agrees on D1 a plan of *first* on D1 + 5 and *second* on D1 + 30,
    then pays each in full on its day; the payments are imported together,
    so the check runs as of today, long after both dates."""
    log(
        run,
        "LATE",
        "--outcome",
        "plan_agreed",
        "--instalment",
        f"{day(5)}={first}",
        "--instalment",
        f"{day(30)}={second}",
        today=0,
    )
    paid = History("LATE", "Latecomer Supplies Co.")
    paid.pay(date.fromisoformat(day(5)), f"{first}.00", reference="LATE-I1")
    paid.pay(date.fromisoformat(day(30)), f"{second}.00", reference="LATE-I2")
    load(run, tmp_path, paid)


def test_a_plan_for_everything_owed_counts_the_bill_then_current(run, tmp_path):
    overdue_and_current(run, tmp_path)
    # The plan covers both bills, the one not yet due included, so a payment
    # on account that reaches that bill once the overdue one is paid counts.
    agree_and_pay_two_instalments(run, tmp_path, "400", "400")
    assert (status_of(run, OVERDUE), status_of(run, CURRENT)) == ("paid", "paid")
    assert [p[2] for p in promises(run)] == ["kept", "kept"]
    assert (
        database(run).execute("SELECT status FROM payment_plans").fetchone()[0]
        == "completed"
    )


def test_what_was_owed_is_read_from_balances_a_source_states(run, tmp_path):
    # An aging export states balances, not the payments behind them: April's
    # 1000.00 bill has 200.00 left, May's 400.00 (due D1 + 9) is whole. A
    # plan of 200.00 and 400.00 covers everything owed on D1, so a payment on
    # account that reaches May's bill after April's counts towards it.
    source = tmp_path / "aging.csv"
    source.write_text(
        "customer_id,customer_name,email,invoice_id,issue_date,due_date,"
        "currency,amount,balance,country\n"
        "LATE,Latecomer Supplies Co.,ap@late.example,A,2026-04-20,2026-05-20,"
        "USD,1000.00,200.00,US\n"
        f"LATE,Latecomer Supplies Co.,ap@late.example,B,2026-05-20,{day(9)},"
        "USD,400.00,400.00,US\n",
        encoding="utf-8",
    )
    assert run("import", str(source)).exit_code == 0
    agree_and_pay_two_instalments(run, tmp_path, "200", "400")
    # Read from the amounts, 800.00 of April's bill would have looked owed
    # on D1, more than the plan's 600.00: May's payment would not count.
    assert [p[2] for p in promises(run)] == ["kept", "kept"]


def test_a_plan_for_the_overdue_bill_is_not_kept_by_paying_the_current_one(
    run, tmp_path
):
    overdue_and_current(run, tmp_path)
    log(
        run,
        "LATE",
        "--outcome",
        "plan_agreed",
        "--amount",
        "400",
        "--instalment",
        f"{day(9)}=200",
        "--instalment",
        f"{day(30)}=200",
        today=0,
    )
    said = pay(
        run, tmp_path, day(8), "400.00", "LATE-JUNE", "LATE", invoices=(CURRENT,)
    )
    # Checked as of today, long after both dates: neither instalment was paid.
    assert "promises: 0 kept, 0 partly kept, 2 broken" in said
    assert [p[2] for p in promises(run)] == ["broken", "broken"]
    assert (
        database(run).execute("SELECT status FROM payment_plans").fetchone()[0]
        == "broken"
    )


# -- the check in each command that runs it ------------------------------------------


def promise_by(run, tmp_path, due: int) -> None:
    """BRICK promises on D1 to pay 400.00 on D1 + *due*."""
    load(run, tmp_path, struggling())
    promise(run, "400", day(due), "--channel", "call", today=0)


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
        f"by {day(3)}"
    )
    # The check closed the task to check the promise, and the day's plan,
    # made after it, follows the broken promise.
    conn = database(run)
    assert (
        conn.execute("SELECT state FROM tasks WHERE kind = 'promise_check'").fetchone()[
            0
        ]
        == "done"
    )
    assert {r[0] for r in conn.execute("SELECT strategy FROM outbox")} == {
        "broken-promise"
    }


def test_the_configured_grace_period_decides_when_a_promise_is_broken(
    run, tmp_path, isolated
):
    (isolated / "cobra.toml").write_text("[follow_up]\npromise_grace_days = 5\n")
    promise_by(run, tmp_path, 3)
    # The task to check it comes after the configured grace, not the default 2.
    assert database(run).execute(
        "SELECT due_on FROM tasks WHERE kind = 'promise_check'"
    ).fetchone()[0] == day(8)
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
    logged = log(
        run,
        "BRICK",
        "--outcome",
        "partial_promise",
        "--amount",
        "200",
        "--on",
        day(4),
        "--note",
        "200 now, the rest after their client pays",
        today=0,
    )
    assert (
        "Logged partial_promise for BRICK; 1 promise; 1 task raised." in logged.stderr
    )
    row = (
        database(run)
        .execute("SELECT amount, currency, made_on, due_on, note FROM promises")
        .fetchone()
    )
    assert tuple(row) == (
        20000,
        "USD",
        day(0),
        day(4),
        "200 now, the rest after their client pays",
    )
    said = pay(run, tmp_path, day(4), "200.00", "BRICK-PARTIAL")
    assert "promises: 1 kept" in said
    assert promises(run) == [(None, day(4), "kept", day(4))]


# -- reminders of a plan's instalments, and days without planning -----------------


def reminders(run, offset: int) -> list[tuple]:
    """The instalment reminders `cobra plan` makes for D1 + *offset*: (subject
    of the instalment, step, state, notes) of each."""
    contacts, _ = plan(run, offset)
    return [
        (c["subject"].split(": ", 1)[1], c["step"], c["state"])
        for c in contacts
        if c["strategy"] == "payment-plan"
    ]


def planned_reminders(run) -> list[tuple]:
    """Every instalment reminder in the outbox: (day, step, key)."""
    return [
        tuple(r)
        for r in database(run).execute(
            "SELECT planned_for, step, idempotency_key FROM outbox"
            " WHERE strategy = 'payment-plan' ORDER BY id"
        )
    ]


def cron_run(
    run, isolated, tmp_path, offset: int, payments: dict, extra: str = ""
) -> None:
    """`cobra run` on D1 + *offset*, as cron runs it, importing BRICK's
    payments so far (reference -> (day, minor units)) from its source."""
    source = tmp_path / "payments.jsonl"
    source.write_text(
        "".join(
            json.dumps(
                {
                    "type": "payment",
                    "customer_id": "BRICK",
                    "date": on,
                    "payment_id": ref,
                    "currency": "USD",
                    "amount": cents(amount),
                }
            )
            + "\n"
            for ref, (on, amount) in payments.items()
        )
    )
    (isolated / "cobra.toml").write_text(f'[[sources]]\nsource = "{source}"\n\n{extra}')
    result = run("run", "--for", day(offset), "--at", at(offset, 14))
    assert result.exit_code == 0, result.stderr


def instalment_amount(run, number: int) -> int:
    return (
        database(run)
        .execute("SELECT amount FROM promises WHERE instalment = ?", (number,))
        .fetchone()[0]
    )


def keep_first_instalment(run, tmp_path, isolated, extra: str = "") -> dict:
    """The plan of three, with instalment 1 paid on its date and imported by
    that day's run: instalment 2, due on day 35, is the one reminded of
    next. Returns the payments imported."""
    agree_three_instalments(run, tmp_path)
    payments = {"BRICK-I1": (day(5), instalment_amount(run, 1))}
    cron_run(run, isolated, tmp_path, 5, payments, extra)
    assert [p[2] for p in promises(run)] == ["kept", "open", "open"]
    return payments


SECOND = "instalment 2 of 3 due Jul 15, 2026"
# What a reminder caught up after the date says.
SECOND_LATE = "instalment 2 of 3 was due Jul 15, 2026"


def test_an_instalment_is_reminded_three_days_before_and_on_its_date(
    run, tmp_path, isolated
):
    keep_first_instalment(run, tmp_path, isolated)
    assert reminders(run, 31) == []
    assert reminders(run, 32) == [(SECOND, 1, "planned")]
    # Planning the day again adds nothing; nor do the days until the date.
    again = run("plan", "--for", day(32))
    assert "(0 new)" in again.stderr, again.stderr
    assert reminders(run, 33) == reminders(run, 34) == []
    assert reminders(run, 35) == [(SECOND, 2, "planned")]
    assert reminders(run, 36) == []
    assert planned_reminders(run) == [
        (day(32), 0, f"BRICK|payment-plan#0|{day(32)}|email"),
        (day(35), 1, f"BRICK|payment-plan#1|{day(35)}|email"),
    ]


def test_a_reminder_missed_on_its_day_is_planned_on_the_next_run_once(
    run, tmp_path, isolated
):
    keep_first_instalment(run, tmp_path, isolated)
    # Cron did not run on day 32: day 33 plans the reminder, saying so.
    contacts, _ = plan(run, 33)
    [late] = [c for c in contacts if c["strategy"] == "payment-plan"]
    assert (late["step"], late["state"]) == (1, "planned")
    assert "instalment 2 of 3, $1,100.00, is due on July 15, 2026" in late["preview"]
    shown = run("plan", "--for", day(33), "--dry-run", "--format", "json")
    assert json.loads(shown.stdout) == []
    assert reminders(run, 34) == []
    assert planned_reminders(run) == [
        (day(33), 0, f"BRICK|payment-plan#0|{day(33)}|email")
    ]
    # Nor did it run on the date: the day after plans that reminder, and
    # only that one, not the one before the date again.
    assert reminders(run, 36) == [(SECOND_LATE, 2, "planned")]
    assert reminders(run, 37) == []
    assert [r[:2] for r in planned_reminders(run)] == [(day(33), 0), (day(36), 1)]
    [body] = (
        database(run)
        .execute(
            "SELECT body FROM outbox WHERE planned_for = ? AND strategy = 'payment-plan'",
            (day(36),),
        )
        .fetchone()
    )
    assert "$1,100.00, was due on July 15, 2026 and is still open." in body


def test_after_days_without_planning_only_the_latest_reminder_is_made(
    run, tmp_path, isolated
):
    keep_first_instalment(run, tmp_path, isolated)
    # Neither day 32 nor day 35 planned: day 37, the last of the two days
    # of grace, reminds once of the instalment still open.
    assert reminders(run, 37) == [(SECOND_LATE, 2, "planned")]
    assert planned_reminders(run) == [
        (day(37), 1, f"BRICK|payment-plan#1|{day(37)}|email")
    ]


def test_no_reminder_is_made_up_for_once_the_grace_is_over(run, tmp_path, isolated):
    keep_first_instalment(run, tmp_path, isolated)
    # The first day that plans after the grace breaks the instalment, and the
    # plan with it: nothing reminds of it any more.
    contacts, said = plan(run, 38)
    assert "1 payment plan broken" in said
    assert [c["strategy"] for c in contacts] == ["broken-promise"]
    assert planned_reminders(run) == []


def test_a_reminder_due_before_the_plan_was_agreed_is_not_made_up_for(
    run, tmp_path, isolated
):
    # Agreed on day 0 with the first instalment on day 2: three days before
    # it was before the agreement, so only the reminder on the date comes.
    brick = struggling()
    load(run, tmp_path, brick)
    total = owed(run)
    log(
        run,
        "BRICK",
        "--outcome",
        "plan_agreed",
        "--instalment",
        f"{day(2)}={cents(total - total // 2)}",
        "--instalment",
        f"{day(32)}={cents(total // 2)}",
        today=0,
    )
    assert reminders(run, 1) == []
    assert [r[1] for r in reminders(run, 2)] == [2]


def test_the_configured_reminder_days_move_the_reminder_and_its_catch_up(
    run, tmp_path, isolated
):
    keep_first_instalment(
        run, tmp_path, isolated, "[follow_up]\ninstalment_reminder_days = 6\n"
    )
    assert reminders(run, 28) == []
    assert reminders(run, 29) == [(SECOND, 1, "planned")]
    assert reminders(run, 32) == []  # not three days before as well
    assert [r[:2] for r in planned_reminders(run)] == [(day(29), 0)]


def test_a_later_instalments_missed_reminder_is_planned_and_sent(
    run, tmp_path, isolated
):
    payments = keep_first_instalment(run, tmp_path, isolated)
    payments["BRICK-I2"] = (day(35), instalment_amount(run, 2))
    cron_run(run, isolated, tmp_path, 35, payments)
    assert [p[2] for p in promises(run)] == ["kept", "kept", "open"]
    # Instalment 3 is due on day 65; planning skipped day 62 and runs on 63.
    contacts, _ = plan(run, 63)
    [late] = [c for c in contacts if c["strategy"] == "payment-plan"]
    assert late["subject"] == "Payment plan: instalment 3 of 3 due Aug 14, 2026"
    # `cobra send`, with the starter's file backend, writes it once.
    for _ in range(2):
        sent = run("send", "--for", day(63), "--at", late["send_at"])
        assert sent.exit_code == 0, sent.stderr
    assert "Send: sent 0" in sent.stderr
    # The folder is relative to the config, which names the run's source.
    [message] = (isolated / "outbox").glob("*.eml")
    text = message.read_text()
    assert f"X-Cobra-Key: BRICK|payment-plan#0|{day(63)}|email" in text
    assert "To: Brickwork Builders LLC <ap@brick.example>" in text
    assert "instalment 3 of 3" in text
    assert (
        database(run)
        .execute("SELECT state FROM outbox WHERE strategy = 'payment-plan'")
        .fetchall()[-1][0]
        == "sent"
    )
