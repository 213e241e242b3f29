"""``cobra history``: the contact log between two dates, for a regulator.

Every contact with customers in time order, as one listing: what the
collectors logged, every message cobra sent or tried, every reply. Instants
are shown in the company's time zone with their offset, whatever offset
they were stored with, so the rows read in the order they happened.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import click
from click.core import ParameterSource

from cobra.cli.app import App
from cobra.cli.options import DATE, format_option, today
from cobra.errors import CobraInputError

# The table shows the start of a message or note; the other formats all of it.
TEXT_WIDTH = 50
TABLE_LEAVES_OUT = ("address", "subject", "provider_id", "error")


@click.command("history")
@click.option(
    "--since",
    type=DATE,
    default=None,
    help="From the start of DATE (required), in company.timezone.",
)
@click.option(
    "--until",
    type=DATE,
    default=None,
    help="To the end of DATE, in company.timezone (default: no end).",
)
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="ACCOUNT",
    help="Only this customer; repeat for several.",
)
@format_option
@click.pass_context
def history_command(
    ctx: click.Context,
    since: date | None,
    until: date | None,
    accounts: tuple[str, ...],
    fmt: str,
):
    """Export the contact log: interactions, messages and replies in time order.

    Each row: at (an ISO instant in company.timezone), account, customer,
    direction (out, in; empty for a collector's log entry), channel, kind
    (message, interaction, reply), outcome (a message's state, a logged
    outcome, or received/opt_out for a reply), collector, address, subject,
    text, provider_id, error, and ref (M, I or R and the row's id); the
    table leaves out address, subject, provider_id and error. Messages
    are those sent, delivered, failed or left unknown; held and cancelled
    ones never reached anyone. Rows are written as they are read, so a long
    log streams (except the table, which needs every width).

    Example: cobra history --since 2025-01-01 --format csv > contact-log.csv
    """
    from cobra.cli.cmd_show import find_customer
    from cobra.outcomes import start_of
    from cobra.output import emit
    from cobra.store import agenda

    if ctx.get_parameter_source("since") is ParameterSource.DEFAULT:
        raise click.UsageError("Missing option '--since': the first day to export.")
    app: App = ctx.find_object(App)
    config = app.config()
    zone_name = str(config.get("company.timezone", "UTC"))
    zone = ZoneInfo(zone_name)
    since = since or today(zone_name)
    if (
        ctx.get_parameter_source("until") is not ParameterSource.DEFAULT
        and until is None
    ):
        until = today(zone_name)
    if until is not None and until < since:
        raise CobraInputError(
            f"--until {until} is before --since {since}; nothing to export"
        )
    store = app.store()
    customer_ids = (
        [find_customer(store, account)["id"] for account in accounts]
        if accounts
        else None
    )
    whole = fmt != "table"
    rows = (
        _row(entry, zone, whole_text=whole)
        for entry in agenda.contact_log(
            store.conn,
            since=start_of(since, zone),
            until=start_of(until + timedelta(days=1), zone) if until else None,
            customer_ids=customer_ids,
        )
    )
    period = f"from {since}" + (f" to {until}" if until else "")
    emit(rows, fmt, empty_message=f"No contacts {period} ({zone_name}).")


def _local(stored: str | None, zone: ZoneInfo) -> str | None:
    """A stored instant in the company's zone; one without an offset is UTC."""
    if not stored:
        return stored
    try:
        instant = datetime.fromisoformat(stored)
    except ValueError:
        return stored  # shown as stored rather than dropped from the log
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.astimezone(zone).isoformat()


def _row(entry, zone: ZoneInfo, *, whole_text: bool) -> dict:
    text = entry["text"]
    if not whole_text and text:
        text = " ".join(text.split())
        text = text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"
    row = {
        "at": _local(entry["at"], zone),
        "account": entry["account"],
        "customer": entry["customer"],
        "direction": entry["direction"],
        "channel": entry["channel"],
        "kind": entry["kind"],
        "outcome": entry["outcome"],
        "collector": entry["collector"],
        "address": entry["address"],
        "subject": entry["subject"],
        "text": text,
        "provider_id": entry["provider_id"],
        "error": entry["error"],
        "ref": entry["ref"],
    }
    if not whole_text:
        # A terminal's width: who, when, how and what; scripts get the rest.
        for key in TABLE_LEAVES_OUT:
            del row[key]
    return row
