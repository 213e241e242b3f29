"""Tests of cobra.money: exact amounts, parsing, arithmetic and display."""

import dataclasses
import decimal
import math
import os
import pickle
import random
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from cobra.currencies import MINOR_UNITS, NO_MINOR_UNIT
from cobra.errors import CobraInputError
from cobra.money import (
    CurrencyMismatch,
    InvalidAmount,
    Money,
    UnknownCurrency,
    UnknownLocale,
    is_currency,
    minor_units,
    normalize_currency,
    sum_by_currency,
)

REPO = Path(__file__).resolve().parent.parent


# -- the ISO 4217 table --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("CLP", 0),
        ("USD", 2),
        ("EUR", 2),
        ("KWD", 3),
        ("CLF", 4),
        ("JPY", 0),
        ("BHD", 3),
        ("IQD", 3),
        ("JOD", 3),
        ("LYD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("UYW", 4),
        ("ISK", 0),
        ("KRW", 0),
        ("PYG", 0),
        ("VND", 0),
        ("XAF", 0),
    ],
)
def test_exponents_come_from_the_iso_table(code, digits):
    assert MINOR_UNITS[code] == digits
    assert minor_units(code) == digits


def test_table_holds_only_codes_with_a_minor_unit():
    assert len(MINOR_UNITS) > 150
    for code, digits in MINOR_UNITS.items():
        assert len(code) == 3 and code.isascii() and code.isupper(), code
        assert type(digits) is int and 0 <= digits <= 4, code
    for code in ("XAU", "XDR", "XXX", "XTS"):
        assert code not in MINOR_UNITS
        assert code in NO_MINOR_UNIT
    assert not set(MINOR_UNITS) & NO_MINOR_UNIT


def test_currency_helpers_accept_any_case_and_spaces():
    assert normalize_currency(" usd ") == "USD"
    assert minor_units("clp") == 0
    assert is_currency("eur") and is_currency(" KWD")
    assert not is_currency("EUROS")
    assert not is_currency("XAU")
    assert not is_currency(None)


def test_unknown_currency_suggests_close_codes():
    with pytest.raises(UnknownCurrency) as caught:
        normalize_currency("EUROS")
    message = str(caught.value)
    assert "'EUROS'" in message
    assert "3-letter ISO 4217 code" in message
    assert "did you mean EUR" in message
    assert caught.value.suggestions[0] == "EUR"
    assert isinstance(caught.value, CobraInputError)


def test_unknown_currency_messages_for_special_cases():
    with pytest.raises(UnknownCurrency, match="no currency given"):
        minor_units("  ")
    with pytest.raises(UnknownCurrency, match="has no minor unit"):
        Money.zero("XAU")
    # The constructor wants the canonical code, and says which one.
    with pytest.raises(UnknownCurrency, match="upper-case code: USD"):
        Money(100, "usd")
    with pytest.raises(TypeError, match="currency code must be a str"):
        Money(100, None)


def test_errors_survive_pickling():
    error = pickle.loads(pickle.dumps(UnknownCurrency("EUROS")))
    assert error.code == "EUROS" and "did you mean EUR" in str(error)
    mismatch = CurrencyMismatch("add", Money(1, "USD"), Money(1, "CLP"))
    assert str(pickle.loads(pickle.dumps(mismatch))) == str(mismatch)


# -- construction --------------------------------------------------------------


def test_money_holds_int_minor_units():
    price = Money(123450, "USD")
    assert price.amount == 123450 and price.currency == "USD"
    assert price.exponent == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.amount = 1  # type: ignore[misc]


@pytest.mark.parametrize("amount", [12.5, 0.0, float("nan")])
def test_constructor_rejects_floats(amount):
    with pytest.raises(TypeError, match="binary floats are not exact"):
        Money(amount, "USD")


@pytest.mark.parametrize("amount", [True, Decimal(12), "12", Fraction(1, 2), None])
def test_constructor_rejects_other_non_ints(amount):
    with pytest.raises(TypeError):
        Money(amount, "USD")


