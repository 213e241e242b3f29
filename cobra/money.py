"""Amounts of money: integer minor units plus an ISO 4217 currency code.

Rules this module enforces for the whole project:

- an amount is an ``int`` count of the currency's minor unit (cents for USD,
  whole pesos for CLP, fils for KWD), never a float;
- arithmetic is exact, and never mixes currencies;
- nothing is rounded unless the caller names a rounding mode;
- display follows the user's locale, through Babel, with exactly as many
  decimals as ISO 4217 gives the currency.

The minor-unit table is :data:`cobra.currencies.MINOR_UNITS`.
"""

from __future__ import annotations

import decimal as _decimal
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from cobra.currencies import MINOR_UNITS, NO_MINOR_UNIT
from cobra.errors import CobraInputError

__all__ = [
    "CurrencyMismatch",
    "InvalidAmount",
    "Money",
    "UnknownCurrency",
    "UnknownLocale",
    "is_currency",
    "minor_units",
    "normalize_currency",
    "sum_by_currency",
]

# Rounding modes a caller may name explicitly (the constants of `decimal`).
ROUNDING_MODES = frozenset(
    {
        _decimal.ROUND_CEILING,
        _decimal.ROUND_DOWN,
        _decimal.ROUND_FLOOR,
        _decimal.ROUND_HALF_DOWN,
        _decimal.ROUND_HALF_EVEN,
        _decimal.ROUND_HALF_UP,
        _decimal.ROUND_UP,
        _decimal.ROUND_05UP,
    }
)

# No receivable has 40 digits; the cap stops text such as "1e999999999" from
# making Python build a gigantic integer.
MAX_DIGITS = 40


class UnknownCurrency(CobraInputError):
    """A currency code that is not an active ISO 4217 code with minor units."""

    def __init__(self, code: object) -> None:
        self.code = code
        self.suggestions = _close_codes(code)
        super().__init__(_unknown_currency_message(code, self.suggestions))

    def __reduce__(self):  # rebuilt from the code, so it survives pickling
        return (type(self), (self.code,))


class CurrencyMismatch(CobraInputError):
    """Two amounts in different currencies were combined or compared."""

    def __init__(self, action: str, left: Money, right: Money) -> None:
        self.action, self.left, self.right = action, left, right
        self.currencies = (left.currency, right.currency)
        super().__init__(
            f"cannot {action} {left} and {right}: amounts in {left.currency} and "
            f"{right.currency} never mix; convert one of them explicitly first, "
            "or keep one total per currency (sum_by_currency)"
        )

    def __reduce__(self):
        return (type(self), (self.action, self.left, self.right))


class InvalidAmount(CobraInputError):
    """Text or a number that cannot be read exactly as an amount of money."""


class UnknownLocale(CobraInputError):
    """A locale name that Babel does not know, so amounts cannot be displayed."""


def _close_codes(code: object) -> list[str]:
    if not isinstance(code, str):
        return []
    text = code.strip().upper()
    if not text:
        return []
    if text in MINOR_UNITS:  # only the case or the spaces were wrong
        return [text]
    if text in NO_MINOR_UNIT:  # a real code, refused on purpose
        return []
    import difflib  # only on this error path, to keep `import cobra.money` fast

    found = difflib.get_close_matches(text, list(MINOR_UNITS), n=3, cutoff=0.6)
    # "USDOLLAR" or "EUROS": a code typed first is the likeliest meaning.
    if text[:3] in MINOR_UNITS and text[:3] not in found:
        found.insert(0, text[:3])
    return found[:3]


def _unknown_currency_message(code: object, suggestions: list[str]) -> str:
    text = code.strip().upper() if isinstance(code, str) else None
    if text == "":
        return "no currency given: name its 3-letter ISO 4217 code, such as USD"
    if text in NO_MINOR_UNIT:
        return (
            f"currency {code!r} has no minor unit in ISO 4217 (it is a metal, a "
            "unit of account or a special code), so cobra cannot count amounts "
            "in it: use the currency the debt is payable in"
        )
    if text in MINOR_UNITS:
        return f"currency {code!r} must be written as its upper-case code: {text}"
    message = (
        f"unknown currency {code!r}: name its 3-letter ISO 4217 code "
        "(such as USD, EUR or CLP)"
    )
    if suggestions:
        message += "; did you mean " + " or ".join(suggestions) + "?"
    return message


