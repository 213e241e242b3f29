"""`cobra show ACCOUNT`: one customer's details, diagnosis and whole timeline.

The customers are realistic histories imported through the jsonl importer.
HARBOR's spring of collections (a bounced address, calls, promises, findings)
is written with plain SQL, rows as `cobra log` and a bounce leave them, so
the diagnosis tests can fix every value; the story of one day in Santiago
goes through `cobra send`, cobra's receipts code and `cobra log` instead.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from histories import History, database, good_payer, load, pay
from outbox_seed import seed

from cobra.channels import Inbound

AS_OF = "2026-06-05"


def show(run, account: str, *args: str, as_of: str = AS_OF):
    result = run("show", account, "--as-of", as_of, *args)
    assert result.exit_code == 0, result.stderr
    return result


def show_json(run, account: str, as_of: str = AS_OF) -> dict:
    return json.loads(show(run, account, "--format", "json", as_of=as_of).stdout)


# -- The customers ---------------------------------------------------------------------


def harbor() -> History:
    """A year of bills on time, then a partial payment, a credit note and arrears.

    It paid a 500.00 deposit before its first bill, and August 2025's bill
    nine days late; March 2026's bill is partly paid and April's reduced by
    a credit note.
    """
    history = History(
        "HARBOR", "Harbor Supply Co.", segment="enterprise", phone="+12125550100"
    )
    history.records[0].update(
        tax_id="12-3456789",
        language="en",
        timezone="America/New_York",
        salesperson_email="maria@example.com",
    )
    history.pay(date(2025, 4, 20), "500.00", reference="HARBOR-DEPOSIT")
    bills = history.monthly(
        date(2025, 5, 1),
        13,
        "1850.00",
        late={3: 9},
        partly={10: ("1000.00", 15)},
        unpaid={11, 12},
    )
    history.records.append(
        {
            "type": "credit_note",
            "credit_note_id": "HARBOR-NC-1",
            "customer_id": "HARBOR",
            "invoice_id": bills[11],
            "issue_date": "2026-04-15",
            "currency": "USD",
            "amount": "150.00",
        }
    )
    return history


def collections_log(run) -> None:
    """What the collectors did with HARBOR this spring."""
    conn = database(run)
    with conn:
        cid = conn.execute(
            "SELECT id FROM customers WHERE account = 'HARBOR'"
        ).fetchone()[0]
        conn.execute(
            "UPDATE contacts SET invalid_since = '2026-03-02T10:00:00+00:00',"
            " invalid_reason = 'bounced' WHERE customer_id = ? AND kind = 'email'",
            (cid,),
        )
        calls = [
            conn.execute(
                "INSERT INTO interactions (customer_id, at, channel, outcome,"
                " collector, note) VALUES (?, ?, 'phone', ?, 'ana', ?)",
                (cid, *call),
            ).lastrowid
            for call in [
                ("2026-04-20T15:12:00+00:00", "promise", "will pay March by April 30"),
                ("2026-05-20T14:05:00+00:00", "talked", "lost a large contract"),
            ]
        ]
        # Each promise made in a call, as `cobra log` links them.
        conn.executemany(
            "INSERT INTO promises (customer_id, made_on, due_on, currency, amount,"
            " status, resolved_on, interaction_id) VALUES (?, ?, ?, 'USD', ?, ?, ?, ?)",
            [
                (
                    cid,
                    "2026-04-20",
                    "2026-04-30",
                    85000,
                    "broken",
                    "2026-05-01",
                    calls[0],
                ),
                (cid, "2026-05-20", "2026-06-15", 170000, "open", None, calls[1]),
            ],
        )
        conn.executemany(
            "INSERT INTO findings (customer_id, reason, noted_at, collector, note,"
            " superseded_at) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    cid,
                    "forgot",
                    "2026-04-20T15:20:00+00:00",
                    "ana",
                    "just forgot March",
                    "2026-05-20T14:10:00+00:00",
                ),
                (
                    cid,
                    "cannot_pay",
                    "2026-05-20T14:10:00+00:00",
                    "ana",
                    "cash flow problems after losing a contract",
                    None,
                ),
            ],
        )
    conn.close()


def paid_up() -> History:
    """Pays every bill before it falls due; nothing open."""
    quiet = History("QUIET", "Quiet Waters Spa")
    quiet.monthly(date(2025, 6, 1), 12, "420.00")
    return quiet


# -- Details and contacts --------------------------------------------------------------


def test_show_prints_the_customers_details(run, tmp_path):
    load(run, tmp_path, harbor())
    lines = show(run, "HARBOR").stdout.splitlines()
    assert lines[:8] == [
        "Harbor Supply Co. (HARBOR)",
        "  tax id: 12-3456789",
        "  country: US",
        "  language: en",
        "  timezone: America/New_York",
        "  segment: enterprise",
        "  salesperson email: maria@example.com",
        "  email: ap@harbor.example",
    ]


def test_show_marks_a_contact_found_invalid(run, tmp_path):
    load(run, tmp_path, harbor())
    collections_log(run)
    lines = show(run, "HARBOR").stdout.splitlines()
    assert "  email: ap@harbor.example  (invalid since 2026-03-02)" in lines
    assert "  phone: +12125550100" in lines


def test_show_json_gives_details_and_contacts(run, tmp_path):
    load(run, tmp_path, harbor())
    collections_log(run)
    shown = show_json(run, "HARBOR")
    assert shown["customer"] == {
        "account": "HARBOR",
        "name": "Harbor Supply Co.",
        "tax_id": "12-3456789",
        "country": "US",
        "language": "en",
        "timezone": "America/New_York",
        "segment": "enterprise",
        "salesperson_email": "maria@example.com",
    }
    assert shown["contacts"] == [
        {
            "kind": "email",
            "value": "ap@harbor.example",
            "invalid_since": "2026-03-02T10:00:00+00:00",
            "invalid_reason": "bounced",
        },
        {
            "kind": "phone",
            "value": "+12125550100",
            "invalid_since": None,
            "invalid_reason": None,
        },
    ]


# -- Diagnosis -------------------------------------------------------------------------


def test_show_gives_the_diagnosis_with_its_evidence(run, tmp_path):
    load(run, tmp_path, good_payer())
    text = show(run, "ACME").stdout
    assert (
        "Diagnosis as of 2026-06-05: forgot (confidence 80%, rule 5)\n"
        "  - 24 invoices paid with a known date\n"
        "  - paid 23 of 24 invoices on time\n"
        "  - one invoice overdue, the oldest by 5 days\n"
        "  overdue: 1200.00 USD\n"
    ) in text


def test_show_json_gives_the_diagnosis_and_the_overdue_amounts(run, tmp_path):
    load(run, tmp_path, harbor())
    shown = show_json(run, "HARBOR")
    assert shown["diagnosis"] == {
        "reason": "cannot_pay",
        "confidence": 0.75,
        "evidence": [
            "3 invoices overdue, the oldest by 66 days",
            "2 more invoices overdue than sixty days ago",
            "2 open invoices partly paid",
        ],
        "source": "rule 4",
    }
    # 850.00 left of March, 1700.00 of April after the credit note, all of May.
    assert shown["overdue"] == [{"currency": "USD", "amount": "4400.00"}]


def test_show_gives_the_collectors_finding_in_force(run, tmp_path):
    load(run, tmp_path, harbor())
    collections_log(run)
    text = show(run, "HARBOR").stdout
    assert (
        "Diagnosis as of 2026-06-05: cannot_pay (confidence 100%, finding by ana)\n"
        "  - collector's finding by ana on 2026-05-20: "
        "cash flow problems after losing a contract\n"
    ) in text


def test_show_as_of_before_the_finding_gives_the_one_in_force_then(run, tmp_path):
    load(run, tmp_path, harbor())
    collections_log(run)
    diagnosis = show_json(run, "HARBOR", as_of="2026-05-10")["diagnosis"]
    assert (diagnosis["reason"], diagnosis["evidence"]) == (
        "forgot",
        ["collector's finding by ana on 2026-04-20: just forgot March"],
    )


def test_a_customer_with_nothing_open_says_so(run, tmp_path):
    load(run, tmp_path, paid_up())
    text = show(run, "QUIET").stdout
    assert "Nothing open as of 2026-06-05.\n" in text
    assert "Diagnosis" not in text


def test_a_customer_with_nothing_open_has_no_diagnosis_in_json(run, tmp_path):
    load(run, tmp_path, paid_up())
    shown = show_json(run, "QUIET")
    assert (shown["diagnosis"], shown["overdue"]) == (None, [])
    assert len(shown["timeline"]) == 24


def test_a_customer_open_but_not_yet_due_has_nothing_overdue(run, tmp_path):
    quiet = paid_up()
    quiet.invoice(date(2026, 6, 1), "420.00")
    load(run, tmp_path, quiet)
    text = show(run, "QUIET").stdout
    assert "  - nothing overdue\n" in text
    assert "  overdue: nothing\n" in text


# -- Timeline --------------------------------------------------------------------------


def harbor_timeline(run, tmp_path, *, logged: bool = True) -> list[dict]:
    """HARBOR's timeline in json, with its spring of collections if *logged*."""
    load(run, tmp_path, harbor())
    if logged:
        collections_log(run)
    return show_json(run, "HARBOR")["timeline"]


