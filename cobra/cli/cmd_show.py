"""``cobra show ACCOUNT``: one customer's whole story, in time order."""

from __future__ import annotations

import difflib
import json
from datetime import date
from zoneinfo import ZoneInfo

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import DATE, today
from cobra.errors import CobraInputError


def find_customer(store, account: str):
    """The customer with this account id, or an error suggesting close ones."""
    row = store.conn.execute(
        "SELECT * FROM customers WHERE account = ?", (account,)
    ).fetchone()
    if row is not None:
        return row
    accounts = [r[0] for r in store.conn.execute("SELECT account FROM customers")]
    close = difflib.get_close_matches(account, accounts, n=3, cutoff=0.6)
    by_name = [
        r[0]
        for r in store.conn.execute(
            "SELECT account FROM customers WHERE name LIKE ? LIMIT 3", (f"%{account}%",)
        )
    ]
    suggestions = list(dict.fromkeys(close + by_name))
    hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
    raise CobraInputError(f"no customer with account {account!r}{hint}")


@click.command("show")
@click.argument("account")
@click.option("--as-of", type=DATE, default="today", help="Diagnose as of DATE.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts.",
)
@pass_app
def show_command(app: App, account: str, as_of: date | None, fmt: str):
    """Show one customer: details, diagnosis with evidence, and its timeline.

    The timeline lists invoices, credit notes, payments, messages, replies,
    interactions, findings, payment plans, promises and tasks in time order,
    each on its day in company.timezone. A record known by its day only (an
    invoice, a payment) comes first on that day; the others show their time.
    In json each event has date, at (its instant, or null for one known by
    its day only), kind and text.

    Example: cobra show C0000014
    """
    from cobra import worklist
    from cobra.store import timeline

    config = app.config()
    zone_name = str(config.get("company.timezone") or "UTC")
    as_of = as_of or today(zone_name)
    store = app.store()
    customer = find_customer(store, account)
    diagnosed = worklist.diagnose_one(store, config, as_of, customer["id"])
    events = list(timeline.events(store.conn, customer["id"], ZoneInfo(zone_name)))
    contacts = timeline.contacts(store.conn, customer["id"])

    details = {
        k: customer[k]
        for k in (
            "account",
            "name",
            "tax_id",
            "country",
            "language",
            "timezone",
            "segment",
            "salesperson_email",
        )
    }
    diagnosis = diagnosed[1].as_dict() if diagnosed else None
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "customer": details,
                    "contacts": contacts,
                    "diagnosis": diagnosis,
                    "overdue": _overdue(diagnosed),
                    "timeline": events,
                },
                ensure_ascii=False,
            )
        )
        return

    click.echo(f"{customer['name']} ({customer['account']})")
    for key in (
        "tax_id",
        "country",
        "language",
        "timezone",
        "segment",
        "salesperson_email",
    ):
        if customer[key]:
            click.echo(f"  {key.replace('_', ' ')}: {customer[key]}")
    for contact in contacts:
        state = (
            f"  (invalid since {contact['invalid_since'][:10]})"
            if contact["invalid_since"]
            else ""
        )
        click.echo(f"  {contact['kind']}: {contact['value']}{state}")
    click.echo("")
    if diagnosis:
        click.echo(
            f"Diagnosis as of {as_of}: {diagnosis['reason']} "
            f"(confidence {diagnosis['confidence']:.0%}, {diagnosis['source']})"
        )
        for sentence in diagnosis["evidence"]:
            click.echo(f"  - {sentence}")
        click.echo(f"  overdue: {_overdue_text(diagnosed)}")
    else:
        click.echo(f"Nothing open as of {as_of}.")
    click.echo("")
    click.echo("Timeline:")
    for event in events:
        # The time in the company's zone; blank for a record known by its day.
        time = event["at"][11:16] if event["at"] else ""
        click.echo(f"  {event['date']} {time:<5}  {event['kind']:<12} {event['text']}")
    if not events:
        click.echo("  (nothing yet)")


def _overdue(diagnosed) -> list[dict]:
    from cobra.cli.cmd_prioritize import overdue_list

    return overdue_list(diagnosed[0].overdue) if diagnosed else []


def _overdue_text(diagnosed) -> str:
    from cobra.cli.cmd_prioritize import overdue_text

    return overdue_text(diagnosed[0].overdue) or "nothing"
