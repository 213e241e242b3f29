"""Payment-plan options within the company's policy: the "suggestion" method.

Influence is bilateral: a customer who cannot pay everything now is offered
a few ways out, all within limits the company set in ``[offer]``, and picks
one. :func:`options` is a pure function of what is overdue, the policy and
the day the offer is made, so ``cobra offer`` shows the options and a later
``cobra log --outcome plan_agreed`` can rebuild the one the customer chose.

Every amount is an int of minor units. Rates and shares are read as the
decimal the config file writes (``0.015``), never used as binary floats, and
each figure is computed with exact integer arithmetic and rounded once, in a
named direction, always the one that keeps inside the policy's limits:

- the discount and the interest are rounded down (ROUND_DOWN), so neither
  exceeds its maximum;
- the down payment is rounded up (ROUND_UP), so it is never below its minimum;
- instalments come from :meth:`Money.allocate`, so they add up exactly.

Interest is amortised: the rate applies each month to the balance still
financed, as in an ordinary loan with equal payments. See docs/offer.md.
"""

from __future__ import annotations

import calendar
import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from cobra.errors import ConfigError
from cobra.money import Money, is_currency

__all__ = [
    "SETTLE_NOW",
    "Option",
    "Payment",
    "Policy",
    "add_months",
    "amortised_interest",
    "options",
]

SETTLE_NOW = "settle_now"
EVERY = ("month",)

# The keys of [offer]; the order is the order of docs and errors.
KEYS = (
    "max_instalments",
    "min_down_payment_share",
    "max_monthly_interest",
    "max_discount_share",
    "min_instalment",
    "first_due_in_days",
    "instalment_every",
    "options",
)


# -- config checks ------------------------------------------------------------
#
# cobra.config_schema calls these lazily (only when a file has an [offer]
# table), so that reading the config does not import this module.


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def min_instalment_problem(value: object) -> str | None:
    """``{ USD = 50, CLP = 30000, default = 50 }``: amounts >= 0, in major units."""
    if not isinstance(value, dict):
        return "expected a table of amounts per currency, such as { USD = 50 }"
    for code, amount in value.items():
        if code != "default" and not (is_currency(code) and code == code.upper()):
            return (
                f"{code}: not an ISO 4217 currency code in upper case "
                "(or `default`, for the currencies not listed)"
            )
        if not _is_number(amount) or amount < 0:
            return f"{code}: expected an amount of at least 0, in major units"
    return None


def options_problem(value: object) -> str | None:
    """``["settle_now", "3", "6"]``: settle_now and counts of instalments."""
    if not isinstance(value, list):
        return 'expected an array such as ["settle_now", "3", "6", "12"]'
    for item in value:
        if _instalment_count(item) is None and item != SETTLE_NOW:
            return (
                f"{item!r} is not an option: use {SETTLE_NOW!r} or a number of "
                'instalments of at least 1, such as "6"'
            )
    return None


def _instalment_count(item: object) -> int | None:
    """The count an options entry names ("6" or 6), or None if it names none."""
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        count = item
    elif isinstance(item, str) and item.isascii() and item.isdigit():
        count = int(item)
    else:
        return None
    return count if count >= 1 else None


# -- the policy ---------------------------------------------------------------


