"""Why a customer does not pay: the starter rules, findings, plugins, --as-of.

Every customer here is a realistic history (a year or two of monthly
invoices with their payments) imported through the jsonl importer, and each
test diagnoses it on a fixed day with --as-of, never today.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from histories import History, database, good_payer, load, struggling

import cobra
from cobra.diagnosis import Diagnosis
from cobra.plugins import get_plugins

AS_OF = "2026-06-05"


def execute(run, sql: str, *params) -> None:
    conn = database(run)
    with conn:
        conn.execute(sql, params)
    conn.close()


def customer_id(run, account: str) -> int:
    return database(run).execute(
        "SELECT id FROM customers WHERE account = ?", (account,)).fetchone()[0]


def diagnosis(run, account: str, as_of: str = AS_OF) -> dict:
    result = run("show", account, "--as-of", as_of, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["diagnosis"]


# -- The customers ---------------------------------------------------------------


def good_payer_stuck_on_one() -> History:
    """Pays June and July 2026 on time but not May: 60 days late on 2026-07-30."""
    acme = History("ACME", "Acme Tools Inc.", segment="smb")
    acme.monthly(date(2024, 5, 1), 27, "1200.00", late={7: 12}, unpaid={24})
    return acme


def disputing() -> History:
    """Pays everything on time except February 2026's bill, which it disputes."""
    delta = History("DELTA", "Delta Dental Group")
    delta.monthly(date(2025, 1, 1), 17, "2150.00", unpaid={13})
    return delta


def new_with_spike() -> History:
    """A customer since December 2025 whose May bill is over four times its usual."""
    nova = History("NOVA", "Nova Coworking")
    nova.monthly(date(2025, 12, 1), 5, "250.00")
    nova.invoice(date(2026, 5, 1), "1100.00")
    return nova


def never_paid() -> History:
    """Four bills since February 2026, not a cent paid."""
    shady = History("SHADY", "Shady Imports", phone="+12125550199")
    shady.monthly(date(2026, 2, 1), 4, "900.00", unpaid={0, 1, 2, 3})
    return shady


# -- The starter rules -------------------------------------------------------------


def test_a_good_payer_a_few_days_late_forgot(run, tmp_path):
    load(run, tmp_path, good_payer())
    assert diagnosis(run, "ACME") == {
        "reason": "forgot",
        "confidence": 0.8,
        "evidence": ["24 invoices paid with a known date",
                     "paid 23 of 24 invoices on time",
                     "one invoice overdue, the oldest by 5 days"],
        "source": "rule 5",
    }


def test_a_good_payer_sixty_days_late_did_not_just_forget(run, tmp_path):
    load(run, tmp_path, good_payer_stuck_on_one())
    found = diagnosis(run, "ACME", as_of="2026-07-30")
    assert found["reason"] == "unknown"
    assert found["confidence"] == 0.3
    assert found["evidence"] == ["one invoice overdue, the oldest by 60 days",
                                 "paid 25 of 26 invoices on time"]


def test_many_overdue_more_each_month_and_partial_payments_cannot_pay(run, tmp_path):
    load(run, tmp_path, struggling())
    assert diagnosis(run, "BRICK") == {
        "reason": "cannot_pay",
        "confidence": 0.75,
        "evidence": ["5 invoices overdue, the oldest by 125 days",
                     "2 more invoices overdue than sixty days ago",
                     "2 open invoices partly paid"],
        "source": "rule 4",
    }


def test_a_customer_catching_up_on_its_arrears_is_not_cannot_pay(run, tmp_path):
    # Six bills were overdue sixty days ago (on 2026-04-06); in May it paid
    # off the five oldest but one in part, so four are overdue now, fewer than
    # then: not a customer falling further behind.
    catch = History("CATCH", "Catch-Up Catering")
    bills = catch.monthly(date(2025, 1, 1), 17, "800.00", unpaid=set(range(9, 17)))
    catch.pay(date(2026, 5, 20), "3000.00", *bills[9:13])
    catch.pay(date(2026, 5, 30), "900.00", *bills[12:14])
    load(run, tmp_path, catch)
    assert diagnosis(run, "CATCH")["reason"] == "unknown"


