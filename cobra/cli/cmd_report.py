"""``cobra report NAME``: aging, DSO, CEI, promises, activity, tactics, html."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from click.core import ParameterSource

from cobra.cli.app import App
from cobra.cli.options import DATE, format_option, today
from cobra.errors import CobraWorkError
from cobra.paths import check_folder, private_output


def _names() -> str:
    from cobra.reports import REPORTS

    return ", ".join(REPORTS)


def _by_fields(name: str, given: tuple[str, ...], module) -> tuple[str, ...]:
    """The --by fields, checked against the report's; commas also separate."""
    fields = tuple(
        part.strip() for value in given for part in value.split(",") if part.strip()
    )
    if not fields:
        return tuple(module.DEFAULT_BY)
    if not module.FIELDS:
        raise click.UsageError(f"the {name} report takes no --by")
    for field in fields:
        if field not in module.FIELDS:
            raise click.UsageError(
                f"--by: {field!r} is not a field of the {name} report; "
                f"choose from {', '.join(module.FIELDS)}"
            )
    return tuple(dict.fromkeys(fields))  # each once, in the order given


def _for_scripts(row: dict) -> dict:
    """Ratios as numbers (0-1) rounded once, from their exact values."""
    from cobra.reports import RATIOS, share

    return {key: share(value) if key in RATIOS else value for key, value in row.items()}


def _for_table(row: dict) -> dict:
    """Ratios as percentages rounded once, from their exact values; amounts
    in several currencies on one line."""
    from cobra.reports import RATIOS, percent

    shown = {}
    for key, value in row.items():
        if key in RATIOS:
            value = percent(value)
        elif isinstance(value, list):
            value = "; ".join(f"{m['amount']} {m['currency']}" for m in value)
        shown[key] = value
    return shown


def _write(path: Path, write) -> None:
    """Call ``write(stream)`` for the text of *path*, written as personal data
    is (see :func:`cobra.paths.private_output`): it names customers and what
    they owe."""
    try:
        with private_output(path) as stream:
            write(stream)
    except OSError as exc:
        raise CobraWorkError(f"cannot write {path}: {exc.strerror}") from None


@click.command("report")
@click.argument("name", metavar="NAME")
@click.option(
    "--as-of",
    type=DATE,
    default=None,
    help="Read the data as known on DATE (default: the period's last day).",
)
@click.option(
    "--from", "start", type=DATE, default=None, help="First day of the period."
)
@click.option("--to", "end", type=DATE, default=None, help="Last day of the period.")
@click.option(
    "--period",
    metavar="PERIOD",
    help="YYYY-MM, YYYY-Qn, YYYY, or Nd: the N days up to --as-of.",
)
@click.option(
    "--by",
    "by",
    multiple=True,
    metavar="FIELD",
    help="Group by FIELD; repeat (or separate with commas) for several.",
)
@click.option(
    "--within",
    type=click.IntRange(min=0),
    metavar="DAYS",
    help="tactics: days after a contact a payment counts (default: learn.window_days).",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="html: customers shown from the worklist.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of stdout.",
)
@format_option
@click.pass_context
def report_command(
    ctx: click.Context,
    name: str,
    as_of: date | None,
    start: date | None,
    end: date | None,
    period: str | None,
    by: tuple[str, ...],
    within: int | None,
    top: int,
    out: Path | None,
    fmt: str,
):
    """Report NAME: aging, dso, cei, promises, activity, tactics or html.

    \b
    aging     open amounts by days past due (--by customer, segment,
              country, collector)
    dso       days sales outstanding, simple and countback (--by ..., month)
    cei       collection effectiveness index (--by ..., month)
    promises  promises made, kept, partly kept, broken; the kept rate
    activity  contacts per kind, channel, collector and outcome
    tactics   per tactic, method, channel, template, variant and reason:
              the share paid within N days with its 95% interval, the
              amount recovered, and each variant's current allocation
    html      one self-contained page with the charts (--out FILE)

    The period defaults to the report.period_days days up to --as-of (or
    today); the data is read as of the period's last day unless --as-of says
    otherwise, from the dates the records carry, so a report of a past
    period gives the same figures whenever it is run. Amounts are per
    currency, never added across currencies.
    docs/reports.md defines every figure.

    Example: cobra report dso --period 2026-Q3 --by month
    """
    from zoneinfo import ZoneInfo

    from cobra import reports
    from cobra.reports import period as periods

    if name not in reports.REPORTS:
        raise click.UsageError(f"unknown report {name!r}; choose one of {_names()}")
    module = reports.module(name)
    fields = _by_fields(name, by, module)
    if (
        name == "html"
        and ctx.get_parameter_source("fmt") is not ParameterSource.DEFAULT
    ):
        raise click.UsageError("the html report is a page: --format does not apply")

    app: App = ctx.find_object(App)
    config = app.config()
    zone_name = str(config.get("company.timezone", "UTC"))
    now = today(zone_name)

    def given(option: str, value: date | None) -> date | None:
        # DATE reads "today" as None, for the command to place in its zone.
        explicit = ctx.get_parameter_source(option) is ParameterSource.COMMANDLINE
        return now if explicit and value is None else value

    as_of, chosen = periods.resolve(
        today=now,
        default_days=int(config.get("report.period_days", 90)),
        as_of=given("as_of", as_of),
        start=given("start", start),
        end=given("end", end),
        period=period,
    )
    context = reports.Context(
        store=app.store(),
        config=config,
        as_of=as_of,
        period=chosen,
        zone=ZoneInfo(zone_name),
        within_days=(
            within if within is not None else int(config.get("learn.window_days", 7))
        ),
        allocation_days=int(config.get("report.allocation_days", 14)),
    )

    if out:
        check_folder(out)
    if name == "html":
        text = module.page(context, top=top)
        if out:
            _write(out, lambda stream: stream.write(text))
            click.echo(f"Wrote {out} (as of {as_of}).", err=True)
        else:
            click.echo(text, nl=False)
        return

    from cobra.output import emit

    rows = module.build(context, fields)
    rows = [_for_table(row) if fmt == "table" else _for_scripts(row) for row in rows]
    empty = (
        f"Nothing open on {as_of}."
        if name == "aging"
        else f"No data for the {name} report from {chosen} (as of {as_of})."
    )
    if out:
        _write(out, lambda stream: emit(rows, fmt, out=stream, empty_message=empty))
    else:
        emit(rows, fmt, empty_message=empty)
