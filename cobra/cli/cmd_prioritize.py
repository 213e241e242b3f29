"""``cobra prioritize``: the ranked worklist with each customer's diagnosis."""

from __future__ import annotations

from datetime import date
from json.encoder import encode_basestring as text

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import DATE, format_option, today
from cobra.diagnosis import REASONS
from cobra.output import emit


def overdue_text(overdue: dict[str, int]) -> str:
    """Overdue amounts per currency, never added across currencies."""
    return "; ".join(
        f"{major_units(amount, currency)} {currency}"
        for currency, amount in sorted(overdue.items())
        if amount
    )


def overdue_list(overdue: dict[str, int]) -> list[dict]:
    if len(overdue) == 1:  # the usual case, without sorting
        ((currency, amount),) = overdue.items()
        if not amount:
            return []
        return [{"currency": currency, "amount": major_units(amount, currency)}]
    return [
        {"currency": currency, "amount": major_units(amount, currency)}
        for currency, amount in sorted(overdue.items())
        if amount
    ]


_EXPONENTS: dict[str, int] = {}


def major_units(amount: int, currency: str) -> str:
    """``f"{Money(amount, currency).to_decimal():f}"``, at a worklist's pace.

    The same text (tests/test_prioritize.py compares), without building a
    Money and a Decimal per row: the digits with the currency's decimals.
    """
    exponent = _EXPONENTS.get(currency)
    if exponent is None:
        from cobra.money import Money

        exponent = _EXPONENTS[currency] = Money(0, currency).exponent
    if not exponent:
        return str(amount)
    digits = str(abs(amount)).rjust(exponent + 1, "0")
    sign = "-" if amount < 0 else ""
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"


def _facts_epilog() -> str:
    from cobra.evidence import FACTS

    lines = "\n".join(f"  {name}: {meaning}" for name, meaning in FACTS.items())
    return (
        "\b\nFacts the diagnosis rules in the config may use "
        f"(plugins may add more):\n{lines}"
    )


@click.command("prioritize", epilog=_facts_epilog())
@click.option(
    "--as-of", type=DATE, default="today", help="Rank as of DATE (YYYY-MM-DD)."
)
@click.option("--top", type=click.IntRange(min=1), help="Only the first N customers.")
@click.option(
    "--reason", type=click.Choice(REASONS), help="Only customers with this diagnosis."
)
@click.option("--segment", help="Only customers in this segment.")
@click.option(
    "--explain", is_flag=True, help="Show each component of the score and the evidence."
)
@format_option
@pass_app
def prioritize_command(
    app: App, as_of: date | None, top, reason, segment, explain, fmt
):
    """Rank customers with overdue invoices: whom to contact first, and why.

    Each row gives the diagnosis (the most likely reason the customer does
    not pay, with its confidence and evidence), the score and the next
    suggested action. Overdue amounts are per currency, never added across
    currencies.

    Example: cobra prioritize --top 20 --explain
    """
    from cobra import worklist

    config = app.config()
    as_of = as_of or today(str(config.get("company.timezone", "UTC")))
    store = app.store()
    fast = None if explain else worklist.ranked(store, config, as_of)
    if fast is not None:
        chosen = fast.chosen(top, reason, segment)
        if fmt in ("json", "jsonl"):
            _write_json(chosen, fmt)
        else:
            emit(
                (_row(entry, fmt) for entry in chosen),
                fmt,
                empty_message="Nothing overdue: no one to chase.",
            )
        return
    entries = worklist.build(store, config, as_of, overdue_only=True)

    def rows():
        shown = 0
        for entry in entries:
            evidence, diagnosis = entry.evidence, entry.diagnosis
            if not any(evidence.overdue.values()):
                continue  # open but not yet due: nothing to chase
            if reason and diagnosis.reason != reason:
                continue
            if segment and evidence.segment != segment:
                continue
            row = {
                "rank": entry.rank,
                "account": evidence.account,
                "name": evidence.name,
                "overdue": (
                    overdue_list(evidence.overdue)
                    if fmt != "table"
                    else overdue_text(evidence.overdue)
                ),
                "days_overdue": int(evidence["oldest_days_overdue"]),
                "reason": diagnosis.reason,
                "confidence": round(diagnosis.confidence, 2),
                "score": entry.score.total,
                "next_action": entry.action,
            }
            if explain:
                row.update({f"score_{k}": v for k, v in entry.score.components.items()})
                row["segment_weight"] = entry.score.segment_weight
                row["evidence"] = (
                    "; ".join(diagnosis.evidence)
                    if fmt == "table"
                    else diagnosis.evidence
                )
            yield row
            shown += 1
            if top and shown >= top:
                return

    emit(rows(), fmt, empty_message="Nothing overdue: no one to chase.")