def test_a_customer_paying_all_but_the_disputed_invoice_is_dissatisfied(run, tmp_path):
    delta = disputing()
    load(run, tmp_path, delta)
    execute(run, "UPDATE invoices SET disputed_since = '2026-02-20' WHERE number = ?",
            delta.invoices[13])
    assert diagnosis(run, "DELTA") == {
        "reason": "dissatisfied",
        "confidence": 0.8,
        "evidence": ["1 invoice in dispute", "nothing overdue outside the dispute"],
        "source": "rule 2",
    }


def test_without_the_dispute_the_same_customer_is_not_dissatisfied(run, tmp_path):
    load(run, tmp_path, disputing())
    assert diagnosis(run, "DELTA")["reason"] == "unknown"


def test_a_new_customer_with_a_bill_far_above_its_usual_is_unaware(run, tmp_path):
    load(run, tmp_path, new_with_spike())
    assert diagnosis(run, "NOVA") == {
        "reason": "unaware",
        "confidence": 0.7,
        "evidence": ["customer for 186 days",
                     "latest bill is 4.4 times the usual invoice",
                     "one invoice overdue, the oldest by 5 days"],
        "source": "rule 3",
    }


def test_a_customer_who_never_paid_and_whose_contacts_bounce_is_fraud(run, tmp_path):
    load(run, tmp_path, never_paid())
    execute(run, "UPDATE contacts SET invalid_since = '2026-04-10T08:00:00+00:00',"
                 " invalid_reason = 'bounced' WHERE kind = 'email'")
    assert diagnosis(run, "SHADY") == {
        "reason": "fraud",
        "confidence": 0.85,
        "evidence": ["has never paid anything",
                     "1 of 2 contacts bounced or wrong",
                     "4 invoices overdue, the oldest by 94 days"],
        "source": "rule 1",
    }


def test_a_contact_found_invalid_after_the_as_of_date_did_not_bounce_yet(run, tmp_path):
    load(run, tmp_path, never_paid())
    execute(run, "UPDATE contacts SET invalid_since = '2026-06-10T08:00:00+00:00'"
                 " WHERE kind = 'email'")
    assert diagnosis(run, "SHADY")["reason"] == "unknown"


# -- Collectors' findings ----------------------------------------------------------

FINDING = ("INSERT INTO findings (customer_id, reason, noted_at, collector, note,"
           " superseded_at) VALUES (?, ?, ?, ?, ?, ?)")


def test_a_collectors_finding_overrides_the_rules(run, tmp_path):
    load(run, tmp_path, good_payer())
    execute(run, FINDING, customer_id(run, "ACME"), "cannot_pay",
            "2026-06-02T15:30:00+00:00", "ana", "lost its main client", None)
    assert diagnosis(run, "ACME") == {
        "reason": "cannot_pay",
        "confidence": 1.0,
        "evidence": ["collector's finding by ana on 2026-06-02: lost its main client"],
        "source": "finding by ana",
    }


def test_a_superseded_finding_no_longer_overrides_the_rules(run, tmp_path):
    load(run, tmp_path, good_payer())
    execute(run, FINDING, customer_id(run, "ACME"), "cannot_pay",
            "2026-06-02T15:30:00+00:00", "ana", "lost its main client",
            "2026-06-04T09:00:00+00:00")
    assert diagnosis(run, "ACME")["reason"] == "forgot"


def test_the_newest_finding_in_force_wins(run, tmp_path):
    load(run, tmp_path, good_payer())
    acme = customer_id(run, "ACME")
    execute(run, FINDING, acme, "cannot_pay", "2026-06-02T15:30:00+00:00", "ana",
            "lost its main client", "2026-06-04T09:00:00+00:00")
    execute(run, FINDING, acme, "dissatisfied", "2026-06-04T09:00:00+00:00", "ben",
            "says the May delivery was short", None)
    found = diagnosis(run, "ACME")
    assert (found["reason"], found["source"]) == ("dissatisfied", "finding by ben")


def test_a_finding_does_not_apply_as_of_a_day_before_it_was_noted(run, tmp_path):
    load(run, tmp_path, good_payer())
    execute(run, FINDING, customer_id(run, "ACME"), "cannot_pay",
            "2026-06-02T15:30:00+00:00", "ana", "lost its main client", None)
    found = diagnosis(run, "ACME", as_of="2026-06-01")
    assert found["reason"] == "forgot"
    assert found["evidence"][-1] == "one invoice overdue, the oldest by 1 day"


