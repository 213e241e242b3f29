"""`cobra plan`: strategies, the step due, catch-up, variants, holds, idempotency."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from histories import History, database, load

DAY = "2026-06-10"


def plan(run, *args: str, day: str = DAY) -> list[dict]:
    result = run("plan", "--for", day, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def good_payer(account: str = "ACME", *, due_days_ago: int = 2, phone: str | None = None):
    """Two years of bills paid on time, and the latest a couple of days overdue."""
    history = History(account, f"{account.title()} Tools Inc.", phone=phone)
    last_due = date.fromisoformat(DAY) - timedelta(days=due_days_ago)
    first = last_due - timedelta(days=30)
    history.monthly(date(first.year - 2, first.month, first.day), 24, "1200.00")
    history.invoice(first, "1200.00")
    return history


def stranger(account: str, due_in_days: int) -> History:
    """A new customer with one invoice not yet due."""
    history = History(account, f"{account.title()} Ltd.")
    due = date.fromisoformat(DAY) + timedelta(days=due_in_days)
    history.invoice(due - timedelta(days=30), "500.00")
    return history


def test_a_good_payer_two_days_late_gets_the_friendly_reminder_step(run, tmp_path):
    load(run, tmp_path, good_payer(phone="+12125550100"))
    [contact] = plan(run)
    assert contact["reason"] == "forgot"
    assert contact["strategy"] == "friendly-reminder"
    assert (contact["step"], contact["channel"], contact["template"]) == (2, "sms", "reminder-sms")
    assert (contact["method"], contact["tactic"]) == ("suggestion", "personal_appeal")
    assert contact["state"] == "planned"
    assert contact["objective"] == "Remove the barrier: make paying now easy"


def test_planning_the_same_day_twice_adds_nothing(run, tmp_path):
    load(run, tmp_path, good_payer(phone="+12125550100"), stranger("NEWCO", 3))
    first = run("plan", "--for", DAY)
    assert "Planned 2 contacts (2 new)" in first.stderr
    again = run("plan", "--for", DAY)
    assert "(0 new)" in again.stderr
    rows = database(run).execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert rows == 2


def test_after_missed_days_only_the_step_due_now_is_planned(run, tmp_path):
    # Fifty days overdue (too late even for a slip: "unknown") and never
    # contacted: find-out's earlier steps (day -3, 1, 10) are skipped, not
    # sent in a burst; day 30's is planned.
    load(run, tmp_path, good_payer(due_days_ago=50))
    contacts = plan(run)
    assert [(c["strategy"], c["step"], c["template"]) for c in contacts] == [
        ("find-out", 4, "reminder-firm")]
    # The next days add nothing: that step is done for this cycle.
    for offset in range(1, 5):
        later = (date.fromisoformat(DAY) + timedelta(days=offset)).isoformat()
        run("plan", "--for", later)
        assert plan(run, "--dry-run", day=later) == []


def test_a_reminder_before_the_due_date(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3), stranger("LATER", 10))
    [contact] = plan(run)
    assert contact["account"] == "NEWCO"
    assert contact["template"] == "reminder-friendly"
    assert contact["channel"] == "email"


def test_preview_of_several_days_stores_nothing(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3))
    result = run("plan", "--for", DAY, "--days", "10", "--format", "json")
    assert result.exit_code == 0, result.stderr
    days = [(c["date"], c["template"]) for c in json.loads(result.stdout)]
    # Day -3 on the 10th, then day 1 of the cadence on the 14th.
    assert days == [("2026-06-10", "reminder-friendly"), ("2026-06-14", "reminder-friendly")]
    assert database(run).execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_dry_run_stores_nothing(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3))
    assert len(plan(run, "--dry-run")) == 1
    assert database(run).execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_variants_are_assigned_stably_and_recorded(run, tmp_path):
    # friendly-reminder's first step (day -3) has an SMS variant. Customers
    # not yet due are "unknown"; give them a finding of "forgot".
    customers = [stranger(f"C{i:03d}", 3) for i in range(40)]
    for history in customers:
        history.records[0]["phone"] = "+12125550100"
    load(run, tmp_path, *customers)
    conn = database(run)
    with conn:
        conn.execute("INSERT INTO findings (customer_id, reason, noted_at)"
                     " SELECT id, 'forgot', '2026-06-01T00:00:00+00:00' FROM customers")
    first = {c["account"]: (c["variant"], c["channel"]) for c in plan(run, "--dry-run")}
    again = {c["account"]: (c["variant"], c["channel"]) for c in plan(run, "--dry-run")}
    assert first == again
    variants = [variant for variant, _ in first.values()]
    assert 10 <= variants.count(1) <= 30  # about half each way
    assert all(channel == ("sms" if variant else "email")
               for variant, channel in first.values())


def test_one_contact_per_customer_and_channel_covers_every_invoice(run, tmp_path):
    history = good_payer(phone="+12125550100")
    history.invoice(date(2026, 5, 1), "300.00", terms=38)  # due the same week
    load(run, tmp_path, history)
    contacts = plan(run)
    assert len(contacts) == 1


# -- What holds a contact back ----------------------------------------------------------


def test_an_opted_out_channel_holds_the_contact(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3))
    conn = database(run)
    with conn:
        conn.execute("INSERT INTO opt_outs (customer_id, channel, since)"
                     " SELECT id, 'email', '2026-01-01' FROM customers")
    [contact] = plan(run)
    assert contact["state"] == "held"
    assert contact["held_because"] == "opted out of email"


def test_a_promise_not_yet_due_holds_automated_contact(run, tmp_path):
    load(run, tmp_path, good_payer(phone="+12125550100"))
    conn = database(run)
    with conn:
        conn.execute("INSERT INTO promises (customer_id, made_on, due_on, currency, amount)"
                     " SELECT id, '2026-06-09', '2026-06-12', 'USD', 120000 FROM customers")
    [contact] = plan(run)
    assert contact["held_because"] == "promised to pay by 2026-06-12"


def test_disputed_invoices_get_no_automated_contact(run, tmp_path):
    load(run, tmp_path, good_payer(phone="+12125550100"))
    conn = database(run)
    with conn:
        conn.execute("UPDATE invoices SET disputed_since = '2026-06-01' WHERE status = 'open'")
    contacts = plan(run)
    # Dissatisfied: a call for a person to make, not a message.
    assert [(c["reason"], c["channel"], c["state"]) for c in contacts] == [
        ("dissatisfied", "call", "planned")]


def test_suspected_fraud_becomes_a_task_for_a_person(run, tmp_path):
    fraud = History("SHADY", "Shady Imports")
    fraud.invoice(date(2026, 3, 1), "900.00")
    fraud.invoice(date(2026, 4, 1), "900.00")
    load(run, tmp_path, fraud)
    conn = database(run)
    with conn:
        conn.execute("UPDATE contacts SET invalid_since = '2026-05-01T00:00:00+00:00'")
    [contact] = plan(run)
    assert (contact["reason"], contact["channel"]) == ("fraud", "task")
    assert contact["strategy"] == "person-review"


def test_no_valid_email_falls_back_to_the_channel_the_strategy_names(run, tmp_path):
    # One day late: friendly-reminder's e-mail step (day -3) is the one due.
    load(run, tmp_path, good_payer(due_days_ago=1, phone="+12125550100"))
    conn = database(run)
    with conn:
        conn.execute("UPDATE contacts SET invalid_since = '2026-05-01T00:00:00+00:00'"
                     " WHERE kind = 'email'")
    [contact] = plan(run)
    assert (contact["strategy"], contact["step"]) == ("friendly-reminder", 1)
    assert contact["channel"] == "sms"
    assert contact["state"] == "planned"


@pytest.mark.parametrize(
    ("language", "listed", "total", "left_out"),
    [
        ("en", "- Invoice ACME-0026, issued", "Total overdue: $300.00",
         "Invoice ACME-0025 is not included here because it is in dispute; we will "
         "write to you separately once we have reviewed it."),
        ("es", "- Factura ACME-0026, emitida", "Total vencido: $300.00",
         "La factura ACME-0025 no se incluye en este mensaje porque está en disputa; "
         "le escribiremos por separado cuando la hayamos revisado."),
    ],
)
def test_an_automated_message_demands_nothing_in_dispute(
    run, tmp_path, language, listed, total, left_out
):
    # Two bills overdue; the customer disputes the larger one. The reminder
    # that goes out asks for the other only: its listing and its total leave
    # the disputed invoice out, and say so.
    history = History("ACME", "Acme Tools Inc.")
    history.records[0]["language"] = language
    history.monthly(date(2024, 4, 1), 24, "1200.00")
    disputed = history.invoice(date(2026, 4, 1), "1200.00")  # 40 days overdue
    history.invoice(date(2026, 5, 1), "300.00")  # 10 days overdue
    load(run, tmp_path, history)
    logged = run("log", "ACME", "--outcome", "dispute", "--invoice", disputed,
                 "--at", "2026-06-09T15:00:00+00:00")
    assert logged.exit_code == 0, logged.stderr

    [contact] = plan(run)
    assert (contact["channel"], contact["state"]) == ("email", "planned")
    body, subject = database(run).execute("SELECT body, subject FROM outbox").fetchone()
    assert "ACME-0025" not in subject and "ACME-0026" in subject
    listing = [line for line in body.splitlines() if line.startswith("- ")]
    assert len(listing) == 1 and listing[0].startswith(listed), body
    assert total in body, body
    assert "1,500" not in body and "1.500" not in body
    assert left_out in body


def test_payment_plans_are_offered_for_what_is_not_in_dispute(run, tmp_path):
    import re

    history = History("ACME", "Acme Tools Inc.")
    history.monthly(date(2024, 4, 1), 24, "1200.00")
    disputed = history.invoice(date(2026, 4, 1), "1200.00")
    history.invoice(date(2026, 5, 1), "300.00")
    load(run, tmp_path, history)
    logged = run("log", "ACME", "--outcome", "dispute", "--invoice", disputed,
                 "--reason", "cannot_pay", "--at", "2026-06-09T15:00:00+00:00")
    assert logged.exit_code == 0, logged.stderr
    [contact] = plan(run)
    assert contact["template"] == "payment-options"
    body = database(run).execute("SELECT body FROM outbox").fetchone()[0]
    offered = re.findall(r"(\d+) monthly installments of \$([\d.,]+)", body)
    assert offered, body
    for count, amount in offered:
        # Each plan spreads the 300.00 not in dispute, never the 1500.00.
        assert int(count) * float(amount.replace(",", "")) <= 300, body


def test_disputes_hold_automated_messages(run, tmp_path):
    # Half the overdue amount disputed, half not: the undisputed part is chased.
    # All of it disputed with an e-mail step due: held.
    load(run, tmp_path, stranger("NEWCO", -1))
    conn = database(run)
    with conn:
        conn.execute("UPDATE invoices SET disputed_since = '2026-06-01'")
        conn.execute("INSERT INTO findings (customer_id, reason, noted_at)"
                     " SELECT id, 'unknown', '2026-06-01T00:00:00+00:00' FROM customers")
    [contact] = plan(run)
    assert (contact["channel"], contact["held_because"]) == (
        "email", "every overdue invoice is disputed")


def test_no_way_to_reach_the_customer_holds_the_contact(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3))
    conn = database(run)
    with conn:
        conn.execute("DELETE FROM contacts")
    [contact] = plan(run)
    assert contact["held_because"] == "no valid email for email"


def test_an_unknown_account_is_bad_input(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3))
    result = run("plan", "--for", DAY, "--account", "NEWC0")
    assert result.exit_code == 2
    assert "did you mean NEWCO" in result.stderr


# -- Strategies that are wrong ----------------------------------------------------------


def user_strategy(tmp_path, text: str):
    folder = tmp_path / "strategies"
    folder.mkdir(exist_ok=True)
    (folder / "mine.toml").write_text(text, encoding="utf-8")
    config = tmp_path / "cobra.toml"
    config.write_text(f'[plan]\nstrategies_dir = "{folder}"\n', encoding="utf-8")
    return config


STEP = """
[[steps]]
day = 1
objective = "Remind"
channel = "email"
template = "reminder-friendly"
tone = "friendly"
method = "suggestion"
tactic = "apprising"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\npriority = 20\n[match]\nreasons = ["forgot"]\n'
         + STEP.replace('"email"', '"pigeon"'), "steps[1].channel: unknown value 'pigeon'"),
        ('name = "x"\npriority = 20\n[match]\nreasons = ["forgot"]\n'
         + STEP.replace('"suggestion"', '"begging"'), "steps[1].method: unknown value"),
        ('name = "x"\npriority = 20\n[match]\nreasons = ["forgot"]\n'
         + STEP.replace('"apprising"', '"apprise"'),
         "steps[1].tactic: unknown value 'apprise'; did you mean 'apprising'?"),
        ('name = "x"\npriority = 20\n[match]\nreasons = ["forgot"]\n'
         + STEP.replace("day = 1\n", ""), "steps[1].day: every step needs"),
        ('name = "x"\npriority = 20\n[match]\nreasons = ["forgott"]\n' + STEP,
         "match.reasons: unknown value 'forgott'; did you mean 'forgot'?"),
        ('name = "x"\npriority = 10\n[match]\nreasons = ["forgot"]\n' + STEP,
         "can both match the same customer with the same priority 10"),
    ],
)
def test_a_bad_strategy_is_named_with_file_and_key(run, tmp_path, text, message):
    load(run, tmp_path, stranger("NEWCO", 3))
    config = user_strategy(tmp_path, text)
    result = run("--config", str(config), "plan", "--for", DAY)
    assert result.exit_code == 2
    assert "mine.toml" in result.stderr
    assert message in result.stderr
    assert database(run).execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


