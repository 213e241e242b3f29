"""``cobra plugins``: what is installed and what each plugin provides."""

from __future__ import annotations

import click

from cobra.output import emit, format_option


@click.command("plugins")
@format_option
def plugins_command(fmt: str):
    """List installed plugins with the importers and channels each provides.

    Plugins that failed to load are listed with the error. Set
    COBRA_LOAD_PLUGINS to a comma list of plugin names to load only those
    third-party plugins (empty: none; the built-ins always load).

    Example: cobra plugins --format json
    """
    from cobra.plugins import get_plugins

    plugins = get_plugins()
    provided: dict[str, dict[str, list[str]]] = {}
    for kind in ("importer", "channel"):
        for item in plugins.provided(kind).values():
            provided.setdefault(item.plugin, {}).setdefault(kind, []).append(item.name)

    rows = (
        {
            "name": info.name,
            "distribution": info.distribution,
            "version": info.version,
            "builtin": info.builtin,
            "importers": sorted(provided.get(info.name, {}).get("importer", [])),
            "channels": sorted(provided.get(info.name, {}).get("channel", [])),
            "error": info.error,
        }
        for info in sorted(plugins.infos, key=lambda i: (not i.builtin, i.name))
    )
    emit(rows, fmt, empty_message="No plugins installed.")
    for conflict in plugins.conflicts:
        click.echo(f"Warning: {conflict}", err=True)
