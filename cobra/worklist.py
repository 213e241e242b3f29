"""The ranked worklist: evidence, diagnosis and score for every customer owing.

This is the one place that puts the three together, for ``cobra
prioritize``, ``cobra customers --reason`` and ``cobra show``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from itertools import compress, islice, repeat
from operator import add, eq, is_, itemgetter, mul, truediv
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

    rank: int
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


@dataclass(frozen=True)
class Ranking:
    """The worklist column by column, in rank order: a list per field of Ranked.

    In columns because, for a hundred thousand customers, a Python statement
    per customer costs more than the query that reads them: the columns are
    computed, sorted and picked with map(), zip() and sort, whose loops run
    in C. Iterating gives one Ranked per row, for those who want rows.
    """

    rank: list[int]
    customer_id: list[int]
    account: list[str]
    name: list[str]
    segment: list[str | None]
    overdue: list[dict[str, int]]
    days_overdue: list[int]
    reason: list[str]
    confidence: list[float]
    score: list[float]
    action: list[str]

    def columns(self) -> tuple[list, ...]:
        return tuple(getattr(self, name) for name in Ranked._fields)

    def __len__(self) -> int:
        return len(self.rank)

    def __iter__(self) -> Iterator[Ranked]:
        return map(Ranked._make, zip(*self.columns()))

    def chosen(
        self,
        top: int | None = None,
        reason: str | None = None,
        segment: str | None = None,
    ) -> Ranking:
        """The rows with this reason and in this segment, the first *top*."""
        kept: Iterable[int] = range(len(self))
        if reason:
            kept = compress(kept, map(eq, self.reason, repeat(reason)))
        if segment:
            kept = compress(kept, map(eq, self.segment, repeat(segment)))
        kept = list(islice(kept, top))
        if len(kept) == len(self):
            return self
        return Ranking(*(_picked(column, kept) for column in self.columns()))


def _picked(column: Sequence, indexes: list[int]) -> list:
    """``[column[i] for i in indexes]``, in C: itemgetter() takes two or more."""
    if len(indexes) < 2:
        return [column[i] for i in indexes]
    return list(itemgetter(*indexes)(column))


def ranked(store, config, as_of: date) -> Ranking | None:
    """The worklist (customers with an amount overdue) from one query.

    The same customers, order, ranks, diagnoses and scores as :func:`build`
    gives those it ranks, for ``cobra prioritize`` without ``--explain``:
    facts, rules and most of the score are computed in SQL over the
    statistics of migration 0007, and nothing is built per customer. None
    when that cannot give the same answer, and the caller uses
    :func:`build`: a plugin adds facts or diagnoses, or a rule uses a fact
    SQL does not know.
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


def _ranked(store, config, as_of: date, diagnoser, case) -> Ranking:
    import json

    from cobra.scoring import settings, sql_settings
    from cobra.store import evidence as queries

    conn = store.conn
    params = queries.params(as_of)
    diagnosis_sql, bound = case
    score_bound, segment_sql = sql_settings(config)
    rows = queries.worklist(
        conn, params, diagnosis_sql, {**bound, **score_bound}, segment_sql
    ).fetchall()
    if not rows:
        return Ranking(*([] for _ in Ranked._fields))
    count = len(rows)
    columns = list(zip(*rows))
    del rows  # its memory serves what comes next
    ids, accounts, names, segments, currencies, amounts, mixed, days = columns[:8]
    rules, summed_in_sql, segment_weight = columns[8:]
    overdue = list(map(dict, zip(zip(currencies, amounts))))
    # The query gives an amount and its currency, or (the rare customer owing
    # in several currencies) all of them as JSON, its currency left NULL.
    several = list(compress(range(count), map(is_, currencies, repeat(None))))
    for index in several:
        overdue[index] = json.loads(mixed[index] or "{}")
    owes = list(map(bool, amounts))
    for index in several:
        owes[index] = any(overdue[index].values())

    w_amount = settings(config)[0]["amount"]
    amount_ranks = _amount_ranks(currencies, amounts, overdue, several)
    # The amount added last to the rest of the score, as Scorer.score adds
    # it, so the total is the same to the bit.
    weighted_amount = map(mul, amount_ranks, repeat(w_amount))
    total = map(add, summed_in_sql, weighted_amount)
    scores = list(map(round, map(mul, total, segment_weight), repeat(2)))

    # Only customers with an amount overdue take a rank: one whose invoices
    # are overdue but offset to nothing by credit is left out, as build()
    # gives it rank 0. Sorted as build() sorts: score, highest first, then
    # account (unique); both sorts are stable.
    order = sorted(compress(range(count), owes), key=accounts.__getitem__)
    order.sort(key=scores.__getitem__, reverse=True)

    actions = config.get("prioritize.actions") or {}
    # What each rule number gives: reason, confidence as shown, action.
    outcomes = [
        (reason, round(confidence, 2), str(actions.get(reason, "")))
        for reason, confidence in [("unknown", diagnoser.unknown_confidence)]
        + [(rule.reason, rule.confidence) for rule in diagnoser.rules]
    ]
    reasons, confidences, actions_of = zip(*outcomes)
    reason = _picked(reasons, rules)
    confidence = _picked(confidences, rules)
    action = _picked(actions_of, rules)
    findings = queries.grouped(conn, "findings", params)
    if findings:  # a collector's finding overrides the rules
        for index, customer_id in enumerate(ids):
            if customer_id in findings:
                found = findings[customer_id]["reason"]
                reason[index], confidence[index] = found, 1.0
                action[index] = str(actions.get(found, ""))

    in_order = (ids, accounts, names, segments, overdue, days, reason, confidence)
    return Ranking(
        list(range(1, len(order) + 1)),
        *(_picked(column, order) for column in (*in_order, scores, action)),
    )


def _amount_ranks(
    currencies: tuple, amounts: tuple, overdue: list[dict], several: list[int]
) -> list[float]:
    """Each customer's amount rank, as Scorer ranks amounts.

    An amount's rank is its place among the amounts overdue in its currency
    (the share at or below it); a customer owing in several currencies has
    its best one's.
    """
    by_currency: dict[str, list[int]] = {}
    for currency, amount in zip(currencies, amounts):
        if currency is not None and amount > 0:
            by_currency.setdefault(currency, []).append(amount)
    for index in several:
        for currency, amount in overdue[index].items():
            if amount > 0:
                by_currency.setdefault(currency, []).append(amount)
    share: dict[tuple[str, int], float] = {}
    for currency, values in by_currency.items():
        values.sort()
        count = len(values)
        # bisect_right's place: of equal amounts, the last one's, which is
        # the value dict() keeps for a repeated key.
        share.update(
            zip(
                zip(repeat(currency), values),
                map(truediv, range(1, count + 1), repeat(count)),
            )
        )
    ranks = list(map(share.get, zip(currencies, amounts), repeat(0.0)))
    for index in several:
        ranks[index] = max(
            [share[item] for item in overdue[index].items() if item[1] > 0],
            default=0.0,
        )
    return ranks
