"""`cobra log` and the promise check: one customer's whole story, then each
bad input (exit 2, nothing recorded)."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from email import policy
from email.parser import BytesParser

import pytest
from histories import (
    History,
    database,
    good_payer,
    load,
    pay,
    struggling,
    table_rows,
)

D1 = date(2026, 6, 10)


def day(offset: int) -> str:
    return (D1 + timedelta(days=offset)).isoformat()


def at(offset: int, hour: int = 15) -> str:
    return f"{day(offset)}T{hour:02d}:00:00+00:00"


def plan(run, offset: int) -> list[dict]:
    result = run("plan", "--for", day(offset), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def log(run, *args: str, today: int):
    """`cobra log` of a contact made on D1 + *today*, which dates its checks."""
    return run("log", *args, "--at", at(today))


def counts(run) -> dict[str, int]:
    conn = database(run)
    tables = ("interactions", "promises", "tasks", "findings", "payment_plans")
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def tasks(run) -> list[sqlite3.Row]:
    return database(run).execute("SELECT * FROM tasks ORDER BY id").fetchall()


def falling_behind() -> History:
    """Paid on time for 15 months, then April 2026's bill in part and none since.

    1750.00 is owed on three bills, the oldest due on 2026-05-01 (D1 - 40), so
    the cadence of a customer who cannot pay still has its day-45 step to come
    on D1 + 5.
    """
    brick = History(
        "BRICK", "Brickwork Builders LLC", segment="enterprise", phone="+12125550188"
    )
    brick.monthly(
        date(2025, 1, 1), 17, "800.00", partly={15: ("300.00", 20)}, unpaid={16}
    )
    brick.invoice(date(2026, 5, 10), "450.00")
    return brick


def test_a_customer_from_reminder_to_payment_plan(run, tmp_path):
    load(run, tmp_path, falling_behind())

    # Day 0: the plan contacts the customer, the send delivers it.
    [first] = plan(run, 0)
    assert (first["strategy"], first["state"]) == ("payment-plan", "planned")
    sent = run("send", "--for", day(0), "--at", at(0))
    assert sent.exit_code == 0, sent.stderr
    [message] = table_rows(run, "outbox")
    assert (message["state"], message["address"], message["subject"]) == (
        "sent",
        "ap@brick.example",
        first["subject"],
    )
    [written] = (tmp_path / "home" / "outbox").glob("*.eml")
    delivered = BytesParser(policy=policy.default).parsebytes(written.read_bytes())
    assert (delivered["To"].addresses[0].addr_spec, delivered["Subject"]) == (
        "ap@brick.example",
        first["subject"],
    )

    # The collector calls: no answer, then a promise of 400.00 in five days.
    assert (
        log(
            run,
            "BRICK",
            "--outcome",
            "no_answer",
            "--channel",
            "call",
            "--collector",
            "ana",
            today=1,
        ).exit_code
        == 0
    )
    promised = log(
        run,
        "BRICK",
        "--outcome",
        "promise",
        "--channel",
        "call",
        "--amount",
        "400",
        "--on",
        day(6),
        "--collector",
        "ana",
        "--note",
        "Pays Monday, once the client pays them",
        today=2,
    )
    assert promised.exit_code == 0, promised.stderr
    assert "1 promise; 1 task raised" in promised.stderr
    [check] = tasks(run)
    assert (check["kind"], check["due_on"]) == ("promise_check", day(8))
    assert check["title"] == (
        "Check that Brickwork Builders LLC (BRICK) paid 400.00 USD promised by "
        f"{day(6)}"
    )
    # While the promise runs, no automated reminder goes out: the cadence's
    # next step falls due on day 5 and is held for the promise.
    [held] = plan(run, 5)
    assert (held["strategy"], held["step"], held["state"], held["held_because"]) == (
        "payment-plan",
        4,
        "held",
        f"promised to pay by {day(6)}",
    )

    # 150.00 arrives on day 5; after the grace period the promise is partly kept.
    # The import checks promises at once: the story is told months later,
    # so the grace period is long over.
    imported = pay(run, tmp_path, day(5), "150.00", "BRICK-P-1")
    assert "promises: 0 kept, 1 partly kept, 0 broken" in imported
    # With the promise behind it, the step held on day 5 goes out.
    [released] = plan(run, 9)
    assert (released["step"], released["state"]) == (held["step"], "planned")
    promise = database(run).execute("SELECT * FROM promises").fetchone()
    assert (promise["status"], promise["paid"], promise["resolved_on"]) == (
        "partly_kept",
        15000,
        day(8),
    )
    raised = [t for t in tasks(run) if t["kind"] == "broken_promise"]
    assert [t["title"] for t in raised] == [
        "Brickwork Builders LLC (BRICK) paid only part of 400.00 USD promised by "
        f"{day(6)}: 250.00 USD still owed"
    ]
    assert (
        database(run)
        .execute("SELECT state FROM tasks WHERE kind = 'promise_check'")
        .fetchone()[0]
        == "done"
    )

    # A second promise, for the rest, is broken outright.
    assert (
        log(
            run,
            "BRICK",
            "--outcome",
            "promise",
            "--amount",
            "250",
            "--on",
            day(12),
            "--channel",
            "call",
            today=10,
        ).exit_code
        == 0
    )
    broken = plan(run, 15)
    statuses = [
        r[0] for r in database(run).execute("SELECT status FROM promises ORDER BY id")
    ]
    assert statuses == ["partly_kept", "broken"]
    assert len([t for t in tasks(run) if t["kind"] == "broken_promise"]) == 2
    # The broken promise moves the customer to its strategy: escalation.
    assert {c["strategy"] for c in broken} == {"broken-promise"}
    assert {c["template"] for c in broken} == {"final-notice"}

    # The customer agrees to a plan from `cobra offer`: three monthly payments.
    offer = run("offer", "BRICK", "--as-of", day(16), "--format", "json")
    options = {o["option"]: o for o in json.loads(offer.stdout)}
    assert "plan_3" in options, offer.stdout
    agreed = log(
        run,
        "BRICK",
        "--outcome",
        "plan_agreed",
        "--plan",
        "3",
        "--collector",
        "ana",
        today=16,
    )
    assert agreed.exit_code == 0, agreed.stderr
    schedule = options["plan_3"]
    stored = (
        database(run)
        .execute(
            "SELECT instalment, due_on, amount FROM promises WHERE plan_id IS NOT NULL"
            " ORDER BY instalment"
        )
        .fetchall()
    )
    expected = (
        [(schedule["down_payment_due"], schedule["down_payment"])]
        if schedule["down_payment_due"]
        else []
    )
    expected += [(i["due"], i["amount"]) for i in schedule["instalments"]]
    assert [(r["due_on"], f"{r['amount'] / 100:.2f}") for r in stored] == expected

    # Reminders follow the instalments: three days before the first one.
    first_due = date.fromisoformat(stored[0]["due_on"])
    reminder_day = (first_due - timedelta(days=3) - D1).days
    assert plan(run, reminder_day - 1) == []  # no cadence on the old due dates
    [reminder] = plan(run, reminder_day)
    assert (reminder["strategy"], reminder["template"]) == (
        "payment-plan",
        "instalment-reminder",
    )
    assert reminder["subject"].startswith("Payment plan: instalment 1 of ")
    assert reminder["state"] == "planned"


# -- recording each outcome --------------------------------------------------------


def reason_as_of(run, offset: int) -> str:
    """The diagnosis of the only customer at the end of D1 + *offset*."""
    listed = run("prioritize", "--format", "json", "--as-of", day(offset))
    assert listed.exit_code == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    return row["reason"]


def test_a_collectors_reason_overrides_the_diagnosis(run, tmp_path):
    load(run, tmp_path, good_payer())
    result = log(
        run,
        "ACME",
        "--outcome",
        "other",
        "--reason",
        "cannot_pay",
        "--note",
        "Lost their main client",
        "--collector",
        "ana",
        today=1,
    )
    assert result.exit_code == 0, result.stderr
    # The finding holds from the day it was noted, not before.
    assert reason_as_of(run, 0) == "forgot"
    assert reason_as_of(run, 1) == "cannot_pay"
    assert reason_as_of(run, 20) == "cannot_pay"
    assert counts(run)["findings"] == 1


def test_a_dispute_marks_the_invoices_and_raises_a_task(run, tmp_path):
    load(run, tmp_path, good_payer())
    [number] = [
        r["invoice_id"] for r in good_payer().records if r["type"] == "invoice"
    ][-1:]
    result = run(
        "log",
        "ACME",
        "--outcome",
        "dispute",
        "--invoice",
        number,
        "--note",
        "Says the May bill double-counts support hours",
    )
    assert result.exit_code == 0, result.stderr
    assert "1 invoices disputed; 1 task raised" in result.stderr
    conn = database(run)
    assert conn.execute(
        "SELECT disputed_since FROM invoices WHERE number = ?", (number,)
    ).fetchone()[0]
    [task] = tasks(run)
    assert task["kind"] == "dispute" and number in task["title"]
    assert conn.execute("SELECT COUNT(*) FROM interaction_invoices").fetchone()[0] == 1


def two_bills_unpaid() -> History:
    """A good payer whose April and May 2026 bills (300.00, 500.00) are open."""
    acme = History("ACME", "Acme Tools Inc.")
    acme.monthly(date(2024, 4, 1), 24, "1200.00")
    acme.invoice(date(2026, 4, 1), "300.00")
    acme.invoice(date(2026, 5, 1), "500.00")
    return acme


def disputed(run) -> list[str]:
    return [
        r[0]
        for r in database(run).execute(
            "SELECT number FROM invoices WHERE disputed_since IS NOT NULL"
            " ORDER BY number"
        )
    ]


def test_a_resolved_dispute_ends_on_its_invoices_and_closes_its_task(run, tmp_path):
    load(run, tmp_path, two_bills_unpaid())
    for number in ("ACME-0025", "ACME-0026"):
        assert (
            log(
                run,
                "ACME",
                "--outcome",
                "dispute",
                "--invoice",
                number,
                "--collector",
                "ana",
                today=0,
            ).exit_code
            == 0
        )
    assert reason_as_of(run, 0) == "dissatisfied"

    # One dispute settled: its invoice and its task, not the other's.
    result = log(
        run,
        "ACME",
        "--outcome",
        "dispute_resolved",
        "--invoice",
        "ACME-0025",
        "--channel",
        "call",
        "--collector",
        "ana",
        "--note",
        "Credit note for the double-counted hours agreed",
        today=1,
    )
    assert result.exit_code == 0, result.stderr
    assert (
        "Logged dispute_resolved for ACME; dispute resolved on ACME-0025; "
        "1 dispute task closed."
    ) in result.stderr
    assert disputed(run) == ["ACME-0026"]
    states = [(t["title"], t["state"], t["note"]) for t in tasks(run)]
    assert states == [
        (
            "Resolve Acme Tools Inc. (ACME)'s dispute of ACME-0025",
            "done",
            "dispute of ACME-0025 resolved, logged by ana: Credit note for the "
            "double-counted hours agreed",
        ),
        ("Resolve Acme Tools Inc. (ACME)'s dispute of ACME-0026", "open", None),
    ]
    conn = database(run)
    [(interaction, outcome)] = conn.execute(
        "SELECT id, outcome FROM interactions WHERE outcome = 'dispute_resolved'"
    )
    assert [
        r[0]
        for r in conn.execute(
            "SELECT i.number FROM interaction_invoices l JOIN invoices i"
            " ON i.id = l.invoice_id WHERE l.interaction_id = ?",
            (interaction,),
        )
    ] == ["ACME-0025"]
    timeline = json.loads(run("show", "ACME", "--format", "json").stdout)["timeline"]
    assert (
        "dispute_resolved (ACME-0025) via call by ana: Credit note for the "
        "double-counted hours agreed"
    ) in [e["text"] for e in timeline]

    # Without --invoice, every invoice still in dispute; then nothing is left
    # in dispute, the diagnosis no longer counts one, and the agenda is clear.
    rest = log(run, "ACME", "--outcome", "dispute_resolved", today=2)
    assert rest.exit_code == 0, rest.stderr
    assert "dispute resolved on ACME-0026; 1 dispute task closed" in rest.stderr
    assert disputed(run) == []
    assert [t["state"] for t in tasks(run)] == ["done", "done"]
    assert reason_as_of(run, 2) != "dissatisfied"
    agenda = run("agenda", "--for", day(2), "--format", "json")
    assert [i["kind"] for i in json.loads(agenda.stdout)] == []


def test_resolving_a_dispute_on_an_invoice_not_in_dispute_is_refused(run, tmp_path):
    load(run, tmp_path, two_bills_unpaid())
    assert (
        run("log", "ACME", "--outcome", "dispute", "--invoice", "ACME-0026").exit_code
        == 0
    )
    before = counts(run)
    result = run(
        "log",
        "ACME",
        "--outcome",
        "dispute_resolved",
        "--invoice",
        "ACME-0026",
        "--invoice",
        "ACME-0025",
    )
    assert result.exit_code == 2
    assert (
        "invoice: invoice ACME-0025 is not in dispute (in dispute: ACME-0026)"
        in result.stderr
    )
    assert counts(run) == before
    assert disputed(run) == ["ACME-0026"]
    assert [t["state"] for t in tasks(run)] == ["open"]


def test_a_wrong_contact_is_marked_invalid(run, tmp_path):
    load(run, tmp_path, good_payer())
    result = run("log", "ACME", "--outcome", "wrong_contact", "--channel", "email")
    assert result.exit_code == 0, result.stderr
    assert "ap@acme.example marked invalid" in result.stderr
    invalid = (
        database(run)
        .execute("SELECT invalid_since, invalid_reason FROM contacts")
        .fetchone()
    )
    assert invalid[0] and invalid[1] == "wrong contact, logged by a collector"


def test_a_wrong_contact_named_is_marked_invalid_and_the_plan_falls_back(run, tmp_path):
    acme = good_payer()
    acme.records[0]["phone"] = "+12125550100"
    load(run, tmp_path, acme)
    # Named as the collector typed it: e-mail addresses match in any case.
    result = log(
        run,
        "ACME",
        "--outcome",
        "wrong_contact",
        "--contact",
        "AP@Acme.Example",
        "--collector",
        "luis",
        today=-1,
    )
    assert result.exit_code == 0, result.stderr
    assert "AP@Acme.Example marked invalid" in result.stderr
    rows = (
        database(run)
        .execute(
            "SELECT kind, invalid_since IS NOT NULL, invalid_reason FROM contacts"
            " ORDER BY kind"
        )
        .fetchall()
    )
    assert [tuple(r) for r in rows] == [
        ("email", 1, "wrong contact, logged by luis"),
        ("phone", 0, None),
    ]
    # The address is no longer used: June 10's e-mail step (friendly-reminder
    # step 4) falls back to the phone.
    contacts = json.loads(
        run("plan", "--for", "2026-06-10", "--format", "json", "--dry-run").stdout
    )
    assert [(c["strategy"], c["step"], c["channel"]) for c in contacts] == [
        ("friendly-reminder", 3, "sms")
    ]


LEGAL_REVIEW = """
name = "legal-review"
description = "Customers who cannot pay and broke a promise go to the lawyers."
priority = 1