def _exact(value: object) -> Decimal:
    """A number from the config as the decimal written in the file.

    TOML gives ``0.015`` as a float; its shortest repr is the text the user
    typed, whereas Decimal(0.015) would carry the binary error along.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _check_share(name: str, value: Decimal, below_one: bool = False) -> None:
    if not (0 <= value < 1 if below_one else 0 <= value <= 1):
        upper = "below 1" if below_one else "at most 1"
        raise ValueError(f"{name} must be at least 0 and {upper}, got {value}")


@dataclass(frozen=True)
class Policy:
    """The limits within which options are offered; see docs/offer.md."""

    max_instalments: int
    min_down_payment_share: Decimal
    max_monthly_interest: Decimal
    max_discount_share: Decimal
    # Major units per currency; `default` for the currencies not listed.
    min_instalment: Mapping[str, Decimal]
    first_due_in_days: int
    instalment_every: str
    options: tuple[str, ...]

    def __post_init__(self) -> None:
        # The config is checked against the schema first; these checks are
        # for callers that build a Policy by hand.
        if self.max_instalments < 1:
            raise ValueError(
                f"max_instalments must be at least 1, got {self.max_instalments}"
            )
        if self.first_due_in_days < 0:
            raise ValueError(
                f"first_due_in_days cannot be negative, got {self.first_due_in_days}"
            )
        if self.instalment_every not in EVERY:
            raise ValueError(
                f"instalment_every must be one of {', '.join(EVERY)}, "
                f"got {self.instalment_every!r}"
            )
        _check_share("min_down_payment_share", self.min_down_payment_share)
        _check_share("max_monthly_interest", self.max_monthly_interest)
        _check_share("max_discount_share", self.max_discount_share)
        problem = options_problem(list(self.options))
        if problem:
            raise ValueError(f"options: {problem}")

    @classmethod
    def from_config(cls, config) -> Policy:
        """The ``[offer]`` table of a loaded :class:`cobra.config.Config`."""
        values = {}
        for key in KEYS:
            value = config.get(f"offer.{key}")
            if value is None:
                raise ConfigError(
                    f"offer.{key} is not set; add it to the [offer] table "
                    "(docs/offer.md gives the starter values)"
                )
            values[key] = value
        try:
            return cls(
                max_instalments=int(values["max_instalments"]),
                min_down_payment_share=_exact(values["min_down_payment_share"]),
                max_monthly_interest=_exact(values["max_monthly_interest"]),
                max_discount_share=_exact(values["max_discount_share"]),
                min_instalment={
                    code: _exact(amount)
                    for code, amount in dict(values["min_instalment"]).items()
                },
                first_due_in_days=int(values["first_due_in_days"]),
                instalment_every=str(values["instalment_every"]),
                options=tuple(str(item) for item in values["options"]),
            )
        except (ValueError, TypeError, decimal.InvalidOperation) as exc:
            # The schema check catches these first; this guards a config
            # built another way, and still names the key.
            raise ConfigError(f"[offer] in {_sources(config)}: {exc}") from None

    def minimum_instalment(self, currency: str) -> int:
        """The smallest instalment in ``currency``, in minor units."""
        amount = self.min_instalment.get(currency, self.min_instalment.get("default"))
        if amount is None:
            return 1  # no minimum set: any instalment of at least one unit
        # Rounded up: a minimum with more decimals than the currency has
        # (0.5 CLP) must still be reached, not undercut.
        money = Money.from_decimal(amount, currency, rounding=decimal.ROUND_UP)
        return max(money.amount, 1)


def _sources(config) -> str:
    found = {config.describe_source(f"offer.{key}") for key in KEYS}
    return ", ".join(sorted(found))


# -- the options --------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """One payment of a schedule; number 0 is the down payment."""

    number: int
    due: date
    amount: Money


@dataclass(frozen=True)
class Option:
    """One way to pay what is overdue in one currency.

    Every option is a down payment due on the first due date followed by
    zero or more monthly instalments; settling now is the down payment alone.
    """

    option: str  # "settle_now" or "plan_N"; unique within a currency
    label: str
    owed: Money
    down_payment: Money
    down_payment_due: date
    instalments: tuple[Payment, ...]
    interest: Money
    discount: Money
    note: str | None = None

    @property
    def currency(self) -> str:
        return self.owed.currency

    @property
    def total(self) -> Money:
        return sum((p.amount for p in self.instalments), self.down_payment)

    @property
    def schedule(self) -> list[Payment]:
        """The down payment (if any) and the instalments, in date order."""
        first = [Payment(0, self.down_payment_due, self.down_payment)]
        return (first if self.down_payment else []) + list(self.instalments)

    def as_dict(self) -> dict:
        """Stable snake_case keys; amounts as exact decimal strings."""
        return {
            "option": self.option,
            "label": self.label,
            "currency": self.currency,
            "owed": _text(self.owed),
            "down_payment": _text(self.down_payment),
            "down_payment_due": (
                self.down_payment_due.isoformat() if self.down_payment else None
            ),
            "instalment_count": len(self.instalments),
            "instalments": [
                {
                    "number": p.number,
                    "due": p.due.isoformat(),
                    "amount": _text(p.amount),
                }
                for p in self.instalments
            ],
            "total": _text(self.total),
            "interest": _text(self.interest),
            "discount": _text(self.discount),
            "note": self.note,
        }


def _text(money: Money) -> str:
    return f"{money.to_decimal():f}"


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day if it is shorter.

    Always counted from ``start``, never from the previous instalment, so that
    a plan starting on 31 January falls due on 28 February and then 31 March.
    """
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


def _ratio(value: Decimal) -> tuple[int, int]:
    numerator, denominator = value.as_integer_ratio()
    return numerator, denominator


def _divide(numerator: int, denominator: int, rounding: str) -> int:
    """numerator / denominator (both >= 0) as an int, rounded as named."""
    quotient, remainder = divmod(numerator, denominator)
    if rounding == decimal.ROUND_DOWN:
        return quotient
    if rounding == decimal.ROUND_UP:
        return quotient + (1 if remainder else 0)
    raise ValueError(f"unsupported rounding {rounding!r}")


def _share_of(amount: int, share: Decimal, rounding: str) -> int:
    numerator, denominator = _ratio(share)
    return _divide(amount * numerator, denominator, rounding)


