"""``cobra init``: write the starter config and create the database."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cobra.cli.app import App, pass_app
from cobra.errors import CobraInputError
from cobra.paths import private_output


def _sources_text(sources: tuple[str, ...]) -> str:
    """[[sources]] tables for the sources given, files made absolute."""
    import json

    tables = []
    for source in sources:
        if "://" not in source:
            path = Path(source).expanduser()
            if not path.exists():
                raise CobraInputError(f"--source {source}: no such file or folder")
            source = str(path.absolute())
        # A JSON string is a valid TOML basic string, quotes and escapes included.
        tables.append(f"\n[[sources]]\nsource = {json.dumps(source)}\n")
    if not tables:
        return ""
    return "\n# Added by `cobra init --source`: what `cobra run` imports.\n" + "".join(
        tables
    )


@click.command("init")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="A file, folder or URL for `cobra run` to import each day ([[sources]]).",
)
@pass_app
def init_command(app: App, path: Path | None, force: bool, sources: tuple[str, ...]):
    """Write a commented starter config and create the database.

    The config goes to PATH, or where --config or COBRA_CONFIG points, or
    ./cobra.toml. The database goes where that config says (by default the
    user data directory; --db overrides it). An existing config is kept
    unless --force is given. Each --source becomes a [[sources]] table that
    `cobra run` imports.

    Example: cobra init --source exports/aging.csv && cobra run
    """
    from cobra import config as config_module
    from cobra.store import Store, check_location

    target = path or Path(
        app.config_path or os.environ.get("COBRA_CONFIG") or "cobra.toml"
    )
    target = target.expanduser().absolute()
    if target.exists() and not force:
        raise CobraInputError(
            f"{target} already exists; cobra init left it unchanged "
            "(--force overwrites it with the starter config)"
        )
    if not target.parent.is_dir():
        raise CobraInputError(
            f"cannot write {target}: the folder {target.parent} does not exist"
        )

    text = config_module.starter_text() + _sources_text(sources)
    starter = config_module.Config(
        config_module.parse_toml(text, str(target)),
        {},
        config_module.Located(target, "init"),
    )
    if app.db:
        starter.set_override("store.path", app.db, app.db_source or "--db")
    database = starter.database_path()
    # Check where the database goes before writing anything, so a bad --db
    # leaves no config file behind.
    check_location(database)

    existed = target.exists()
    with private_output(target) as stream:
        stream.write(text)
    try:
        store = Store.open(
            database, busy_timeout_ms=int(starter.get("store.busy_timeout_ms", 5000))
        )
    except Exception:
        if not existed:
            target.unlink(missing_ok=True)
        raise
    version = store.schema_version
    store.close()
    click.echo(f"Wrote the starter config to {target}", err=True)
    click.echo(f"Database ready at {database} (schema version {version})", err=True)