[match]
reasons = ["cannot_pay"]
promise = "broken"

[[steps]]
day = 0
objective = "Hand the account to our lawyers"
channel = "task"
template = "call-brief"
tone = "formal"
method = "authority"
tactic = "legitimating"
"""


def test_a_broken_promise_moves_the_customer_where_its_strategy_says(run, tmp_path):
    # The user's payment-plan strategy sends a broken promise to their own
    # legal-review, which the shipped broken-promise (priority 50) outranks
    # in any choice by matching alone.
    from importlib.resources import files

    shipped = files("cobra_starter").joinpath("strategies", "cannot_pay.toml")
    text = shipped.read_text("utf-8")
    default = 'broken_promise = "broken-promise"'
    assert text.count(default) == 1
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "cannot_pay.toml").write_text(
        text.replace(default, 'broken_promise = "legal-review"'), encoding="utf-8"
    )
    (folder / "legal_review.toml").write_text(LEGAL_REVIEW, encoding="utf-8")
    mine = tmp_path / "mine.toml"
    mine.write_text(f'[plan]\nstrategies_dir = "{folder}"\n', encoding="utf-8")

    load(run, tmp_path, struggling())
    promised = log(
        run,
        "BRICK",
        "--outcome",
        "promise",
        "--amount",
        "400",
        "--on",
        day(2),
        "--channel",
        "call",
        today=0,
    )
    assert promised.exit_code == 0, promised.stderr
    # Nothing paid by day 2 plus the grace period: the plan finds it broken.
    moved = run("--config", str(mine), "plan", "--for", day(10), "--format", "json")
    assert moved.exit_code == 0, moved.stderr
    assert "1 broken" in moved.stderr
    assert [
        (c["strategy"], c["channel"], c["objective"], c["state"])
        for c in json.loads(moved.stdout)
    ] == [("legal-review", "task", "Hand the account to our lawyers", "planned")]
    # The shipped strategies, on the same day, send it to broken-promise.
    shipped_plan = run("plan", "--for", day(10), "--format", "json", "--dry-run")
    assert [(c["strategy"], c["channel"]) for c in json.loads(shipped_plan.stdout)] == [
        ("broken-promise", "email")
    ]


def test_paid_raises_a_task_to_check_the_payment_arrives(run, tmp_path, isolated):
    (isolated / "cobra.toml").write_text("[follow_up]\npromise_grace_days = 3\n")
    load(run, tmp_path, good_payer())
    result = log(
        run,
        "ACME",
        "--outcome",
        "paid",
        "--channel",
        "call",
        "--collector",
        "ana",
        "--note",
        "Says the transfer went out today",
        today=0,
    )
    assert result.exit_code == 0, result.stderr
    assert "1 task raised" in result.stderr
    [check] = tasks(run)
    # The grace period is the time a payment takes to show in the ledger.
    assert (check["kind"], check["due_on"], check["assignee"], check["title"]) == (
        "payment_check",
        day(3),
        "ana",
        "Check that Acme Tools Inc. (ACME)'s payment arrived, as the customer said",
    )
    assert check["brief"] == "Says the transfer went out today"
    # A follow-up date, when given, is when to check.
    later = log(run, "ACME", "--outcome", "paid", "--follow-up", day(10), today=1)
    assert later.exit_code == 0, later.stderr
    assert [(t["kind"], t["due_on"]) for t in tasks(run)] == [
        ("payment_check", day(3)),
        ("payment_check", day(10)),
    ]


def test_a_follow_up_date_raises_a_task_for_the_collector(run, tmp_path):
    load(run, tmp_path, good_payer())
    result = log(
        run,
        "ACME",
        "--outcome",
        "callback",
        "--follow-up",
        day(3),
        "--collector",
        "luis",
        "--note",
        "Call back after 4pm",
        today=0,
    )
    assert result.exit_code == 0, result.stderr
    [task] = tasks(run)
    assert (task["kind"], task["due_on"], task["assignee"], task["brief"]) == (
        "follow_up",
        day(3),
        "luis",
        "Call back after 4pm",
    )


def test_the_config_can_add_outcomes(run, tmp_path, isolated):
    load(run, tmp_path, good_payer())
    args = (
        "ACME",
        "--outcome",
        "sent_to_legal",
        "--channel",
        "email",
        "--collector",
        "luis",
        "--note",
        "File handed to Ortiz & Co.",
    )
    unknown = log(run, *args, today=0)
    assert unknown.exit_code == 2
    assert "outcome: 'sent_to_legal' is not an outcome" in unknown.stderr
    assert counts(run)["interactions"] == 0

    (isolated / "cobra.toml").write_text('[follow_up]\noutcomes = ["sent_to_legal"]\n')
    result = log(run, *args, today=0)
    assert result.exit_code == 0, result.stderr
    [stored] = table_rows(run, "interactions")
    assert (
        stored["outcome"],
        stored["channel"],
        stored["collector"],
        stored["note"],
        stored["at"],
    ) == ("sent_to_legal", "email", "luis", "File handed to Ortiz & Co.", at(0))
    # Nothing but the interaction: a new outcome has no side effects to write.
    assert counts(run) == {
        "interactions": 1,
        "promises": 0,
        "tasks": 0,
        "findings": 0,
        "payment_plans": 0,
    }
    shown = run("show", "ACME", "--as-of", day(0), "--format", "json")
    assert shown.exit_code == 0, shown.stderr
    events = json.loads(shown.stdout)["timeline"]
    interactions = [e for e in events if e["kind"] == "interaction"]
    assert [(e["date"], e["kind"], e["text"]) for e in interactions] == [
        (
            day(0),
            "interaction",
            "sent_to_legal via email by luis: File handed to Ortiz & Co.",
        )
    ]


# -- bad input: exit 2, nothing recorded -------------------------------------------


# fmt: off
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ACMEE", "--outcome", "no_answer"],
         "account: no customer with account 'ACMEE'; did you mean ACME?"),
        (["ACME", "--outcome", "dispute", "--invoice", "NOPE-1"],
         "invoice: no invoice 'NOPE-1'"),
        (["ACME", "--outcome", "payed"], "outcome: 'payed' is not an outcome; use one of"),
        (["ACME", "--outcome", "promise", "--on", "FUTURE"],
         "amount: a promise needs the amount: --amount X"),
        (["ACME", "--outcome", "promise", "--amount", "100"],
         "on: a promise needs the date promised: --on DATE"),
        (["ACME", "--outcome", "promise", "--amount", "100", "--on", "2020-01-01"],
         "on: the promised date 2020-01-01 is in the past"),
        (["ACME", "--outcome", "promise", "--amount", "100", "--on", "FUTURE",
          "--currency", "EUR"],
         "currency: ACME owes nothing in EUR (it owes in USD)"),
        (["ACME", "--outcome", "promise", "--amount", "100.001", "--on", "FUTURE"],
         "amount: '100.001' is not an amount in USD"),
        (["ACME", "--outcome", "plan_agreed", "--instalment", "FUTURE=500",
          "--instalment", "FUTURE2=500"],
         "instalment: the instalments add up to 1000.00 USD, not 1200.00 USD (what is "
         "owed)"),
        # What is owed, but not the total the customer agreed to pay.
        (["ACME", "--outcome", "plan_agreed", "--amount", "1000", "--instalment",
          "FUTURE=600", "--instalment", "FUTURE2=600"],
         "instalment: the instalments add up to 1200.00 USD, not 1000.00 USD (the "
         "--amount agreed)"),
        (["ACME", "--outcome", "plan_agreed", "--plan", "7"],
         "plan: '7' is not one of the options `cobra offer ACME` makes today"),
        (["ACME", "--outcome", "dispute"], "invoice: a dispute names the invoices"),
        (["ACME", "--outcome", "dispute_resolved"],
         "invoice: ACME has no invoice in dispute to resolve"),
        (["ACME", "--outcome", "dispute_resolved", "--invoice", "ACME-0025"],
         "invoice: ACME has no invoice in dispute to resolve"),
        (["ACME", "--outcome", "other", "--reason", "lazy"],
         "reason: 'lazy' is not a reason"),
        (["ACME", "--outcome", "partial_promise", "--on", "FUTURE"],
         "amount: a partial_promise needs the amount: --amount X"),
        (["ACME", "--outcome", "plan_agreed", "--currency", "EUR", "--instalment",
          "FUTURE=600", "--instalment", "FUTURE2=600"],
         "currency: ACME owes nothing in EUR (it owes in USD)"),
        (["ACME", "--outcome", "wrong_contact", "--contact", "boss@acme.example"],
         "contact: ACME has no contact 'boss@acme.example'"),
        (["ACME", "--outcome", "wrong_contact"],
         "contact: wrong_contact needs the address or number found wrong (--contact)"
         " or the channel it was used on"),
        (["ACME", "--outcome", "wrong_contact", "--channel", "sms"],
         "contact: ACME has no valid phone to mark wrong"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_recorded(run, tmp_path, args, message):
    load(run, tmp_path, good_payer())
    args = [a.replace("FUTURE2", day(40)).replace("FUTURE", day(5)) for a in args]
    result = log(run, *args, today=0)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert counts(run) == dict.fromkeys(counts(run), 0)
    assert (
        database(run)
        .execute("SELECT COUNT(*) FROM invoices WHERE disputed_since IS NOT NULL")
        .fetchone()[0]
        == 0
    )
    assert (
        database(run)
        .execute("SELECT COUNT(*) FROM contacts WHERE invalid_since IS NOT NULL")
        .fetchone()[0]
        == 0
    )
# fmt: on


def test_an_invoice_of_another_customer_is_refused(run, tmp_path):
    other = History("OTHER", "Other Co.")
    number = other.invoice(date(2026, 1, 1), "10.00")
    load(run, tmp_path, good_payer(), other)
    result = run("log", "ACME", "--outcome", "dispute", "--invoice", number)
    assert result.exit_code == 2
    assert f"invoice: invoice {number} is not ACME's" in result.stderr
    assert counts(run)["interactions"] == 0


# -- a file of interactions (dialers, call centres) --------------------------------


def dialer_file(tmp_path, rows: list[dict], name: str = "calls.csv"):
    import csv

    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_file_with_a_bad_row_logs_nothing_and_names_each_bad_row(run, tmp_path):
    load(run, tmp_path, good_payer())
    path = dialer_file(
        tmp_path,
        [
            {
                "account": "ACME",
                "outcome": "no_answer",
                "at": "2026-12-01T10:00:00-05:00",
            },
            {
                "account": "ACME",
                "outcome": "promise",
                "at": "2026-12-01T11:00:00-05:00",
                "amount": "100",
                "on": "2020-01-01",
            },
            {
                "account": "NOBODY",
                "outcome": "no_answer",
                "at": "2026-12-01T12:00:00-05:00",
            },
            {"account": "ACME", "outcome": "left_message", "at": "yesterday"},
        ],
    )
    result = run("log", "--from", str(path))
    assert result.exit_code == 2
    assert f"{path}:3: on: the promised date 2020-01-01 is in the past" in result.stderr
    assert f"{path}:4: account: no customer with account 'NOBODY'" in result.stderr
    assert f"{path}:5: at: 'yesterday'" in result.stderr
    assert "3 of 4 rows are invalid; nothing was logged" in result.stderr
    assert counts(run)["interactions"] == 0

    nowhere = run(
        "log",
        "--from",
        str(path),
        "--skip-invalid",
        "--rejects",
        str(tmp_path / "missing" / "rejects.csv"),
    )
    assert nowhere.exit_code == 2
    assert "the folder" in nowhere.stderr and "does not exist" in nowhere.stderr
    assert counts(run)["interactions"] == 0

    skipped = run("log", "--from", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.stderr
    assert "Logged 1 interactions" in skipped.stderr
    written = tmp_path / "calls.csv.rejects.csv"
    assert written.stat().st_mode & 0o777 == 0o600  # it names customers
    rejects = written.read_text()
    assert rejects.startswith("source,line,field,problem")
    assert rejects.count("\n") == 4

    again = run("log", "--from", str(path), "--skip-invalid")
    assert (
        "Logged 0 interactions" in again.stderr
        and "1 were logged before" in again.stderr
    )
    assert counts(run)["interactions"] == 1


def test_one_id_on_two_different_rows_is_a_conflict(run, tmp_path):
    load(run, tmp_path, good_payer())
    first = {
        "id": "dialer-7",
        "account": "ACME",
        "outcome": "no_answer",
        "at": "2026-12-01T10:00:00-05:00",
        "channel": "call",
    }
    other = {
        "id": "dialer-8",
        "account": "ACME",
        "outcome": "left_message",
        "at": "2026-12-01T10:05:00-05:00",
        "channel": "call",
    }
    again = {**first, "outcome": "callback", "follow_up": "2026-12-03"}
    path = dialer_file(tmp_path, [first, other, again, other])
    result = run("log", "--from", str(path))
    assert result.exit_code == 2
    assert (
        f"{path}:4: id: 'dialer-7' appears again with other values (first at {path}:2)"
    ) in result.stderr
    assert "1 of 4 rows are invalid; nothing was logged" in result.stderr
    assert counts(run)["interactions"] == 0

    # Skipping it logs the first dialer-7 and dialer-8 once (its second row
    # is the same row), and writes the conflicting row to the rejects.
    skipped = run("log", "--from", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.stderr
    outcomes = [
        r[0]
        for r in database(run).execute("SELECT outcome FROM interactions ORDER BY id")
    ]
    assert outcomes == ["no_answer", "left_message"]
    assert counts(run)["tasks"] == 0
    import csv

    with (tmp_path / "calls.csv.rejects.csv").open(newline="") as handle:
        rejected = [(r["line"], r["field"]) for r in csv.DictReader(handle)]
    assert rejected == [("4", "id")]


def test_a_json_lines_file_and_a_dry_run(run, tmp_path):
    load(run, tmp_path, good_payer())
    path = tmp_path / "calls.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {
                    "account": "ACME",
                    "outcome": "promise",
                    "at": "2026-12-01T10:00:00-05:00",
                    "amount": "600",
                    "on": "2026-12-06",
                    "id": "dialer-1",
                },
                {
                    "account": "ACME",
                    "outcome": "callback",
                    "at": "2026-12-01T11:00:00-05:00",
                    "follow_up": "2026-12-03",
                    "collector": "luis",
                    "id": "dialer-2",
                },
            ]
        )
        + "\n"
    )
    dry = run("log", "--from", str(path), "--dry-run")
    assert dry.exit_code == 0 and "Would log 2 interactions" in dry.stderr
    assert counts(run)["interactions"] == 0
    done = run("log", "--from", str(path))
    assert done.exit_code == 0, done.stderr
    assert counts(run) == {
        "interactions": 2,
        "promises": 1,
        "tasks": 2,
        "findings": 0,
        "payment_plans": 0,
    }
    assert "Logged 0" in run("log", "--from", str(path)).stderr


def jsonl_file(tmp_path, rows: list[dict], name: str = "calls.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def call(hour: int, outcome: str, **more: str) -> dict:
    """One dialer row on ACME, on 2026-12-01 at *hour* New York time."""
    return {
        "account": "ACME",
        "outcome": outcome,
        "at": f"2026-12-01T{hour:02d}:00:00-05:00",
        **more,
    }


def outcomes(run) -> list[str]:
    return [
        r[0]
        for r in database(run).execute("SELECT outcome FROM interactions ORDER BY id")
    ]


def rejects(path) -> list[tuple[str, str, str]]:
    import csv

    with path.open(newline="") as handle:
        return [(r["line"], r["field"], r["problem"]) for r in csv.DictReader(handle)]


def test_a_file_is_logged_in_order_so_a_later_row_sees_an_earlier_one(run, tmp_path):
    # A dialer's day: the customer disputes a bill in the morning, and the
    # dispute is settled on a second call that afternoon. The resolution is
    # only valid once the dispute is in the store.
    load(run, tmp_path, two_bills_unpaid())
    path = dialer_file(
        tmp_path,
        [
            call(10, "dispute", invoices="ACME-0025", collector="ana"),
            call(15, "dispute_resolved", invoices="ACME-0025", collector="ana"),
        ],
    )
    dry = run("log", "--from", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"Would log 2 interactions from {path}; nothing written." in dry.stderr
    assert counts(run)["interactions"] == 0 and disputed(run) == []
    assert not (tmp_path / "calls.csv.rejects.csv").exists()

    done = run("log", "--from", str(path))
    assert done.exit_code == 0, done.stderr
    assert f"Logged 2 interactions from {path}; 1 tasks raised." in done.stderr
    assert outcomes(run) == ["dispute", "dispute_resolved"]
    assert disputed(run) == []
    assert [(t["kind"], t["state"]) for t in tasks(run)] == [("dispute", "done")]

    # Read again, each row is known and skipped unchecked: checked against
    # today's store, the dispute row would be logged again (or the
    # resolution refused, nothing being in dispute any more).
    again = run("log", "--from", str(path))
    assert again.exit_code == 0, again.stderr
    assert "Logged 0 interactions" in again.stderr
    assert "2 were logged before" in again.stderr
    assert outcomes(run) == ["dispute", "dispute_resolved"] and disputed(run) == []


def story_with_a_bad_third_row(tmp_path):
    return dialer_file(
        tmp_path,
        [
            call(9, "no_answer", channel="call"),
            call(10, "dispute", invoices="ACME-0025"),
            # ACME-0026 was never disputed: only row 2's ACME-0025 is.
            call(11, "dispute_resolved", invoices="ACME-0026"),
            call(12, "dispute_resolved", invoices="ACME-0025"),
        ],
    )


def test_a_bad_row_in_a_story_logs_nothing_or_with_skip_invalid_only_itself(
    run, tmp_path
):
    load(run, tmp_path, two_bills_unpaid())
    path = story_with_a_bad_third_row(tmp_path)
    problem = "invoice ACME-0026 is not in dispute (in dispute: ACME-0025)"

    result = run("log", "--from", str(path))
    assert result.exit_code == 2
    # Row 3 is line 4 (the header is line 1), judged after row 2's dispute.
    assert f"{path}:4: invoice: {problem}" in result.stderr
    assert "1 of 4 rows are invalid; nothing was logged" in result.stderr
    assert counts(run) == dict.fromkeys(counts(run), 0)
    assert disputed(run) == []
    assert not (tmp_path / "calls.csv.rejects.csv").exists()

    dry = run("log", "--from", str(path), "--skip-invalid", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"{path}:4: invoice: {problem}" in dry.stderr
    assert "Would log 3 interactions" in dry.stderr and "1 rejected" in dry.stderr
    assert counts(run)["interactions"] == 0 and disputed(run) == []
    assert not (tmp_path / "calls.csv.rejects.csv").exists()

    skipped = run("log", "--from", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.stderr
    assert "Logged 3 interactions" in skipped.stderr
    assert "1 rejected (written to" in skipped.stderr
    assert outcomes(run) == ["no_answer", "dispute", "dispute_resolved"]
    assert disputed(run) == []
    assert rejects(tmp_path / "calls.csv.rejects.csv") == [("4", "invoice", problem)]


def test_a_row_that_depends_on_a_rejected_row_is_rejected_too(run, tmp_path):
    load(run, tmp_path, two_bills_unpaid())
    path = dialer_file(
        tmp_path,
        [
            call(9, "dispute", invoices="ACME-0025", follow_up="2026-11-20"),
            call(10, "dispute_resolved", invoices="ACME-0025"),
            call(11, "callback", follow_up="2026-12-03"),
        ],
    )
    # The dispute is rejected (its follow-up is before the call), so it never
    # reaches the store, and the resolution that follows finds nothing in
    # dispute: the file is judged as it would have happened, both are named.
    resolved = "invoice: ACME has no invoice in dispute to resolve"
    result = run("log", "--from", str(path))
    assert result.exit_code == 2
    assert f"{path}:2: follow_up: 2026-11-20 is in the past" in result.stderr
    assert f"{path}:3: {resolved}" in result.stderr
    assert "2 of 3 rows are invalid; nothing was logged" in result.stderr
    assert counts(run)["interactions"] == 0

    skipped = run("log", "--from", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.stderr
    assert outcomes(run) == ["callback"]
    assert disputed(run) == []
    assert [t["kind"] for t in tasks(run)] == ["follow_up"]
    assert [
        (line, field) for line, field, _ in rejects(tmp_path / "calls.csv.rejects.csv")
    ] == [("2", "follow_up"), ("3", "invoice")]


@pytest.mark.parametrize(
    ("name", "invoices", "instalments"),
    [
        ("calls.csv", "ACME-0025 ACME-0026", "2026-12-15=400.00;2027-01-15=400.00"),
        ("calls.csv", "ACME-0025;ACME-0026", "2026-12-15=400.00,2027-01-15=400.00"),
        (
            "calls.jsonl",
            ["ACME-0025", "ACME-0026"],
            ["2026-12-15=400.00", "2027-01-15=400.00"],
        ),
    ],
)
def test_several_invoices_and_instalments_in_csv_and_json_lines(
    run, tmp_path, name, invoices, instalments
):
    load(run, tmp_path, two_bills_unpaid())
    rows = [
        call(10, "dispute", invoices=invoices),
        call(11, "dispute_resolved"),
        call(12, "plan_agreed", instalments=instalments),
    ]
    write = jsonl_file if name.endswith(".jsonl") else dialer_file
    path = write(tmp_path, rows, name)
    result = run("log", "--from", str(path))
    assert result.exit_code == 0, result.stderr
    conn = database(run)
    named = [
        r[0]
        for r in conn.execute(
            "SELECT i.number FROM interaction_invoices l JOIN invoices i"
            " ON i.id = l.invoice_id JOIN interactions n ON n.id = l.interaction_id"
            " WHERE n.outcome = 'dispute' ORDER BY i.number"
        )
    ]
    assert named == ["ACME-0025", "ACME-0026"]
    assert "Resolve Acme Tools Inc. (ACME)'s dispute of ACME-0025, ACME-0026" in [
        t["title"] for t in tasks(run)
    ]
    schedule = [
        tuple(r)
        for r in conn.execute(
            "SELECT due_on, amount FROM promises WHERE plan_id IS NOT NULL"
            " ORDER BY instalment"
        )
    ]
    assert schedule == [("2026-12-15", 40000), ("2027-01-15", 40000)]


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({"account": ["ACME"]}, 'account: takes one value, not a list: ["ACME"]'),
        (
            {"outcome": "promise", "amount": {"value": "100"}, "on": "2026-12-06"},
            'amount: takes one value, not an object: {"value": "100"}',
        ),
        ({"channel": True}, "channel: takes one value, not true or false: true"),
        (
            {"outcome": "dispute", "invoices": [["ACME-0025"], "ACME-0026"]},
            'invoices: item 1 of the list is not one value: ["ACME-0025"]',
        ),
        (
            {"outcome": "dispute", "invoices": ["ACME-0025", ""]},
            'invoices: item 2 of the list is not one value: ""',
        ),
        (
            {"outcome": "plan_agreed", "instalments": {"2026-12-15": "800.00"}},
            'instalments: takes one value, not an object: {"2026-12-15": "800.00"}',
        ),
    ],
)
def test_a_json_list_or_object_where_one_value_is_expected_is_refused(
    run, tmp_path, more, message
):
    load(run, tmp_path, two_bills_unpaid())
    path = jsonl_file(tmp_path, [call(9, "no_answer"), {**call(10, "other"), **more}])
    result = run("log", "--from", str(path))
    assert result.exit_code == 2
    assert f"{path}:2: {message}" in result.stderr
    assert "1 of 2 rows are invalid; nothing was logged" in result.stderr
    assert counts(run)["interactions"] == 0 and disputed(run) == []


def test_a_savepoint_undoes_its_own_writes_and_the_transaction_goes_on(tmp_path):
    # What keeps a row of a file that fails halfway through writing from
    # leaving half of itself among the rows logged around it.
    from cobra.store import Store, savepoint, transaction

    with Store.open(tmp_path / "cobra.db") as store:
        conn = store.conn
        conn.execute("CREATE TABLE t (v)")
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(ValueError), savepoint(conn):
                conn.execute("INSERT INTO t VALUES (2)")
                raise ValueError("this row is bad")
            with savepoint(conn):
                conn.execute("INSERT INTO t VALUES (3)")
        assert not conn.in_transaction
        assert [r[0] for r in conn.execute("SELECT v FROM t ORDER BY v")] == [1, 3]


def test_the_first_20_bad_rows_are_shown_then_a_count(run, tmp_path):
    from cobra.cli.cmd_log import SHOWN

    load(run, tmp_path, good_payer())
    bad = [{**call(10, "no_answer"), "account": f"NOBODY{n:02d}"} for n in range(23)]
    path = dialer_file(tmp_path, [call(9, "no_answer"), *bad])
    result = run("log", "--from", str(path))
    assert result.exit_code == 2
    shown = [
        line for line in result.stderr.splitlines() if "account: no customer" in line
    ]
    assert SHOWN == 20 and len(shown) == 20
    assert shown[0].startswith(f"  {path}:3: account:") and "NOBODY00" in shown[0]
    assert shown[-1].startswith(f"  {path}:22: account:") and "NOBODY19" in shown[-1]
    assert "  ... and 3 more" in result.stderr
    assert "23 of 24 rows are invalid; nothing was logged" in result.stderr
    assert counts(run)["interactions"] == 0

    # The rejects file has every one, not only those shown.
    skipped = run("log", "--from", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.stderr
    written = rejects(tmp_path / "calls.csv.rejects.csv")
    assert [line for line, _, _ in written] == [str(n) for n in range(3, 26)]
    assert outcomes(run) == ["no_answer"]


def test_an_empty_or_missing_file_is_bad_input(run, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("account,outcome,at\n")
    assert run("log", "--from", str(empty)).exit_code == 2
    missing = run("log", "--from", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_an_import_settles_the_promises_its_payments_keep(run, tmp_path):
    load(run, tmp_path, struggling())
    result = log(
        run, "BRICK", "--outcome", "promise", "--amount", "300", "--on", day(5), today=0
    )
    assert result.exit_code == 0, result.stderr
    assert "promises: 1 kept" in pay(run, tmp_path, day(1), "300.00", "BRICK-D1")
    status = database(run).execute("SELECT status, paid FROM promises").fetchone()
    assert tuple(status) == ("kept", 30000)
    check = (
        database(run)
        .execute("SELECT state FROM tasks WHERE kind = 'promise_check'")
        .fetchone()[0]
    )
    assert check == "done"


def test_the_contact_rules_count_each_conversation_outcome_as_a_conversation(
    run, tmp_path
):
    # The US rule bars calls for seven days after a conversation: both places
    # that read interactions for the rules (planning and sending) must agree
    # with the vocabulary on which outcomes were one.
    from cobra.followup import CONVERSATIONS
    from cobra.store import outbox, plans

    load(run, tmp_path, two_bills_unpaid())
    for outcome, hour, detail in (
        ("dispute", 10, ("--invoice", "ACME-0025")),
        ("dispute_resolved", 11, ("--channel", "call")),
        ("no_answer", 12, ("--channel", "call")),
    ):
        logged = run("log", "ACME", "--outcome", outcome, *detail, "--at", at(0, hour))
        assert logged.exit_code == 0, logged.stderr
    conn = database(run)
    outcomes = [
        r[0] for r in conn.execute("SELECT outcome FROM interactions ORDER BY at")
    ]
    assert outcomes == ["dispute", "dispute_resolved", "no_answer"]
    [customer] = [r[0] for r in conn.execute("SELECT id FROM customers")]
    made = outbox.contacts_made(conn, customer, day(-1), besides=0)
    planned = plans.recent_contacts(conn, day(-1))[customer]
    for rows in (made, planned):
        assert (
            [bool(r["conversation"]) for r in rows]
            == [o in CONVERSATIONS for o in outcomes]
            == [True, True, False]
        )
