"""Checking and normalising the fields of imported records.

Every importer reads text in its own format but checks the same things the
same way: a date is a date, an amount has no more decimals than its
currency allows, a phone number becomes E.164, an e-mail address looks like
one. Each checker raises :class:`FieldError` with a sentence saying what is
wrong and, where there is one, the option that fixes it; importers turn that
into a :class:`cobra.records.Rejected` line.

These run once per row of files with millions of rows, so the common,
already-clean case takes a fast path and only unusual text pays for the
general parser.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

from cobra.currencies import MINOR_UNITS


class FieldError(ValueError):
    """A field's value is not acceptable; the message says why."""


def required(value: str | None, what: str = "value") -> str:
    value = (value or "").strip()
    if not value:
        raise FieldError(f"missing {what}")
    return value


def optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def currency(value: str | None) -> str:
    code = (value or "").strip().upper()
    if code in MINOR_UNITS:
        return code
    if not code:
        raise FieldError("missing currency")
    from cobra.money import UnknownCurrency

    raise FieldError(str(UnknownCurrency(value)))


def parse_date(value: str | None, fmt: str | None = None) -> date:
    """A date in ISO form (``2026-12-31``), or in *fmt* (``%d/%m/%Y``)."""
    text = (value or "").strip()
    if not text:
        raise FieldError("missing date")
    try:
        if fmt is None:
            return date.fromisoformat(text)
        return datetime.strptime(text, fmt).date()
    except ValueError:
        if fmt is None:
            hint = "; for day-first dates such as 31/12/2026 use --date-format %d/%m/%Y"
            raise FieldError(
                f"{text!r} is not a date in YYYY-MM-DD form{hint}"
            ) from None
        raise FieldError(f"{text!r} is not a date in the form {fmt}") from None


def due_on_or_after(due: date, issued: date) -> date:
    """The due date, if it is not before the issue date."""
    if due < issued:
        raise FieldError(f"{due} is before the issue date {issued}")
    return due


# The store keeps amounts in SQLite's 64-bit integers.
LARGEST_AMOUNT = 2**63 - 1

_PLAIN_AMOUNT = re.compile(r"-?\d{1,30}(?:\.\d+)?")


def parse_amount(
    value: str | None, code: str, decimal: str = ".", thousands: str | None = None
) -> int:
    """Minor units of *code* written as text in major units ("1234.50")."""
    text = (value or "").strip()
    if not text:
        raise FieldError("missing amount")
    if decimal == "." and _PLAIN_AMOUNT.fullmatch(text):
        # The fast path: plain digits with an optional point, the form
        # cobra's own files and most exports use.
        whole, _, fraction = text.partition(".")
        exponent = MINOR_UNITS[code]
        fraction = fraction.rstrip("0")
        if len(fraction) > exponent:
            raise FieldError(
                f"{text!r} has more decimals than {code} allows ({exponent})"
            )
        negative = whole.startswith("-")
        minor = int(whole.lstrip("-")) * 10**exponent + int(
            fraction.ljust(exponent, "0") or 0
        )
        minor = -minor if negative else minor
    else:
        from cobra.errors import CobraInputError
        from cobra.money import Money

        try:
            minor = Money.parse(text, code, decimal=decimal, thousands=thousands).amount
        except CobraInputError as exc:
            raise FieldError(str(exc)) from None
    if abs(minor) > LARGEST_AMOUNT:
        raise FieldError(f"{text!r} is too large an amount")
    return minor


# A sanity check, not RFC 5322: one @, something on each side, a dot in the
# domain, and a name that ends in two letters. (cobra.store.ledger checks the
# same rule in bulk, and must accept nothing this rejects.)
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]*[A-Za-z]{2}")


def email(value: str | None) -> str | None:
    text = optional(value)
    if text is None:
        return None
    if not _EMAIL.fullmatch(text):
        raise FieldError(f"{text!r} is not an e-mail address")
    return text


_E164 = re.compile(r"\+[1-9]\d{6,14}")


def phone(value: str | None, country: str | None) -> str | None:
    """The number in E.164 form, read in the customer's country.

    A number already written in E.164 form is kept after a structure check;
    anything else goes through libphonenumber, which knows each country's
    numbering plan.
    """
    text = optional(value)
    if text is None:
        return None
    compact = text.replace(" ", "")
    if _E164.fullmatch(compact):
        return compact
    return _phone_with_plan(text, country)


@lru_cache(maxsize=4096)
def _phone_with_plan(text: str, country: str | None) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        where = f" in {country}" if country else " (no country to read it in)"
        raise FieldError(f"{text!r} is not a phone number{where}") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError(
            f"{text!r} is not a valid phone number for {country or 'any country'}"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_COUNTRY = re.compile(r"[A-Z]{2}")


@lru_cache(maxsize=1024)  # a few hundred codes, on every customer of a large file
def country(value: str | None) -> str | None:
    text = optional(value)
    if text is None:
        return None
    text = text.upper()
    if not _COUNTRY.fullmatch(text):
        raise FieldError(
            f"{value!r} is not an ISO 3166-1 alpha-2 country code such as CL"
        )
    return text


_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z]{2})?")


@lru_cache(maxsize=1024)
def language(value: str | None) -> str | None:
    text = optional(value)
    if text is None:
        return None
    if not _LANGUAGE.fullmatch(text):
        raise FieldError(f"{text!r} is not a language tag such as es or en-US")
    base, _, region = text.replace("_", "-").partition("-")
    return f"{base.lower()}-{region.upper()}" if region else base.lower()


@lru_cache(maxsize=1024)
def timezone(value: str | None) -> str | None:
    text = optional(value)
    if text is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise FieldError(
            f"{text!r} is not an IANA time zone such as America/Santiago"
        ) from None
    return text
