"""Who to contact first: a score from what is at stake and what contact can move.

Each component is a number from 0 to 1, multiplied by its weight from
``[prioritize.weights]``; the sum is multiplied by the customer's segment
weight (``[prioritize.segments]``, 1 when the segment is not listed):

- ``amount``: where the customer's overdue amount ranks among all customers
  overdue in the same currency (its percentile). Ranking within a currency
  compares amounts without converting between currencies; a customer
  overdue in several takes its best rank.
- ``age``: the aging bucket of the oldest overdue invoice, weighted by
  ``[prioritize.age_buckets]`` (1-30, 31-60, 61-90, 90+ days).
- ``likelihood``: the chance the customer pays, from its history:
  (invoices paid + 1) / (invoices paid + invoices overdue + 2).
- ``broken_promises``: broken promises, a partly kept one counting half (a
  promise not kept in full, but not ignored either), up to 3, over 3.
- ``staleness``: days since the last contact, up to 30, over 30.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from cobra.evidence import Evidence

COMPONENTS = ("amount", "age", "likelihood", "broken_promises", "staleness")
# What the worklist query adds up itself, in this order: all but the amount,
# whose rank among the others' amounts the query does not know.
SUMMED_IN_SQL = ("age", "likelihood", "broken_promises", "staleness")
BUCKETS = ("1-30", "31-60", "61-90", "90+")


def bucket(days_overdue: int) -> str | None:
    if days_overdue <= 0:
        return None
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


@dataclass
class Score:
    total: float
    components: dict[str, float]  # weighted contribution of each component
    segment_weight: float


def settings(config) -> tuple[dict, dict, dict]:
    """Weights per component, factors per aging bucket, weights per segment."""
    section = config.get("prioritize") or {}
    weights = {
        name: float(section.get("weights", {}).get(name, 0)) for name in COMPONENTS
    }
    buckets = {
        name: float(section.get("age_buckets", {}).get(name, 0)) for name in BUCKETS
    }
    segments = {k: float(v) for k, v in (section.get("segments") or {}).items()}
    return weights, buckets, segments


def sql_settings(config) -> tuple[dict, str]:
    """The same settings for the worklist query (cobra.store.evidence.worklist).

    The parameters its score uses, and the segment weight as an SQL
    expression over ``f.segment`` with its own parameters.
    """
    weights, buckets, segments = settings(config)
    bound = {f"w_{name}": weight for name, weight in weights.items()}
    bound.update({f"age_{i}": buckets[name] for i, name in enumerate(BUCKETS, 1)})
    arms = []
    for index, (segment, weight) in enumerate(segments.items()):
        bound[f"segment_{index}"] = segment
        bound[f"segment_weight_{index}"] = weight
        arms.append(f"WHEN :segment_{index} THEN :segment_weight_{index}")
    # A customer without a segment looks up "" (Scorer.score), and a
    # segment named "" could be configured.
    expression = (
        f"(CASE COALESCE(f.segment, '') {' '.join(arms)} ELSE 1.0 END)"
        if arms
        else "1.0"
    )
    return bound, expression


class Scorer:
    """Scores a whole portfolio: amounts are ranked against each other."""

    def __init__(self, config, portfolio: list[Evidence]):
        self.weights, self.buckets, self.segments = settings(config)
        # Per currency, every customer's overdue amount, sorted, for ranks.
        amounts: dict[str, list[int]] = {}
        for evidence in portfolio:
            for currency, amount in evidence.overdue.items():
                if amount > 0:
                    amounts.setdefault(currency, []).append(amount)
        self.ranked = {currency: sorted(values) for currency, values in amounts.items()}

    def _amount_rank(self, evidence: Evidence) -> float:
        best = 0.0
        for currency, amount in evidence.overdue.items():
            values = self.ranked.get(currency)
            if values and amount > 0:
                best = max(best, bisect.bisect_right(values, amount) / len(values))
        return best

    def score(self, evidence: Evidence) -> Score:
        f = evidence.facts
        age_bucket = bucket(int(f["oldest_days_overdue"]))
        raw = {
            "amount": self._amount_rank(evidence),
            "age": self.buckets.get(age_bucket, 0.0) if age_bucket else 0.0,
            "likelihood": (f["paid_invoices"] + 1)
            / (f["paid_invoices"] + f["overdue_invoices"] + 2),
            "broken_promises": min(
                f["promises_broken"] + f["promises_partly_kept"] / 2, 3
            )
            / 3,
            "staleness": min(f["days_since_contact"], 30) / 30,
        }
        weighted = {name: raw[name] * self.weights[name] for name in COMPONENTS}
        segment_weight = self.segments.get(evidence.segment or "", 1.0)
        # Added one by one (not sum(), which compensates rounding on newer
        # Pythons), the amount last: the worklist query adds the others in
        # this order, the one part that needs the whole portfolio is added
        # to that in Python, and the totals must agree to the last bit.
        total = 0.0
        for name in SUMMED_IN_SQL:
            total += weighted[name]
        total += weighted["amount"]
        return Score(
            round(total * segment_weight, 2),
            {k: round(v, 2) for k, v in weighted.items()},
            segment_weight,
        )
