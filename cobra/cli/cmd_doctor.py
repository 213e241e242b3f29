"""``cobra doctor``: check everything a run needs, without sending anything."""

from __future__ import annotations

import sys

import click

from cobra.cli.app import App, pass_app
from cobra.output import emit, format_option


@click.command("doctor")
@format_option
@pass_app
def doctor_command(app: App, fmt: str):
    """Check the config, database, channels, sources, mailbox and time zones.

    Connects to each configured channel's server and logs in where the
    backend can (an SMTP login, a gateway's credentials) but sends nothing.
    Prints what is wrong and how to fix it; exit 1 when something is.

    Example: cobra doctor
    """
    from cobra import config as config_module
    from cobra import doctor

    config = config_module.load_unchecked(app.config_path)
    if app.db:
        config.set_override("store.path", app.db, app.db_source or "--db")
    path = config.database_path()
    zones = set()
    if path.exists() and not config.problems:
        zones = app.store().timezones()
    findings = doctor.run_checks(config, path, zones)
    emit(
        (
            {"status": f.status, "area": f.area, "detail": f.detail, "fix": f.fix}
            for f in findings
        ),
        fmt,
    )
    problems = [f for f in findings if f.status == doctor.PROBLEM]
    click.echo(
        f"{len(problems)} problems found." if problems else "No problems found.",
        err=True,
    )
    if problems:
        sys.exit(1)