# -- The contact rules of the customer's country -------------------------------------------


def chilean(account: str = "ROJAS", due_in_days: int = -1) -> History:
    history = stranger(account, due_in_days)
    history.records[0].update(country="CL", timezone="America/Santiago", language="es")
    return history


def test_a_sunday_contact_in_chile_moves_to_monday_morning(run, tmp_path):
    load(run, tmp_path, chilean())
    [contact] = plan(run, day="2026-06-14")  # a Sunday
    assert contact["state"] == "planned"
    assert contact["send_at"] == "2026-06-15T08:00:00-04:00"


def test_a_public_holiday_in_chile_moves_the_contact(run, tmp_path):
    load(run, tmp_path, chilean(due_in_days=-1))
    [contact] = plan(run, day="2026-09-18")  # Fiestas Patrias; the 19th too, the 20th Sunday
    assert contact["send_at"].startswith("2026-09-21T08:00")


def test_the_weekly_cap_on_written_messages_in_chile(run, tmp_path):
    load(run, tmp_path, chilean())
    conn = database(run)
    with conn:
        conn.executemany(
            "INSERT INTO interactions (customer_id, at, channel, outcome)"
            " SELECT id, ?, 'email', 'sent' FROM customers",
            [("2026-06-08T14:00:00+00:00",), ("2026-06-09T14:00:00+00:00",)])
    [contact] = plan(run, day="2026-06-10")
    # Two written messages in the last seven days: the third waits a week.
    assert contact["state"] == "planned"
    assert contact["send_at"] >= "2026-06-15"