def test_zero():
    assert Money.zero("clp") == Money(0, "CLP")
    assert Money.zero("USD").is_zero()


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("10.50", "USD", 1050),
        ("10.5", "USD", 1050),
        ("10.500", "USD", 1050),  # trailing zeros lose nothing
        (" -0.01 ", "USD", -1),
        (Decimal("1234.567"), "KWD", 1234567),
        (Decimal("0.1234"), "CLF", 1234),
        ("1234", "CLP", 1234),
        (Decimal("1E+3"), "CLP", 1000),
        (7, "USD", 700),
        (7, "JPY", 7),
        ("-0.00", "USD", 0),
        # 35 digits: more than a default decimal context keeps.
        (
            "12345678901234567890123456789012.34",
            "USD",
            1234567890123456789012345678901234,
        ),
    ],
)
def test_from_decimal_is_exact(value, currency, amount):
    assert Money.from_decimal(value, currency) == Money(amount, currency.upper())


@pytest.mark.parametrize(
    ("value", "currency"),
    [("10.005", "USD"), ("1234.5", "CLP"), ("0.12345", "CLF"), ("1.0001", "KWD")],
)
def test_from_decimal_never_rounds_silently(value, currency):
    with pytest.raises(InvalidAmount) as caught:
        Money.from_decimal(value, currency)
    message = str(caught.value)
    assert repr(value) in message
    assert currency in message
    assert "rounding" in message


@pytest.mark.parametrize(
    ("value", "rounding", "amount"),
    [
        ("10.005", decimal.ROUND_HALF_EVEN, 1000),
        ("10.015", decimal.ROUND_HALF_EVEN, 1002),
        ("10.005", decimal.ROUND_HALF_UP, 1001),
        ("10.009", decimal.ROUND_DOWN, 1000),
        ("-10.005", decimal.ROUND_HALF_UP, -1001),
        ("-10.001", decimal.ROUND_CEILING, -1000),
        ("-10.001", decimal.ROUND_FLOOR, -1001),
        ("10.001", decimal.ROUND_CEILING, 1001),
        ("1e-999999999", decimal.ROUND_HALF_EVEN, 0),
    ],
)
def test_from_decimal_rounds_only_when_asked(value, rounding, amount):
    assert Money.from_decimal(value, "USD", rounding=rounding).amount == amount


def test_from_decimal_rejects_unknown_rounding_mode():
    with pytest.raises(ValueError, match="ROUND_HALF_EVEN"):
        Money.from_decimal("1", "USD", rounding="nearest")


@pytest.mark.parametrize("value", [10.5, 0.1 + 0.2])
def test_from_decimal_rejects_floats(value):
    with pytest.raises(TypeError, match="float"):
        Money.from_decimal(value, "USD")


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", "1e999999999"])
def test_from_decimal_rejects_non_amounts(value):
    with pytest.raises(InvalidAmount):
        Money.from_decimal(value, "USD")


# -- parsing human text ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "options", "currency", "amount"),
    [
        ("1.234.567,89", {"decimal": ",", "thousands": "."}, "EUR", 123456789),
        ("1,234,567.89", {"thousands": ","}, "USD", 123456789),
        ("1 234,50", {"decimal": ",", "thousands": " "}, "EUR", 123450),
        # Babel and spreadsheets write no-break spaces between groups.
        ("1\u202f234,50", {"decimal": ",", "thousands": " "}, "EUR", 123450),
        ("1\u00a0234\u00a0567", {"thousands": " "}, "CLP", 1234567),
        ("1'234.50", {"thousands": "'"}, "CHF", 123450),
        ("12,34,567.00", {"thousands": ","}, "INR", 123456700),
        ("-12.5", {}, "USD", -1250),
        ("\u221212.5", {}, "USD", -1250),
        ("+12.5", {}, "USD", 1250),
        ("  42  ", {}, "USD", 4200),
        ("1.234", {}, "KWD", 1234),
        ("1234", {}, "CLP", 1234),
        ("1.234", {"decimal": ",", "thousands": "."}, "CLP", 1234),
        ("0,5", {"decimal": ","}, "EUR", 50),
    ],
)
def test_parse_reads_human_text(text, options, currency, amount):
    assert Money.parse(text, currency, **options) == Money(amount, currency)


