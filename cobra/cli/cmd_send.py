"""``cobra send``: deliver the planned messages through the channel backends."""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime

import click

from cobra import logs
from cobra.cli.app import App, pass_app, report
from cobra.cli.options import DATE, aware_instant, format_option
from cobra.output import emit


def _confirm(store, references: tuple[str, ...]) -> None:
    """Mark messages a person found delivered as sent; all or none."""
    from datetime import timezone

    from cobra.errors import CobraInputError
    from cobra.store import outbox

    ids = []
    for reference in references:
        number = reference.upper().removeprefix("M")
        if not number.isdigit():
            raise CobraInputError(f"{reference!r} is not a message id such as M12")
        ids.append(int(number))
    states = outbox.states_of(store.conn, ids)
    for number in ids:
        if states.get(number) != "unknown":
            what = f"is {states[number]}" if number in states else "does not exist"
            raise CobraInputError(
                f"message M{number} {what}; only messages left unknown can be confirmed"
            )
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for number in ids:
        outbox.confirm_unknown(store.conn, number, at=at)
    click.echo(f"Marked {len(ids)} messages sent.", err=True)


class InstantParam(click.ParamType):
    """An aware instant in ISO 8601, such as 2026-12-05T19:55:00-03:00."""

    name = "TIMESTAMP"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        try:
            moment = aware_instant(value)
        except ValueError:
            moment = None
        if moment is None:
            self.fail(
                f"{value!r} is not an instant with a UTC offset; write it like "
                "2026-12-05T19:55:00-03:00",
                param,
                ctx,
            )
        return moment


@click.command("send")
@click.option(
    "--for",
    "day",
    type=DATE,
    default="today",
    help="Send what was planned up to this day (default: today, UTC).",
)
@click.option(
    "--at",
    "at",
    type=InstantParam(),
    help="Act as if it were this moment (replaying a day; the contact rules "
    "are checked for it).",
)
@click.option("--channel", help="Only this channel (email, sms, call...).")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most N messages.")
@click.option(
    "--dry-run", is_flag=True, help="List what would go now; send and change nothing."
)
@click.option(
    "--retry-unknown",
    is_flag=True,
    help="Resend messages an interrupted send left unknown (check them first).",
)
@click.option(
    "--confirm-sent",
    "confirmed",
    multiple=True,
    metavar="MESSAGE",
    help="A message left unknown did arrive (checked by a person): mark it sent. "
    "MESSAGE is its agenda id, such as M12.",
)
@format_option
@pass_app
def send_command(
    app: App,
    day: date | None,
    at: datetime | None,
    channel: str | None,
    limit: int | None,
    dry_run: bool,
    retry_unknown: bool,
    confirmed: tuple[str, ...],
    fmt: str,
):
    """Deliver the planned messages that are due, through the bound backends.

    Each message is claimed before it is sent, so two `cobra send` running
    at once never send the same one; the contact rules are checked again at
    the moment of sending. Transient errors are retried with backoff;
    permanent ones fail the message. Exit 1 when a message failed or a
    channel could not be used.

    Example: cobra send --channel email --limit 100
    """
    from cobra import sending

    config = app.config()
    store = app.store()
    if confirmed:
        _confirm(store, confirmed)
        return
    if dry_run:
        rows = sending.preview(
            store, config, at=at, day=day, channel=channel, limit=limit
        )
        emit(rows, fmt, empty_message="Nothing to send now.")
        click.echo(f"Would send {len(rows)} messages.", err=True)
        return

    sender = sending.Sender(store, config, at=at)
    summary = sender.run(
        day=day, channel=channel, limit=limit, retry_unknown=retry_unknown
    )
    if fmt != "table":
        emit([summary.as_dict()], fmt)
    for name, problem in {**summary.unbound, **summary.setup_errors}.items():
        report("error", f"channel {name}: {problem}", "cobra.send")
    parts = [
        f"sent {summary.sent}",
        f"failed {summary.failed}",
        f"held {summary.held}",
        f"retried {summary.retried}",
    ]
    for label, count in (
        ("waiting for an allowed time", summary.waiting),
        ("cancelled (nothing owed)", summary.cancelled),
        ("resent on request", summary.resent_unknown),
    ):
        if count:
            parts.append(f"{label} {count}")
    line = "Send: " + ", ".join(parts) + "."
    click.echo(line, err=True)
    if summary.unknown:
        report(
            "warning",
            f"{summary.unknown} messages were interrupted while sending and "
            "may or may not have reached the customer; check them (cobra show), then "
            "`cobra send --retry-unknown` sends them again.",
            "cobra.send",
        )
    if not summary.ok:
        logs.to_file(logging.ERROR, line, "cobra.send")
        sys.exit(1)
