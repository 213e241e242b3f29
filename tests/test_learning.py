"""Thompson sampling of step variants: a simulation, the planner using real
outcomes from the store, and an explicit variant winning."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import date, timedelta
from pathlib import Path

from histories import History, load

from cobra.learning import Learner

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 6, 10)


def test_a_simulation_moves_the_allocation_to_the_variant_that_pays_more():
    # Variant 1 really pays 40% of the time, variant 0 10%. Each round, 25 new
    # customers are assigned, contacted, and their outcomes counted.
    true_rate = {0: 0.10, 1: 0.40}
    world = random.Random(7)
    outcomes: dict[tuple, tuple[int, int]] = {}
    shares = []
    for round_number in range(30):
        learner = Learner(outcomes, seed=1)
        assigned = [
            learner.choose(f"C{round_number:02d}-{n:02d}", "s", 0, "forgot", 2)
            for n in range(25)
        ]
        shares.append(assigned.count(1) / len(assigned))
        for variant in assigned:
            contacts, successes = outcomes.get(("s", 0, "forgot", variant), (0, 0))
            paid = world.random() < true_rate[variant]
            outcomes[("s", 0, "forgot", variant)] = (contacts + 1, successes + paid)
    # With nothing known, a fair split; once outcomes come in, the better one.
    assert 0.3 <= shares[0] <= 0.7
    assert sum(shares[-10:]) / 10 >= 0.85
    assert Learner(outcomes, seed=1).allocation("s", 0, "forgot", 2)[1] >= 0.9
    # The worse variant kept getting a few customers after the first round.
    assert 0 < sum(1 - share for share in shares[1:]) * 25 < 100


def test_outcomes_are_kept_per_reason():
    outcomes = {
        ("s", 0, "forgot", 1): (50, 40),
        ("s", 0, "forgot", 0): (50, 2),
        ("s", 0, "cannot_pay", 0): (50, 40),
        ("s", 0, "cannot_pay", 1): (50, 2),
    }
    learner = Learner(outcomes, seed=3)
    forgot = [learner.choose(f"A{n}", "s", 0, "forgot", 2) for n in range(40)]
    cannot = [learner.choose(f"A{n}", "s", 0, "cannot_pay", 2) for n in range(40)]
    assert forgot.count(1) >= 38 and cannot.count(0) >= 38


def test_the_same_data_gives_the_same_choice():
    outcomes = {("s", 0, "forgot", 1): (10, 5)}
    first = [
        Learner(outcomes, 9).choose(f"A{n}", "s", 0, "forgot", 3) for n in range(20)
    ]
    again = [
        Learner(outcomes, 9).choose(f"A{n}", "s", 0, "forgot", 3) for n in range(20)
    ]
    assert first == again


# -- the planner, on outcomes stored in a real database ----------------------------


# The shipped forgot strategy's second step (day 2, an SMS), given an e-mail
# variant and the setting under test.
STEP = 1
SMS_STEP = '''day = 2
objective = "Remove the barrier: make paying now easy"
channel = "sms"
template = "reminder-sms"'''


def strategies_with(tmp_path: Path, extra: str, name: str = "strategies") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    text = (REPO / "config" / "strategies" / "forgot.toml").read_text()
    assert SMS_STEP in text
    variant = 'variants = [{ channel = "email", template = "reminder-friendly" }]'
    (folder / "forgot.toml").write_text(
        text.replace(SMS_STEP, f"{SMS_STEP}\n{variant}\n{extra}", 1)
    )
    return folder


def newcomer(account: str) -> History:
    """A good payer whose latest bill is two days late: it forgot."""
    history = History(account, f"{account.title()} Inc.", phone="+12125550123")
    history.monthly(date(2024, 5, 1), 24, "300.00")
    history.invoice(DAY - timedelta(days=2) - timedelta(days=30), "300.00")
    return history


def contact(
    conn: sqlite3.Connection,
    account: str,
    variant: int,
    sent_at: str,
    *,
    paid_on: str | None = None,
    promise: tuple[str, str, str] | None = None,
    reason: str = "forgot",
) -> None:
    """An earlier customer of the same step, sent *variant* at the instant
    *sent_at*; it paid on *paid_on*, and *promise* is (made on, status,
    resolved on)."""
    sent = sent_at[:10]
    customer = conn.execute(
        "INSERT INTO customers (account, name, country, created_at, updated_at)"
        " VALUES (?, ?, 'US', ?, ?)",
        (account, account, sent, sent),
    ).lastrowid
    conn.execute(
        "INSERT INTO outbox (customer_id, planned_for, strategy, step, cycle, variant,"
        " channel, template, reason, state, idempotency_key, created_at, sent_at)"
        " VALUES (?, ?, 'friendly-reminder', 1, ?, ?, 'sms', 'reminder-sms',"
        " ?, 'sent', ?, ?, ?)",
        (customer, sent, sent, variant, reason, f"{account}|0", sent, sent_at),
    )
    if paid_on:
        conn.execute(
            "INSERT INTO payments (customer_id, reference, paid_on, currency, amount,"
            " created_at) VALUES (?, ?, ?, 'USD', 30000, ?)",
            (customer, f"{account}-P", paid_on, sent),
        )
    if promise:
        made_on, status, resolved_on = promise
        conn.execute(
            "INSERT INTO promises (customer_id, made_on, due_on, currency, amount,"
            " status, resolved_on) VALUES (?, ?, ?, 'USD', 30000, ?, ?)",
            (customer, made_on, made_on, status, resolved_on),
        )


def learning_newcomers(run, tmp_path: Path, isolated: Path, config: str = "") -> Path:
    """Strategies that learn, and 12 newcomers due their next step on DAY.

    *config* goes before the ``[plan]`` table; returns the store's path.
    """
    folder = strategies_with(tmp_path, "learn = true")
    plan = f'[plan]\nstrategies_dir = "{folder}"\n'
    (isolated / "cobra.toml").write_text(config + plan)
    db = Path(run("db", "path").stdout.strip())
    load(run, tmp_path, *[newcomer(f"NEW{n:02d}") for n in range(12)])
    return db


def planned_variants(run) -> list[int]:
    """The variant of every contact ``cobra plan`` would write for DAY."""
    result = run("plan", "--for", DAY.isoformat(), "--format", "json", "--dry-run")
    assert result.exit_code == 0, result.stderr
    return [c["variant"] for c in json.loads(result.stdout)]


def past_contacts(db: Path, accounts: list[str], variant: int, paid: bool) -> None:
    """Earlier customers of the same step who got *variant*, and whether they paid."""
    conn = sqlite3.connect(db)
    sent = (DAY - timedelta(days=30)).isoformat()
    paid_on = (DAY - timedelta(days=27)).isoformat() if paid else None
    for account in accounts:
        contact(conn, account, variant, sent + "T15:00:00+00:00", paid_on=paid_on)
    conn.commit()
    conn.close()


def test_the_planner_assigns_new_customers_by_what_paid(run, tmp_path, isolated):
    db = learning_newcomers(run, tmp_path, isolated)
    # Of 30 earlier customers each: the e-mail variant's paid 24, the SMS's 3.
    past_contacts(db, [f"OLD-A{n}" for n in range(24)], 1, paid=True)
    past_contacts(db, [f"OLD-B{n}" for n in range(6)], 1, paid=False)
    past_contacts(db, [f"OLD-C{n}" for n in range(3)], 0, paid=True)
    past_contacts(db, [f"OLD-D{n}" for n in range(27)], 0, paid=False)

    result = run("plan", "--for", DAY.isoformat(), "--format", "json", "--dry-run")
    assert result.exit_code == 0, result.stderr
    contacts = [c for c in json.loads(result.stdout) if c["account"].startswith("NEW")]
    assert len(contacts) == 12
    variants = [c["variant"] for c in contacts]
    assert variants.count(1) >= 11, variants
    assert {c["channel"] for c in contacts if c["variant"] == 1} == {"email"}
    assert {c["step"] for c in contacts} == {STEP + 1}


def test_an_explicit_variant_in_the_config_wins(run, tmp_path, isolated):
    folder = strategies_with(tmp_path, "learn = true\nvariant = 0")
    (isolated / "cobra.toml").write_text(f'[plan]\nstrategies_dir = "{folder}"\n')
    db = Path(run("db", "path").stdout.strip())
    load(run, tmp_path, *[newcomer(f"NEW{n:02d}") for n in range(6)])
    past_contacts(db, [f"OLD-A{n}" for n in range(20)], 1, paid=True)
    result = run("plan", "--for", DAY.isoformat(), "--format", "json", "--dry-run")
    assert {c["variant"] for c in json.loads(result.stdout)} == {0}


def test_a_bad_learn_or_variant_setting_is_named(run, tmp_path, isolated):
    for number, (extra, message) in enumerate(
        (
            ('learn = "yes"', "learn: expected true or false"),
            ("variant = 4", "variant: expected 0 (the step itself) to 1"),
        )
    ):
        folder = strategies_with(tmp_path, extra, name=f"bad{number}")
        (isolated / "cobra.toml").write_text(f'[plan]\nstrategies_dir = "{folder}"\n')
        result = run("config", "check")
        assert result.exit_code == 2
        assert message in result.stderr


# -- what counts as a success: the tactics report's outcome ---------------------------


def report_outcomes(run, as_of: date) -> dict[tuple, tuple[int, int]]:
    """(strategy, step from 0, reason, variant) -> (evaluated, succeeded), as
    `cobra report tactics` shows them as of *as_of*, over every contact."""
    result = run(
        "report",
        "tactics",
        "--by",
        "variant,reason",
        "--from",
        "2026-01-01",
        "--as-of",
        as_of.isoformat(),
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    return {
        (r["strategy"], r["step"] - 1, r["reason"], r["variant"]): (
            r["evaluated"],
            r["succeeded"],
        )
        for r in json.loads(result.stdout)
    }


def test_the_planner_counts_a_contact_s_day_in_the_company_zone(
    run, tmp_path, isolated
):
    # Auckland is 12 hours ahead of UTC in May: a message sent at 13:00 UTC on
    # 05-11 is sent at 01:00 on 05-12 there, so its 7 days are 05-12 to 05-19.
    db = learning_newcomers(
        run, tmp_path, isolated, '[company]\ntimezone = "Pacific/Auckland"\n'
    )
    conn = sqlite3.connect(db)
    for n in range(20):
        # The e-mail variant's customers all paid on 05-19: day 7 in Auckland
        # (a success), day 8 by the UTC date (a failure).
        contact(conn, f"OLD-L{n}", 1, "2026-05-11T13:00:00+00:00", paid_on="2026-05-19")
        # The SMS's all paid on 05-11: the day before the message in Auckland
        # (a failure), the same day by the UTC date (a success).
        contact(conn, f"OLD-U{n}", 0, "2026-05-11T13:00:00+00:00", paid_on="2026-05-11")
    conn.commit()
    conn.close()

    # The report as of the day before the plan: what the plan learns from.
    as_of = DAY - timedelta(days=1)
    assert report_outcomes(run, as_of) == {
        ("friendly-reminder", STEP, "forgot", 0): (20, 0),
        ("friendly-reminder", STEP, "forgot", 1): (20, 20),
    }
    variants = planned_variants(run)
    assert len(variants) == 12 and variants.count(1) >= 11, variants


def test_learning_s_outcomes_are_the_report_s_as_of_the_day_before(
    run, tmp_path, isolated
):
    from zoneinfo import ZoneInfo

    from cobra.outcomes import variant_outcomes
    from cobra.store import Store

    # Santiago is 4 hours behind UTC in June. Planning 06-10 learns what was
    # known by the end of 06-09, with 7 days. Contacts, by local day:
    zone = "America/Santiago"
    (isolated / "cobra.toml").write_text(f'[company]\ntimezone = "{zone}"\n')
    db = Path(run("db", "path").stdout.strip())
    with Store.open(db) as store:
        conn = store.conn
        # Variant 0, "forgot": sent 06-02 at 22:00 (06-03 in UTC): its days
        # end 06-09, evaluated, unpaid: a failure. Sent 06-03 at 01:00: its
        # days end 06-10, after 06-09: not evaluated. -> 1 evaluated, 0 succeeded.
        contact(conn, "CLOSED", 0, "2026-06-03T02:00:00+00:00")
        contact(conn, "OPEN", 0, "2026-06-03T05:00:00+00:00")
        # Variant 1, "forgot": sent 06-01 at 11:00, each promised. Kept and
        # resolved 06-09: a success, with no payment in the window. Kept but
        # resolved 06-10: not known by 06-09, a failure. Made 06-09, day 8: a
        # failure. -> 3 evaluated, 1 succeeded.
        contact(
            conn,
            "KEPT",
            1,
            "2026-06-01T15:00:00+00:00",
            promise=("2026-06-04", "kept", "2026-06-09"),
        )
        contact(
            conn,
            "KEPT-LATER",
            1,
            "2026-06-01T15:00:00+00:00",
            promise=("2026-06-04", "kept", "2026-06-10"),
        )
        contact(
            conn,
            "PROMISED-LATE",
            1,
            "2026-06-01T15:00:00+00:00",
            promise=("2026-06-09", "kept", "2026-06-09"),
        )
        # Variant 0, "unaware": sent 05-31 at 23:00 (06-01 in UTC), paid
        # 05-31, the contact's own day: a success. -> 1 of 1.
        contact(
            conn,
            "MIDNIGHT",
            0,
            "2026-06-01T03:00:00+00:00",
            paid_on="2026-05-31",
            reason="unaware",
        )
        conn.commit()
        learned = variant_outcomes(conn, ZoneInfo(zone), date(2026, 6, 9), 7)

    expected = {
        ("friendly-reminder", STEP, "forgot", 0): (1, 0),
        ("friendly-reminder", STEP, "forgot", 1): (3, 1),
        ("friendly-reminder", STEP, "unaware", 0): (1, 1),
    }
    assert learned == expected
    assert report_outcomes(run, date(2026, 6, 9)) == expected


def windows_closing_on_day(db: Path) -> None:
    """The SMS: 10 of 10 paid, and 30 sent a week before DAY that have not
    paid yet: their 7 days end on DAY. The e-mail: 3 of 10. Counted as
    failures, the 30 would make the SMS 10 of 40, worse."""
    past_contacts(db, [f"OLD-A{n}" for n in range(10)], 0, paid=True)
    past_contacts(db, [f"OLD-B{n}" for n in range(3)], 1, paid=True)
    past_contacts(db, [f"OLD-C{n}" for n in range(7)], 1, paid=False)
    conn = sqlite3.connect(db)
    recent = (DAY - timedelta(days=7)).isoformat() + "T15:00:00+00:00"
    for n in range(30):
        contact(conn, f"RECENT{n}", 0, recent)
    conn.commit()
    conn.close()


def test_the_planner_waits_for_a_contact_s_window_to_close(run, tmp_path, isolated):
    # Planning DAY knows only what was known by the end of the day before,
    # so the 30 whose window ends on DAY are no result yet.
    windows_closing_on_day(learning_newcomers(run, tmp_path, isolated))
    variants = planned_variants(run)
    assert len(variants) == 12 and variants.count(0) >= 11, variants


def test_the_planner_counts_a_kept_promise_as_a_success(run, tmp_path, isolated):
    db = learning_newcomers(run, tmp_path, isolated)
    # The e-mail: 20 customers who promised two days after the message and
    # kept it, paying after the 7 days: 20 of 20. The SMS: 4 of 20 paid.
    past_contacts(db, [f"OLD-A{n}" for n in range(4)], 0, paid=True)
    past_contacts(db, [f"OLD-B{n}" for n in range(16)], 0, paid=False)
    conn = sqlite3.connect(db)
    sent = (DAY - timedelta(days=30)).isoformat() + "T15:00:00+00:00"
    made, kept = (DAY - timedelta(days=28)).isoformat(), (DAY - timedelta(days=16))
    for n in range(20):
        contact(
            conn,
            f"PROMISED{n}",
            1,
            sent,
            paid_on=kept.isoformat(),
            promise=(made, "kept", kept.isoformat()),
        )
    conn.commit()
    conn.close()

    variants = planned_variants(run)
    assert len(variants) == 12 and variants.count(1) >= 11, variants


def test_plan_moves_the_allocation_the_tactics_report_shows(run, tmp_path, isolated):
    db = learning_newcomers(run, tmp_path, isolated)
    # The e-mail variant paid 24 of 30, the SMS 3 of 30, all planned 30 days
    # ago: outside the 14 days of the allocation.
    past_contacts(db, [f"OLD-A{n}" for n in range(24)], 1, paid=True)
    past_contacts(db, [f"OLD-B{n}" for n in range(6)], 1, paid=False)
    past_contacts(db, [f"OLD-C{n}" for n in range(3)], 0, paid=True)
    past_contacts(db, [f"OLD-D{n}" for n in range(27)], 0, paid=False)
    twin = tmp_path / "twin.db"
    with sqlite3.connect(db) as source, sqlite3.connect(twin) as copy:
        source.backup(copy)

    args = (
        "report",
        "tactics",
        "--by",
        "variant",
        "--from",
        "2026-05-01",
        "--as-of",
        DAY.isoformat(),
    )

    def allocation() -> dict:
        result = run(*args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        return {
            (r["step"], r["variant"]): (r["planned"], r["allocation"])
            for r in json.loads(result.stdout)
        }

    # Nothing planned for the step lately: no share yet.
    assert allocation() == {(2, 0): (0, None), (2, 1): (0, None)}
    planned = run("plan", "--for", DAY.isoformat())
    assert planned.exit_code == 0, planned.stderr
    after = allocation()
    # Learning gave all 12 newcomers the e-mail (seeded, so exactly this).
    assert after == {(2, 0): (0, 0.0), (2, 1): (12, 1.0)}
    table = run(*args).stdout.splitlines()[2:]
    assert [line.split()[-2:] for line in table] == [["0", "0.0%"], ["12", "100.0%"]]

    # Planning the same day on the same data again assigns the same variants.
    again = run("--db", str(twin), "plan", "--for", DAY.isoformat())
    assert again.exit_code == 0, again.stderr

    def assigned(path: Path) -> list[tuple]:
        with sqlite3.connect(path) as conn:
            return conn.execute(
                "SELECT c.account, o.step, o.variant, o.channel FROM outbox o"
                " JOIN customers c ON c.id = o.customer_id"
                " WHERE o.planned_for = ? ORDER BY c.account",
                (DAY.isoformat(),),
            ).fetchall()

    assert len(assigned(db)) == 12
    assert assigned(twin) == assigned(db)


# -- the sampler's share in the tactics report ---------------------------------------


def tactics_of_day(*by: str) -> tuple[str, ...]:
    """`cobra report tactics` as of DAY, from May, grouped *by*."""
    return ("report", "tactics", *by, "--from", "2026-05-01", "--as-of", str(DAY))


def sampler_shares(run) -> dict[tuple, float | None]:
    """(step, variant, reason) -> would_allocate in `cobra report tactics` as
    of DAY, by variant and reason."""
    result = run(*tactics_of_day("--by", "variant,reason"), "--format", "json")
    assert result.exit_code == 0, result.stderr
    return {
        (r["step"], r["variant"], r["reason"]): r["would_allocate"]
        for r in json.loads(result.stdout)
    }


def test_the_report_shows_the_sampler_s_share_of_the_variant_that_pays(
    run, tmp_path, isolated
):
    db = learning_newcomers(run, tmp_path, isolated)
    # The e-mail variant: 10 of 10 paid, Beta(11, 1); the SMS: 0 of 10,
    # Beta(1, 11). The SMS draws higher with probability
    # integral of y^11 x 11(1-y)^10 dy = 11 x 11! x 10! / 22! = 1.4e-6: over
    # 4,000 draws it is expected to win 0.006 of them, so the e-mail's share
    # is above 0.999 (4 losses) unless something other than these outcomes
    # is drawn from.
    past_contacts(db, [f"OLD-A{n}" for n in range(10)], 1, paid=True)
    past_contacts(db, [f"OLD-B{n}" for n in range(10)], 0, paid=False)
    shares = sampler_shares(run)
    assert set(shares) == {(STEP + 1, 0, "forgot"), (STEP + 1, 1, "forgot")}
    assert shares[(STEP + 1, 1, "forgot")] > 0.999
    assert shares[(STEP + 1, 0, "forgot")] < 0.001
    # Seeded: the same data gives the same figure.
    assert sampler_shares(run) == shares

    # The table shows it as a percentage and the CSV as a number, next to
    # the realized allocation (nothing planned in the last 14 days: none).
    args = tactics_of_day("--by", "variant,reason")
    table = run(*args).stdout.splitlines()
    assert table[0].split()[-3:] == ["planned", "allocation", "would_allocate"]
    assert [line.split()[-2:] for line in table[2:]] == [["0", "0.0%"], ["0", "100.0%"]]
    csv = run(*args, "--format", "csv").stdout.splitlines()
    assert csv[0].split(",")[-3:] == ["planned", "allocation", "would_allocate"]
    assert [line.split(",")[-1] for line in csv[1:]] == ["0.0", "1.0"]
    # The HTML page's tactic effectiveness lists it for the steps that learn.
    from test_report_html import Marks

    page = run("report", "html", "--from", "2026-05-01", "--as-of", DAY.isoformat())
    assert page.exit_code == 0, page.stderr
    dom = Marks()
    dom.feed(page.stdout)
    assert dom.cells["sampler"] == [
        ["friendly-reminder", "2", "0", "forgot", "0.0%", "0% of 10"],
        ["friendly-reminder", "2", "1", "forgot", "100.0%", "100% of 10"],
    ]


def test_the_sampler_s_share_is_the_planner_s_outcomes_as_of_the_day_before(
    run, tmp_path, isolated
):
    # The report as of DAY evaluates the 30 (the SMS 10 of 40, below the
    # e-mail's 3 of 10), but a customer planned on DAY is drawn for from what
    # was known by the end of the day before: Beta(11, 1) against Beta(4, 8),
    # the SMS.
    windows_closing_on_day(learning_newcomers(run, tmp_path, isolated))
    assert report_outcomes(run, DAY)[("friendly-reminder", STEP, "forgot", 0)] == (
        40,
        10,
    )
    shares = sampler_shares(run)
    # With X ~ Beta(11, 1) (its CDF x^11), P(Beta(4, 8) > X) = E[Y^11] for
    # Y ~ Beta(4, 8) = B(15, 8) / B(4, 8) = 0.0005: about 2 of 4,000 draws.
    # Counting the 30 as failures, Beta(11, 31) would lose most draws.
    assert shares[(STEP + 1, 0, "forgot")] > 0.99
    assert planned_variants(run).count(0) >= 11


def test_with_no_outcomes_the_sampler_splits_evenly_and_is_seeded(
    run, tmp_path, isolated
):
    learning_newcomers(run, tmp_path, isolated)
    planned = run("plan", "--for", DAY.isoformat())
    assert planned.exit_code == 0, planned.stderr
    # Nothing sent yet: both variants draw from Beta(1, 1) and each wins a
    # draw with probability 1/2. Over 4,000 draws a share's standard error is
    # sqrt(0.25 / 4000) = 0.0079, so 0.04 is five of them.
    shares = sampler_shares(run)
    assert set(shares) == {(STEP + 1, 0, "forgot"), (STEP + 1, 1, "forgot")}
    assert all(abs(share - 0.5) <= 0.04 for share in shares.values()), shares
    # Each a whole number of draws: they add up to 1, less what rounding
    # each to 4 places takes (up to 0.00005 each).
    assert abs(sum(shares.values()) - 1) <= 0.0001 + 1e-9
    assert sampler_shares(run) == shares
    # The draws are seeded by plan.seed, as planning is.
    config = isolated / "cobra.toml"
    config.write_text(config.read_text().replace("[plan]\n", "[plan]\nseed = 2\n"))
    reseeded = sampler_shares(run)
    assert reseeded != shares
    assert all(abs(share - 0.5) <= 0.04 for share in reseeded.values()), reseeded


def test_a_step_that_does_not_learn_has_no_sampler_share(run, tmp_path, isolated):
    for number, extra in enumerate(("", "learn = true\nvariant = 1")):
        # Variants assigned at random, or everyone given variant 1: no
        # sampling, though its outcomes are known.
        folder = strategies_with(tmp_path, extra, name=f"fixed{number}")
        (isolated / "cobra.toml").write_text(f'[plan]\nstrategies_dir = "{folder}"\n')
        db = Path(run("db", "path").stdout.strip())
        assert run("db", "migrate").exit_code == 0
        past_contacts(db, [f"OLD{number}-A{n}" for n in range(5)], 1, paid=True)
        past_contacts(db, [f"OLD{number}-B{n}" for n in range(5)], 0, paid=False)
        shares = sampler_shares(run)
        assert set(shares) == {(STEP + 1, 0, "forgot"), (STEP + 1, 1, "forgot")}
        assert set(shares.values()) == {None}, extra
        page = run("report", "html", "--from", "2026-05-01", "--as-of", str(DAY))
        assert page.exit_code == 0 and 'data-table="sampler"' not in page.stdout


def test_the_sampler_s_share_needs_the_reason(run, tmp_path, isolated):
    db = learning_newcomers(run, tmp_path, isolated)
    past_contacts(db, [f"OLD-A{n}" for n in range(10)], 1, paid=True)
    # The SMS, never sent nor planned, still shows next to the e-mail: the
    # sampler gives it the draws where Beta(1, 1) beats Beta(11, 1): E[U^11]
    # for U uniform, 1/12 = 0.083, give or take 0.0044 (a standard error
    # over 4,000 draws), well inside 0.05 to 0.12.
    shares = sampler_shares(run)
    assert set(shares) == {(STEP + 1, 0, "forgot"), (STEP + 1, 1, "forgot")}
    assert 0.05 < shares[(STEP + 1, 0, "forgot")] < 0.12
    # Learning counts outcomes per reason: without it, no share to show.
    for by in (("--by", "variant"), ()):
        result = run(*tactics_of_day(*by), "--format", "json")
        assert result.exit_code == 0, result.stderr
        rows = json.loads(result.stdout)
        assert rows and {r["would_allocate"] for r in rows} == {None}