def test_the_time_is_the_customers_own(run, tmp_path):
    history = stranger("SURF", -1)
    history.records[0].update(timezone="America/Los_Angeles")
    load(run, tmp_path, history)
    [contact] = plan(run)
    assert contact["send_at"] == "2026-06-10T10:00:00-07:00"


def test_a_country_without_rules_is_held(run, tmp_path):
    history = stranger("MADRID", -1)
    history.records[0].update(country="ES", timezone="Europe/Madrid")
    load(run, tmp_path, history)
    [contact] = plan(run)
    assert contact["state"] == "held"
    assert "no contact-rule profile for ES" in contact["held_because"]


def test_us_messages_carry_an_opt_out_line_and_chilean_ones_do_not(run, tmp_path):
    load(run, tmp_path, stranger("BOSTON", -1), chilean())
    contacts = {c["account"]: c for c in plan(run)}
    assert "opt out" in contacts["BOSTON"]["preview"].lower() or "STOP" in contacts[
        "BOSTON"]["preview"]
    assert "BAJA" not in contacts["ROJAS"]["preview"]


def test_the_message_is_in_the_customers_language_and_money(run, tmp_path):
    history = chilean()
    history.records[0]["name"] = "Comercial Rojas Ltda."
    history.currency = "CLP"
    history.records[1]["currency"] = "CLP"
    history.records[1]["amount"] = "1234567"
    load(run, tmp_path, history)
    [contact] = plan(run)
    assert "$1.234.567" in contact["preview"]
    assert "Comercial Rojas Ltda." in contact["preview"]