# -- As of another day ---------------------------------------------------------------


def test_as_of_a_past_date_later_invoices_do_not_exist_yet(run, tmp_path):
    load(run, tmp_path, never_paid())
    result = run("show", "SHADY", "--as-of", "2026-01-20")
    assert result.exit_code == 0, result.stderr
    assert "Nothing open as of 2026-01-20." in result.stdout


def test_as_of_a_past_date_counts_only_what_was_issued_and_due_by_then(run, tmp_path):
    load(run, tmp_path, never_paid())
    result = run("prioritize", "--as-of", "2026-04-15", "--format", "json", "--explain")
    [row] = json.loads(result.stdout)
    assert row["overdue"] == [{"currency": "USD", "amount": "1800.00"}]
    assert row["days_overdue"] == 43
    assert "2 invoices overdue, the oldest by 43 days" in row["evidence"]


def test_as_of_a_past_date_invoices_paid_later_were_still_open(run, tmp_path):
    # December 2024's bill was paid on 2025-01-12, twelve days late: on
    # 2025-01-05 it was overdue, and the seven bills before it paid on time.
    load(run, tmp_path, good_payer())
    found = diagnosis(run, "ACME", as_of="2025-01-05")
    assert found["reason"] == "forgot"
    assert found["evidence"] == ["7 invoices paid with a known date",
                                 "paid 7 of 7 invoices on time",
                                 "one invoice overdue, the oldest by 5 days"]


# -- The user's config ---------------------------------------------------------------


def test_raising_forgot_max_days_makes_a_sixty_day_delay_forgetting(run, tmp_path):
    Path("cobra.toml").write_text("[diagnosis.thresholds]\nforgot_max_days = 60\n",
                                  encoding="utf-8")
    load(run, tmp_path, good_payer_stuck_on_one())
    found = diagnosis(run, "ACME", as_of="2026-07-30")
    assert (found["reason"], found["source"]) == ("forgot", "rule 5")


def test_lowering_good_payer_share_above_the_history_makes_forgot_fail(run, tmp_path):
    Path("cobra.toml").write_text("[diagnosis.thresholds]\ngood_payer_share = 0.99\n",
                                  encoding="utf-8")
    load(run, tmp_path, good_payer())
    assert diagnosis(run, "ACME")["reason"] == "unknown"


def test_a_rule_on_the_overdue_amount_against_the_usual_bill(run, tmp_path):
    Path("cobra.toml").write_text(
        '[[diagnosis.rules]]\nreason = "cannot_pay"\nconfidence = 0.6\n'
        'when = ["overdue_vs_usual >= 4"]\n', encoding="utf-8")
    load(run, tmp_path, struggling(), good_payer())
    # BRICK owes 3 x 800 + 400 + 500 = 3300.00, over four times its 800.00 bill.
    assert diagnosis(run, "BRICK")["evidence"] == ["overdue amount is 4.1 times the usual invoice"]
    assert diagnosis(run, "ACME")["reason"] == "unknown"


# -- Plugins -----------------------------------------------------------------------


class StrategicAccounts:
    """Adds a fact: whether the account is on the strategic list."""

    @cobra.hookimpl
    def register_evidence(self, register):
        register("strategic_account", "1 for accounts on the strategic list",
                 lambda evidence: 1 if evidence.account in {"ACME"} else 0)


class BankAlerts:
    """Diagnoses the accounts its bank flagged, and leaves the rest to the rules."""

    @cobra.hookimpl
    def diagnose(self, evidence):
        if evidence.account != "ACME":
            return None
        return Diagnosis("fraud", 0.95, ["the bank flagged the account"], "plugin bank")


STRATEGIC_RULE = ('[[diagnosis.rules]]\nreason = "forgot"\nconfidence = 0.9\n'
                  'when = ["strategic_account == 1", "overdue_invoices >= 1"]\n')


