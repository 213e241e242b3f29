"""The ranked worklist: evidence, diagnosis and score for every customer owing.

This is the one place that puts the three together, for ``cobra
prioritize``, ``cobra customers --reason`` and ``cobra show``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

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


@contextmanager
def _no_collection():
    """Without the cyclic garbage collector for a while.

    Building a row or an evidence per customer creates hundreds of thousands
    of containers, none in a cycle; the collector would walk them all again
    and again as they pile up (a quarter of the worklist's time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    with _no_collection():
        return _build(store, config, as_of, overdue_only)


def _build(store, config, as_of: date, overdue_only: bool) -> list[Entry]:
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


class Ranked(NamedTuple):
    """One row of the worklist as the query gives it: no evidence attached."""

    rank: int  # 0: open but nothing overdue (not on the worklist)
    customer_id: int
    account: str
    name: str
    segment: str | None
    overdue: dict[str, int]
    days_overdue: int
    reason: str
    confidence: float  # rounded to two places, as shown
    score: float
    action: str


def ranked(store, config, as_of: date) -> list[Ranked] | None:
    """The worklist (customers with something overdue) from one query.

    The same customers, order, diagnoses and scores as :func:`build`, for
    ``cobra prioritize`` without ``--explain``: facts, rules and most of the
    score are computed in SQL over the statistics of migration 0007, and
    nothing is built per customer but its row. None when that cannot give
    the same answer, and the caller uses :func:`build`: a plugin adds facts
    or diagnoses, or a rule uses a fact SQL does not know.
    """
    from cobra.store import evidence as queries

    extra, diagnose_hook = _plugin_evidence()
    if extra or diagnose_hook.get_hookimpls():
        return None
    diagnoser = Diagnoser(config, facts=FACTS)
    case = diagnoser.sql_case(queries.FACT_SQL)
    if case is None:
        return None
    with _no_collection():
        return _ranked(store, config, as_of, diagnoser, case)


def _ranked(store, config, as_of: date, diagnoser, case) -> list[Ranked]:
    import json
    from bisect import bisect_right

    from cobra.scoring import settings, sql_settings
    from cobra.store import evidence as queries

    conn = store.conn
    params = queries.params(as_of)
    diagnosis_sql, bound = case
    score_bound, segment_sql = sql_settings(config)
    findings = queries.grouped(conn, "findings", params)
    actions = config.get("prioritize.actions") or {}
    # What each rule number gives: reason, confidence as shown, action.
    outcomes = [
        (reason, round(confidence, 2), str(actions.get(reason, "")))
        for reason, confidence in [("unknown", diagnoser.unknown_confidence)]
        + [(rule.reason, rule.confidence) for rule in diagnoser.rules]
    ]
    w_amount = settings(config)[0]["amount"]

    # First every row, for the amounts overdue per currency: an amount's
    # rank is its place among them, as Scorer ranks them.
    rows = queries.worklist(
        conn, params, diagnosis_sql, {**bound, **score_bound}, segment_sql
    ).fetchall()
    amounts: dict[str, list[int]] = {}
    owed_of = []
    for row in rows:
        currency = row[4]
        owed = {currency: row[5]} if currency else json.loads(row[6] or "{}")
        owed_of.append(owed)
        for code, amount in owed.items():
            if amount > 0:
                amounts.setdefault(code, []).append(amount)
    for values in amounts.values():
        values.sort()
    counts = {code: len(values) for code, values in amounts.items()}

    scored = []
    for row, owed in zip(rows, owed_of):
        best = 0.0
        for code, amount in owed.items():
            if amount > 0 and code in amounts:
                best = max(best, bisect_right(amounts[code], amount) / counts[code])
        # Added in Scorer.score's order, so the total is the same to the bit.
        total = 0.0
        total += best * w_amount
        total += row[9]  # age
        total += row[10]  # likelihood
        total += row[11]  # broken promises
        total += row[12]  # staleness
        # Sorted on (-score, account) as build() sorts: accounts are unique.
        scored.append((-round(total * row[13], 2), row[1], row, owed))
    scored.sort()

    result, rank = [], 0
    for score, account, row, owed in scored:
        cid = row[0]
        reason, confidence, action = outcomes[row[8]]
        if cid in findings:  # a collector's finding overrides the rules
            reason, confidence = findings[cid]["reason"], 1.0
            action = str(actions.get(reason, ""))
        # As in build(): only those with an amount overdue take a rank.
        ranked_as = 0
        if any(owed.values()):
            rank += 1
            ranked_as = rank
        result.append(
            Ranked(
                ranked_as,
                cid,
                account,
                row[2],
                row[3],
                owed,
                row[7],
                reason,
                confidence,
                -score,
                action,
            )
        )
    return result
