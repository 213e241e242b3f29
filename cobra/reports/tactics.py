"""Which tactics work: for each tactic, method, channel, template, step variant
and reason, the share of contacts the customer paid after within N days.

What a contact is, when it is evaluated and when it succeeded (paid, or
promised and kept it, within N days) is :mod:`cobra.outcomes`, the outcome
``cobra plan`` learns variants from, with the same N (``learn.window_days``,
or ``--within``). A contact counts in the period of its day in the
company's time zone; only evaluated ones add to the rates and the amount
recovered, which credits each payment once, to one contact, so two
reminders a day apart do not both claim it.

The success rate comes with its 95% Wilson score interval, which stays
inside 0-1 and is honest about small numbers. Rows grouped by step variant
also show the current allocation: each variant's share of the contacts the
plan assigned to its step over the last ``report.allocation_days`` days.
Grouped by reason too, a step with ``learn = true`` also shows the share
Thompson sampling would give a new customer planned on the as-of date
(:mod:`cobra.learning`, the planner's own learner).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta
from fractions import Fraction

from cobra import outcomes
from cobra.reports import NONE, Context, money_list, ratio

DESCRIPTION = (
    "Per tactic, method, channel, template, variant and reason: contacts, "
    "the share paid within N days (95% interval), amount recovered."
)
FIELDS = (
    "tactic",
    "method",
    "channel",
    "template",
    "variant",
    "reason",
    "strategy",
    "segment",
)
# Without --by, one listing of each of these in turn (dimension, value).
DEFAULT_BY: tuple[str, ...] = ()
EACH = ("tactic", "method", "channel", "template", "variant", "reason")
# Fields the plan's allocation can be split by besides the variant itself;
# tactic, method, channel and template come with the variant.
ALLOCATION_SPLITS = ("reason", "segment")
Z_95 = 1.96


def wilson(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of successes / trials; None without trials."""
    if not trials:
        return None
    p = successes / trials
    factor = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / factor
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / factor
    return max(0.0, centre - half), min(1.0, centre + half)


def _contacts(context: Context) -> list[outcomes.Contact]:
    """Every contact up to the as-of date, with its outcome."""
    return outcomes.contacts(
        context.conn, context.zone, context.as_of, context.within_days
    )


def _fields(by: tuple[str, ...]) -> tuple[str, ...]:
    """The fields a row is keyed by: a variant's key already names its strategy."""
    return tuple(f for f in by if not (f == "strategy" and "variant" in by))


def _value(field: str, row, customer) -> object:
    """One field's value for a contact; a variant is (strategy, step, variant)."""
    if field == "variant":
        return (row["strategy"], row["step"] + 1, row["variant"])
    if field == "segment":
        return customer["segment"] or NONE
    return row[field] or NONE


def _columns(fields: tuple[str, ...], key: tuple) -> dict:
    columns: dict = {}
    for field, value in zip(fields, key):
        if field == "variant":
            columns.update(zip(("strategy", "step", "variant"), value))
        else:
            columns[field] = value
    return columns


def _new_cell() -> dict:
    return {
        "contacts": 0,
        "customers": set(),
        "evaluated": 0,
        "succeeded": 0,
        "recovered": defaultdict(int),
    }


def _cells(
    context: Context, fields: tuple[str, ...], contacts: list[outcomes.Contact]
) -> dict:
    from cobra.store import reports as queries

    customers = queries.customers(context.conn)
    period = context.period
    cells: dict = defaultdict(_new_cell)
    for contact in contacts:
        if not period.start <= contact.day <= period.end:
            continue
        row = contact.row
        customer = customers[row["customer_id"]]
        cell = cells[tuple(_value(field, row, customer) for field in fields)]
        cell["contacts"] += 1
        cell["customers"].add(row["customer_id"])
        if contact.evaluated:
            cell["evaluated"] += 1
            cell["succeeded"] += contact.succeeded
            for currency, amount in contact.recovered.items():
                cell["recovered"][currency] += amount
    return cells


class _Allocation:
    """Contacts planned per variant over the allocation window, and shares.

    Only the variant and the fields the plan can be split by (reason,
    segment) key it; a row keyed by more (a channel) gets its variant's.
    """

    def __init__(self, planned: dict, at: int):
        self.planned, self.at = planned, at
        self.per_step: dict = defaultdict(int)
        for key, count in planned.items():
            self.per_step[_step_of(key, at)] += count

    def __iter__(self):
        return iter(self.planned)

    def get(self, key: tuple) -> tuple[int, float | None]:
        """(planned, share of its step): 0.0 for a variant the plan passed
        over, None when the step had no contact planned at all."""
        planned = self.planned.get(key, 0)
        return planned, ratio(planned, self.per_step.get(_step_of(key, self.at), 0))


def _allocation(context: Context, fields: tuple[str, ...]) -> _Allocation:
    """The allocation of the last ``allocation_days`` days, keyed as rows."""
    from cobra.store import reports as queries

    first = context.as_of - timedelta(days=context.allocation_days - 1)
    planned: dict = defaultdict(int)
    for row in queries.planned_variants(
        context.conn, first.isoformat(), context.as_of.isoformat()
    ):
        key = tuple(
            _value(field, row, row)
            if field in ("variant", *ALLOCATION_SPLITS)
            else None
            for field in fields
        )
        planned[key] += row["planned"]
    return _Allocation(planned, fields.index("variant"))