def test_a_plugin_fact_can_be_used_in_a_rule(run, tmp_path):
    get_plugins().register(StrategicAccounts(), name="strategic")
    Path("cobra.toml").write_text(STRATEGIC_RULE, encoding="utf-8")
    load(run, tmp_path, good_payer_stuck_on_one())
    found = diagnosis(run, "ACME", as_of="2026-07-30")
    assert (found["reason"], found["confidence"], found["source"]) == ("forgot", 0.9, "rule 1")


def test_config_check_accepts_a_rule_on_a_plugin_fact(run):
    get_plugins().register(StrategicAccounts(), name="strategic")
    Path("cobra.toml").write_text(STRATEGIC_RULE, encoding="utf-8")
    result = run("config", "check")
    assert result.exit_code == 0, result.stderr
    assert "no problems" in result.stderr


def test_a_plugin_diagnosis_overrides_the_rules(run, tmp_path):
    get_plugins().register(BankAlerts(), name="bank")
    load(run, tmp_path, good_payer(), new_with_spike())
    assert diagnosis(run, "ACME") == {"reason": "fraud", "confidence": 0.95,
                                      "evidence": ["the bank flagged the account"],
                                      "source": "plugin bank"}
    assert diagnosis(run, "NOVA")["reason"] == "unaware"


def test_a_plugin_diagnosis_overrides_a_collectors_finding(run, tmp_path):
    get_plugins().register(BankAlerts(), name="bank")
    load(run, tmp_path, good_payer())
    execute(run, FINDING, customer_id(run, "ACME"), "cannot_pay",
            "2026-06-02T15:30:00+00:00", "ana", None, None)
    assert diagnosis(run, "ACME")["source"] == "plugin bank"


# -- Bad rules -----------------------------------------------------------------------

BAD_RULES = {
    "unknown fact": ('when = ["on_time_shar >= 0.8"]',
                     "names unknown fact 'on_time_shar'; did you mean 'on_time_share'?"),
    "unknown threshold": ('when = ["on_time_share >= good_payer_shar"]',
                          ("names unknown threshold 'good_payer_shar'; "
                           "did you mean 'good_payer_share'?")),
    "unknown reason": ('when = ["overdue_invoices >= 1"]\nreason = "forgott"',
                       "unknown reason 'forgott'; did you mean 'forgot'?"),
}


def write_bad_rule(problem: str) -> tuple[str, str]:
    when, message = BAD_RULES[problem]
    lines = ["[[diagnosis.rules]]", "confidence = 0.8", when]
    if "reason =" not in when:
        lines.insert(1, 'reason = "forgot"')
    path = (Path.cwd() / "cobra.toml").resolve()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path), message


def dump(run) -> list[str]:
    return list(database(run).iterdump())


