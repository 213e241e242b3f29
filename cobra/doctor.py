"""``cobra doctor``: is this installation ready for tomorrow's run?

Each check looks at one thing a run needs (the config, the database, each
channel's server and credentials, each source, the mailbox, the time zone
data) without changing anything and without sending a message, and says
what is wrong and how to fix it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

OK, PROBLEM, NOTE = "ok", "problem", "note"


@dataclass(frozen=True)
class Finding:
    area: str
    status: str  # ok, problem, note
    detail: str
    fix: str = ""


def check_config(config) -> list[Finding]:
    from cobra.cli.cmd_config import semantic_problems

    where = str(config.path) if config.path else "the embedded default"
    problems = list(config.problems) + semantic_problems(config)
    if not problems:
        return [Finding("config", OK, f"{where}: no problems")]
    return [
        Finding("config", PROBLEM, str(problem), "edit the file; `cobra config check`")
        for problem in problems
    ]


def check_database(path: Path) -> list[Finding]:
    from cobra.errors import CobraError
    from cobra.store import Store, latest_version

    if not path.exists():
        return [
            Finding(
                "database",
                NOTE,
                f"{path} does not exist yet",
                "`cobra init` or any command creates it",
            )
        ]
    found = []
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        found.append(
            Finding(
                "database",
                PROBLEM,
                f"{path} is readable by others (mode {mode:o}); it holds personal data",
                f"chmod 600 {path}",
            )
        )
    try:
        with Store.open(path, migrate=False) as store:
            version = store.schema_version
    except CobraError as exc:
        return [*found, Finding("database", PROBLEM, str(exc))]
    if version < latest_version():
        found.append(
            Finding(
                "database",
                PROBLEM,
                f"{path}: schema version {version}, this cobra needs "
                f"{latest_version()}",
                "`cobra db migrate` (backs it up first)",
            )
        )
    elif not os.access(path, os.W_OK):
        found.append(
            Finding(
                "database",
                PROBLEM,
                f"{path} is not writable",
                "run cobra as the file's owner",
            )
        )
    elif not found:
        found.append(Finding("database", OK, f"{path}: schema version {version}"))
    return found


def check_channels(config, store_path: Path) -> list[Finding]:
    from cobra import sending
    from cobra.channels import ChannelError
    from cobra.errors import CobraError

    bound, unbound = sending.bindings(config)
    found = [
        Finding(f"channel {name}", PROBLEM, problem, "bind it in [channels.NAME]")
        for name, problem in sorted(unbound.items())
    ]
    for name, binding in sorted(bound.items()):
        area = f"channel {name}"
        check = getattr(binding.backend, "check", None)
        if check is None:
            found.append(
                Finding(
                    area,
                    NOTE,
                    f"backend {binding.backend_name} cannot be checked without sending",
                )
            )
            continue
        settings = sending.channel_settings(binding, config, store_path)
        try:
            detail = check(settings)
        except (ChannelError, CobraError) as exc:
            found.append(
                Finding(area, PROBLEM, f"{binding.backend_name}: {exc}", _fix_for(exc))
            )
        except OSError as exc:
            found.append(Finding(area, PROBLEM, f"{binding.backend_name}: {exc}"))
        else:
            found.append(Finding(area, OK, f"{binding.backend_name}: {detail}"))
    return found


def _fix_for(exc) -> str:
    from cobra.channels import SetupError, TransientError

    if isinstance(exc, SetupError):
        return "fix the channel's settings or credentials"
    if isinstance(exc, TransientError):
        return "is the server up and reachable from here?"
    return ""


def check_sources(config) -> list[Finding]:
    from cobra import routine
    from cobra.errors import CobraError
    from cobra.importers import choose
    from cobra.plugins import get_plugins

    sources = routine.configured_sources(config)
    if not sources:
        return [Finding("sources", NOTE, "no [[sources]]: `cobra run` imports nothing")]
    importers = {name: p.obj for name, p in get_plugins().importers().items()}
    found = []
    for spec in sources:
        area = f"source {spec['source']}"
        try:
            importer = choose(spec["source"], importers, spec["importer"])
        except CobraError as exc:
            found.append(Finding(area, PROBLEM, str(exc)))
            continue
        if "://" in spec["source"]:
            found.append(Finding(area, NOTE, f"{importer.name}: read at import time"))
        elif not os.path.exists(spec["source"]):
            found.append(
                Finding(area, PROBLEM, "no such file or folder", "fix [[sources]]")
            )
        elif not os.access(spec["source"], os.R_OK):
            found.append(
                Finding(area, PROBLEM, "cannot be read", "check its permissions")
            )
        else:
            found.append(Finding(area, OK, f"readable; importer {importer.name}"))
    return found


def check_mailbox(config) -> list[Finding]:
    if not config.get("replies.email.host"):
        return [
            Finding(
                "replies mailbox",
                NOTE,
                "[replies.email] is not set: e-mail replies and bounces are not read",
            )
        ]
    from cobra import mailbox
    from cobra.errors import CobraError

    try:
        settings = mailbox.MailboxSettings.from_config(config)
        with mailbox.Mailbox(settings):
            pass
    except mailbox.MailboxUnavailable as exc:
        return [
            Finding(
                "replies mailbox",
                PROBLEM,
                str(exc),
                "is the IMAP server up and reachable from here?",
            )
        ]
    except CobraError as exc:
        # A wrong password, a refused certificate, a variable not set: the
        # message names the setting, so the fix points at it.
        where = config.describe_source("replies.email.host")
        return [
            Finding(
                "replies mailbox",
                PROBLEM,
                str(exc),
                f"fix [replies.email] in {where} as the detail says; "
                "then `cobra doctor` again",
            )
        ]
    return [Finding("replies mailbox", OK, f"logged in to {settings.address}")]


# Beside a wrong name, the operating system may lack the time zone data.
_TZDATA = "if no name is known at all, install the tzdata package"


def check_time_zones(config, zones: set[str]) -> list[Finding]:
    import difflib
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

    def unknown(name: str) -> bool:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return True
        return False

    company = str(config.get("company.timezone") or "UTC")
    found = []
    if unknown(company):
        closest = difflib.get_close_matches(company, available_timezones(), n=1)
        example = closest[0] if closest else "America/Santiago"
        found.append(
            Finding(
                "time zones",
                PROBLEM,
                f"company.timezone {company!r} is not a known time zone",
                f"set company.timezone to an IANA name such as {example!r} in "
                f"{config.describe_source('company.timezone')}; {_TZDATA}",
            )
        )
    bad = sorted(name for name in zones if unknown(name))
    if bad:
        found.append(
            Finding(
                "time zones",
                PROBLEM,
                f"customers have unknown time zones: {', '.join(bad)}; their "
                "messages are held",
                "correct those customers' timezone in the source and import it "
                f"again; {_TZDATA}",
            )
        )
    wanted = {company} | zones
    return found or [Finding("time zones", OK, f"{len(wanted)} in use, all known")]


def run_checks(config, store_path: Path, zones: set[str]) -> list[Finding]:
    return [
        *check_config(config),
        *check_database(store_path),
        *check_channels(config, store_path),
        *check_sources(config),
        *check_mailbox(config),
        *check_time_zones(config, zones),
    ]