# -- Each starter strategy -------------------------------------------------------------------


def with_finding(run, account: str, reason: str) -> None:
    conn = database(run)
    with conn:
        conn.execute("INSERT INTO findings (customer_id, reason, noted_at)"
                     " SELECT id, ?, '2026-06-01T00:00:00+00:00' FROM customers"
                     " WHERE account = ?", (reason, account))


@pytest.mark.parametrize(
    ("reason", "days_late", "strategy", "channel", "template", "method"),
    [
        ("forgot", 2, "friendly-reminder", "sms", "reminder-sms", "suggestion"),
        ("cannot_pay", 1, "payment-plan", "email", "payment-options", "suggestion"),
        ("cannot_pay", 50, "payment-plan", "email", "final-notice", "authority"),
        ("dissatisfied", 3, "resolve-dispute", "third_party", "salesperson-brief",
         "persuasion"),
        ("unaware", 1, "explain-usage", "email", "usage-explanation", "suggestion"),
        ("fraud", 5, "person-review", "task", "call-brief", "authority"),
        ("unknown", 12, "find-out", "call", "call-brief", "suggestion"),
    ],
)
def test_each_starter_strategy(run, tmp_path, reason, days_late, strategy, channel,
                               template, method):
    history = stranger("ACME", -days_late)
    history.records[0]["phone"] = "+12125550100"
    history.records[0]["salesperson_email"] = "rep@example.com"
    load(run, tmp_path, history)
    with_finding(run, "ACME", reason)
    [contact] = plan(run)
    assert (contact["strategy"], contact["channel"], contact["template"],
            contact["method"]) == (strategy, channel, template, method)
    assert contact["state"] == "planned"
    assert contact["preview"]