@pytest.mark.parametrize("problem", sorted(BAD_RULES))
def test_prioritize_refuses_a_bad_rule_naming_file_and_key(run, tmp_path, problem):
    load(run, tmp_path, good_payer())
    before = dump(run)
    path, message = write_bad_rule(problem)
    result = run("prioritize", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert f"{path}: diagnosis.rules: rule 1" in result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    Path(path).unlink()
    assert dump(run) == before


@pytest.mark.parametrize("problem", sorted(BAD_RULES))
def test_config_check_reports_a_bad_rule_naming_file_and_key(run, problem):
    path, message = write_bad_rule(problem)
    result = run("config", "check")
    assert result.exit_code == 2
    assert f"{path}: diagnosis.rules: rule 1" in result.stderr
    assert message in result.stderr


def test_config_check_reports_an_unknown_reason_once(run):
    _, message = write_bad_rule("unknown reason")
    result = run("config", "check")
    assert result.stderr.count(message) == 1


# -- The worklist reads the statistics the import keeps: the same diagnoses -------


def test_the_worklist_query_gives_each_starter_rule_as_the_evidence_does(
        run, tmp_path, monkeypatch):
    from cobra import evidence, worklist

    delta = disputing()
    load(run, tmp_path, good_payer(), struggling(), delta, new_with_spike(), never_paid())
    execute(run, "UPDATE invoices SET disputed_since = '2026-02-20' WHERE number = ?",
            delta.invoices[13])
    execute(run, "UPDATE contacts SET invalid_since = '2026-04-10T08:00:00+00:00',"
                 " invalid_reason = 'bounced' WHERE kind = 'email' AND customer_id = ?",
            customer_id(run, "SHADY"))
    # Those two changes left DELTA and SHADY without statistics; the next
    # import computes them again.
    result = run("import", str(tmp_path / "ledger.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert database(run).execute("SELECT COUNT(*) FROM customer_stats").fetchone()[0] == 5

    def from_ledger(store, as_of, customer_id=None, overdue_only=False):
        ids = ([customer_id] if customer_id is not None else
               [row[0] for row in store.conn.execute("SELECT id FROM customers")])
        return evidence.from_ledger(store, as_of, ids, overdue_only)

    for as_of in (AS_OF, "2026-06-20", "2026-09-01"):
        args = ("prioritize", "--as-of", as_of, "--format", "jsonl")
        fast = run(*args)
        with monkeypatch.context() as patch:
            patch.setattr(worklist, "gather", from_ledger)
            patch.setattr(worklist, "ranked", lambda *args: None)
            reference = run(*args)
        assert fast.stdout == reference.stdout, as_of
        if as_of == AS_OF:
            reasons = {row["account"]: row["reason"]
                       for row in map(json.loads, fast.stdout.splitlines())}
            assert reasons == {"ACME": "forgot", "BRICK": "cannot_pay",
                               "DELTA": "dissatisfied", "NOVA": "unaware",
                               "SHADY": "fraud"}


# -- The starter rules for weaker signs (6 to 8) ------------------------------------


def late_payer() -> History:
    """Pays every bill, but most of them three to eight weeks late; two are open."""
    slow = History("SLOW", "Slowpoke Supplies", segment="smb")
    slow.monthly(date(2025, 1, 1), 17, "640.00",
                 late={i: 21 + 3 * i for i in range(15) if i % 4}, unpaid={15, 16})
    return slow


def test_two_broken_promises_say_the_customer_cannot_pay(run, tmp_path):
    # ACME's May bill (due 2026-05-31) is open, and no later one is billed.
    # It promises to pay it by 2026-06-15, and then by 2026-06-26, and pays
    # nothing: each promise is found broken once its two days of grace have
    # passed (cobra plan checks promises first, as cobra run and import do).
    load(run, tmp_path, good_payer())
    for made, due, checked in (("2026-06-10", "2026-06-15", "2026-06-20"),
                               ("2026-06-22", "2026-06-26", "2026-07-01")):
        logged = run("log", "ACME", "--outcome", "promise", "--amount", "1200.00",
                     "--on", due, "--at", f"{made}T15:00:00+00:00")
        assert logged.exit_code == 0, logged.stderr
        assert run("plan", "--for", checked).exit_code == 0
    # One broken promise is not enough: on 2026-06-21 the bill has slipped
    # 21 days (rule 8).
    assert diagnosis(run, "ACME", as_of="2026-06-21")["source"] == "rule 8"
    assert diagnosis(run, "ACME", as_of="2026-07-30") == {
        "reason": "cannot_pay",
        "confidence": 0.7,
        "evidence": ["2 of 2 promises to pay broken", "1 overdue invoice not in dispute"],
        "source": "rule 6",
    }


def test_a_habitual_late_payer_cannot_pay(run, tmp_path):
    load(run, tmp_path, late_payer())
    assert diagnosis(run, "SLOW") == {
        "reason": "cannot_pay",
        "confidence": 0.55,
        "evidence": ["15 invoices paid with a known date",
                     "paid 4 of 15 invoices on time",
                     "2 overdue invoices not in dispute"],
        "source": "rule 7",
    }


@pytest.mark.parametrize(("as_of", "reason", "source"), [
    ("2026-06-20", "forgot", "rule 5"),  # 20 days: a few days late
    ("2026-06-21", "forgot", "rule 8"),  # 21 days: it has slipped
    ("2026-07-15", "forgot", "rule 8"),  # 45 days: still a slip
    ("2026-07-16", "unknown", "no rule matched"),  # 46 days: no longer
])
def test_a_good_payer_s_slipped_bill_is_forgotten_with_less_confidence(
        run, tmp_path, as_of, reason, source):
    load(run, tmp_path, good_payer_stuck_on_one())
    found = diagnosis(run, "ACME", as_of=as_of)
    assert (found["reason"], found["source"]) == (reason, source)
