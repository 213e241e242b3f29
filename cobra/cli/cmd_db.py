"""``cobra db``: where the database is, its schema, and backups."""

from __future__ import annotations

from pathlib import Path

import click

from cobra.cli.app import App, pass_app


@click.group("db")
def db_group():
    """Database path, schema migrations and backups."""


@db_group.command("path")
@pass_app
def db_path(app: App):
    """Print the database file cobra uses (it may not exist yet).

    Example: sqlite3 "$(cobra db path)"
    """
    click.echo(str(app.database_path()))


@db_group.command("migrate")
@pass_app
def db_migrate(app: App):
    """Bring the database to this cobra's schema (cobra also does it on open).

    A database that already holds data is copied next to itself first, as
    NAME.vN.bak. A database written by a newer cobra is refused, unchanged.

    Example: cobra db migrate
    """
    from cobra.store import Store

    with Store.open(app.database_path(), migrate=False) as store:
        before = store.schema_version
        applied = store.migrate()
        if applied:
            names = ", ".join(m.name for m in applied)
            click.echo(
                f"Migrated {store.path} from schema {before} to "
                f"{store.schema_version}: {names}",
                err=True,
            )
        else:
            click.echo(f"{store.path} is up to date (schema {before})", err=True)


@db_group.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False, path_type=Path))
@pass_app
def db_backup(app: App, destination: Path):
    """Copy the database to DESTINATION, safely while cobra is writing to it.

    The copy is a consistent snapshot, readable by its owner only; an
    existing DESTINATION is never overwritten.

    Example: cobra db backup /var/backups/cobra-$(date +%F).sqlite
    """
    store = app.store()
    store.backup(destination)
    click.echo(f"Backed up {store.path} to {destination}", err=True)