def test_parse_hints_at_a_decimal_comma():
    with pytest.raises(InvalidAmount) as caught:
        Money.parse("1.234.567,89", "EUR")
    message = str(caught.value)
    assert "'1.234.567,89'" in message
    assert "decimal comma" in message
    assert "--decimal , and --thousands ." in message
    assert "1234567.89" in message


def test_parse_hints_at_a_decimal_comma_without_groups():
    with pytest.raises(InvalidAmount, match="'12,50'.*--decimal ,") as caught:
        Money.parse("12,50", "EUR")
    assert "decimal comma" in str(caught.value)


def test_parse_names_both_readings_of_ambiguous_text():
    with pytest.raises(InvalidAmount) as caught:
        Money.parse("1,234", "USD")
    message = str(caught.value)
    assert "--thousands , it reads as 1234" in message
    assert "--decimal , it reads as 1.234" in message


def test_parse_hints_the_other_way_round():
    with pytest.raises(InvalidAmount, match="--decimal . and --thousands ,"):
        Money.parse("1,234,567.89", "USD", decimal=",")


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("abc", {}),
        ("", {}),
        ("-", {}),
        ("12.", {}),
        ("1.2.3", {}),
        ("1,5", {"thousands": ","}),  # a group of one digit is not a group
        ("1,2345", {"thousands": ","}),
        ("$12.50", {}),
        ("12.50 USD", {}),
        ("(12.50)", {}),
        ("\u0661\u0662", {}),  # Arabic-Indic digits
    ],
)
def test_parse_rejects_what_it_cannot_read_exactly(text, options):
    with pytest.raises(InvalidAmount, match="amount"):
        Money.parse(text, "USD", **options)


def test_parse_does_not_round_without_a_mode():
    with pytest.raises(InvalidAmount, match="more decimals than USD"):
        Money.parse("10,005", "USD", decimal=",")
    rounded = Money.parse("10,005", "USD", decimal=",", rounding=decimal.ROUND_HALF_UP)
    assert rounded == Money(1001, "USD")


def test_parse_checks_its_separators():
    with pytest.raises(InvalidAmount, match="must differ"):
        Money.parse("1", "USD", decimal=",", thousands=",")
    with pytest.raises(InvalidAmount, match="one character"):
        Money.parse("1", "USD", decimal="")


def test_parse_rejects_floats_and_numbers():
    with pytest.raises(TypeError, match="float"):
        Money.parse(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="from_decimal"):
        Money.parse(12, "USD")  # type: ignore[arg-type]


# -- conversions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "exact", "text"),
    [
        (Money(123450, "USD"), Decimal("1234.50"), "1234.50 USD"),
        (Money(-5, "USD"), Decimal("-0.05"), "-0.05 USD"),
        (Money(0, "USD"), Decimal("0.00"), "0.00 USD"),
        (Money(1234567, "CLP"), Decimal(1234567), "1234567 CLP"),
        (Money(1234, "KWD"), Decimal("1.234"), "1.234 KWD"),
        (Money(5, "CLF"), Decimal("0.0005"), "0.0005 CLF"),
    ],
)
def test_to_decimal_and_str(money, exact, text):
    assert money.to_decimal() == exact
    assert str(money.to_decimal()) == str(exact)  # same number of decimals
    assert str(money) == text


def test_to_decimal_is_exact_beyond_the_decimal_context():
    big = 10**35 + 1  # 36 digits; a default decimal context keeps 28
    exact = Decimal("1000000000000000000000000000000000.01")
    assert Money(big, "USD").to_decimal() == exact
    assert Money.from_decimal(exact, "USD").amount == big


