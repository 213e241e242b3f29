"""``cobra log``: record what a contact led to, one or a file of them."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import click

from cobra.cli.app import App, pass_app
from cobra.cli.options import AMOUNT, DATE, aware_instant
from cobra.errors import CobraInputError
from cobra.store import transaction

# How many bad rows of a file are shown; the rest are counted.
SHOWN = 20
FILE_COLUMNS = (
    "account",
    "outcome",
    "at",
    "channel",
    "collector",
    "note",
    "reason",
    "amount",
    "currency",
    "on",
    "follow_up",
    "invoices",
    "plan",
    "instalments",
    "contact",
    "id",
)


class InstalmentParam(click.ParamType):
    """DATE=AMOUNT, such as 2027-01-15=250.00."""

    name = "DATE=AMOUNT"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            return _instalment(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _instalment(text: str) -> tuple[date, str]:
    day, sep, amount = text.partition("=")
    try:
        due = date.fromisoformat(day.strip())
    except ValueError:
        due = None
    if not sep or due is None or not amount.strip():
        raise ValueError(f"{text!r} is not DATE=AMOUNT, such as 2027-01-15=250.00")
    return due, amount.strip()


@click.command("log")
@click.argument("account", required=False)
@click.option(
    "--outcome", help="What the contact led to: promise, no_answer, dispute..."
)
@click.option("--note", help="What was said, in the collector's words.")
@click.option("--channel", help="How the contact was made: call, email, sms, visit...")
@click.option("--collector", help="Who made the contact.")
@click.option("--reason", help="Your finding of why the customer does not pay.")
@click.option("--amount", type=AMOUNT, help="Amount promised (or the plan's total).")
@click.option(
    "--currency", help="Currency of --amount, when the customer owes in several."
)
@click.option("--on", "on", type=DATE, help="The date the customer promised to pay.")
@click.option("--follow-up", "follow_up", type=DATE, help="Raise a task on this date.")
@click.option("--invoice", "invoices", multiple=True, help="An invoice it is about.")
@click.option(
    "--plan", help="plan_agreed: the `cobra offer` option chosen (settle_now, 6)."
)
@click.option(
    "--instalment",
    "instalments",
    type=InstalmentParam(),
    multiple=True,
    help="plan_agreed: one payment of an explicit plan, as DATE=AMOUNT.",
)
@click.option("--contact", help="wrong_contact: the address or number found wrong.")
@click.option(
    "--at", "at", help="When the contact happened (default: now), with offset."
)
@click.option(
    "--from",
    "from_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read many interactions from a CSV or JSON Lines file.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="With --from: log the valid rows, write the bad ones to --rejects.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where --skip-invalid writes the bad rows (default: FILE.rejects.csv).",
)
@click.option("--dry-run", is_flag=True, help="Check everything; write nothing.")
@pass_app
def log_command(
    app: App,
    account,
    outcome,
    note,
    channel,
    collector,
    reason,
    amount,
    currency,
    on,
    follow_up,
    invoices,
    plan,
    instalments,
    contact,
    at,
    from_file,
    skip_invalid,
    rejects,
    dry_run,
):
    """Record what a contact led to: a promise, a dispute, a plan, no answer.

    A promise stores the amount and date and a task to check it; a dispute
    marks the named invoices disputed (no automated messages on them) with a
    task to resolve it, and dispute_resolved ends it (on the --invoice named,
    or all) and closes that task; plan_agreed stores a payment plan from
    `cobra offer` or explicit instalments; wrong_contact marks the address
    invalid; --reason overrides the diagnosis. Anything wrong: exit 2,
    nothing written.

    Example: cobra log C0000014 --outcome promise --amount 500 --on 2026-12-10
    """
    from cobra.followup import Entry

    if from_file is not None:
        if account or outcome:
            raise CobraInputError("give either ACCOUNT --outcome ... or --from FILE")
        _from_file(app, from_file, skip_invalid, rejects, dry_run)
        return
    if not account or not outcome:
        raise CobraInputError("cobra log needs ACCOUNT and --outcome (or --from FILE)")
    try:
        moment = aware_instant(at) if at else None
    except ValueError as exc:
        raise click.BadParameter(f"{at!r} {exc}", param_hint="--at") from None
    entry = Entry(
        account=account,
        outcome=outcome,
        at=moment,
        channel=channel,
        collector=collector,
        note=note,
        reason=reason,
        amount=str(amount) if amount is not None else None,
        currency=currency,
        on=on,
        follow_up=follow_up,
        invoices=tuple(invoices),
        plan=plan,
        instalments=tuple(instalments),
        contact=contact,
    )
    _log_one(app, entry, dry_run=dry_run)


def _log_one(app: App, entry, *, dry_run: bool) -> None:
    """Check one entry, then write it in one transaction."""
    from cobra import followup

    config, store = app.config(), app.store()
    try:
        prepared = followup.prepare(store, config, entry)
    except followup.EntryError as exc:
        raise CobraInputError(f"{exc.field}: {exc.message}") from None
    if dry_run:
        click.echo(
            f"Would log {entry.outcome} for {entry.account}; nothing written.",
            err=True,
        )
        return
    with transaction(store.conn):
        result = followup.record(store, config, prepared)
    parts = [f"Logged {entry.outcome} for {entry.account}"]
    if result.promises:
        parts.append(f"{result.promises} promise{'s' if result.promises > 1 else ''}")
    if result.disputed:
        parts.append(f"{result.disputed} invoices disputed")
    if result.resolved:
        parts.append(
            f"dispute resolved on {', '.join(prepared.resolves)}; "
            f"{result.closed} dispute task{'' if result.closed == 1 else 's'} closed"
        )
    if result.invalidated:
        parts.append(f"{prepared.invalidate} marked invalid")
    if result.tasks:
        parts.append(f"{result.tasks} task{'s' if result.tasks > 1 else ''} raised")
    click.echo("; ".join(parts) + ".", err=True)


def _rows(path: Path):
    """(line, dict) for each row of a CSV or JSON Lines file."""
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open(encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, ValueError(f"not JSON: {exc.msg}")
                    continue
                yield (
                    number,
                    value
                    if isinstance(value, dict)
                    else ValueError("each line must be a JSON object"),
                )
        return
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row


def _cell(value) -> str | None:
    """A file row's value as text, stripped; None when the cell is empty."""
    return str(value).strip() if value not in (None, "") else None


