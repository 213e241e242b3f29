"""The ranked worklist: evidence, diagnosis and score for every customer owing.

This is the one place that puts the three together, for ``cobra
prioritize``, ``cobra customers --reason`` and ``cobra show``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cobra.diagnosis import Diagnoser, Diagnosis
from cobra.evidence import FACTS, Evidence, gather
from cobra.scoring import Scorer, Score


@dataclass
class Entry:
    evidence: Evidence
    diagnosis: Diagnosis
    score: Score
    action: str
    rank: int = 0


def _plugin_evidence():
    """Facts plugins add, as {name: (description, compute)}."""
    from cobra.errors import ConfigError
    from cobra.plugins import get_plugins

    added: dict[str, tuple[str, object]] = {}
    manager = get_plugins().manager

    def register(name: str, description: str, compute) -> None:
        if name in FACTS or name in added:
            raise ConfigError(
                f"a plugin registers the fact {name!r}, which already exists"
            )
        added[name] = (description, compute)

    manager.hook.register_evidence(register=register)
    return added, manager.hook.diagnose


def known_facts() -> dict[str, str]:
    """Every fact a rule may use: cobra's own and those plugins add."""
    extra, _ = _plugin_evidence()
    return {**FACTS, **{name: description for name, (description, _) in extra.items()}}


def _diagnosed(
    store, config, as_of: date, customer_id: int | None, overdue_only: bool = False
):
    extra, diagnose_hook = _plugin_evidence()
    diagnoser = Diagnoser(
        config,
        facts={**FACTS, **{k: v[0] for k, v in extra.items()}},
        hook=diagnose_hook if diagnose_hook.get_hookimpls() else None,
    )
    portfolio = list(gather(store, as_of, customer_id, overdue_only))
    descriptions = {name: description for name, (description, _) in extra.items()}
    for evidence in portfolio:
        evidence.plugin_facts = descriptions
        for name, (_, compute) in extra.items():
            evidence.facts[name] = float(compute(evidence))
    return portfolio, diagnoser


def diagnose_one(
    store, config, as_of: date, customer_id: int
) -> tuple[Evidence, Diagnosis] | None:
    """One customer's evidence and diagnosis, or None if it owes nothing.

    No score: ranking needs the whole portfolio, and this must stay quick.
    """
    portfolio, diagnoser = _diagnosed(store, config, as_of, customer_id)
    if not portfolio:
        return None
    return portfolio[0], diagnoser.diagnose(portfolio[0])


def build(store, config, as_of: date, overdue_only: bool = False) -> list[Entry]:
    """Every customer with an open balance, diagnosed and scored, best first.

    With *overdue_only*, only those with something overdue (the worklist).
    """
    portfolio, diagnoser = _diagnosed(store, config, as_of, None, overdue_only)
    actions = config.get("prioritize.actions") or {}
    scorer = Scorer(config, portfolio)
    entries = []
    for evidence in portfolio:
        diagnosis = diagnoser.diagnose(evidence)
        entries.append(
            Entry(
                evidence,
                diagnosis,
                scorer.score(evidence),
                str(actions.get(diagnosis.reason, "")),
            )
        )
    entries.sort(key=lambda e: (-e.score.total, e.evidence.account))
    # Only customers with something overdue are on the worklist: one whose
    # invoices are open but not yet due keeps rank 0 and takes no number.
    rank = 0
    for entry in entries:
        if any(entry.evidence.overdue.values()):
            rank += 1
            entry.rank = rank
    return entries