# -- arithmetic ----------------------------------------------------------------


def test_addition_subtraction_and_signs():
    a, b = Money(1050, "USD"), Money(-300, "USD")
    assert a + b == Money(750, "USD")
    assert a - b == Money(1350, "USD")
    assert -a == Money(-1050, "USD")
    assert +a == a
    assert abs(b) == Money(300, "USD")


def test_multiplication_by_int_only():
    assert Money(333, "USD") * 3 == Money(999, "USD")
    assert 3 * Money(333, "USD") == Money(999, "USD")
    assert Money(5, "CLP") * -2 == Money(-10, "CLP")
    for factor in (1.5, Decimal("1.5"), Fraction(1, 2), True, Money(2, "USD")):
        with pytest.raises(TypeError, match="only be multiplied by an int"):
            Money(100, "USD") * factor
        with pytest.raises(TypeError):
            factor * Money(100, "USD")


def test_mixing_currencies_is_refused_with_both_codes():
    usd, clp = Money(1000, "USD"), Money(1000, "CLP")
    with pytest.raises(CurrencyMismatch) as caught:
        usd + clp
    message = str(caught.value)
    assert "cannot add 10.00 USD and 1000 CLP" in message
    assert "USD and CLP never mix" in message
    assert caught.value.currencies == ("USD", "CLP")
    with pytest.raises(CurrencyMismatch, match="cannot subtract .* CLP and .* USD"):
        clp - usd
    for compare in (
        lambda: usd < clp,
        lambda: usd <= clp,
        lambda: usd > clp,
        lambda: usd >= clp,
    ):
        with pytest.raises(CurrencyMismatch, match="cannot compare"):
            compare()
    assert isinstance(caught.value, CobraInputError)


def test_money_does_not_mix_with_plain_numbers():
    with pytest.raises(TypeError):
        Money(1, "USD") + 1
    with pytest.raises(TypeError):
        assert Money(1, "USD") < 2
    assert Money(1, "USD") != 1


def test_comparisons_within_a_currency():
    small, large = Money(100, "USD"), Money(200, "USD")
    assert small < large and small <= large and large > small and large >= small
    assert small <= Money(100, "USD") and small >= Money(100, "USD")
    assert max([small, large]) == large
    assert sorted([large, small]) == [small, large]


def test_equality_and_hash_include_the_currency():
    assert Money(100, "USD") == Money(100, "USD")
    assert Money(100, "USD") != Money(100, "CAD")
    assert Money(0, "USD") != Money(0, "EUR")
    assert len({Money(100, "USD"), Money(100, "USD"), Money(100, "CAD")}) == 2


def test_truth_and_sign_tests():
    assert not Money(0, "USD") and Money(0, "USD").is_zero()
    assert Money(-1, "USD") and Money(-1, "USD").is_negative()
    assert Money(1, "USD").is_positive() and not Money(1, "USD").is_negative()


# -- allocation ----------------------------------------------------------------


def test_allocate_gives_leftovers_to_the_first_parts():
    parts = Money(100, "USD").allocate([1, 1, 1])
    assert [p.amount for p in parts] == [34, 33, 33]
    parts = Money(1000, "CLP").allocate([50, 30, 20])
    assert [p.amount for p in parts] == [500, 300, 200]
    parts = Money(5, "USD").allocate([1, 1, 1, 1, 1, 1, 1])
    assert [p.amount for p in parts] == [1, 1, 1, 1, 1, 0, 0]
    assert all(p.currency == "USD" for p in parts)


def test_allocate_skips_zero_ratios_and_splits_negatives_symmetrically():
    assert [p.amount for p in Money(5, "USD").allocate([0, 1, 1])] == [0, 3, 2]
    assert [p.amount for p in Money(-100, "USD").allocate([1, 1, 1])] == [-34, -33, -33]
    assert [p.amount for p in Money(0, "USD").allocate([2, 1])] == [0, 0]