def _one(row: dict, name: str) -> str | None:
    """A column that takes one value; a JSON list, object or true/false is
    refused rather than written down as its Python spelling."""
    from cobra.followup import EntryError

    value = row.get(name)
    if isinstance(value, (list, dict, bool)):
        kind = {list: "a list", dict: "an object"}.get(type(value), "true or false")
        raise EntryError(name, f"takes one value, not {kind}: {json.dumps(value)[:60]}")
    return _cell(value)


def _several(row: dict, name: str, separators: str) -> list[str]:
    """A column that takes several values: one text split at *separators*
    (the CSV form), or in JSON Lines a list, each item one value whole."""
    from cobra.followup import EntryError

    value = row.get(name)
    if not isinstance(value, list):
        text = _one(row, name) or ""
        for separator in separators[1:]:
            text = text.replace(separator, separators[0])
        return [part.strip() for part in text.split(separators[0]) if part.strip()]
    items = []
    for number, item in enumerate(value, start=1):
        if isinstance(item, (list, dict, bool)) or _cell(item) is None:
            raise EntryError(
                name, f"item {number} of the list is not one value: {json.dumps(item)}"
            )
        items.append(_cell(item))
    return items


def _entry(path: Path, line: int, row: dict):
    """An Entry from one file row; raises EntryError naming the field."""
    from cobra.followup import Entry, EntryError

    def text(name: str) -> str | None:
        return _one(row, name)

    def day(name: str) -> date | None:
        value = text(name)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise EntryError(name, f"{value!r} is not a date (YYYY-MM-DD)") from None

    unknown = sorted(set(row) - set(FILE_COLUMNS) - {None})
    if unknown:
        raise EntryError(
            unknown[0], f"unknown column; columns are {', '.join(FILE_COLUMNS)}"
        )
    for name in ("account", "outcome", "at"):
        if not text(name):
            raise EntryError(name, "missing")
    try:
        moment = aware_instant(text("at"))
    except ValueError as exc:
        raise EntryError("at", f"{text('at')!r} {exc}") from None
    instalments = []
    for part in _several(row, "instalments", ";,"):
        try:
            instalments.append(_instalment(part))
        except ValueError as exc:
            raise EntryError("instalments", str(exc)) from None
    return Entry(
        account=text("account"),
        outcome=text("outcome"),
        at=moment,
        channel=text("channel"),
        collector=text("collector"),
        note=text("note"),
        reason=text("reason"),
        amount=text("amount"),
        currency=text("currency"),
        on=day("on"),
        follow_up=day("follow_up"),
        invoices=tuple(_several(row, "invoices", " ;")),
        plan=text("plan"),
        instalments=tuple(instalments),
        contact=text("contact"),
        source=f"{path}:{line}",
        source_id=text("id"),
    )


