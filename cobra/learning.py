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
again on the same data assigns the same variants.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping


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

    def choose(
        self, account: str, strategy: str, step: int, reason: str, count: int
    ) -> int:
        """The variant (0 is the step itself) for this customer."""
        rng = self.rng(account, strategy, step)
        best, best_draw = 0, -1.0
        for variant in range(count):
            contacts, successes = self.outcomes.get(
                (strategy, step, reason, variant), (0, 0)
            )
            draw = rng.betavariate(1 + successes, 1 + contacts - successes)
            if draw > best_draw:
                best, best_draw = variant, draw
        return best

    def allocation(
        self, strategy: str, step: int, reason: str, count: int, draws: int = 2000
    ) -> list[float]:
        """The share of new customers each variant would get now."""
        wins = [0] * count
        rng = random.Random(self.seed)
        for _ in range(draws):
            scores = []
            for variant in range(count):
                contacts, successes = self.outcomes.get(
                    (strategy, step, reason, variant), (0, 0)
                )
                scores.append(rng.betavariate(1 + successes, 1 + contacts - successes))
            wins[scores.index(max(scores))] += 1
        return [w / draws for w in wins]
