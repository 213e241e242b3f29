"""Learning which variant of a step works: Thompson sampling.

A strategy step with variants (another template, channel or tactic) and
``learn = true`` assigns each new customer the variant most likely to be the
best given the outcomes so far, instead of uniformly at random: for each
variant, a success rate is drawn from its Beta(1 + successes, 1 + failures)
distribution, and the highest draw wins. Variants that have paid off get
most customers, while the others keep getting a few, in proportion to the
chance they are in fact better.

A contact is a success when the customer paid within the window after it
was sent (``learn.window_days``), or made a promise in that window and kept
it. Only contacts whose window has closed are counted, so recent contacts
do not look like failures yet. Planning a day learns from what was known by
the end of the day before, as :mod:`cobra.outcomes` defines it for
``cobra report tactics`` too. Outcomes are kept per strategy, step and
diagnosed reason: a tactic that moves customers who forgot may not move
those who cannot pay.

The draws are seeded by the customer and the step, so planning the same day
again on the same data assigns the same variants. ``cobra report tactics``
shows, next to the realized allocation, the share each variant would get
now (:meth:`Learner.wins`), from the learner :func:`for_day` builds for the
planner, seeded too.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import date, timedelta
from zoneinfo import ZoneInfo

# Draws behind a variant's share of new customers. The share of n draws
# is off the exact probability by at most sqrt(0.25 / n) as a standard
# error: 0.8 points with 4,000, so a shown share is within about 1.6 points
# (two errors) of the exact one, while one step and reason costs a few
# milliseconds.
ALLOCATION_DRAWS = 4000


def for_day(conn, config, day: date) -> Learner:
    """The learner planning *day* uses: the outcomes known by the end of the
    day before, in the company's zone (the ones ``cobra report tactics
    --as-of`` that day shows, so a payment dated *day* that is not imported
    yet does not make a contact look like a failure), over
    ``learn.window_days``, seeded by ``plan.seed``."""
    from cobra.outcomes import variant_outcomes

    outcomes = variant_outcomes(
        conn,
        ZoneInfo(str(config.get("company.timezone", "UTC"))),
        day - timedelta(days=1),
        int(config.get("learn.window_days", 7)),
    )
    return Learner(outcomes, int(config.get("plan.seed", 1)))


class Learner:
    """Variant choices for one plan, from outcomes read once."""

    def __init__(self, outcomes: Mapping[tuple, tuple[int, int]], seed: int):
        # (strategy, step, reason, variant) -> (contacts, successes)
        self.outcomes = dict(outcomes)
        self.seed = seed

    def rng(self, account: str, strategy: str, step: int) -> random.Random:
        digest = hashlib.sha256(
            f"learn:{self.seed}:{account}:{strategy}:{step}".encode()
        ).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def draw(
        self, rng: random.Random, strategy: str, step: int, reason: str, count: int
    ) -> int:
        """The variant whose success rate, drawn from its Beta, is highest
        (the first of equal ones)."""
        scores = []
        for variant in range(count):
            contacts, successes = self.outcomes.get(
                (strategy, step, reason, variant), (0, 0)
            )
            scores.append(rng.betavariate(1 + successes, 1 + contacts - successes))
        return scores.index(max(scores))

    def choose(
        self, account: str, strategy: str, step: int, reason: str, count: int
    ) -> int:
        """The variant (0 is the step itself) for this customer."""
        return self.draw(
            self.rng(account, strategy, step), strategy, step, reason, count
        )

    def wins(
        self,
        strategy: str,
        step: int,
        reason: str,
        count: int,
        draws: int = ALLOCATION_DRAWS,
    ) -> list[int]:
        """Of *draws* rounds of the sampler, how many each variant won: its
        share of new customers is its wins / draws. Seeded by ``seed`` alone,
        so the same outcomes give the same wins."""
        wins = [0] * count
        rng = random.Random(self.seed)
        for _ in range(draws):
            wins[self.draw(rng, strategy, step, reason, count)] += 1
        return wins

    def allocation(
        self,
        strategy: str,
        step: int,
        reason: str,
        count: int,
        draws: int = ALLOCATION_DRAWS,
    ) -> list[float]:
        """The share of new customers each variant would get now."""
        wins = self.wins(strategy, step, reason, count, draws)
        return [won / draws for won in wins]