def _require_str_code(code: object) -> str:
    if not isinstance(code, str):
        raise TypeError(
            f"a currency code must be a str such as 'USD', "
            f"got {type(code).__name__} {code!r}"
        )
    return code


def normalize_currency(code: str) -> str:
    """Return ``code`` stripped and upper-cased, or raise UnknownCurrency."""
    text = _require_str_code(code).strip().upper()
    if text not in MINOR_UNITS:
        raise UnknownCurrency(code)
    return text


def is_currency(code: object) -> bool:
    """Tell whether ``code`` (in any case, spaces around allowed) is known."""
    return isinstance(code, str) and code.strip().upper() in MINOR_UNITS


def minor_units(code: str) -> int:
    """Digits of the minor unit of ``code``: 2 for USD, 0 for CLP, 3 for KWD."""
    return MINOR_UNITS[normalize_currency(code)]


def _float_error(what: str, value: object) -> TypeError:
    return TypeError(
        f"{what} cannot be a {type(value).__name__} ({value!r}): binary floats "
        "are not exact; give an int of minor units, a decimal.Decimal or the "
        "amount as text"
    )


def _check_rounding(rounding: str | None) -> None:
    if rounding is not None and rounding not in ROUNDING_MODES:
        raise ValueError(
            f"unknown rounding mode {rounding!r}: use one of the decimal module's "
            "constants, such as decimal.ROUND_HALF_EVEN"
        )


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``amount`` minor units of ``currency``.

    ``Money(123450, "USD")`` is 1,234.50 US dollars; ``Money(1234, "CLP")`` is
    1,234 Chilean pesos. The constructor takes the upper-case code only; the
    class methods accept any case.
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        amount = self.amount
        # bool is an int subclass, but True dollars is always a bug.
        if isinstance(amount, bool) or not isinstance(amount, int):
            if isinstance(amount, float):
                raise _float_error("a Money amount", amount)
            raise TypeError(
                "a Money amount is an int count of minor units (cents), got "
                f"{type(amount).__name__} {amount!r}; for a decimal amount use "
                "Money.from_decimal or Money.parse"
            )
        if _require_str_code(self.currency) not in MINOR_UNITS:
            raise UnknownCurrency(self.currency)

    # -- constructors ---------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in ``currency``."""
        return cls(0, normalize_currency(currency))

    @classmethod
    def from_decimal(
        cls,
        value: Decimal | str | int,
        currency: str,
        *,
        rounding: str | None = None,
    ) -> Money:
        """The amount ``value`` (in major units, e.g. "12.34") of ``currency``.

        Exact: a value with more decimals than the currency has (such as
        "10.005" USD) raises InvalidAmount, unless ``rounding`` names a
        ``decimal`` rounding mode (``decimal.ROUND_HALF_EVEN``, ...).
        """
        code = normalize_currency(currency)
        _check_rounding(rounding)
        if isinstance(value, float):
            raise _float_error("an amount", value)
        if isinstance(value, bool):
            raise TypeError(f"an amount cannot be a bool ({value!r})")
        if isinstance(value, int):
            return cls(value * 10 ** MINOR_UNITS[code], code)
        if isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except _decimal.InvalidOperation:
                raise InvalidAmount(
                    f"{value!r} is not a number: write an amount such as 1234.50 "
                    "(no currency sign, '.' as the decimal point)"
                ) from None
        elif isinstance(value, Decimal):
            number = value
        else:
            raise TypeError(
                "an amount must be a decimal.Decimal, a str or an int, got "
                f"{type(value).__name__} {value!r}"
            )
        return cls(_to_minor(number, code, rounding, shown=value), code)

    @classmethod
    def parse(
        cls,
        text: str,
        currency: str,
        *,
        decimal: str = ".",
        thousands: str | None = None,
        rounding: str | None = None,
    ) -> Money:
        """Read an amount written by a person, such as "1.234.567,89".

        ``decimal`` is the decimal separator and ``thousands`` the digit-group
        separator, if the text uses one (``" "`` also accepts the no-break
        spaces that spreadsheets and French or Swiss formats put there). A
        leading "-" (or the Unicode minus sign) makes the amount negative.
        Errors name the text and, when another separator setting would read
        it, the ``--decimal``/``--thousands`` options that would.
        """
        if isinstance(text, float):
            raise _float_error("an amount", text)
        if not isinstance(text, str):
            raise TypeError(
                f"Money.parse reads text, got {type(text).__name__} {text!r}; "
                "use Money.from_decimal for numbers"
            )
        code = normalize_currency(currency)
        _check_rounding(rounding)
        _check_separators(decimal, thousands)
        number = _read_number(text, decimal, thousands)
        if number is None:
            raise InvalidAmount(_unreadable_message(text, decimal, thousands))
        return cls(_to_minor(number, code, rounding, shown=text), code)

    # -- conversions ----------------------------------------------------------

    @property
    def exponent(self) -> int:
        """Digits of this currency's minor unit (2 for USD)."""
        return MINOR_UNITS[self.currency]

    def to_decimal(self) -> Decimal:
        """The exact amount in major units, with the ISO number of decimals."""
        # Built from its parts: Decimal arithmetic (scaleb, division) would
        # round to the context's 28 digits.
        sign = 1 if self.amount < 0 else 0
        digits = tuple(int(d) for d in str(abs(self.amount)))
        return Decimal((sign, digits, -self.exponent))

    def __str__(self) -> str:
        # "f" never switches to scientific notation.
        return f"{self.to_decimal():f} {self.currency}"

    def format(self, locale: str = "en") -> str:
        """The amount as people of ``locale`` write it, e.g. "$1,234.56".

        Always with the ISO 4217 number of decimals (CLDR, which Babel follows
        by default, differs for some currencies, e.g. IQD).
        """
        # Babel takes tens of milliseconds to import: only pay for it when an
        # amount is actually displayed.
        from babel.numbers import format_currency

        if not isinstance(locale, str):
            raise TypeError(f"a locale is a str such as 'en_US', got {locale!r}")
        where, pattern = _currency_pattern(locale, self.exponent)
        # currency_digits=False: take the digits from our pattern, not from
        # CLDR. The value already has exactly those digits, so the quantizing
        # Babel does cannot round anything.
        return format_currency(
            self.to_decimal(),
            self.currency,
            format=pattern,
            locale=where,
            currency_digits=False,
            decimal_quantization=True,
        )

    # -- tests ----------------------------------------------------------------

    def __bool__(self) -> bool:
        return self.amount != 0

    def is_zero(self) -> bool:
        return self.amount == 0

    def is_negative(self) -> bool:
        return self.amount < 0

    def is_positive(self) -> bool:
        return self.amount > 0

    # -- arithmetic -----------------------------------------------------------

    def _same_currency(self, other: Money, action: str) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(action, self, other)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "add")
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "subtract")
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __pos__(self) -> Money:
        return self

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            # A fraction of an amount needs a rounding decision: allocate()
            # makes it for splits, from_decimal(..., rounding=) for the rest.
            raise TypeError(
                f"Money can only be multiplied by an int, not by "
                f"{type(factor).__name__} {factor!r}; to split an amount use "
                "Money.allocate, to scale it by a fraction compute the Decimal "
                "and call Money.from_decimal with an explicit rounding"
            )
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount < other.amount

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount <= other.amount

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount > other.amount

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        self._same_currency(other, "compare")
        return self.amount >= other.amount

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split into parts proportional to ``ratios``, losing no minor unit.

        Each part gets the floor of its share; the minor units left over go one
        each to the first parts with a non-zero ratio, so the parts always add
        up to the whole: ``Money(100, "USD").allocate([1, 1, 1])`` gives 34, 33
        and 33 cents. A negative amount splits like its opposite.
        """
        ratios = list(ratios)
        if not ratios:
            raise ValueError("allocate needs at least one ratio")
        for ratio in ratios:
            if isinstance(ratio, bool) or not isinstance(ratio, int):
                raise TypeError(
                    f"allocation ratios must be ints, got {type(ratio).__name__} "
                    f"{ratio!r}; scale fractions to whole numbers (0.3 -> 3, 0.7 -> 7)"
                )
            if ratio < 0:
                raise ValueError(f"allocation ratios cannot be negative: {ratios}")
        total = sum(ratios)
        if total == 0:
            raise ValueError(f"allocation ratios cannot all be zero: {ratios}")
        # Work on the magnitude so that -1.00 splits as -0.34, -0.33, -0.33
        # rather than floor division pushing every part down.
        whole = abs(self.amount)
        parts = [whole * ratio // total for ratio in ratios]
        # The leftover is below the number of non-zero ratios, so one unit each
        # is enough.
        leftover = whole - sum(parts)
        for index, ratio in enumerate(ratios):
            if leftover == 0:
                break
            if ratio:
                parts[index] += 1
                leftover -= 1
        sign = -1 if self.amount < 0 else 1
        return [Money(sign * part, self.currency) for part in parts]


def sum_by_currency(items: Iterable[Money]) -> dict[str, Money]:
    """Total the amounts per currency, in the order currencies first appear."""
    totals: dict[str, int] = {}
    for item in items:
        if not isinstance(item, Money):
            raise TypeError(
                f"sum_by_currency adds Money, got {type(item).__name__} {item!r}"
            )
        totals[item.currency] = totals.get(item.currency, 0) + item.amount
    return {code: Money(amount, code) for code, amount in totals.items()}


# -- display ------------------------------------------------------------------

# The number part of a CLDR pattern: "#,##0.00" in "¤#,##0.00", "#,##,##0.00"
# in Indian ones.
_NUMBER_PART = re.compile(r"[#0,]*0(?:\.[0#]*)?")


@lru_cache(maxsize=256)
def _currency_pattern(locale: str, exponent: int):
    """The parsed locale and its currency pattern with *exponent* decimals.

    Cached: planning renders hundreds of thousands of amounts in a handful
    of locales, and parsing a locale each time dominated the rendering.
    """
    from babel import Locale, UnknownLocaleError

    try:
        # Accept the BCP 47 spelling (es-CL) as well as Babel's (es_CL).
        where = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise UnknownLocale(
            f"unknown locale {locale!r}: use a name such as en_US, es_CL or de_DE"
        ) from None
    return where, _with_fraction_digits(
        where.currency_formats["standard"].pattern, exponent
    )


def _with_fraction_digits(pattern: str, digits: int) -> str:
    """``pattern`` with exactly ``digits`` decimals in each of its sub-patterns."""
    fraction = "." + "0" * digits if digits else ""
    return ";".join(
        _NUMBER_PART.sub(lambda m: m.group(0).split(".")[0] + fraction, part, 1)
        for part in pattern.split(";")
    )


# -- exact conversion ---------------------------------------------------------


def _to_minor(number: Decimal, code: str, rounding: str | None, shown: object) -> int:
    """``number`` major units of ``code`` as an int of minor units."""
    if not number.is_finite():
        raise InvalidAmount(f"{shown!r} is not an amount of money")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, so not 'n', 'N' or 'F'
    if not any(digits):
        return 0
    places = MINOR_UNITS[code]
    if len(digits) + exponent + places > MAX_DIGITS:
        raise InvalidAmount(f"{shown!r} is too large to be an amount of money")
    # Shifting the exponent by hand is exact; Decimal arithmetic (scaleb,
    # multiplication) would round to the context's 28 digits.
    scaled = Decimal((sign, digits, exponent + places))
    # to_integral_value is exact too: it has no digit limit.
    units = scaled.to_integral_value(rounding=_decimal.ROUND_DOWN)
    if units != scaled:
        if rounding is None:
            raise InvalidAmount(
                f"{shown!r} has more decimals than {code} has ({places}); "
                "correct the amount, or ask for a rounding mode explicitly "
                "(e.g. rounding=decimal.ROUND_HALF_EVEN)"
            )
        units = scaled.to_integral_value(rounding=rounding)
    return int(units)


# -- reading human text -------------------------------------------------------

# Characters that count as the "space" digit-group separator: plain, no-break,
# narrow no-break and thin spaces all appear in exported figures.
_SPACES = " \u00a0\u202f\u2009"
_MINUS_SIGNS = "-\u2212"
# The Swiss separator, typed or typeset.
_APOSTROPHES = "'\u2019"


def _check_separators(decimal: str, thousands: str | None) -> None:
    for name, sep in (("decimal", decimal), ("thousands", thousands)):
        if sep is None and name == "thousands":
            continue
        if not isinstance(sep, str) or len(sep) != 1 or sep.isdigit() or sep in "+-":
            raise InvalidAmount(
                f"the {name} separator must be one character other than a digit "
                f"or a sign, got {sep!r}"
            )
    if decimal == thousands:
        raise InvalidAmount(
            f"the decimal and thousands separators are both {decimal!r}: "
            "they must differ"
        )


def _read_number(text: str, decimal: str, thousands: str | None) -> Decimal | None:
    """The Decimal ``text`` writes, or None if it does not fit the separators."""
    body = text.strip()
    negative = False
    if body[:1] in _MINUS_SIGNS:
        negative, body = True, body[1:].lstrip()
    elif body[:1] == "+":
        body = body[1:].lstrip()
    whole, point, fraction = body.partition(decimal)
    if not _all_ascii_digits(fraction):
        return None
    if point and not fraction:
        return None  # "12." is more likely a typo than an amount
    if not whole:
        if not fraction:
            return None  # nothing but a sign or a separator
    elif thousands is None:
        if not _all_ascii_digits(whole):
            return None
    else:
        if thousands in _SPACES:
            groups = re.split(f"[{_SPACES}]", whole)
        elif thousands in _APOSTROPHES:
            groups = re.split(f"[{_APOSTROPHES}]", whole)
        else:
            groups = whole.split(thousands)
        if not _valid_groups(groups):
            return None
        whole = "".join(groups)
    number = Decimal(f"{whole or '0'}.{fraction}" if fraction else whole)
    return -number if negative else number


def _all_ascii_digits(text: str) -> bool:
    # str.isdigit() also accepts other scripts' digits and superscripts.
    return all("0" <= c <= "9" for c in text)


def _valid_groups(groups: list[str]) -> bool:
    if not all(group and _all_ascii_digits(group) for group in groups):
        return False
    if len(groups) == 1:
        return True
    # First group 1 to 3 digits, the last exactly 3; the ones between 2 or 3,
    # which also admits Indian grouping (12,34,567).
    first, *middle, last = groups
    return (
        1 <= len(first) <= 3
        and len(last) == 3
        and all(2 <= len(group) <= 3 for group in middle)
    )


# Separator settings tried, in this order, to suggest options for text that
# does not read with the ones given.
_ALTERNATIVES = (
    (".", None),
    (".", ","),
    (".", " "),
    (".", "'"),
    (",", None),
    (",", "."),
    (",", " "),
)


def _option(name: str, sep: str) -> str:
    # Quote the separators a shell would otherwise eat.
    shown = f'"{sep}"' if sep in " '" else sep
    return f"--{name} {shown}"


def _describe(decimal: str, thousands: str | None) -> str:
    grouping = "no" if thousands is None else repr(thousands)
    return f"decimal separator {decimal!r} and {grouping} thousands separator"


def _unreadable_message(text: str, decimal: str, thousands: str | None) -> str:
    if not text.strip():
        return f"empty amount {text!r}: write a number such as 1234.50"
    message = f"cannot read {text!r} as an amount with {_describe(decimal, thousands)}"
    body = text.strip()
    fixes: list[tuple[str, str, Decimal]] = []  # (options, decimal sep, value)
    for alt_decimal, alt_thousands in _ALTERNATIVES:
        if (alt_decimal, alt_thousands) == (decimal, thousands):
            continue
        # Suggest only separators the text really contains, so that each
        # suggestion is the smallest change that reads it.
        if alt_thousands is not None and not _contains(body, alt_thousands):
            continue
        value = _read_number(text, alt_decimal, alt_thousands)
        if value is None:
            continue
        options = []
        if alt_decimal != decimal:
            options.append(_option("decimal", alt_decimal))
        if alt_thousands != thousands:
            if alt_thousands is None:
                options.append("no --thousands")
            else:
                options.append(_option("thousands", alt_thousands))
        fixes.append((" and ".join(options), alt_decimal, value))
    if not fixes:
        return (
            message + "; write digits with at most one decimal separator, and "
            "a leading '-' for a negative amount"
        )
    if decimal == "." and all(alt_decimal == "," for _, alt_decimal, _ in fixes):
        message += "; it looks like it uses a decimal comma"
    elif len(fixes) > 1:
        message += "; it can be read more than one way"
    readings = [f"with {options} it reads as {value}" for options, _, value in fixes]
    return message + ": " + "; ".join(readings)


def _contains(text: str, separator: str) -> bool:
    if separator in _SPACES:
        return any(c in _SPACES for c in text)
    if separator in _APOSTROPHES:
        return any(c in _APOSTROPHES for c in text)
    return separator in text
