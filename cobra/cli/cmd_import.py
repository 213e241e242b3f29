"""``cobra import``: load customers, invoices and payments through importers."""

from __future__ import annotations

import csv
import json
import sys
from contextlib import ExitStack, nullcontext
from itertools import chain
from pathlib import Path

import click

from cobra.cli.app import App
from cobra.errors import CobraInputError, CobraWorkError
from cobra.paths import check_folder, private_output


class ImportCommand(click.Command):
    """``cobra import`` plus the options every installed importer declares.

    The options are gathered when the command is parsed (plugins load then,
    never for ``cobra --help``), so a plugin's importer gets first-class
    options such as ``--encoding`` instead of a generic key=value.
    """

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        taken = {opt for param in params for opt in param.opts}
        for option in declared_options().values():
            flag = f"--{option.name}"
            if flag in taken:
                continue
            taken.add(flag)
            params.insert(
                -1,
                click.Option(
                    [flag, option.key],
                    help=option.help,
                    metavar=option.metavar,
                    multiple=option.multiple,
                    default=option.default,
                ),
            )
        return params


def declared_options() -> dict:
    """Every importer option by name; the first importer to declare one wins."""
    from cobra.plugins import get_plugins

    options = {}
    for provided in get_plugins().importers().values():
        for option in getattr(provided.obj, "options", ()):
            options.setdefault(option.name, option)
    return options


@click.command("import", cls=ImportCommand)
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option(
    "--using",
    metavar="NAME",
    help="The importer to use (default: chosen from the source).",
)
@click.option(
    "--sync",
    is_flag=True,
    help="The sources are the complete open ledger: close open invoices they omit.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --sync, close invoices even beyond the configured share.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check and count everything, write nothing."
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid records; write the rejected ones to a CSV file.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where --skip-invalid writes rejects (default: SOURCE.rejects.csv).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json prints the summary on stdout for scripts.",
)
@click.pass_context
def import_command(
    ctx,
    sources,
    using,
    sync,
    force,
    dry_run,
    skip_invalid,
    rejects,
    fmt,
    **importer_options,
):
    """Load customers, invoices, credit notes and payments from SOURCE...

    SOURCE is a file, a folder or a URL; the importer is chosen from it
    (`cobra plugins` lists them) or named with --using. Importing is an
    upsert: the same source twice changes nothing. A source with any invalid
    record imports nothing unless --skip-invalid is given.

    Example: cobra import invoices.csv --decimal , --date-format %d/%m/%Y
    """
    from cobra import ledger
    from cobra.importers import ImportContext, choose, unknown_option
    from cobra.plugins import get_plugins

    app: App = ctx.obj
    config = app.config()
    importers = {name: p.obj for name, p in get_plugins().importers().items()}
    if not importers:
        raise CobraInputError(
            "no importer is installed; `cobra plugins` lists what is loaded"
        )

    chosen = [(source, choose(source, importers, using)) for source in sources]
    given = {
        key: value for key, value in importer_options.items() if value not in (None, ())
    }
    for source, importer in chosen:
        unknown = unknown_option(importer, given)
        if unknown:
            key, closest = unknown
            hint = f"; did you mean --{closest.replace('_', '-')}?" if closest else ""
            raise click.UsageError(
                f"--{key.replace('_', '-')} does not apply to the {importer.name} "
                f"importer (reading {source}){hint}"
            )

    context = ImportContext(
        default_currency=str(config.get("company.currency", "USD")),
        default_country=config.get("company.country"),
        config=config,
    )
    records = chain.from_iterable(
        importer.read(source, given, context) for source, importer in chosen
    )
    options = ledger.LoadOptions(
        sync=sync,
        force=force,
        dry_run=dry_run,
        skip_invalid=skip_invalid,
        sync_max_close_share=float(config.get("import.sync_max_close_share", 0.5)),
    )
    sink = None
    if skip_invalid:
        sink = RejectsFile(rejects or Path(f"{sources[0]}.rejects.csv"))
        check_folder(sink.path)
    progress = Progress(sources) if sys.stderr.isatty() else None
    try:
        with sink or nullcontext():
            result = ledger.load(
                app.store(),
                records,
                list(sources),
                options,
                on_reject=sink.write if sink else (lambda r: None),
                progress=progress,
            )
    finally:
        if progress:
            progress.close()
    _report(result, sources, sink, fmt)
    if not dry_run:
        # Payments just imported may keep (or, past their date, break)
        # promises: settle them now rather than at the next plan.
        from cobra import promises
        from cobra.cli.options import today

        checked = promises.check(
            app.store(),
            today(str(config.get("company.timezone", "UTC"))),
            int(config.get("follow_up.promise_grace_days", 2)),
        )
        if checked.kept or checked.partly_kept or checked.broken:
            click.echo(f"  {checked.summary()}", err=True)


