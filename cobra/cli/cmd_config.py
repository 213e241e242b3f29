"""``cobra config``: show, check and locate the configuration."""

from __future__ import annotations

import difflib
import os

import click

from cobra import config as config_module
from cobra import paths
from cobra.cli.app import App, pass_app
from cobra.config_schema import CHANNEL_KEYS, Key, Table
from cobra.errors import ConfigError
from cobra.output import emit, format_option


@click.group("config")
def config_group():
    """Show, check and locate the configuration."""


def _leaves(data: dict, prefix: str = ""):
    for name, value in data.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _leaves(value, dotted + ".")
        else:
            yield dotted, value


def _is_secret(dotted: str) -> bool:
    spec = config_module.spec_for(dotted)
    return (spec is not None and spec.secret) or dotted.endswith("_env")


def _shown(dotted: str, value: object) -> object:
    """A value fit to print: a secret shows its variable, never its content."""
    if not _is_secret(dotted):
        return value
    state = "set" if os.environ.get(str(value)) is not None else "not set"
    return f"${value} ({state})"


@config_group.command("show")
@format_option
@pass_app
def config_show(app: App, fmt: str):
    """Print the effective settings and where each one comes from.

    Secrets are shown as the environment variable that holds them, and
    whether it is set; their values are never printed.

    Example: cobra config show --format json
    """
    config = app.config()
    rows = (
        {
            "key": dotted,
            "value": _shown(dotted, value),
            "source": config.origins.get(dotted, ""),
        }
        for dotted, value in _leaves(config.data)
    )
    emit(rows, fmt)


@config_group.command("check")
@pass_app
def config_check(app: App):
    """Validate the config file: unknown keys, wrong types, missing secrets.

    Exits 2 and lists every problem, with the file and the key, when there
    is one.

    Example: cobra config check
    """
    config = config_module.load_unchecked(app.config_path)
    source = str(config.path) if config.path else config_module.EMBEDDED
    problems = list(config.problems) + semantic_problems(config)
    if problems:
        raise ConfigError(config_module.format_problems(problems))
    click.echo(f"{source}: no problems", err=True)


def semantic_problems(config) -> list[config_module.Problem]:
    """What a file that fits the schema can still get wrong: backends,
    secrets, templates, strategies, rules and sources' importers and options
    that name what does not exist."""
    source = str(config.path) if config.path else config_module.EMBEDDED
    problems = _channel_problems(config, source)
    problems += _secret_problems(config, source)
    problems += _template_problems(config)
    problems += _plan_problems(config)
    if not any(p.key.startswith("diagnosis") for p in problems + config.problems):
        # Names are only worth checking once the rules' shape is right.
        problems += _diagnosis_problems(config)
    if not any(p.key == "sources" for p in config.problems):
        from cobra.routine import source_problems

        problems += source_problems(config)
    return problems


def _channel_problems(config, source: str) -> list[config_module.Problem]:
    """Check each [channels.NAME] against the backend plugin it names."""
    channels = config.get("channels") or {}
    if not isinstance(channels, dict) or not channels:
        return []
    from cobra.plugins import get_plugins

    backends = get_plugins().channels()
    problems = []
    for name, table in channels.items():
        if not isinstance(table, dict):
            continue
        key = f"channels.{name}"
        backend = table.get("backend")
        if not isinstance(backend, str):
            problems.append(
                config_module.Problem(
                    source, f"{key}.backend", "missing: name a backend"
                )
            )
            continue
        if backend not in backends:
            hint = difflib.get_close_matches(backend, list(backends), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            installed = ", ".join(sorted(backends)) or "none"
            problems.append(
                config_module.Problem(
                    source,
                    f"{key}.backend",
                    f"no channel backend {backend!r} is installed{extra} (installed: {installed})",
                )
            )
            continue
        declared: dict[str, Key] = (
            getattr(backends[backend].obj, "config_keys", None) or {}
        )
        if declared:
            options = {k: v for k, v in table.items() if k not in CHANNEL_KEYS}
            problems += config_module.check(
                options, source, Table(declared), prefix=key + "."
            )
    return problems


def _diagnosis_problems(config) -> list[config_module.Problem]:
    """Rules naming facts or thresholds that do not exist, once files are merged."""
    from cobra.diagnosis import configured_rules
    from cobra.errors import ConfigError
    from cobra.worklist import known_facts

    try:
        configured_rules(config, known_facts())
    except ConfigError as exc:
        origin = (
            config.describe_source("diagnosis.rules")
            if config.origins.get("diagnosis.rules")
            else config.describe_source("diagnosis.thresholds")
        )
        return [config_module.Problem(origin, "diagnosis.rules", str(exc))]
    return []


def _plan_problems(config) -> list[config_module.Problem]:
    """Strategies and contact-rule profiles that `cobra plan` would refuse."""
    from cobra import strategies
    from cobra.errors import ConfigError
    from cobra.guard import load_profiles
    from cobra.messages import list_templates

    problems = []
    for check in (
        lambda: strategies.load(config, templates=set(list_templates(config))),
        lambda: load_profiles(config),
    ):
        try:
            check()
        except ConfigError as exc:
            for line in str(exc).splitlines():
                source, _, rest = line.strip().partition(": ")
                key, _, message = rest.partition(": ")
                if message:
                    problems.append(config_module.Problem(source, key, message))
    return problems


def _template_problems(config) -> list[config_module.Problem]:
    """Message templates that do not parse, or fail with a sample contact."""
    from cobra.messages import check_templates

    # The location is the template's file and line, so the key stays empty.
    return [
        config_module.Problem(problem.where, "", problem.message)
        for problem in check_templates(config)
    ]


def _secret_problems(config, source: str) -> list[config_module.Problem]:
    problems = []
    for dotted, value in _leaves(config.data):
        if _is_secret(dotted) and isinstance(value, str) and value not in os.environ:
            problems.append(
                config_module.Problem(
                    config.origins.get(dotted, source),
                    dotted,
                    f"refers to the environment variable {value}, which is not set",
                )
            )
    return problems


@config_group.command("path")
@pass_app
def config_path(app: App):
    """Print the config file in use, and where cobra looks for one.

    Example: cobra config path
    """
    located = config_module.locate(app.config_path)
    if located:
        click.echo(str(located.path))
        click.echo(f"(found through {located.how})", err=True)
        return
    click.echo(
        "No config file found; cobra runs on the embedded default. Looked at:", err=True
    )
    for place in (
        "--config and $COBRA_CONFIG",
        f"{paths.CONFIG_FILENAME} in the working directory and its parents",
        str(paths.user_config_dir() / paths.CONFIG_FILENAME),
        str(paths.SYSTEM_CONFIG),
    ):
        click.echo(f"  {place}", err=True)
