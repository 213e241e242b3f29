"""``cobra offer ACCOUNT``: payment-plan options within the company's policy."""

from __future__ import annotations

from datetime import date

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import DATE, format_option, today
from cobra.output import emit


@click.command("offer")
@click.argument("account")
@click.option(
    "--as-of",
    type=DATE,
    default="today",
    help="Make the offer on DATE (YYYY-MM-DD): what is overdue then, "
    "and the schedule counted from it.",
)
@format_option
@pass_app
def offer_command(app: App, account: str, as_of: date | None, fmt: str):
    """Payment-plan options for one customer, within the [offer] policy.

    Settle now with the largest discount the policy allows, or pay a down
    payment and equal monthly instalments; each option comes with its
    schedule. A customer owing in several currencies gets options per
    currency, never added together. table prints one block per option;
    json and jsonl give one object per option (amounts as exact decimal
    strings); csv gives one row per payment, number 0 being the down payment.

    Example: cobra offer C0000014 --as-of 2026-06-05
    """
    from cobra import offer
    from cobra.cli.cmd_show import find_customer
    from cobra.store import evidence as queries

    config = app.config()
    # The policy first: a bad [offer] table is an error whatever the customer.
    policy = offer.Policy.from_config(config)
    as_of = as_of or today(str(config.get("company.timezone", "UTC")))
    store = app.store()
    customer = find_customer(store, account)
    overdue = queries.overdue_by_currency(
        store.conn, queries.params(as_of), customer["id"]
    ).get(customer["id"], {})
    found = offer.options(overdue, policy, as_of)

    if fmt == "table":
        if not found:
            click.echo(
                f"{_who(customer)} has nothing overdue as of {as_of}: "
                "no offer to make.",
                err=True,
            )
            return
        click.echo(_blocks(customer, overdue, found, as_of), nl=False)
    elif fmt == "csv":
        emit(_payment_rows(found), fmt)
    else:
        emit((option.as_dict() for option in found), fmt)


def _who(customer) -> str:
    return f"{customer['name']} ({customer['account']})"


def _blocks(customer, overdue: dict[str, int], found, as_of: date) -> str:
    """One block per option: its label, its schedule and what it costs."""
    from tabulate import tabulate

    from cobra.cli.cmd_prioritize import overdue_text

    lines = [f"{_who(customer)}: {overdue_text(overdue)} overdue as of {as_of}.", ""]
    for option in found:
        lines.append(f"{option.option} ({option.currency}): {option.label}")
        rows = [
            [
                _payment_name(option, p.number),
                p.due.isoformat(),
                f"{p.amount.to_decimal():f}",
            ]
            for p in option.schedule
        ]
        table = tabulate(
            rows,
            headers=["payment", "due", "amount"],
            colalign=("left", "left", "right"),
            disable_numparse=True,
        )
        lines.extend("  " + line for line in table.splitlines())
        cost = (
            f"interest {option.interest}"
            if option.interest
            else f"discount {option.discount}"
            if option.discount
            else "no interest, no discount"
        )
        lines.append(f"  total {option.total} ({cost}) on {option.owed} owed")
        if option.note:
            lines.append(f"  note: {option.note}")
        lines.append("")
    return "\n".join(lines)


def _payment_name(option, number: int) -> str:
    if number:
        return f"{number} of {len(option.instalments)}"
    return "down payment" if option.instalments else "in full"


def _payment_rows(found):
    """The flat form for spreadsheets: one row per payment of each option."""
    for option in found:
        for payment in option.schedule:
            yield {
                "currency": option.currency,
                "option": option.option,
                "label": option.label,
                "number": payment.number,
                "due": payment.due,
                "amount": f"{payment.amount.to_decimal():f}",
            }
