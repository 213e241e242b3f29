"""One self-contained HTML page: aging, DSO and promise trends, tactics, and the
top of the worklist.

Everything is in the file: the styles inline, the charts inline SVG drawn by
cobra.reports.svg, no script, no font, no image from elsewhere; it opens
offline and can be mailed as it is. The page names no moment but the as-of
date, so the same database and options give the same bytes.

Trends cover the twelve calendar months up to the as-of date (the last one
up to that day); the tactics cover the report's period.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from html import escape

from cobra.reports import (
    Context,
    Customers,
    aging,
    dso,
    money,
    percent,
    promises,
    ratio,
    share,
    tactics,
)
from cobra.reports.period import Period
from cobra.reports.svg import (
    Bar,
    Interval,
    Series,
    bar_chart,
    interval_chart,
    line_chart,
)

DESCRIPTION = "One HTML page with the charts (use --out FILE)."
FIELDS: tuple[str, ...] = ()
DEFAULT_BY: tuple[str, ...] = ()
TREND_MONTHS = 12

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em;
       color: #1d2733; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1em; margin-bottom: 0; }
.chart { display: block; margin: 0.5em 0 1.5em; max-width: 100%; height: auto; }
.chart .axis { stroke: #8893a0; stroke-width: 1; }
.chart .bar { fill: #3d7cc9; }
.chart .line { stroke-width: 2; } .chart .point { stroke: none; }
.chart .line-0 { stroke: #3d7cc9; } .chart circle.line-0 { fill: #3d7cc9; }
.chart .line-1 { stroke: #d9822b; stroke-dasharray: 5 3; }
.chart circle.line-1 { fill: #d9822b; }
.chart .interval { stroke: #1d2733; stroke-width: 2; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { padding: 0.25em 0.75em; border-bottom: 1px solid #d8dde3;
         text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #5b6673; font-size: 0.9em; }
"""


