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
    outcomes = {("s", 0, "forgot", 1): (50, 40), ("s", 0, "forgot", 0): (50, 2),
                ("s", 0, "cannot_pay", 0): (50, 40), ("s", 0, "cannot_pay", 1): (50, 2)}
    learner = Learner(outcomes, seed=3)
    forgot = [learner.choose(f"A{n}", "s", 0, "forgot", 2) for n in range(40)]
    cannot = [learner.choose(f"A{n}", "s", 0, "cannot_pay", 2) for n in range(40)]
    assert forgot.count(1) >= 38 and cannot.count(0) >= 38


def test_the_same_data_gives_the_same_choice():
    outcomes = {("s", 0, "forgot", 1): (10, 5)}
    first = [Learner(outcomes, 9).choose(f"A{n}", "s", 0, "forgot", 3) for n in range(20)]
    again = [Learner(outcomes, 9).choose(f"A{n}", "s", 0, "forgot", 3) for n in range(20)]
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


def past_contacts(db: Path, accounts: list[str], variant: int, paid: bool) -> None:
    """Earlier customers of the same step who got *variant*, and whether they paid."""
    conn = sqlite3.connect(db)
    sent = (DAY - timedelta(days=30)).isoformat()
    for account in accounts:
        customer = conn.execute(
            "INSERT INTO customers (account, name, country, created_at, updated_at)"
            " VALUES (?, ?, 'US', ?, ?)", (account, account, sent, sent)).lastrowid
        conn.execute(
            "INSERT INTO outbox (customer_id, planned_for, strategy, step, cycle, variant,"
            " channel, template, reason, state, idempotency_key, created_at, sent_at)"
            " VALUES (?, ?, 'friendly-reminder', 1, ?, ?, 'sms', 'reminder-sms',"
            " 'forgot', 'sent', ?, ?, ?)",
            (customer, sent, sent, variant, f"{account}|0", sent, sent + "T15:00:00+00:00"))
        if paid:
            conn.execute(
                "INSERT INTO payments (customer_id, reference, paid_on, currency, amount,"
                " created_at) VALUES (?, ?, ?, 'USD', 30000, ?)",
                (customer, f"{account}-P", (DAY - timedelta(days=27)).isoformat(), sent))
    conn.commit()
    conn.close()


def test_the_planner_assigns_new_customers_by_what_paid(run, tmp_path, isolated):
    folder = strategies_with(tmp_path, "learn = true")
    (isolated / "cobra.toml").write_text(f'[plan]\nstrategies_dir = "{folder}"\n')
    db = Path(run("db", "path").stdout.strip())
    load(run, tmp_path, *[newcomer(f"NEW{n:02d}") for n in range(12)])
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
    for number, (extra, message) in enumerate((
        ('learn = "yes"', "learn: expected true or false"),
        ("variant = 4", "variant: expected 0 (the step itself) to 1"),
    )):
        folder = strategies_with(tmp_path, extra, name=f"bad{number}")
        (isolated / "cobra.toml").write_text(f'[plan]\nstrategies_dir = "{folder}"\n')
        result = run("config", "check")
        assert result.exit_code == 2
        assert message in result.stderr
