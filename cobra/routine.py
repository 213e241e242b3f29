"""The daily routine `cobra run` does, step by step, as a library.

1. import each source listed in ``[[sources]]``;
2. check promises against the payments just imported;
3. diagnose and plan the day's contacts;
4. send what is due.

A dry run does steps 1 to 3 on a scratch copy of the store, thrown away at
the end, and sends nothing: it checks the sources and plans on what they
would import, exactly as the real run would, and keeps none of it.

Every step is idempotent (imports are upserts, the plan is keyed, the outbox
claims each message), so a run killed halfway and started again finishes
the day without repeating anything, and a second run on the same day sends
nothing new. A source that cannot be read stops the routine before planning:
contacting customers on a ledger that missed today's payments would ask
people who already paid.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from cobra.errors import CobraError


@dataclass
class SourceResult:
    source: str
    importer: str
    counts: dict = field(default_factory=dict)
    closed_by_sync: int = 0  # open invoices a `sync = true` source no longer lists
    error: str | None = None


@dataclass
class RunSummary:
    """One line per step, for the report and for monitoring."""

    day: date
    dry_run: bool = False
    sources: list[SourceResult] = field(default_factory=list)
    promises: object = None  # cobra.promises.Checked
    planned: int = 0
    planned_new: int = 0
    held_in_plan: int = 0
    sending: object = None  # cobra.sending.Summary
    tasks_due: int = 0
    stopped: str | None = None  # why the routine stopped early

    @property
    def ok(self) -> bool:
        failed_send = self.sending is not None and not self.sending.ok
        return self.stopped is None and not failed_send

    def as_dict(self) -> dict:
        return {
            "day": self.day.isoformat(),
            "dry_run": self.dry_run,
            "ok": self.ok,
            "stopped": self.stopped,
            "sources": [
                {
                    "source": s.source,
                    "importer": s.importer,
                    "counts": s.counts,
                    "closed_by_sync": s.closed_by_sync,
                    "error": s.error,
                }
                for s in self.sources
            ],
            "promises": (
                {
                    "kept": self.promises.kept,
                    "partly_kept": self.promises.partly_kept,
                    "broken": self.promises.broken,
                }
                if self.promises
                else None
            ),
            "planned": self.planned,
            "planned_new": self.planned_new,
            "held_in_plan": self.held_in_plan,
            "send": self.sending.as_dict() if self.sending else None,
            "tasks_due": self.tasks_due,
        }


def configured_sources(config) -> list[dict]:
    """The ``[[sources]]`` tables, with paths resolved against the config."""
    found = []
    for table in config.get("sources") or []:
        source = str(table["source"])
        if "://" not in source:
            source = str(config.resolve_path(source))
        found.append(
            {
                "source": source,
                "importer": table.get("importer"),
                "sync": bool(table.get("sync", False)),
                "options": dict(table.get("options") or {}),
            }
        )
    return found


def source_problems(config) -> list:
    """What is wrong with the ``[[sources]]`` of a config that fits the
    schema, as :class:`cobra.config.Problem`: an importer that is not
    installed, an option the source's importer does not declare.

    `cobra run` refuses to start on any of them (exit 2), before importing
    anything, rather than read a source as if a misspelled option were not
    there; `cobra config check` lists them. A source whose importer cannot
    be chosen for another reason (a file that is not there yet) is left to
    the import, which reports it in its turn.
    """
    from cobra.config import Problem
    from cobra.errors import CobraError
    from cobra.importers import choose, unknown_option
    from cobra.plugins import get_plugins

    specs = configured_sources(config)
    if not specs:
        return []
    importers = {name: p.obj for name, p in get_plugins().importers().items()}
    file = config.describe_source("sources")
    problems = []
    for number, spec in enumerate(specs, start=1):
        where = f"source {number} ({spec['source']})"
        named = spec["importer"]
        if named and named not in importers:
            closest = difflib.get_close_matches(named, list(importers), n=1)
            hint = f"; did you mean {closest[0]!r}?" if closest else ""
            installed = ", ".join(sorted(importers))
            problems.append(
                Problem(
                    file,
                    "sources",
                    f"{where}: no importer named {named!r}{hint} (installed: "
                    f"{installed})",
                )
            )
            continue
        try:
            importer = choose(spec["source"], importers, named)
        except CobraError:
            continue
        unknown = unknown_option(importer, spec["options"])
        if unknown:
            key, closest = unknown
            hint = f"; did you mean {closest!r}?" if closest else ""
            declared = ", ".join(sorted(option.key for option in importer.options))
            known = f"its options: {declared}" if declared else "it takes none"
            problems.append(
                Problem(
                    file,
                    "sources",
                    f"{where}: options: {key!r} is not an option of the "
                    f"{importer.name} importer{hint} ({known})",
                )
            )
    return problems


def import_source(store, config, spec: dict):
    """Import one configured source in its own transaction."""
    from cobra import ledger
    from cobra.importers import ImportContext, choose
    from cobra.plugins import get_plugins

    importers = {name: p.obj for name, p in get_plugins().importers().items()}
    importer = choose(spec["source"], importers, spec["importer"])
    context = ImportContext(
        default_currency=str(config.get("company.currency", "USD")),
        default_country=config.get("company.country"),
        config=config,
    )
    records = importer.read(spec["source"], spec["options"], context)
    options = ledger.LoadOptions(
        sync=spec["sync"],
        sync_max_close_share=float(config.get("import.sync_max_close_share", 0.5)),
    )
    return importer.name, ledger.load(store, records, [spec["source"]], options)


def run(
    store, config, day: date, *, dry_run: bool = False, at: datetime | None = None
) -> RunSummary:
    """Do the day; see the module docstring."""
    from cobra.config import format_problems
    from cobra.errors import ConfigError

    problems = source_problems(config)
    if problems:
        raise ConfigError(format_problems(problems))
    if dry_run:
        with store.scratch_copy() as scratch:
            return _run(scratch, config, day, RunSummary(day, dry_run=True), at)
    return _run(store, config, day, RunSummary(day), at)


def _run(store, config, day: date, summary: RunSummary, at: datetime | None):
    from cobra import planning, promises, sending
    from cobra.store import agenda, plans

    for spec in configured_sources(config):
        result = SourceResult(spec["source"], spec["importer"] or "?")
        summary.sources.append(result)
        try:
            result.importer, loaded = import_source(store, config, spec)
        except CobraError as exc:
            result.error = str(exc)
            summary.stopped = (
                f"source {spec['source']} could not be imported, so nothing was "
                "planned or sent: contacting customers on a ledger that missed "
                "today's payments would chase people who already paid"
            )
            return summary
        result.counts = loaded.counts
        result.closed_by_sync = loaded.closed_by_sync

    summary.promises = promises.check(
        store, day, int(config.get("follow_up.promise_grace_days", 2))
    )

    planner = planning.Planner(store, config)
    contacts = planner.plan(day)
    summary.planned = sum(1 for c in contacts if not c.held)
    summary.held_in_plan = sum(1 for c in contacts if c.held)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    summary.planned_new = plans.insert(store.conn, (c.row(now) for c in contacts))
    if not summary.dry_run:
        summary.sending = sending.Sender(store, config, at=at).run(day=day)
    summary.tasks_due = sum(1 for _ in agenda.due(store.conn, day=day.isoformat()))
    return summary


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".run.lock")