def test_a_broken_promise_moves_the_customer_to_its_strategy(run, tmp_path):
    history = stranger("ACME", -12)
    history.records[0]["phone"] = "+12125550100"
    load(run, tmp_path, history)
    with_finding(run, "ACME", "forgot")
    conn = database(run)
    with conn:
        conn.execute("INSERT INTO promises (customer_id, made_on, due_on, currency, amount,"
                     " status, resolved_on) SELECT id, '2026-06-01', '2026-06-05', 'USD',"
                     " 50000, 'broken', '2026-06-07' FROM customers")
    [contact] = plan(run)
    assert (contact["strategy"], contact["channel"], contact["tactic"]) == (
        "broken-promise", "call", "pressure")


def test_a_payment_plan_email_offers_the_plans_the_policy_allows(run, tmp_path):
    history = stranger("ACME", -1)
    history.records[1]["amount"] = "2400.00"
    load(run, tmp_path, history)
    with_finding(run, "ACME", "cannot_pay")
    [contact] = plan(run)
    assert contact["template"] == "payment-options"
    assert "2,400.00" in contact["preview"] or "2400.00" in contact["preview"]


# -- Templates that are wrong ------------------------------------------------------------------


def test_a_template_that_fails_to_render_is_named_and_nothing_is_planned(run, tmp_path):
    load(run, tmp_path, stranger("NEWCO", 3))
    templates = tmp_path / "templates" / "en"
    templates.mkdir(parents=True)
    (templates / "reminder-friendly.j2").write_text(
        "subject: Hello\n\nDear {{ customer_name }},\n\n{{ no_such_thing }}\n",
        encoding="utf-8")
    config = tmp_path / "cobra.toml"
    config.write_text(f'[messages]\ntemplates_dir = "{tmp_path / "templates"}"\n',
                      encoding="utf-8")
    result = run("--config", str(config), "plan", "--for", DAY)
    assert result.exit_code == 2
    assert "reminder-friendly.j2" in result.stderr
    assert "no_such_thing" in result.stderr
    assert database(run).execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_config_check_finds_what_plan_would_refuse(run, tmp_path):
    config = user_strategy(tmp_path, 'name = "x"\npriority = 20\n[match]\nreasons = ["forgot"]\n'
                           + STEP.replace('"reminder-friendly"', '"reminder-frendly"'))
    result = run("--config", str(config), "config", "check")
    assert result.exit_code == 2
    assert "mine.toml: steps[1].template: no template named 'reminder-frendly'; " \
           "did you mean 'reminder-friendly'?" in result.stderr


