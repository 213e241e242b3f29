"""``cobra plan``: decide the contacts due on a day, and store them."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import DATE, format_option, today
from cobra.output import emit


def _preview(body: str | None, width: int = 60) -> str:
    text = " ".join((body or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# The table keeps to what a collector reads; the other formats carry all.
TABLE_COLUMNS = (
    "account",
    "channel",
    "objective",
    "template",
    "method",
    "tactic",
    "variant",
    "preview",
)


def _row(contact, fmt: str) -> dict:
    row = {
        "date": contact.planned_for.isoformat(),
        "account": contact.account,
        "name": contact.name,
        "state": "held" if contact.held else "planned",
        "channel": contact.channel,
        "send_at": contact.send_at.isoformat() if contact.send_at else None,
        "reason": contact.reason,
        "strategy": contact.strategy,
        "step": contact.step + 1,
        "objective": contact.objective,
        "template": contact.template,
        "method": contact.method,
        "tactic": contact.tactic,
        "variant": contact.variant,
        "held_because": contact.hold_reason,
        "subject": contact.subject,
        "preview": _preview(contact.body) if fmt == "table" else contact.body,
    }
    if fmt == "table":
        return {name: row[name] for name in TABLE_COLUMNS}
    return row


@click.command("plan")
@click.option(
    "--for",
    "day",
    type=DATE,
    default="today",
    help="The day to plan (default: today in the company's time zone).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Preview the next N days from --for; nothing is stored.",
)
@click.option("--account", help="Only this customer.")
@click.option("--dry-run", is_flag=True, help="Show the plan without storing it.")
@format_option
@pass_app
def plan_command(app: App, day: date | None, days: int | None, account, dry_run, fmt):
    """Decide the contacts due on a day: channel, template, tactic, message.

    Each customer with open invoices gets the strategy matching its
    diagnosis, and the step of its cadence due that day; contacts the
    contact rules, an opt-out, a dispute or a promise hold back are listed
    separately with the reason. Planning the same day twice adds nothing;
    after days without planning, only the step due now is planned.

    Example: cobra plan --for 2026-12-07 --days 7
    """
    from cobra import planning
    from cobra.cli.cmd_show import find_customer
    from cobra.store import plans

    config = app.config()
    day = day or today(str(config.get("company.timezone", "UTC")))
    store = app.store()
    if account:
        find_customer(store, account)  # an unknown account is exit 2 with suggestions
    if not dry_run and not days:
        # Promises first: a promise broken since yesterday changes the plan.
        from cobra import promises

        checked = promises.check(
            store, day, int(config.get("follow_up.promise_grace_days", 2))
        )
        if checked.kept or checked.partly_kept or checked.broken:
            click.echo(checked.summary(), err=True)
    planner = planning.Planner(store, config)

    if days:
        done = plans.steps_done(store.conn)
        contacts = []
        for offset in range(days):
            current = day + timedelta(days=offset)
            taken = plans.planned_on(store.conn, current.isoformat())
            contacts += planner.plan(current, account, done=done, taken=taken)
        stored = None
    else:
        contacts = planner.plan(day, account)
        stored = None
        if not dry_run:
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            stored = plans.insert(store.conn, (c.row(now) for c in contacts))

    planned = [c for c in contacts if not c.held]
    held = [c for c in contacts if c.held]
    if fmt == "table":
        emit((_row(c, fmt) for c in planned), fmt, empty_message="Nothing to plan.")
        if held:
            click.echo("\nHeld back:", err=True)
            for c in held:
                click.echo(
                    f"  {c.planned_for} {c.account} {c.channel}: {c.hold_reason}",
                    err=True,
                )
    else:
        emit((_row(c, fmt) for c in planned + held), fmt)
    what = "Previewed" if days else "Would plan" if dry_run else "Planned"
    added = f" ({stored} new)" if stored is not None else ""
    click.echo(
        f"{what} {len(planned)} contacts{added}; held back {len(held)}.", err=True
    )
