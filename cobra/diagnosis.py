"""Why does a customer not pay? Rules from the config, applied to evidence.

Each rule names a reason, a confidence, and conditions on facts
(:data:`cobra.evidence.FACTS`), such as ``"on_time_share >= good_payer"``.
The right-hand side is a number or the name of a threshold in
``[diagnosis.thresholds]``, so a team can tune the starter rules without
rewriting them. Rules are tried in order and the first whose conditions all
hold gives the diagnosis; none gives ``unknown``. A collector's finding in
force overrides the rules, and a plugin's ``diagnose`` hook may override
both.
"""

from __future__ import annotations

import difflib
import operator
import re
from dataclasses import dataclass

from cobra.errors import ConfigError
from cobra.evidence import FACTS, Evidence

REASONS = ("forgot", "cannot_pay", "dissatisfied", "unaware", "fraud", "unknown")

_OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_SQL_OPERATORS = {"==": "=", "!=": "<>", "<=": "<=", ">=": ">=", "<": "<", ">": ">"}
_CONDITION = re.compile(
    r"\s*([a-z_][a-z0-9_]*)\s*(==|!=|<=|>=|<|>)\s*([-+]?\d+(?:\.\d+)?|[a-z_][a-z0-9_]*)\s*"
)


@dataclass(frozen=True)
class Condition:
    fact: str
    op: str
    value: float
    text: str  # as written in the config, for explanations

    def holds(self, evidence: Evidence) -> bool:
        return _OPERATORS[self.op](evidence.facts.get(self.fact, 0), self.value)


@dataclass(frozen=True)
class Rule:
    reason: str
    confidence: float
    conditions: tuple[Condition, ...]


@dataclass
class Diagnosis:
    reason: str
    confidence: float
    evidence: list[str]  # plain-words sentences
    source: str  # "rule 3", "finding by ana on 2026-11-02", "plugin NAME"

    def as_dict(self) -> dict:
        return {
            "reason": self.reason,
            "confidence": round(self.confidence, 2),
            "evidence": self.evidence,
            "source": self.source,
        }


def rules_problem(rules: object) -> str | None:
    """What is wrong with the shape of ``diagnosis.rules`` in one file.

    Fact and threshold names are checked later, against the merged config
    and the facts plugins add (`cobra config check`, and every diagnosis).
    """
    try:
        parse_rules(rules, thresholds=None, facts=None)
    except ConfigError as exc:
        return str(exc)
    return None


def parse_rules(
    rules: object, thresholds: dict | None, facts: dict | None = FACTS
) -> list[Rule]:
    """Turn the config's rules into :class:`Rule` objects, or say what is wrong.

    *facts* are the fact names a condition may use and *thresholds* the
    named values; None skips that check.
    """
    if (
        thresholds is not None
        and not isinstance(thresholds, dict)
        or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in (thresholds or {}).values()
        )
    ):
        raise ConfigError("diagnosis.thresholds must be a table of numbers")
    if not isinstance(rules, list):
        raise ConfigError(
            "diagnosis.rules must be an array of tables ([[diagnosis.rules]])"
        )
    parsed = []
    for index, rule in enumerate(rules, start=1):
        where = f"rule {index}"
        if not isinstance(rule, dict):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(rule) - {"reason", "confidence", "when", "note"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown)[0]!r} "
                "(keys are reason, confidence, when, note)"
            )
        reason = rule.get("reason")
        if reason not in REASONS:
            hint = difflib.get_close_matches(str(reason), REASONS, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                f"{where}: unknown reason {reason!r}{extra} "
                f"(reasons are {', '.join(REASONS)})"
            )
        confidence = rule.get("confidence")
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not (0 < confidence <= 1)
        ):
            raise ConfigError(
                f"{where} ({reason}): confidence must be a number in (0, 1]"
            )
        when = rule.get("when")
        if (
            not isinstance(when, list)
            or not when
            or not all(isinstance(w, str) for w in when)
        ):
            raise ConfigError(
                f"{where} ({reason}): when must be a list of conditions "
                'such as ["overdue_invoices >= 3"]'
            )
        conditions = tuple(
            _condition(text, thresholds, facts, f"{where} ({reason})") for text in when
        )
        parsed.append(Rule(reason, float(confidence), conditions))
    return parsed