def test_config_check_finds_a_bad_profile(run, tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    from importlib.resources import files

    text = files("cobra_starter").joinpath("profiles", "CL.toml").read_text("utf-8")
    (folder / "CL.toml").write_text(text.replace('"America/Santiago"', '"Chile/Nowhere"'),
                                    encoding="utf-8")
    config = tmp_path / "cobra.toml"
    config.write_text(f'[contact_rules]\nprofiles_dir = "{folder}"\n', encoding="utf-8")
    result = run("--config", str(config), "config", "check")
    assert result.exit_code == 2
    assert "CL.toml: timezone" in result.stderr
    plan_result = run("--config", str(config), "plan", "--for", DAY)
    assert plan_result.exit_code == 2


def test_a_strategy_for_large_amounts_wins_by_priority(run, tmp_path):
    # A team's own strategy for large debts of customers who forgot: a call
    # at once. Small debts keep the starter friendly reminder.
    large = stranger("BIGCO", -2)
    large.records[1]["amount"] = "25000.00"
    small = stranger("SMALLCO", -2)
    load(run, tmp_path, large, small)
    with_finding(run, "BIGCO", "forgot")
    with_finding(run, "SMALLCO", "forgot")
    for history_account in ("BIGCO", "SMALLCO"):
        conn = database(run)
        with conn:
            conn.execute("INSERT INTO contacts (customer_id, kind, value) SELECT id, 'phone',"
                         " '+12125550100' FROM customers WHERE account = ?",
                         (history_account,))
    config = user_strategy(tmp_path, '''name = "large-forgot"
priority = 20
[match]
reasons = ["forgot"]
amount_bands = ["large"]
''' + STEP.replace("day = 1", "day = 0").replace('"email"', '"call"').replace(
        '"reminder-friendly"', '"call-brief"'))
    result = run("--config", str(config), "plan", "--for", DAY, "--format", "json")
    assert result.exit_code == 0, result.stderr
    chosen = {c["account"]: c["strategy"] for c in json.loads(result.stdout)}
    assert chosen == {"BIGCO": "large-forgot", "SMALLCO": "friendly-reminder"}


def test_a_customer_whose_time_zone_is_unknown_is_held_with_the_reason(run, tmp_path):
    load(run, tmp_path, good_payer(phone="+12125550100"))
    conn = database(run)
    conn.execute("UPDATE customers SET timezone = 'Mars/Olympus_Mons'")
    conn.commit()
    [contact] = plan(run)
    assert contact["state"] == "held"
    assert "'Mars/Olympus_Mons' is not an IANA time zone" in contact["held_because"]
