"""The ranked worklist: evidence, diagnosis and score for every customer owing.

This is the one place that puts the three together, for ``cobra
prioritize``, ``cobra customers --reason`` and ``cobra show``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cobra.diagnosis import Diagnoser, Diagnosis
from cobra.evidence import FACTS, Evidence, gather
from cobra.scoring import Score, Scorer


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


@dataclass
class Ranked:
    """One row of the worklist as the query gives it: no evidence attached."""

    rank: int
    customer_id: int
    account: str
    name: str
    segment: str | None
    overdue: dict[str, int]
    days_overdue: int
    reason: str
    confidence: float
    score: float
    action: str


def ranked(store, config, as_of: date) -> list[Ranked] | None:
    """The worklist (customers with something overdue) from one query.

    The same customers, order, diagnoses and scores as :func:`build`, for
    ``cobra prioritize`` without ``--explain``: facts, rules and score are
    computed in SQL over the statistics of migration 0007, and nothing is
    built per customer but its row. None when that cannot give the same
    answer, and the caller uses :func:`build`: a plugin adds facts or
    diagnoses, or a rule uses a fact SQL does not know.
    """
    import json

    from cobra.scoring import sql_settings
    from cobra.store import evidence as queries

    extra, diagnose_hook = _plugin_evidence()
    if extra or diagnose_hook.get_hookimpls():
        return None
    diagnoser = Diagnoser(config, facts=FACTS)
    case = diagnoser.sql_case(queries.FACT_SQL)
    if case is None:
        return None
    conn = store.conn
    params = queries.params(as_of)
    diagnosis_sql, bound = case
    score_bound, segment_weight = sql_settings(config)
    findings = queries.grouped(conn, "findings", params)
    actions = config.get("prioritize.actions") or {}
    outcomes = [("unknown", diagnoser.unknown_confidence)] + [
        (rule.reason, rule.confidence) for rule in diagnoser.rules
    ]
    outcomes = [
        (reason, round(confidence, 2), str(actions.get(reason, "")))
        for reason, confidence in outcomes
    ]
    rows = []
    for (
        cid,
        account,
        name,
        segment,
        currency,
        amount,
        overdue,
        days,
        rule,
        score,
    ) in queries.worklist(
        conn, params, diagnosis_sql, {**bound, **score_bound}, segment_weight
    ):
        reason, confidence, action = outcomes[rule]
        if cid in findings:  # a collector's finding overrides the rules
            reason, confidence = findings[cid]["reason"], 1.0
            action = str(actions.get(reason, ""))
        rows.append(
            Ranked(
                0,
                cid,
                account,
                name,
                segment,
                {currency: amount} if currency else json.loads(overdue or "{}"),
                days,
                reason,
                confidence,
                round(score, 2),
                action,
            )
        )
    rows.sort(key=lambda row: (-row.score, row.account))
    rank = 0
    for row in rows:  # as in build(): only those with an amount overdue
        if any(row.overdue.values()):
            rank += 1
            row.rank = rank
    return rows