def of_kind(events: list[dict], kind: str) -> list[tuple[str, str]]:
    """(date, text) of each event of *kind*, in the timeline's order."""
    return [(e["date"], e["text"]) for e in events if e["kind"] == kind]


def starting(events: list[dict], prefix: str) -> list[dict]:
    return [e for e in events if e["text"].startswith(prefix)]


def by_day(day: str, kind: str, text: str) -> dict:
    """An event known by its day only (no instant), as json gives it."""
    return {"date": day, "at": None, "kind": kind, "text": text}


def test_the_timeline_is_in_date_order(run, tmp_path):
    dates = [event["date"] for event in harbor_timeline(run, tmp_path)]
    assert dates == sorted(dates)
    assert (dates[0], dates[-1]) == ("2025-04-20", "2026-05-20")


def test_a_call_comes_before_the_promise_and_the_finding_it_led_to(run, tmp_path):
    events = harbor_timeline(run, tmp_path)
    spring = [(e["at"], e["kind"]) for e in events if e["date"] == "2026-05-20"]
    # The finding was noted five minutes after the call; the promise, made in
    # the call, has its instant.
    assert spring == [
        ("2026-05-20T14:05:00+00:00", "interaction"),
        ("2026-05-20T14:05:00+00:00", "promise"),
        ("2026-05-20T14:10:00+00:00", "finding"),
    ]