def amortised_interest(financed: int, rate: Decimal, count: int) -> int:
    """Interest, in minor units and rounded down, on ``financed`` repaid in
    ``count`` equal monthly payments at ``rate`` a month on the balance.

    The payment is A = F r / (1 - (1 + r)^-n) and the interest n A - F. With
    r = a / b, both are ratios of integers, so the result is exact before
    the one rounding.
    """
    if financed <= 0 or rate == 0:
        return 0
    a, b = _ratio(rate)
    grown, base = (a + b) ** count, b**count  # (1 + r)^n = grown / base
    numerator = count * financed * a * grown - financed * b * (grown - base)
    return _divide(numerator, b * (grown - base), decimal.ROUND_DOWN)


def _percent(share: Decimal) -> str:
    text = f"{(share * 100).normalize():f}"
    return f"{text}%"


def options(overdue: Mapping[str, int], policy: Policy, start: date) -> list[Option]:
    """The options for what is overdue, per currency, offered on ``start``.

    ``overdue`` maps ISO 4217 codes to minor units; currencies owing nothing
    are left out and amounts in different currencies are never added. The
    options come per currency (in code order), each in the order the policy
    lists them; counts of instalments that the policy's maximum or minimum
    instalment do not allow are lowered to the largest that fits, and left
    out if none does or if an earlier option already offers that count.
    """
    first_due = start + timedelta(days=policy.first_due_in_days)
    found: list[Option] = []
    for currency in sorted(overdue):
        owed = overdue[currency]
        if owed > 0:
            found.extend(_for_currency(Money(owed, currency), policy, first_due))
    return found


def _for_currency(owed: Money, policy: Policy, first_due: date) -> list[Option]:
    made: list[Option] = []
    counts: set[int] = set()
    for item in policy.options:
        if item == SETTLE_NOW:
            if all(o.option != SETTLE_NOW for o in made):
                made.append(_settle_now(owed, policy, first_due))
            continue
        wanted = _instalment_count(item)
        assert wanted is not None  # Policy checked the options
        plan = _plan(owed, policy, first_due, wanted)
        if plan is not None and len(plan.instalments) not in counts:
            counts.add(len(plan.instalments))
            made.append(plan)
    return made


def _settle_now(owed: Money, policy: Policy, first_due: date) -> Option:
    share = policy.max_discount_share
    discount = _share_of(owed.amount, share, decimal.ROUND_DOWN)
    label = (
        f"Settle now with a {_percent(share)} discount"
        if discount
        else "Pay in full now"
    )
    return Option(
        option=SETTLE_NOW,
        label=label,
        owed=owed,
        down_payment=Money(owed.amount - discount, owed.currency),
        down_payment_due=first_due,
        instalments=(),
        interest=Money.zero(owed.currency),
        discount=Money(discount, owed.currency),
    )


def _plan(owed: Money, policy: Policy, first_due: date, wanted: int) -> Option | None:
    currency = owed.currency
    down = _share_of(owed.amount, policy.min_down_payment_share, decimal.ROUND_UP)
    financed = owed.amount - down
    if financed <= 0:
        return None  # the policy asks for everything up front
    minimum = policy.minimum_instalment(currency)
    rate = policy.max_monthly_interest
    count = min(wanted, policy.max_instalments)
    # Fewer instalments are larger, so step down until the smallest one
    # reaches the minimum.
    while count >= 1:
        interest = amortised_interest(financed, rate, count)
        if (financed + interest) // count >= minimum:
            break
        count -= 1
    if count < 1:
        return None
    parts = Money(financed + interest, currency).allocate([1] * count)
    # Without a down payment the first instalment takes the first due date.
    offset = 1 if down else 0
    instalments = tuple(
        Payment(number, add_months(first_due, number - 1 + offset), part)
        for number, part in enumerate(parts, start=1)
    )
    label = f"{count} monthly instalment{'s' if count != 1 else ''}"
    if down:
        label = f"Down payment and {label}"
    label += f" at {_percent(rate)} a month" if rate else ", no interest"
    return Option(
        option=f"plan_{count}",
        label=label,
        owed=owed,
        down_payment=Money(down, currency),
        down_payment_due=first_due,
        instalments=instalments,
        interest=Money(interest, currency),
        discount=Money.zero(currency),
        note=_why_fewer(wanted, count, policy, Money(minimum, currency)),
    )


def _why_fewer(wanted: int, count: int, policy: Policy, minimum: Money) -> str | None:
    if count == wanted:
        return None
    if count == policy.max_instalments:
        return f"{wanted} asked; the policy allows at most {count} instalments"
    return (
        f"{wanted} asked; {count} is the most that keeps each instalment "
        f"at least {_text(minimum)} {minimum.currency}"
    )
