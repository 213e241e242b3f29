"""``cobra run``: the whole day in order, for cron and systemd timers."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date, datetime

import click

from cobra import logs
from cobra.cli.app import App, pass_app, report
from cobra.cli.cmd_send import InstantParam
from cobra.cli.options import DATE, today


@click.command("run")
@click.option(
    "--for",
    "day",
    type=DATE,
    default="today",
    help="The day to run (default: today in the company's time zone).",
)
@click.option(
    "--at",
    "at",
    type=InstantParam(),
    help="Send as if it were this moment (replaying a day).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Do the day on a scratch copy of the database: import, check promises "
    "and plan as the real run would, then keep none of it; send nothing.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="text: a summary on stderr; json: the summary as JSON on stdout.",
)
@pass_app
def run_command(
    app: App, day: date | None, at: datetime | None, dry_run: bool, fmt: str
):
    """Do the day: import the sources, check promises, plan, send.

    Safe to schedule: a second `cobra run` while one is running exits at
    once with code 75; a run killed halfway and started again finishes the
    day without repeating anything; running twice on the same day sends
    nothing new. Quiet on success with -q. --dry-run does the day on a
    scratch copy of the database: it checks the sources and shows the plan
    they would give, keeps nothing and sends nothing. Exit codes: 0 done, 1
    something failed (a source, a send), 2 bad config or usage, 75 already
    running.

    Example: cobra -q run   (in a crontab: 0 9 * * 1-6 cobra -q run)
    """
    from cobra import routine, runlock

    config = app.config()
    day = day or today(str(config.get("company.timezone", "UTC")))
    with runlock.exclusive(routine.lock_path(app.database_path())) as unended:
        if unended:
            # Nothing to undo: every step picks up where the killed run left
            # off. The warning tells a sysadmin why a day took two runs.
            report(
                "warning",
                f"the previous cobra run ({unended}) did not finish, killed or "
                "stopped with its machine; this run completes the day",
                "cobra.run",
            )
        summary = routine.run(app.store(), config, day, dry_run=dry_run, at=at)
    if fmt == "json":
        click.echo(json.dumps(summary.as_dict()))
    _report(summary, quiet=app.quiet > 0, dry_run=dry_run)
    if not summary.ok:
        sys.exit(1)


def _report(summary, *, quiet: bool, dry_run: bool) -> None:
    """The summary on stderr: always when something failed, else unless -q.

    Each failure also goes to the log file, and so does the whole summary of
    a run that failed: a sysadmin reading the file sees what cron mailed.
    """
    for source in summary.sources:
        if source.error:
            # An importer's message usually names its source already.
            named = source.error.startswith(source.source)
            message = source.error if named else f"{source.source}: {source.error}"
            report("error", message, "cobra.run")
    if summary.stopped:
        report("error", summary.stopped, "cobra.run")
    sending = summary.sending
    if sending is not None:
        for name, problem in {**sending.unbound, **sending.setup_errors}.items():
            report("error", f"channel {name}: {problem}", "cobra.run")
        if sending.unknown:
            report(
                "warning",
                f"{sending.unknown} messages were interrupted while sending; "
                "check them, then `cobra send --retry-unknown`",
                "cobra.run",
            )
    lines = _summary_lines(summary, dry_run=dry_run)
    if not summary.ok:
        steps = "; ".join(line.strip() for line in lines[1:])
        logs.to_file(logging.ERROR, f"{lines[0]} {steps}", "cobra.run")
    elif quiet:
        return
    click.echo("\n".join(lines), err=True)


def _summary_lines(summary, *, dry_run: bool) -> list[str]:
    lines = [f"{'Dry run' if dry_run else 'Run'} for {summary.day}:"]
    for source in summary.sources:
        if source.counts:
            counts = "; ".join(
                f"{kind.replace('_', ' ')} "
                + ", ".join(f"{n} {state}" for state, n in states.items() if n)
                for kind, states in source.counts.items()
                if any(states.values())
            )
            if source.closed_by_sync:
                closed = f"closed by sync {source.closed_by_sync} invoices"
                counts = f"{counts}; {closed}" if counts else closed
            lines.append(
                f"  imported {source.source} ({source.importer}): "
                f"{counts or 'nothing new'}"
            )
    if summary.promises is not None:
        lines.append(f"  {summary.promises.summary()}")
    if not summary.stopped:
        new = f"{summary.planned_new} {'would be ' if dry_run else ''}new"
        lines.append(
            f"  planned {summary.planned}, held back {summary.held_in_plan} "
            f"({new} in the outbox)"
        )
    sending = summary.sending
    if sending is not None:
        lines.append(
            f"  sent {sending.sent}, failed {sending.failed}, held {sending.held}, "
            f"retried {sending.retried}, waiting {sending.waiting}"
        )
    lines.append(f"  on the agenda: {summary.tasks_due} (cobra agenda)")
    return lines