def test_the_timeline_has_every_record_once(run, tmp_path):
    kinds = [event["kind"] for event in harbor_timeline(run, tmp_path)]
    assert {kind: kinds.count(kind) for kind in set(kinds)} == {
        "invoice": 13,
        "payment": 12,
        "credit note": 1,
        "promise": 2,
        "interaction": 2,
        "finding": 2,
    }


def test_the_timeline_says_how_each_invoice_stands(run, tmp_path):
    events = harbor_timeline(run, tmp_path, logged=False)
    invoices = [text for _, text in of_kind(events, "invoice")]
    assert invoices[3] == "HARBOR-0004 for 1850.00 USD (paid on 2025-09-09)"
    assert invoices[10:] == [
        "HARBOR-0011 for 1850.00 USD (open, 850.00 USD due 2026-03-31)",
        "HARBOR-0012 for 1850.00 USD (open, 1700.00 USD due 2026-05-01)",
        "HARBOR-0013 for 1850.00 USD (open, 1850.00 USD due 2026-05-31)",
    ]


def test_the_timeline_marks_a_disputed_invoice(run, tmp_path):
    load(run, tmp_path, harbor())
    conn = database(run)
    with conn:
        conn.execute(
            "UPDATE invoices SET disputed_since = '2026-05-05'"
            " WHERE number = 'HARBOR-0013'"
        )
    [last] = starting(show_json(run, "HARBOR")["timeline"], "HARBOR-0013")
    assert last["text"] == (
        "HARBOR-0013 for 1850.00 USD (open, 1850.00 USD due 2026-05-31, disputed)"
    )


def test_a_payment_says_which_invoices_it_settled(run, tmp_path):
    events = harbor_timeline(run, tmp_path, logged=False)
    settling = "1850.00 USD, settling HARBOR-0004"
    assert by_day("2025-09-09", "payment", f"HARBOR-PAY-0009: {settling}") in events
    settling = "1000.00 USD, settling HARBOR-0011"
    assert by_day("2026-04-15", "payment", f"HARBOR-PAY-0023: {settling}") in events


def test_a_payment_spread_over_several_invoices_names_them_all(run, tmp_path):
    catch = History("CATCH", "Catch-Up Catering")
    catch.monthly(date(2025, 10, 1), 8, "800.00", unpaid={4, 5, 6, 7})
    catch.pay(date(2026, 5, 20), "2000.00", reference="CATCH-WIRE-0520")
    load(run, tmp_path, catch)
    [wire] = starting(show_json(run, "CATCH")["timeline"], "CATCH-WIRE-0520")
    settled = wire["text"].split(", settling ")[1].split(", ")
    assert sorted(settled) == ["CATCH-0005", "CATCH-0006", "CATCH-0007"]


def test_a_payment_with_nothing_to_settle_is_kept_as_credit(run, tmp_path):
    first = harbor_timeline(run, tmp_path, logged=False)[0]
    assert first == by_day(
        "2025-04-20", "payment", "HARBOR-DEPOSIT: 500.00 USD, kept as credit"
    )