def _row(entry, fmt: str) -> dict:
    """A worklist.ranked() entry as the row rows() gives for it."""
    return {
        "rank": entry.rank,
        "account": entry.account,
        "name": entry.name,
        "overdue": (
            overdue_list(entry.overdue)
            if fmt != "table"
            else overdue_text(entry.overdue)
        ),
        "days_overdue": entry.days_overdue,
        "reason": entry.reason,
        "confidence": entry.confidence,
        "score": entry.score,
        "next_action": entry.action,
    }


def _write_json(ranking, fmt: str) -> None:
    """What ``emit((_row(e, fmt) for e in ranking), fmt)`` writes, faster.

    For json and jsonl. emit() makes every value plain (dates, Decimals)
    one by one and builds a JSON encoder per row, which for a hundred
    thousand customers costs more than ranking them. These rows have one
    shape, known here: text, whole numbers, floats and a list of {currency,
    amount} texts, written as json.dumps(row, ensure_ascii=False) writes
    them: its string encoder, int's str() and float's repr(), its
    separators. tests/test_prioritize.py checks the bytes against emit()'s.
    """
    import sys

    # Reason, confidence and action take a few values between them: each
    # combination is written once, and looked up for every row.
    outcomes = list(zip(ranking.reason, ranking.confidence, ranking.action))
    written = {
        outcome: (
            f'"reason": {text(outcome[0])}, "confidence": {outcome[1]!r}',
            f'"next_action": {text(outcome[2])}',
        )
        for outcome in set(outcomes)
    }
    columns = zip(
        ranking.rank,
        map(text, ranking.account),
        map(text, ranking.name),
        map(_overdue_json, ranking.overdue),
        ranking.days_overdue,
        map(written.__getitem__, outcomes),
        map(float.__repr__, ranking.score),
    )
    # An f-string per row: str.format() with as many fields costs twice as much.
    lines = (
        f'{{"rank": {rank}, "account": {account}, "name": {name}, '
        f'"overdue": [{owed}], "days_overdue": {days}, {outcome}, '
        f'"score": {score}, {action}}}'
        for rank, account, name, owed, days, (outcome, action), score in columns
    )
    out = sys.stdout
    if fmt == "jsonl":
        if len(ranking):
            _write_joined(out, lines, "\n")
            out.write("\n")
    elif len(ranking):
        out.write("[\n")
        _write_joined(out, lines, ",\n")
        out.write("\n]\n")
    else:
        out.write("[]\n")


def _write_joined(out, lines, separator: str, batch: int = 200) -> None:
    """*lines* with *separator* between them, *batch* lines to a write."""
    from itertools import islice

    first = True
    while chunk := list(islice(lines, batch)):
        if not first:
            out.write(separator)
        out.write(separator.join(chunk))
        first = False


def _overdue_json(owed: dict[str, int]) -> str:
    """The items of a row's overdue list, as JSON."""
    if len(owed) == 1:  # the usual case: no sorting
        ((currency, amount),) = owed.items()
        return _owed_json(currency, amount) if amount else ""
    return ", ".join(_owed_json(c, a) for c, a in sorted(owed.items()) if a)


def _owed_json(currency: str, amount: int) -> str:
    # major_units() gives digits, a point and a sign: nothing to escape.
    amount_text = major_units(amount, currency)
    return f'{{"currency": {text(currency)}, "amount": "{amount_text}"}}'