def _table(headers: list[str], rows: list[list[object]], name: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for value in row:
            shown = "" if value is None else str(value)
            number = isinstance(value, (int, float)) or shown.replace(".", "").isdigit()
            klass = ' class="number"' if number and shown else ""
            cells.append(f"<td{klass}>{escape(shown)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table data-table="{escape(name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _aging(context: Context) -> str:
    rows = aging.build(context, ())
    if not rows:
        return f'<p class="note">Nothing open on {context.as_of}.</p>'
    parts = []
    for row in rows:
        currency = row["currency"]
        bars = [
            Bar(
                label,
                float(row[column]),
                f"{row[column]} {currency}",
                {
                    "data-bucket": label,
                    "data-currency": currency,
                    "data-amount": row[column],
                },
            )
            for column, label, _ in aging.BUCKETS
        ]
        parts.append(f"<h3>{escape(currency)}</h3>")
        parts.append(
            bar_chart(
                f"aging-{currency}",
                f"Open {currency} by days past due on {context.as_of}",
                bars,
            )
        )
        parts.append(
            f'<p class="note">{escape(currency)}: {row["total"]} open in '
            f"{row['invoices']} invoices, {row['overdue']} past due.</p>"
        )
    return "".join(parts)


def _months(context: Context) -> list[Period]:
    first = context.as_of.replace(day=1)
    for _ in range(TREND_MONTHS - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return Period(first, context.as_of).months()


def _dso(context: Context) -> str:
    """Countback DSO by month: the simple method swings with a month's sales
    (one small month makes a spike that flattens every other point)."""
    months = _months(context)
    labels = [m.start.strftime("%Y-%m") for m in months]
    customers = Customers(context, ())
    sales = dso.daily_sales(context, customers, context.as_of)
    lines: dict[str, list] = {}
    for index, month in enumerate(months):
        figures = dso.figures(context, customers, month, sales)
        for ((), currency), figure in figures.items():
            points = lines.setdefault(currency, [None] * len(months))
            points[index] = figure["dso_countback"]
    if not lines:
        return '<p class="note">No receivables or sales in these months.</p>'
    parts = []
    for currency, points in sorted(lines.items()):
        series = Series(
            f"countback {currency}",
            points,
            {"data-method": "countback", "data-currency": currency},
            [f"{p} days" if p is not None else "" for p in points],
        )
        parts.append(f"<h3>{escape(currency)}</h3>")
        parts.append(
            line_chart(
                f"dso-{currency}",
                f"DSO in {currency} at the end of each month (countback method)",
                labels,
                [series],
                unit=" d",
            )
        )
    parts.append(
        '<p class="note">Countback method, at the end of each month (the last '
        "one at the as-of date); <code>cobra report dso --by month</code> gives "
        "the simple method too.</p>"
    )
    return "".join(parts)


def _promise_trend(context: Context) -> str:
    months = _months(context)
    labels = [m.start.strftime("%Y-%m") for m in months]
    trend = replace(context, period=Period(months[0].start, context.as_of))
    counts: dict[str, list[int]] = {}
    for row in promises.build(trend, ("month",)):
        kept, resolved = counts.setdefault(row["month"], [0, 0])
        counts[row["month"]] = [
            kept + row["kept"],
            resolved + row["kept"] + row["partly_kept"] + row["broken"],
        ]
    points, texts = [], []
    for label in labels:
        kept, resolved = counts.get(label, (0, 0))
        # Rounded once, half up, from the exact ratio, as the promises report
        # rounds kept_rate: 5 of 32 is 0.1563 in both.
        points.append(share(ratio(kept, resolved)))
        texts.append(f"{kept} of {resolved} kept" if resolved else "")
    if not any(p is not None for p in points):
        return '<p class="note">No promise made in these months has a result yet.</p>'
    series = Series("kept rate", points, {"data-measure": "kept_rate"}, texts)
    return line_chart(
        "promises-kept",
        "Share of promises kept, by the month they were made",
        labels,
        [series],
    ) + (
        '<p class="note">Counts of promises in every currency; open promises '
        "are left out until they are kept, partly kept or broken.</p>"
    )


def _tactics(context: Context) -> str:
    rows = tactics.build(context, ("tactic",))
    if not rows:
        return f'<p class="note">No contact went out from {context.period}.</p>'
    bars = []
    for row in rows:
        rate = row["success_rate"]
        text = (
            f"{percent(rate, 0)} of {row['evaluated']}"
            if rate is not None
            else f"{row['contacts']} pending"
        )
        bars.append(
            Interval(
                row["tactic"],
                share(rate),
                share(row["rate_low"]),
                share(row["rate_high"]),
                text,
                {
                    "data-tactic": row["tactic"],
                    "data-contacts": row["contacts"],
                    "data-evaluated": row["evaluated"],
                },
            )
        )
    chart = interval_chart(
        "tactics",
        f"Contacts followed by a payment or a kept promise within "
        f"{context.within_days} days, by tactic",
        bars,
    )
    table = _table(
        [
            "tactic",
            "contacts",
            "evaluated",
            "succeeded",
            "rate",
            "95% interval",
            "recovered",
        ],
        [
            [
                r["tactic"],
                r["contacts"],
                r["evaluated"],
                r["succeeded"],
                percent(r["success_rate"]) or "",
                ""
                if r["rate_low"] is None
                else f"{percent(r['rate_low'])}-{percent(r['rate_high'])}",
                "; ".join(f"{m['amount']} {m['currency']}" for m in r["recovered"]),
            ]
            for r in rows
        ],
        "tactics",
    )
    return chart + table + _allocation(context) + _sampler(context)


def _allocation(context: Context) -> str:
    rows = [r for r in tactics.build(context, ("variant",)) if r["planned"]]
    if not rows:
        return ""
    first = context.as_of - timedelta(days=context.allocation_days - 1)
    return _variants(
        f"Variant allocation, planned {first} to {context.as_of}",
        rows,
        "planned",
        lambda r: percent(r["allocation"], 0),
        "allocation",
    )


def _sampler(context: Context) -> str:
    """The steps that learn: the share learning would give a new customer."""
    rows = [
        r
        for r in tactics.build(context, ("variant", "reason"))
        if r["would_allocate"] is not None
    ]
    if not rows:
        return ""
    return _variants(
        f"Learning: the share of new customers on {context.as_of}",
        rows,
        "reason",
        lambda r: percent(r["would_allocate"]),
        "sampler",
    )


def _variants(title: str, rows: list[dict], column: str, shown, name: str) -> str:
    """A table of step variants: one *column* of the rows, a share as
    *shown* gives it, and the variant's success rate."""
    return f"<h3>{escape(title)}</h3>" + _table(
        ["strategy", "step", "variant", column, "share", "success rate"],
        [
            [
                r["strategy"],
                r["step"],
                r["variant"],
                r[column],
                shown(r),
                ""
                if r["success_rate"] is None
                else f"{percent(r['success_rate'], 0)} of {r['evaluated']}",
            ]
            for r in rows
        ],
        name,
    )


def _worklist(context: Context, top: int) -> str:
    from cobra import worklist

    entries = [
        e
        for e in worklist.build(context.store, context.config, context.as_of, True)
        if e.rank
    ][:top]
    if not entries:
        return f'<p class="note">Nothing overdue on {context.as_of}.</p>'
    return _table(
        [
            "rank",
            "account",
            "name",
            "overdue",
            "days overdue",
            "reason",
            "score",
            "next action",
        ],
        [
            [
                e.rank,
                e.evidence.account,
                e.evidence.name,
                "; ".join(
                    f"{money(amount, currency)} {currency}"
                    for currency, amount in sorted(e.evidence.overdue.items())
                    if amount
                ),
                int(e.evidence["oldest_days_overdue"]),
                e.diagnosis.reason,
                e.score.total,
                e.action,
            ]
            for e in entries
        ],
        "worklist",
    )


def page(context: Context, top: int = 10) -> str:
    """The whole page as text."""
    company = str(context.config.get("company.name") or "")
    title = f"Collections report{' - ' + company if company else ''}"
    sections = [
        ("aging", "Aging", _aging(context)),
        ("dso", "Days sales outstanding", _dso(context)),
        ("promises", "Promises kept", _promise_trend(context)),
        ("tactics", "Tactic effectiveness", _tactics(context)),
        ("worklist", f"Top {top} of the worklist", _worklist(context, top)),
    ]
    body = "".join(
        f'<section id="{name}"><h2>{escape(heading)}</h2>{content}</section>'
        for name, heading, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="note">As of {context.as_of}; tactics from {context.period}. '
        "Amounts in different currencies are never added together.</p>"
        f"{body}</body></html>\n"
    )