def test_the_timeline_lists_credit_notes(run, tmp_path):
    events = harbor_timeline(run, tmp_path, logged=False)
    assert by_day("2026-04-15", "credit note", "HARBOR-NC-1: 150.00 USD") in events


def test_the_timeline_lists_promises_with_how_they_ended(run, tmp_path):
    assert of_kind(harbor_timeline(run, tmp_path), "promise") == [
        ("2026-04-20", "to pay 850.00 USD by 2026-04-30 (broken)"),
        ("2026-05-20", "to pay 1700.00 USD by 2026-06-15 (open)"),
    ]


def test_the_timeline_lists_interactions(run, tmp_path):
    assert of_kind(harbor_timeline(run, tmp_path), "interaction") == [
        ("2026-04-20", "promise via phone by ana: will pay March by April 30"),
        ("2026-05-20", "talked via phone by ana: lost a large contract"),
    ]


def test_the_timeline_lists_findings_and_marks_the_superseded_one(run, tmp_path):
    assert of_kind(harbor_timeline(run, tmp_path), "finding") == [
        ("2026-04-20", "reason forgot by ana (superseded)"),
        ("2026-05-20", "reason cannot_pay by ana"),
    ]


def test_the_text_timeline_has_one_line_per_event(run, tmp_path):
    load(run, tmp_path, harbor())
    collections_log(run)
    text = show(run, "HARBOR").stdout
    timeline = text.split("Timeline:\n")[1].splitlines()
    assert len(timeline) == 32
    # A record known by its day only has no time; the others have theirs.
    assert timeline[0] == (
        "  2025-04-20        payment      HARBOR-DEPOSIT: 500.00 USD, kept as credit"
    )
    assert timeline[-1] == "  2026-05-20 14:10  finding      reason cannot_pay by ana"


def test_a_customer_without_records_has_an_empty_timeline(run, tmp_path):
    load(run, tmp_path, History("NEWCO", "Newco Labs"))
    text = show(run, "NEWCO").stdout
    assert text.endswith("Timeline:\n  (nothing yet)\n")


# -- One day in Santiago: the company's time zone --------------------------------------

# Santiago is at UTC-3 in November: 15:00 and 20:00 there are 18:00 and 23:00
# UTC, the same day; 23:30 there is 02:30 UTC the next day.
DAY = "2026-11-03"


@pytest.fixture
def santiago(isolated):
    (isolated / "cobra.toml").write_text(
        '[company]\ntimezone = "America/Santiago"\n', encoding="utf-8"
    )


def db_path(run) -> Path:
    return Path(run("db", "path").stdout.strip())


def succeed(run, *args: str) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.stderr


def call(run, time: str, *args: str) -> None:
    """`cobra log C000000` for a call at *time* on DAY in Santiago."""
    at = f"{DAY}T{time}:00-03:00"
    succeed(run, "log", "C000000", "--channel", "call", "--at", at, *args)


def one_day(run, tmp_path) -> None:
    """C000000's 3 November, written out of order, as a store fills up.

    Its 1200.00 USD invoice fell due on 24 October. That day it paid
    200.00, known by the day only; a reminder went out at 15:00; it replied
    at 17:30; at 20:00 ana called and agreed a plan for the 1000.00 left,
    with a follow-up; at 23:30 a second call had no answer.
    """
    from cobra import receipts
    from cobra.store import Store

    [key] = seed(db_path(run), 1, day=DAY)
    call(run, "23:30", "--outcome", "no_answer")
    pay(run, tmp_path, DAY, "200.00", "C0-PAY-1", account="C000000")
    succeed(run, "send", "--for", DAY, "--at", f"{DAY}T15:00:00-03:00")
    with Store.open(db_path(run)) as store:
        answer = Inbound(
            channel="email",
            sender="ap0@cliente0.example",
            text="Can we pay\nin two parts?",
            received_at=f"{DAY}T17:30:00-03:00",
            provider_id="<r1@mail.example>",
            in_reply_to=key,
        )
        receipts.apply_inbound(store, answer)
    call(
        run,
        "20:00",
        *["--outcome", "plan_agreed", "--collector", "ana"],
        *["--instalment", "2026-11-20=500", "--instalment", "2026-12-20=500"],
        *["--follow-up", "2026-11-10", "--note", "two halves, after the holidays"],
    )


def timeline_text(run) -> list[str]:
    text = show(run, "C000000", as_of="2026-11-05").stdout
    return text.split("Timeline:\n")[1].splitlines()