class Progress:
    """A progress bar on stderr for a terminal, called with the records read.

    The total is estimated from the sources' lines (a CSV row or a JSON
    Lines record is a line; counting newlines in a file is far cheaper than
    parsing it), so the bar stays below 100% if rows hold quoted newlines.
    A source that is not a plain file (a folder of UBL files, a server)
    gets a running count instead of a bar.
    """

    WIDTH = 30

    def __init__(self, sources: tuple[str, ...]):
        self.total = _lines(sources)
        self.width = 0  # of the line shown last

    def __call__(self, count: int, *, reading: bool = True) -> None:
        if not reading:
            line = f"  read {count:,} records; saving..."
        elif self.total:
            share = min(count / self.total, 1.0)
            filled = round(share * self.WIDTH)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"  [{bar}] {share:4.0%}  {count:,} of about {self.total:,} records"
        else:
            line = f"  read {count:,} records..."
        # Padded to the last line's length rather than cleared with an ANSI
        # code, which click strips where it thinks colours do not work.
        click.echo(f"\r{line.ljust(self.width)}", err=True, nl=False)
        self.width = len(line)

    def close(self) -> None:
        """Clear the bar, so the summary starts on a clean line."""
        if self.width:
            click.echo("\r" + " " * self.width + "\r", err=True, nl=False)


def _lines(sources: tuple[str, ...]) -> int | None:
    """Lines in the sources (a CSV header counts too: the total is an
    estimate), or None when a source is not a regular file."""
    total = 0
    for source in sources:
        path = Path(source)
        if not path.is_file():
            return None
        count, last = 0, b"\n"
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        total += count + (last != b"\n")
    return total


class RejectsFile:
    """The CSV of rejected records --skip-invalid writes, opened on first use.

    It names customers and what is wrong with their records, so it is
    written as personal data is (:func:`cobra.paths.private_output`). Used
    as a context manager around the import: one that fails imported
    nothing, and leaves no rejects file either.
    """

    def __init__(self, path: Path):
        self.path = path
        self.opened = ExitStack()
        self.writer = None
        self.count = 0

    def __enter__(self):
        return self

    def __exit__(self, *failure) -> None:
        try:
            self.opened.__exit__(*failure)
        except OSError as exc:
            raise self._cannot_write(exc) from None

    def write(self, rejected) -> None:
        try:
            if self.writer is None:
                stream = self.opened.enter_context(private_output(self.path))
                self.writer = csv.writer(stream)
                self.writer.writerow(["source", "line", "field", "problem"])
            self.writer.writerow(
                [
                    rejected.where.source,
                    rejected.where.line or "",
                    rejected.field,
                    rejected.problem,
                ]
            )
        except OSError as exc:
            raise self._cannot_write(exc) from None
        self.count += 1

    def _cannot_write(self, exc: OSError) -> CobraWorkError:
        return CobraWorkError(f"cannot write {self.path}: {exc.strerror}")


def _report(result, sources, sink, fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result.as_dict()))
    verb = "Would import" if result.dry_run else "Imported"
    parts = []
    for kind, counts in result.counts.items():
        if any(counts.values()):
            details = ", ".join(f"{n} {state}" for state, n in counts.items())
            parts.append(f"{kind.replace('_', ' ')}: {details}")
    click.echo(f"{verb} {', '.join(sources)}", err=True)
    for part in parts or ["nothing new"]:
        click.echo(f"  {part}", err=True)
    if result.closed_by_sync:
        click.echo(f"  closed by sync: {result.closed_by_sync} invoices", err=True)
    if result.rejected:
        click.echo(f"  rejected: {result.rejected} (written to {sink.path})", err=True)
        for rejected in result.shown_rejects:
            click.echo(f"    {rejected}", err=True)
        if result.rejected > len(result.shown_rejects):
            click.echo(
                f"    ... and {result.rejected - len(result.shown_rejects)} more",
                err=True,
            )