def test_allocate_always_adds_up_to_the_whole():
    rng = random.Random(20240613)
    for _ in range(2000):
        amount = rng.randint(-(10**12), 10**12)
        ratios = [rng.randint(0, 1000) for _ in range(rng.randint(1, 12))]
        if not any(ratios):
            ratios[0] = 1
        whole = Money(amount, rng.choice(["USD", "CLP", "KWD"]))
        parts = whole.allocate(ratios)
        assert len(parts) == len(ratios)
        assert sum(p.amount for p in parts) == amount
        total = sum(ratios)
        for part, ratio in zip(parts, ratios):
            assert part.currency == whole.currency
            # Each part is the whole units of its exact share, or one more.
            share = Fraction(abs(amount) * ratio, total)
            assert math.floor(share) <= abs(part.amount) <= math.floor(share) + 1
            assert part.amount * amount >= 0  # same sign as the whole
            if ratio == 0:
                assert part.amount == 0


@pytest.mark.parametrize(
    ("ratios", "error"),
    [
        ([], ValueError),
        ([0, 0], ValueError),
        ([1, -1], ValueError),
        ([0.5, 0.5], TypeError),
        ([True, 1], TypeError),
    ],
)
def test_allocate_rejects_bad_ratios(ratios, error):
    with pytest.raises(error):
        Money(100, "USD").allocate(ratios)


# -- totals --------------------------------------------------------------------


def test_sum_by_currency_keeps_currencies_apart():
    totals = sum_by_currency(
        [Money(100, "USD"), Money(5000, "CLP"), Money(-25, "USD"), Money(1, "CLP")]
    )
    assert totals == {"USD": Money(75, "USD"), "CLP": Money(5001, "CLP")}
    assert list(totals) == ["USD", "CLP"]  # order of first appearance
    assert sum_by_currency([]) == {}
    assert sum_by_currency(iter([Money(0, "EUR")])) == {"EUR": Money(0, "EUR")}
    with pytest.raises(TypeError, match="adds Money"):
        sum_by_currency([Money(1, "USD"), 2])


# -- display -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("money", "locale", "shown"),
    [
        (Money(123456, "USD"), "en_US", "$1,234.56"),
        (Money(-123456, "USD"), "en_US", "-$1,234.56"),
        (Money(1234567, "CLP"), "es_CL", "$1.234.567"),
        (Money(1234567, "CLP"), "es-CL", "$1.234.567"),
        (Money(123456, "USD"), "es_CL", "US$1.234,56"),
        (Money(123456, "EUR"), "de_DE", "1.234,56\xa0€"),
        (Money(1234567, "KWD"), "de_DE", "1.234,567\xa0KWD"),
        (Money(1234, "KWD"), "en_US", "KWD1.234"),
        (Money(12345, "CLF"), "es_CL", "CLF1,2345"),
        (Money(1234, "JPY"), "en_US", "¥1,234"),
        (Money(0, "USD"), "en_US", "$0.00"),
    ],
)
def test_format_with_babel(money, locale, shown):
    pytest.importorskip("babel")
    assert money.format(locale) == shown


def test_format_uses_iso_digits_where_cldr_differs():
    pytest.importorskip("babel")
    # CLDR gives the Iraqi dinar 0 decimals; ISO 4217 gives it 3.
    assert Money(1234567, "IQD").format("en_US") == "IQD1,234.567"


def test_format_default_locale_and_unknown_locale():
    pytest.importorskip("babel")
    assert Money(150, "USD").format() == "$1.50"
    with pytest.raises(UnknownLocale, match="'xx_YY'.*en_US"):
        Money(150, "USD").format("xx_YY")


def test_importing_money_does_not_import_babel():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import cobra.money, sys; print('babel' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    )
    assert result.stdout.strip() == "False"