def test_a_message_at_15_comes_before_a_call_at_20(run, santiago, tmp_path):
    one_day(run, tmp_path)
    # Each line's time and kind; the payment, known by its day only, comes
    # at the start of it.
    day = [line[13:31].split() for line in timeline_text(run)[1:5]]
    assert day == [
        ["payment"],
        ["15:00", "message"],
        ["17:30", "reply"],
        ["20:00", "interaction"],
    ]


def test_a_call_late_in_the_evening_is_on_the_company_s_day(run, santiago, tmp_path):
    one_day(run, tmp_path)
    [stored] = (
        database(run)
        .execute("SELECT at FROM interactions WHERE outcome = 'no_answer'")
        .fetchone()
    )
    assert stored.startswith("2026-11-04T02:30")  # UTC has it on the 4th
    assert (
        timeline_text(run)[-1] == "  2026-11-03 23:30  interaction  no_answer via call"
    )
    last = show_json(run, "C000000", as_of="2026-11-05")["timeline"][-1]
    assert (last["date"], last["at"]) == ("2026-11-03", "2026-11-03T23:30:00-03:00")


def test_the_timeline_tells_the_day_s_story(run, santiago, tmp_path):
    one_day(run, tmp_path)
    assert timeline_text(run) == [
        (
            "  2026-09-24        invoice      F-000000 for 1200.00 USD"
            " (open, 1000.00 USD due 2026-10-24)"
        ),
        "  2026-11-03        payment      C0-PAY-1: 200.00 USD, settling F-000000",
        (
            "  2026-11-03 15:00  message      email 'Factura F-000000 vencida'"
            " to ap0@cliente0.example: sent"
        ),
        (
            "  2026-11-03 17:30  reply        via email from ap0@cliente0.example:"
            " 'Can we pay in two parts?'"
        ),
        (
            "  2026-11-03 20:00  interaction  plan_agreed via call by ana:"
            " two halves, after the holidays"
        ),
        "  2026-11-03 20:00  payment plan 1000.00 USD in 2 payments (active)",
        (
            "  2026-11-03 20:00  promise      instalment 1: to pay 500.00 USD"
            " by 2026-11-20 (open)"
        ),
        (
            "  2026-11-03 20:00  promise      instalment 2: to pay 500.00 USD"
            " by 2026-12-20 (open)"
        ),
        (
            "  2026-11-03 20:00  task         Follow up with Cliente 0 Ltda. (C000000)"
            " (plan agreed) for ana, due 2026-11-10 (open)"
        ),
        "  2026-11-03 23:30  interaction  no_answer via call",
    ]


def test_json_gives_each_event_its_day_and_instant(run, santiago, tmp_path):
    one_day(run, tmp_path)
    timeline = show_json(run, "C000000", as_of="2026-11-05")["timeline"]

    def minute(at: str | None) -> str | None:
        # `cobra send --at` lets the sending's own seconds pass on its clock.
        return at and at[:16] + at[-6:]

    at = f"{DAY}T20:00-03:00"
    assert [(e["date"], minute(e["at"]), e["kind"]) for e in timeline] == [
        ("2026-09-24", None, "invoice"),
        (DAY, None, "payment"),
        (DAY, f"{DAY}T15:00-03:00", "message"),
        (DAY, f"{DAY}T17:30-03:00", "reply"),
        (DAY, at, "interaction"),
        (DAY, at, "payment plan"),
        (DAY, at, "promise"),
        (DAY, at, "promise"),
        (DAY, at, "task"),
        (DAY, f"{DAY}T23:30-03:00", "interaction"),
    ]
    assert [e["text"] for e in timeline][-1] == "no_answer via call"


# -- Unknown accounts and bad input ----------------------------------------------------


def test_an_unknown_account_suggests_close_ones(run, tmp_path):
    load(run, tmp_path, harbor(), good_payer())
    result = run("show", "HARBR", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "no customer with account 'HARBR'; did you mean HARBOR?" in result.stderr
    assert result.stdout == ""


def test_an_unknown_account_suggests_customers_by_name(run, tmp_path):
    load(run, tmp_path, harbor(), good_payer())
    result = run("show", "Acme Tools", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "no customer with account 'Acme Tools'; did you mean ACME?" in result.stderr


def test_an_unknown_account_with_nothing_close_says_only_that(run, tmp_path):
    load(run, tmp_path, harbor())
    result = run("show", "ZZ-999", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "no customer with account 'ZZ-999'" in result.stderr
    assert "did you mean" not in result.stderr


def test_show_refuses_an_as_of_that_is_not_a_date(run, tmp_path):
    load(run, tmp_path, harbor())
    result = run("show", "HARBOR", "--as-of", "2026-13-01")
    assert result.exit_code == 2
    assert "'2026-13-01' is not a date; write it as YYYY-MM-DD" in result.stderr
