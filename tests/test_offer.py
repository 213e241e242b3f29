"""`cobra offer ACCOUNT`: payment-plan options within the company's policy.

The arithmetic is tested on :func:`cobra.offer.options` directly, in
currencies with 0, 2 and 3 decimals; the command on customers imported
through the jsonl importer, with the policy changed in a user config.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from cobra.offer import Policy, add_months, amortised_interest, options

START = date(2026, 6, 5)
AS_OF = "2026-06-05"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def policy(**changes) -> Policy:
    """The starter policy of config/cobra.toml, with *changes*."""
    base = Policy(
        max_instalments=12,
        min_down_payment_share=Decimal("0.1"),
        max_monthly_interest=Decimal("0.01"),
        max_discount_share=Decimal("0.05"),
        min_instalment={
            "default": Decimal(50),
            "USD": Decimal(50),
            "EUR": Decimal(50),
            "CLP": Decimal(30000),
        },
        first_due_in_days=7,
        instalment_every="month",
        options=("settle_now", "3", "6", "12"),
    )
    return replace(base, **changes)


def by_id(found) -> dict:
    return {(o.currency, o.option): o for o in found}


def amounts(option) -> list[int]:
    return [p.amount.amount for p in option.instalments]


# -- Schedules add up exactly ----------------------------------------------------------


@pytest.mark.parametrize(
    "currency, owed",
    [
        ("CLP", 1_000_001),
        ("CLP", 457_333),
        ("USD", 123_457),
        ("USD", 99_999_99),
        ("KWD", 987_654),
        ("KWD", 1_000_001),
    ],
)
@pytest.mark.parametrize("rate", ["0", "0.01", "0.0199", "0.02"])
def test_every_schedule_sums_to_what_is_owed_plus_interest_or_minus_discount(
    currency, owed, rate
):
    found = options({currency: owed}, policy(max_monthly_interest=Decimal(rate)), START)
    assert found[0].option == "settle_now"
    for option in found:
        paid = sum(p.amount.amount for p in option.schedule)
        assert paid == option.total.amount
        assert paid == owed + option.interest.amount - option.discount.amount
        assert {p.amount.currency for p in option.schedule} == {currency}
        if option.instalments:
            # Equal instalments: they differ by at most one minor unit.
            assert max(amounts(option)) - min(amounts(option)) <= 1
            assert option.discount.amount == 0
        if rate == "0":
            assert option.interest.amount == 0


def test_clp_has_no_decimals():
    found = by_id(options({"CLP": 450_000}, policy(), START))
    plan = found["CLP", "plan_3"]
    assert (plan.down_payment.amount, plan.interest.amount) == (45_000, 8_126)
    assert amounts(plan) == [137_709, 137_709, 137_708]
    assert plan.as_dict()["total"] == "458126"
    assert found["CLP", "settle_now"].as_dict()["down_payment"] == "427500"


def test_usd_has_cents():
    found = by_id(options({"USD": 100_000}, policy(), START))
    plan = found["USD", "plan_3"]
    # 900.00 financed at 1% a month over 3 months: 306.0199... a month.
    assert plan.as_dict() | {"instalments": None} == {
        "option": "plan_3",
        "label": "Down payment and 3 monthly instalments at 1% a month",
        "currency": "USD",
        "owed": "1000.00",
        "down_payment": "100.00",
        "down_payment_due": "2026-06-12",
        "instalment_count": 3,
        "instalments": None,
        "total": "1018.05",
        "interest": "18.05",
        "discount": "0.00",
        "note": None,
    }
    assert [p["amount"] for p in plan.as_dict()["instalments"]] == [
        "306.02",
        "306.02",
        "306.01",
    ]


def test_kwd_has_three_decimals():
    found = by_id(options({"KWD": 1_000_000}, policy(), START))
    plan = found["KWD", "plan_3"]
    assert (plan.as_dict()["interest"], plan.as_dict()["total"]) == (
        "18.059",
        "1018.059",
    )
    assert [p["amount"] for p in plan.as_dict()["instalments"]] == [
        "306.020",
        "306.020",
        "306.019",
    ]
    assert found["KWD", "settle_now"].as_dict()["discount"] == "50.000"


def test_interest_is_the_amortised_interest_rounded_down():
    # The reference uses fractions: Decimal at any finite precision gives
    # 1124.999... for 900.00 at 1.25% over one month, which floors wrongly.
    for financed in (1, 99, 90_000, 123_456_789):
        for rate in ("0.001", "0.01", "0.0125", "0.02"):
            for count in (1, 2, 3, 7, 12, 24):
                r = Fraction(rate)
                payment = financed * r / (1 - (1 + r) ** -count)
                expected = math.floor(count * payment - financed)
                assert amortised_interest(financed, Decimal(rate), count) == expected
    assert amortised_interest(90_000, Decimal("0.0125"), 1) == 1_125


def test_a_rounded_figure_never_leaves_the_policy():
    # 10% of 333.33 is 33.333 and 5% of it 16.6665: the down payment is
    # rounded up to its minimum and the discount down to its maximum.
    found = by_id(options({"USD": 33_333}, policy(), START))
    assert found["USD", "plan_3"].down_payment.amount == 3_334
    assert found["USD", "settle_now"].discount.amount == 1_666


def test_no_down_payment_puts_the_first_instalment_on_the_first_due_date():
    plan = by_id(
        options({"USD": 120_000}, policy(min_down_payment_share=Decimal(0)), START)
    )["USD", "plan_3"]
    assert plan.down_payment.amount == 0
    assert plan.label == "3 monthly instalments at 1% a month"
    assert [p.due for p in plan.schedule] == [
        date(2026, 6, 12),
        date(2026, 7, 12),
        date(2026, 8, 12),
    ]


def test_without_interest_the_instalments_split_what_is_financed():
    plan = by_id(
        options({"USD": 100_000}, policy(max_monthly_interest=Decimal(0)), START)
    )["USD", "plan_3"]
    assert plan.label == "Down payment and 3 monthly instalments, no interest"
    assert amounts(plan) == [30_000, 30_000, 30_000]
    assert plan.total.amount == 100_000


def test_without_a_discount_settling_now_is_paying_in_full():
    settle = options({"USD": 100_000}, policy(max_discount_share=Decimal(0)), START)[0]
    assert (settle.label, settle.total.amount, settle.discount.amount) == (
        "Pay in full now",
        100_000,
        0,
    )


# -- The minimum instalment and the maximum count --------------------------------------


def test_the_minimum_instalment_limits_the_number_of_instalments():
    # 400.00 owed, 40.00 down, 360.00 financed without interest: 7 instalments
    # of 51.43 keep above 50.00, 8 of 45.00 would not.
    found = options({"USD": 40_000}, policy(max_monthly_interest=Decimal(0)), START)
    assert [o.option for o in found] == ["settle_now", "plan_3", "plan_6", "plan_7"]
    seven = found[-1]
    assert min(amounts(seven)) >= 5_000
    assert seven.note == (
        "12 asked; 7 is the most that keeps each instalment at least 50.00 USD"
    )


def test_counts_that_shrink_to_one_already_offered_are_left_out():
    # 120.00 financed: 2 instalments of 60.00 is the most; 3, 6 and 12 all
    # come down to 2, offered once.
    found = options({"USD": 13_334}, policy(max_monthly_interest=Decimal(0)), START)
    assert [o.option for o in found] == ["settle_now", "plan_2"]


def test_too_little_to_split_gets_only_the_settlement():
    found = options({"USD": 5_000}, policy(), START)
    assert [o.option for o in found] == ["settle_now"]


def test_the_minimum_is_per_currency_with_a_default():
    def plans(code: str, owed: int) -> list[str]:
        found = options({code: owed}, policy(max_monthly_interest=Decimal(0)), START)
        return [o.option for o in found]

    # CLP's minimum is 30000: 900000 financed allows 12 of 75000 ...
    assert plans("CLP", 1_000_000) == ["settle_now", "plan_3", "plan_6", "plan_12"]
    # ... but 270000 only 9 of 30000.
    assert plans("CLP", 300_000) == ["settle_now", "plan_3", "plan_6", "plan_9"]
    # MXN is not listed: the default, 50.00, applies.
    assert plans("MXN", 40_000) == ["settle_now", "plan_3", "plan_6", "plan_7"]
    no_minimum = policy(min_instalment={}, max_monthly_interest=Decimal(0))
    assert options({"MXN": 40_000}, no_minimum, START)[-1].option == "plan_12"


def test_a_minimum_finer_than_the_currency_is_rounded_up():
    assert policy(min_instalment={"CLP": Decimal("0.5")}).minimum_instalment("CLP") == 1
    assert policy().minimum_instalment("KWD") == 50_000


def test_max_instalments_caps_the_counts_offered():
    found = options({"USD": 1_000_000}, policy(max_instalments=6), START)
    assert [o.option for o in found] == ["settle_now", "plan_3", "plan_6"]
    found = options(
        {"USD": 1_000_000},
        policy(max_instalments=4, options=("12", "settle_now")),
        START,
    )
    assert [o.option for o in found] == ["plan_4", "settle_now"]
    assert found[0].note == "12 asked; the policy allows at most 4 instalments"


def test_a_policy_that_asks_for_everything_up_front_offers_no_plan():
    found = options({"USD": 100_000}, policy(min_down_payment_share=Decimal(1)), START)
    assert [o.option for o in found] == ["settle_now"]


# -- Dates -----------------------------------------------------------------------------


def test_dates_clamp_to_the_end_of_shorter_months():
    # Offered on 24 January 2027: first due 31 January, then month ends.
    plan = by_id(options({"USD": 1_000_000}, policy(), date(2027, 1, 24)))[
        "USD", "plan_6"
    ]
    assert plan.down_payment_due == date(2027, 1, 31)
    assert [p.due for p in plan.instalments] == [
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
    ]


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2026, 8, 31), 1, date(2026, 9, 30)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 11, 30), 15, date(2028, 2, 29)),
        (date(2026, 6, 5), 0, date(2026, 6, 5)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


def test_the_first_payment_is_due_after_first_due_in_days():
    found = options({"USD": 100_000}, policy(first_due_in_days=0), START)
    assert {o.down_payment_due for o in found} == {START}


# -- Several currencies ----------------------------------------------------------------


def test_each_currency_gets_its_own_options_never_summed():
    found = options({"USD": 100_000, "CLP": 450_000, "EUR": 0}, policy(), START)
    assert [(o.currency, o.option) for o in found] == [
        ("CLP", "settle_now"),
        ("CLP", "plan_3"),
        ("CLP", "plan_6"),
        ("CLP", "plan_12"),
        ("USD", "settle_now"),
        ("USD", "plan_3"),
        ("USD", "plan_6"),
        ("USD", "plan_12"),
    ]
    for option in found:
        assert option.owed.amount == {"USD": 100_000, "CLP": 450_000}[option.currency]


def test_nothing_owed_means_no_options():
    assert options({}, policy(), START) == []
    assert options({"USD": 0}, policy(), START) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"max_instalments": 0},
        {"min_down_payment_share": Decimal("1.5")},
        {"max_monthly_interest": Decimal("-0.01")},
        {"max_discount_share": Decimal(2)},
        {"first_due_in_days": -1},
        {"instalment_every": "week"},
        {"options": ("settle_now", "0")},
        {"options": ("now",)},
    ],
)
def test_a_policy_built_by_hand_is_checked(changes):
    with pytest.raises(ValueError):
        policy(**changes)


# -- The command -----------------------------------------------------------------------


def customer(account: str, name: str, *invoices: tuple[str, str, str]) -> list[dict]:
    """A customer and its invoices (due date, currency, amount)."""
    records = [
        {"type": "customer", "customer_id": account, "name": name, "country": "US"}
    ]
    for index, (due, currency, amount) in enumerate(invoices, start=1):
        records.append(
            {
                "type": "invoice",
                "invoice_id": f"{account}-{index}",
                "customer_id": account,
                "issue_date": "2026-04-01",
                "due_date": due,
                "currency": currency,
                "amount": amount,
            }
        )
    return records


def load(run, tmp_path: Path, *customers: list[dict]) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(
        "".join(json.dumps(r) + "\n" for c in customers for r in c), encoding="utf-8"
    )
    result = run("import", str(path))
    assert result.exit_code == 0, result.stderr


def portfolio(run, tmp_path: Path) -> None:
    load(
        run,
        tmp_path,
        customer(
            "HARBOR",
            "Harbor Supply Co.",
            ("2026-05-01", "USD", "1850.00"),
            ("2026-05-31", "USD", "1850.00"),
            ("2026-06-30", "USD", "1850.00"),
        ),
        customer(
            "ANDES",
            "Andes Mining SpA",
            ("2026-05-15", "CLP", "900000"),
            ("2026-05-20", "USD", "250.00"),
        ),
        customer("LATER", "Later Labs", ("2026-06-30", "USD", "500.00")),
    )


def offer(run, *args: str, as_of: str = AS_OF):
    result = run("offer", *args, "--as-of", as_of)
    assert result.exit_code == 0, result.stderr
    return result


def offer_json(run, account: str, **kwargs) -> list[dict]:
    return json.loads(offer(run, account, "--format", "json", **kwargs).stdout)


def test_json_is_an_array_of_options_with_stable_keys(run, tmp_path):
    portfolio(run, tmp_path)
    found = offer_json(run, "HARBOR")
    assert [o["option"] for o in found] == ["settle_now", "plan_3", "plan_6", "plan_12"]
    for option in found:
        assert list(option) == [
            "option",
            "label",
            "currency",
            "owed",
            "down_payment",
            "down_payment_due",
            "instalment_count",
            "instalments",
            "total",
            "interest",
            "discount",
            "note",
        ]
        # Only the two invoices already due are owed: 3700.00.
        assert (option["currency"], option["owed"]) == ("USD", "3700.00")
        paid = Decimal(option["down_payment"]) + sum(
            Decimal(i["amount"]) for i in option["instalments"]
        )
        assert str(paid) == option["total"]
        assert Decimal(option["total"]) == (
            Decimal("3700.00")
            + Decimal(option["interest"])
            - Decimal(option["discount"])
        )
    assert found[0] | {"label": None} == {
        "option": "settle_now",
        "label": None,
        "currency": "USD",
        "owed": "3700.00",
        "down_payment": "3515.00",
        "down_payment_due": "2026-06-12",
        "instalment_count": 0,
        "instalments": [],
        "total": "3515.00",
        "interest": "0.00",
        "discount": "185.00",
        "note": None,
    }
    assert found[1]["instalments"][0] == {
        "number": 1,
        "due": "2026-07-12",
        "amount": "1132.28",
    }


def test_a_customer_owing_in_two_currencies_gets_options_in_each(run, tmp_path):
    portfolio(run, tmp_path)
    found = offer_json(run, "ANDES")
    assert [(o["currency"], o["option"]) for o in found] == [
        ("CLP", "settle_now"),
        ("CLP", "plan_3"),
        ("CLP", "plan_6"),
        ("CLP", "plan_12"),
        ("USD", "settle_now"),
        ("USD", "plan_3"),
        ("USD", "plan_4"),
    ]
    assert {o["currency"]: o["owed"] for o in found} == {
        "CLP": "900000",
        "USD": "250.00",
    }
    text = offer(run, "ANDES").stdout
    assert text.startswith(
        "Andes Mining SpA (ANDES): 900000 CLP; 250.00 USD overdue as of 2026-06-05.\n"
    )
    assert "settle_now (CLP): Settle now with a 5% discount\n" in text
    assert "settle_now (USD): Settle now with a 5% discount\n" in text


def test_the_table_has_one_block_per_option(run, tmp_path):
    portfolio(run, tmp_path)
    text = offer(run, "HARBOR").stdout
    blocks = text.strip("\n").split("\n\n")
    assert (
        blocks[0] == "Harbor Supply Co. (HARBOR): 3700.00 USD overdue as of 2026-06-05."
    )
    assert len(blocks) == 5
    assert blocks[1].splitlines() == [
        "settle_now (USD): Settle now with a 5% discount",
        "  payment    due           amount",
        "  ---------  ----------  --------",
        "  in full    2026-06-12   3515.00",
        "  total 3515.00 USD (discount 185.00 USD) on 3700.00 USD owed",
    ]
    lines = blocks[2].splitlines()
    assert (
        lines[0] == "plan_3 (USD): Down payment and 3 monthly instalments at 1% a month"
    )
    assert lines[3] == "  down payment  2026-06-12    370.00"
    assert lines[4] == "  1 of 3        2026-07-12   1132.28"
    assert lines[-1] == "  total 3766.82 USD (interest 66.82 USD) on 3700.00 USD owed"
    assert len(blocks[4].splitlines()) == 1 + 2 + 13 + 1


def test_jsonl_has_one_option_a_line(run, tmp_path):
    portfolio(run, tmp_path)
    lines = offer(run, "HARBOR", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == offer_json(run, "HARBOR")


def test_csv_has_one_row_per_payment(run, tmp_path):
    portfolio(run, tmp_path)
    rows = list(
        csv.DictReader(io.StringIO(offer(run, "HARBOR", "--format", "csv").stdout))
    )
    assert list(rows[0]) == ["currency", "option", "label", "number", "due", "amount"]
    assert len(rows) == 1 + 4 + 7 + 13
    assert rows[0] | {"label": ""} == {
        "currency": "USD",
        "option": "settle_now",
        "label": "",
        "number": "0",
        "due": "2026-06-12",
        "amount": "3515.00",
    }
    plan_3 = [r for r in rows if r["option"] == "plan_3"]
    assert [r["number"] for r in plan_3] == ["0", "1", "2", "3"]
    assert sum(Decimal(r["amount"]) for r in plan_3) == Decimal("3766.82")


def test_as_of_decides_what_is_owed_and_when_payments_fall_due(run, tmp_path):
    portfolio(run, tmp_path)
    found = offer_json(run, "HARBOR", as_of="2026-07-24")
    assert found[0]["owed"] == "5550.00"
    assert found[0]["down_payment_due"] == "2026-07-31"
    assert [i["due"] for i in found[1]["instalments"]] == [
        "2026-08-31",
        "2026-09-30",
        "2026-10-31",
    ]


def test_a_policy_in_the_user_config_changes_the_options(run, tmp_path, isolated):
    portfolio(run, tmp_path)
    (isolated / "cobra.toml").write_text(
        "[offer]\n"
        "max_discount_share = 0.1\n"
        "max_monthly_interest = 0\n"
        "min_down_payment_share = 0.25\n"
        "first_due_in_days = 3\n"
        'options = ["2", "settle_now", "24"]\n'
        "max_instalments = 18\n"
        "min_instalment = { USD = 200 }\n",
        encoding="utf-8",
    )
    found = offer_json(run, "HARBOR")
    assert [o["option"] for o in found] == ["plan_2", "settle_now", "plan_13"]
    two, settle, thirteen = found
    assert (two["down_payment"], two["down_payment_due"], two["interest"]) == (
        "925.00",
        "2026-06-08",
        "0.00",
    )
    assert [i["amount"] for i in two["instalments"]] == ["1387.50", "1387.50"]
    assert (settle["total"], settle["discount"]) == ("3330.00", "370.00")
    # 2775.00 financed: 13 instalments of 213.46 stay above 200.00, 14 would not.
    assert thirteen["note"] == (
        "24 asked; 13 is the most that keeps each instalment at least 200.00 USD"
    )


def test_nothing_overdue_says_so_and_succeeds(run, tmp_path):
    portfolio(run, tmp_path)
    result = offer(run, "LATER")
    assert result.stdout == ""
    assert (
        "Later Labs (LATER) has nothing overdue as of 2026-06-05: no offer to make."
        in result.stderr
    )
    assert offer(run, "LATER", "--format", "json").stdout == "[]\n"
    assert offer(run, "LATER", "--format", "jsonl").stdout == ""
    assert offer(run, "LATER", "--format", "csv").stdout == ""


def test_a_customer_who_paid_everything_has_nothing_overdue(run, tmp_path):
    records = customer("QUIET", "Quiet Waters Spa", ("2026-05-01", "USD", "420.00"))
    records.append(
        {
            "type": "payment",
            "customer_id": "QUIET",
            "date": "2026-04-28",
            "payment_id": "QUIET-PAY-1",
            "currency": "USD",
            "amount": "420.00",
            "invoice_ids": ["QUIET-1"],
        }
    )
    load(run, tmp_path, records)
    assert offer_json(run, "QUIET") == []


def test_an_unknown_account_suggests_close_ones(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("offer", "HARBR", "--as-of", AS_OF)
    assert result.exit_code == 2
    assert "no customer with account 'HARBR'; did you mean HARBOR?" in result.stderr
    assert result.stdout == ""


def test_an_unknown_account_with_nothing_close_says_only_that(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("offer", "ZZ-999", "--as-of", AS_OF, "--format", "json")
    assert result.exit_code == 2
    assert "no customer with account 'ZZ-999'" in result.stderr
    assert "did you mean" not in result.stderr
    assert result.stdout == ""


def test_a_bad_as_of_is_a_usage_error(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("offer", "HARBOR", "--as-of", "2026-02-30")
    assert result.exit_code == 2
    assert "'2026-02-30' is not a date; write it as YYYY-MM-DD" in result.stderr


@pytest.mark.parametrize(
    "text, key, message",
    [
        (
            "max_monthly_interest = 1.5",
            "offer.max_monthly_interest",
            "must be between 0 and 1, got 1.5",
        ),
        (
            "max_discount_share = -0.05",
            "offer.max_discount_share",
            "must be between 0 and 1, got -0.05",
        ),
        (
            "min_down_payment_share = 2",
            "offer.min_down_payment_share",
            "must be between 0 and 1, got 2",
        ),
        ("max_instalments = 0", "offer.max_instalments", "must be at least 1, got 0"),
        ("max_instalments = 6.5", "offer.max_instalments", "expected an integer"),
        (
            "first_due_in_days = -7",
            "offer.first_due_in_days",
            "must be at least 0, got -7",
        ),
        (
            'instalment_every = "week"',
            "offer.instalment_every",
            "must be one of month; got 'week'",
        ),
        (
            "min_instalment = { USD = -50 }",
            "offer.min_instalment",
            "USD: expected an amount of at least 0, in major units",
        ),
        (
            "min_instalment = { DOLLARS = 50 }",
            "offer.min_instalment",
            "DOLLARS: not an ISO 4217 currency code",
        ),
        ("min_instalment = 50", "offer.min_instalment", "expected a table of amounts"),
        ('options = ["settle_now", "0"]', "offer.options", "'0' is not an option"),
        (
            'options = ["settle_later"]',
            "offer.options",
            "'settle_later' is not an option",
        ),
        ('options = "settle_now"', "offer.options", "expected an array"),
        (
            "max_instalment = 12",
            "offer.max_instalment",
            "unknown key; did you mean offer.max_instalments?",
        ),
    ],
)
def test_a_policy_value_out_of_range_names_the_file_and_key(
    run, tmp_path, isolated, text, key, message
):
    portfolio(run, tmp_path)
    config = isolated / "cobra.toml"
    config.write_text(f"[offer]\n{text}\n", encoding="utf-8")
    for args in (("offer", "HARBOR", "--as-of", AS_OF), ("config", "check")):
        result = run(*args)
        assert result.exit_code == 2, args
        assert f"{config}: {key}: {message}" in result.stderr
        assert result.stdout == ""


def test_the_starter_policy_is_the_documented_one():
    from cobra import config

    assert Policy.from_config(config.load()) == policy()


def test_the_example_in_the_docs_is_what_the_command_prints(run, tmp_path):
    text = (DOCS / "offer.md").read_text(encoding="utf-8")
    ledger = re.search(r"```jsonl\n(.+?)```", text, flags=re.DOTALL).group(1)
    command, printed = re.search(
        r"```console\n\$ (.+?)\n(.+?)```", text, flags=re.DOTALL
    ).groups()
    (tmp_path / "ledger.jsonl").write_text(ledger, encoding="utf-8")
    assert run("import", str(tmp_path / "ledger.jsonl")).exit_code == 0
    words = command.split()
    assert words[0] == "cobra"
    result = run(*words[1:])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == printed