class _DryRun(Exception):
    """Raised at the end of a dry run to roll back all it wrote."""


def _from_file(app: App, path: Path, skip_invalid: bool, rejects, dry_run: bool):
    """Log a file's rows in file order, in one transaction.

    A dialer's export is a day's story in order: a dispute and, later that
    day, its resolution. So each row is checked against the store as the
    rows before it left it, and written (in a savepoint of its own) before
    the next is checked. A bad row undoes only itself; at the end, any bad
    row rolls the whole file back unless --skip-invalid, and a dry run rolls
    back whatever happened.
    """
    from cobra import followup
    from cobra.cli.cmd_import import RejectsFile
    from cobra.paths import check_folder
    from cobra.records import Rejected, Where
    from cobra.store import savepoint
    from cobra.store.followup import logged

    if not path.is_file():
        raise CobraInputError(f"{path}: no such file")
    config, store = app.config(), app.store()
    try:
        rows = list(_rows(path))
    except UnicodeDecodeError as exc:
        raise CobraInputError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if not rows:
        raise CobraInputError(f"{path}: no interactions in the file")
    done, before, bad = [], 0, []
    # The file's own id names one interaction: the same id again with other
    # values is a conflict, as the import rules for an invoice twice; the
    # same row twice is logged once.
    first_with_id: dict[str, tuple[int, dict]] = {}
    # The rejects are written inside the transaction: a rejects file that
    # cannot be written logs nothing, and a failed log leaves no rejects file.
    sink = RejectsFile(rejects or Path(f"{path}.rejects.csv"))
    try:
        with sink, transaction(store.conn):
            for line, row in rows:
                where = Where(str(path), line)
                if isinstance(row, Exception):
                    bad.append(Rejected(where, "", str(row)))
                    continue
                values = {
                    name: text for name, value in row.items() if (text := _cell(value))
                }
                row_id = values.get("id")
                if row_id:
                    first_line, first_values = first_with_id.setdefault(
                        row_id, (line, values)
                    )
                    if first_values != values:
                        bad.append(
                            Rejected(
                                where,
                                "id",
                                f"{row_id!r} appears again with other values "
                                f"(first at {path}:{first_line})",
                            )
                        )
                        continue
                try:
                    entry = _entry(path, line, row)
                    # A row logged before (or earlier in this file) is not
                    # checked again: the store has moved on since, and a
                    # dispute resolved since would refuse its own dispute.
                    if logged(store.conn, followup.source_key(entry, entry.at)):
                        before += 1
                        continue
                    with savepoint(store.conn):
                        prepared = followup.prepare(store, config, entry)
                        done.append(followup.record(store, config, prepared))
                except followup.EntryError as exc:
                    bad.append(Rejected(where, exc.field, exc.message))
            for rejected in bad[:SHOWN]:
                click.echo(f"  {rejected}", err=True)
            if len(bad) > SHOWN:
                click.echo(f"  ... and {len(bad) - SHOWN} more", err=True)
            if bad and not skip_invalid:
                raise CobraInputError(
                    f"{path}: {len(bad)} of {len(rows)} rows are invalid; nothing "
                    "was logged (fix them, or --skip-invalid logs the others)"
                )
            if dry_run:
                raise _DryRun
            if bad:
                check_folder(sink.path)
            for rejected in bad:
                sink.write(rejected)
    except _DryRun:
        pass
    summary = (
        f"{len(done)} interactions from {path}"
        + (f"; {before} were logged before" if before else "")
        + (f"; {len(bad)} rejected" if bad else "")
    )
    if dry_run:
        click.echo(f"Would log {summary}; nothing written.", err=True)
        return
    click.echo(
        f"Logged {summary}"
        + (f" (written to {sink.path})" if bad else "")
        + f"; {sum(d.tasks for d in done)} tasks raised.",
        err=True,
    )