def _condition(
    text: str, thresholds: dict, facts: dict | None, where: str
) -> Condition:
    match = _CONDITION.fullmatch(text)
    if not match:
        raise ConfigError(
            f"{where}: cannot read condition {text!r}; write FACT OP VALUE, "
            "such as 'overdue_invoices >= 3', with OP one of " + " ".join(_OPERATORS)
        )
    fact, op, value = match.groups()
    if facts is not None and fact not in facts:
        hint = difflib.get_close_matches(fact, list(facts), n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ConfigError(
            f"{where}: condition {text!r} names unknown fact {fact!r}{extra}"
        )
    if value[0].isalpha() or value[0] == "_":
        if thresholds is None:
            return Condition(fact, op, 0.0, text.strip())
        if value not in thresholds:
            hint = difflib.get_close_matches(value, list(thresholds), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(
                f"{where}: condition {text!r} names unknown threshold "
                f"{value!r}{extra} (define it in [diagnosis.thresholds])"
            )
        number = float(thresholds[value])
    else:
        number = float(value)
    return Condition(fact, op, number, text.strip())


def configured_rules(config, facts: dict | None = None) -> list[Rule]:
    """The rules of the effective config, checked against every known fact."""
    section = config.get("diagnosis") or {}
    return parse_rules(
        section.get("rules", []), section.get("thresholds", {}), facts or FACTS
    )


class Diagnoser:
    """Applies the configured rules; built once per command."""

    def __init__(self, config, facts: dict | None = None, hook=None):
        section = config.get("diagnosis") or {}
        try:
            self.rules = configured_rules(config, facts)
        except ConfigError as exc:
            raise ConfigError(
                f"{config.describe_source('diagnosis.rules')}: diagnosis.rules: {exc}"
            ) from None
        self.unknown_confidence = float(section.get("unknown_confidence", 0.3))
        self.hook = hook

    def sql_case(self, fact_sql: dict[str, str]) -> tuple[str, dict] | None:
        """The rules as one SQL expression: the number of the first that holds.

        0 when none does. Each condition compares the fact's expression in
        *fact_sql* (columns of ``f``) with its value, bound as a parameter so
        the number is the very one Python compares. None when a rule uses a
        fact that has no SQL form (one a plugin adds).
        """
        bound: dict[str, float] = {}
        arms = []
        for index, rule in enumerate(self.rules, start=1):
            conditions = []
            for number, condition in enumerate(rule.conditions):
                if condition.fact not in fact_sql:
                    return None
                name = f"rule_{index}_{number}"
                bound[name] = condition.value
                operator_sql = _SQL_OPERATORS[condition.op]
                conditions.append(f"f.{condition.fact} {operator_sql} :{name}")
            arms.append(f"WHEN {' AND '.join(conditions)} THEN {index}")
        if not arms:
            return "0", bound
        return f"CASE {' '.join(arms)} ELSE 0 END", bound

    def diagnose(self, evidence: Evidence) -> Diagnosis:
        if self.hook is not None:
            from_plugin = self.hook(evidence=evidence)
            if from_plugin is not None:
                return from_plugin
        if evidence.finding:
            finding = evidence.finding
            who = f" by {finding['collector']}" if finding.get("collector") else ""
            note = f": {finding['note']}" if finding.get("note") else ""
            return Diagnosis(
                finding["reason"],
                1.0,
                [f"collector's finding{who} on {finding['noted_at'][:10]}{note}"],
                f"finding{who}",
            )
        for index, rule in enumerate(self.rules, start=1):
            if all(condition.holds(evidence) for condition in rule.conditions):
                sentences = list(
                    dict.fromkeys(evidence.sentence(c.fact) for c in rule.conditions)
                )
                return Diagnosis(
                    rule.reason,
                    rule.confidence,
                    sentences + evidence.extra_sentences,
                    f"rule {index}",
                )
        return Diagnosis(
            "unknown",
            self.unknown_confidence,
            [evidence.sentence("overdue_invoices"), evidence.sentence("paid_on_time")]
            + evidence.extra_sentences,
            "no rule matched",
        )
