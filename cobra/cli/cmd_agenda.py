"""``cobra agenda``: what a person must do, and closing or moving tasks.

Three kinds of item come from three places: tasks (calls with their
briefs, briefs for a salesperson, follow-ups), promises whose date has come,
and messages only a person can settle. Each carries a stable reference, T,
P or M and the row's id, so ``cobra agenda done T12`` names the same thing
tomorrow as today. Only tasks are closed here: a promise is settled by the
payments imported, a message by sending it again or fixing the data that
held it.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

import click
from click.core import ParameterSource

from cobra.cli.app import App, pass_app
from cobra.cli.options import DATE, format_option, today
from cobra.errors import CobraInputError

BRIEF_WIDTH = 60

_TASK_ID = re.compile(r"[Tt]?(\d+)")
_OTHER_ID = re.compile(r"([PpMm])\d+")


@click.group("agenda", invoke_without_command=True)
@click.option(
    "--for",
    "day",
    type=DATE,
    default="today",
    help="List what is due on or before DATE (default: today in company.timezone).",
)
@click.option(
    "--collector",
    metavar="NAME",
    help="Leave out tasks assigned to someone else; unassigned tasks, promises "
    "and messages stay.",
)
@format_option
@click.pass_context
def agenda_group(ctx: click.Context, day: date | None, collector, fmt):
    """List what is due: calls to make, promises to check, follow-ups,
    disputes, and messages that wait for a person.

    Each row has a reference: T12 is a task (close it with `cobra agenda done
    T12`), P3 a promise whose date has come, M7 a message whose send was
    interrupted (check it, then `cobra send --retry-unknown`) or that is held
    until someone finds the customer a valid address. Rows are sorted
    by due date, then kind. In the table a brief shows its first line; json,
    jsonl and csv carry it whole.

    Example: cobra agenda --collector ana --format json
    """
    if ctx.invoked_subcommand is not None:
        return
    from cobra.store import agenda

    app: App = ctx.find_object(App)
    config = app.config()
    day = day or today(str(config.get("company.timezone", "UTC")))
    store = app.store()
    whole = fmt != "table"
    rows = (
        _row(item, whole_brief=whole)
        for item in agenda.due(
            store.conn,
            day=day.isoformat(),
            collector=(collector or "").strip() or None,
        )
    )
    from cobra.output import emit

    emit(rows, fmt, empty_message=f"Nothing due on or before {day}.")


def _row(item, *, whole_brief: bool) -> dict:
    title, brief = _describe(item)
    return {
        "id": f"{item['prefix']}{item['number']}",
        "due": item["due"],
        "kind": item["kind"],
        "account": item["account"],
        "customer": item["customer"],
        "title": title,
        "assignee": item["assignee"],
        "brief": brief if whole_brief else _first_line(brief),
    }


def _describe(item) -> tuple[str, str | None]:
    """The title and the brief of an agenda item: what to do, and how."""
    if item["prefix"] == "T":
        return item["title"], item["brief"]
    if item["prefix"] == "P":
        from cobra.money import Money

        amount = Money(item["amount"], item["currency"]).to_decimal()
        note = f": {item['brief']}" if item["brief"] else ""
        return (
            f"Check the promise to pay {amount:f} {item['currency']} by {item['due']}",
            f"Promised on {item['made_on']}{note}",
        )
    what = (
        f"{item['channel']} {item['subject']!r}"
        if item["subject"]
        else f"{item['channel']} message"
    )
    if item["kind"] == "message_unknown":
        to = f" to {item['address']}" if item["address"] else ""
        why = f" ({item['detail']})" if item["detail"] else ""
        brief = (
            "The send was interrupted and the provider cannot say whether it got"
            f" the message{why}. If it did not arrive, `cobra send --retry-unknown`"
            " sends it again."
        )
        return f"Check whether the {what}{to} arrived", brief
    fix = (
        "Find a valid address, add it in the ledger and import it again; the"
        " next `cobra plan` contacts the customer again."
    )
    return f"Held {what}: {item['detail']}", fix


def _first_line(text: str | None) -> str | None:
    if not text:
        return text
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= BRIEF_WIDTH else line[: BRIEF_WIDTH - 1] + "…"


def _task_id(text: str) -> int:
    """The task's id from "T12" or "12"; a promise or message is named as such."""
    text = text.strip()
    match = _TASK_ID.fullmatch(text)
    if match:
        return int(match.group(1))
    if _OTHER_ID.fullmatch(text):
        if text[0] in "Pp":
            raise CobraInputError(
                f"{text} is a promise, not a task: it is settled by the payments "
                "imported, or by logging what the customer said with `cobra log`"
            )
        raise CobraInputError(
            f"{text} is a message, not a task: check it and send it again with "
            "`cobra send --retry-unknown`, or fix the data that held it"
        )
    raise CobraInputError(
        f"{text!r} is not a task; name it as `cobra agenda` lists it, such as T12"
    )


def _open_task(before, task_id: int, action: str):
    """Raise the message for a task that cannot be changed, if it cannot."""
    if before is None:
        raise CobraInputError(
            f"no task T{task_id}; `cobra agenda` lists the open ones. Nothing changed."
        )
    if before["state"] != "open":
        raise CobraInputError(
            f"task T{task_id} is already done (closed {before['done_at']}); "
            f"cannot {action} it. Nothing changed."
        )


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@agenda_group.command("done")
@click.argument("task")
@click.option("--note", metavar="TEXT", help="What was done; kept with the task.")
@pass_app
def done_command(app: App, task: str, note: str | None):
    """Close a task: it leaves the agenda, with the time it was closed.

    TASK is its reference in `cobra agenda` (T12, or just 12). Closing a
    task that is already done is refused and changes nothing.

    Example: cobra agenda done T12 --note "Called; will pay Friday"
    """
    from cobra.store import agenda

    task_id = _task_id(task)
    store = app.store()
    note = (note or "").strip() or None
    before, changed = agenda.close_task(store.conn, task_id, at=_utc_now(), note=note)
    if not changed:
        _open_task(before, task_id, "close")
    click.echo(f"Closed T{task_id}: {before['title']}.", err=True)


@agenda_group.command("snooze")
@click.argument("task")
@click.option(
    "--to",
    "to",
    type=DATE,
    default=None,
    help="The new due date (YYYY-MM-DD or today); not in the past.",
)
@click.option("--note", metavar="TEXT", help="Why it waits; kept with the task.")
@click.pass_context
def snooze_command(ctx: click.Context, task: str, to: date | None, note):
    """Move a task's due date; the task's note records the move.

    TASK is its reference in `cobra agenda` (T12, or just 12). The new date
    may be today or later, never in the past (in company.timezone).

    Example: cobra agenda snooze T12 --to 2026-12-10 --note "Away until then"
    """
    from cobra.store import agenda

    if ctx.get_parameter_source("to") is ParameterSource.DEFAULT:
        raise click.UsageError("Missing option '--to': the new due date.")
    app: App = ctx.find_object(App)
    task_id = _task_id(task)
    zone = str(app.config().get("company.timezone", "UTC"))
    now = today(zone)
    to = to or now
    if to < now:
        raise CobraInputError(
            f"cannot snooze T{task_id} to {to}: that is before today ({now} in "
            f"{zone}). Nothing changed."
        )
    before, changed = agenda.snooze_task(
        app.store().conn,
        task_id,
        due_on=to.isoformat(),
        at=_utc_now(),
        note=(note or "").strip() or None,
    )
    if not changed:
        _open_task(before, task_id, "snooze")
    click.echo(f"Moved T{task_id} from {before['due_on']} to {to}.", err=True)