def _step_of(key: tuple, at: int) -> tuple:
    """The key with the variant number left out: its step and its splits."""
    strategy, step, _ = key[at]
    return (*key[:at], (strategy, step), *key[at + 1 :])


class _Sampler:
    """The share of new customers Thompson sampling would give each variant
    of a learning step, per reason: the planner's learner for the as-of
    date, so the outcomes known by the end of the day before, over
    ``learn.window_days`` (not ``--within``), seeded by ``plan.seed``."""

    def __init__(self, context: Context):
        from cobra import learning, strategies

        self.learner = learning.for_day(context.conn, context.config, context.as_of)
        self.draws = learning.ALLOCATION_DRAWS
        # (strategy, step from 1) -> how many variants, the step itself
        # included, for the steps that learn; a fixed `variant = N` wins
        # over learning, so its step samples nothing.
        self.counts = {
            (strategy.name, index + 1): 1 + len(step.variants)
            for strategy in strategies.load(context.config)
            for index, step in enumerate(strategy.steps)
            if step.learn and step.variants and step.fixed_variant is None
        }
        self.wins: dict[tuple, list[int]] = {}

    def siblings(self, variant: tuple) -> list[tuple]:
        """Every variant of a learning step, as rows key them; [] otherwise."""
        strategy, step, _ = variant
        count = self.counts.get((strategy, step), 0)
        return [(strategy, step, number) for number in range(count)]

    def share(self, variant: tuple, reason: object) -> Fraction | None:
        """wins / draws for a variant and reason; None when its step does not
        learn or no longer has that variant."""
        strategy, step, number = variant
        count = self.counts.get((strategy, step), 0)
        if not 0 <= number < count:
            return None
        key = (strategy, step, reason)
        if key not in self.wins:
            self.wins[key] = self.learner.wins(strategy, step - 1, reason, count)
        return ratio(self.wins[key][number], self.draws)


def _grouped(
    context: Context, fields: tuple[str, ...], contacts: list[outcomes.Contact]
) -> list[tuple[tuple, dict]]:
    """[(key, figures)] for one grouping; with the variant, its allocation,
    and with the reason too, the sampler's share."""
    cells = _cells(context, fields, contacts)
    allocation = sampler = None
    if "variant" in fields:
        allocation = _allocation(context, fields)
        at = fields.index("variant")
        alone = set(fields) <= {"variant", *ALLOCATION_SPLITS}
        if alone:
            # Variants the plan assigned lately that sent nothing in the
            # period still show, with their share.
            for key in allocation:
                cells.setdefault(key, _new_cell())
        if "reason" in fields:
            sampler = _Sampler(context)
            if alone:
                # So do the variants of a learning step the sampler would
                # give customers to, next to their step's other variants.
                for key in list(cells):
                    for variant in sampler.siblings(key[at]):
                        cells.setdefault(
                            (*key[:at], variant, *key[at + 1 :]), _new_cell()
                        )
    rows = []
    for key, cell in sorted(cells.items()):
        figures = _figures(cell)
        if allocation is not None:
            allocation_key = tuple(
                value if field in ("variant", *ALLOCATION_SPLITS) else None
                for field, value in zip(fields, key)
            )
            planned, share = allocation.get(allocation_key)
            figures["planned"] = planned
            figures["allocation"] = share
            figures["would_allocate"] = (
                sampler.share(key[at], key[fields.index("reason")])
                if sampler is not None
                else None
            )
        rows.append((key, figures))
    return rows


def _figures(cell: dict) -> dict:
    evaluated, succeeded = cell["evaluated"], cell["succeeded"]
    interval = wilson(succeeded, evaluated)
    low, high = interval if interval else (None, None)
    return {
        "contacts": cell["contacts"],
        "customers": len(cell["customers"]),
        "evaluated": evaluated,
        "succeeded": succeeded,
        "success_rate": ratio(succeeded, evaluated),
        "rate_low": low,
        "rate_high": high,
        "recovered": money_list(cell["recovered"]),
    }


def label(field: str, value: object) -> str:
    """A dimension's value as one text, for the listing of each dimension."""
    if field == "variant":
        strategy, step, variant = value
        return f"{strategy} step {step} variant {variant}"
    return str(value)


def build(context: Context, by: tuple[str, ...]) -> list[dict]:
    contacts = _contacts(context)
    if by:
        fields = _fields(by)
        return [
            {**_columns(fields, key), **figures}
            for key, figures in _grouped(context, fields, contacts)
        ]
    rows = []
    for field in EACH:
        for (value,), figures in _grouped(context, (field,), contacts):
            figures.setdefault("planned", None)
            figures.setdefault("allocation", None)
            figures.setdefault("would_allocate", None)
            rows.append({"dimension": field, "value": label(field, value), **figures})
    return rows
