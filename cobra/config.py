"""Finding, reading and checking cobra's TOML configuration.

The effective configuration is the starter file shipped in ``config/`` (the
embedded default) with the user's file laid over it, then the command line
and environment overrides (``--db``/``COBRA_DB``). Every leaf value remembers
where it came from, so ``cobra config show`` can say so.

Search order for the user's file: ``--config``, ``COBRA_CONFIG``,
``cobra.toml`` in the working directory or a parent, the user config
directory, ``/etc/cobra/cobra.toml``. With none of them, cobra runs on the
embedded default alone.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cobra import paths
from cobra.config_schema import SCHEMA, Key, Table, TableMap
from cobra.errors import ConfigError, MissingSecret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

EMBEDDED = "embedded default"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file, located by file and dotted key."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Located:
    """A config file that was found, and how it was found."""

    path: Path
    how: str  # "--config", "COBRA_CONFIG", "working directory", ...


def starter_text() -> str:
    """The commented starter config shipped with cobra."""
    from importlib.resources import files

    return files("cobra_starter").joinpath(paths.CONFIG_FILENAME).read_text("utf-8")


def locate(explicit: str | None = None, cwd: Path | None = None) -> Located | None:
    """Find the user's config file, or None to run on the embedded default.

    A file named explicitly (option or environment) must exist: silently
    falling back to defaults would hide a typo in a cron job.
    """
    for value, how in (
        (explicit, "--config"),
        (os.environ.get("COBRA_CONFIG"), "COBRA_CONFIG"),
    ):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ConfigError(
                    f"config file {path} (from {how}) does not exist; "
                    f"create it with `cobra init {path}`"
                )
            return Located(path.resolve(), how)

    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / paths.CONFIG_FILENAME
        if candidate.is_file():
            return Located(
                candidate, "working directory" if folder == here else "parent directory"
            )

    for candidate, how in (
        (paths.user_config_dir() / paths.CONFIG_FILENAME, "user config directory"),
        (paths.SYSTEM_CONFIG, "system config"),
    ):
        if candidate.is_file():
            return Located(candidate.resolve(), how)
    return None


def parse_toml(text: str, source: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line L, column C)".
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def read_file(path: Path) -> dict:
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: not valid TOML: the file is not UTF-8 text"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_toml(text, str(path))


def check(
    data: dict, source: str, schema: Table = SCHEMA, prefix: str = ""
) -> list[Problem]:
    """Every unknown key and wrong type in *data*, in file order.

    *prefix* is the dotted path of *data* inside the file, when *data* is a
    sub-table checked against a plugin's own keys.
    """
    problems: list[Problem] = []
    _check_table(data, schema, prefix, source, problems)
    return problems


def _check_table(
    data: dict, table: Table, prefix: str, source: str, out: list[Problem]
):
    for name, value in data.items():
        dotted = f"{prefix}{name}"
        spec = table.keys.get(name)
        if spec is None:
            hint = difflib.get_close_matches(name, list(table.keys), n=1)
            suggestion = f"; did you mean {prefix}{hint[0]}?" if hint else ""
            known = ", ".join(sorted(table.keys)) or "none"
            out.append(
                Problem(
                    source, dotted, f"unknown key{suggestion} (known here: {known})"
                )
            )
        elif isinstance(spec, Key):
            message = spec.check(value)
            if message:
                out.append(Problem(source, dotted, message))
        elif not isinstance(value, dict):
            out.append(Problem(source, dotted, "expected a table"))
        elif isinstance(spec, TableMap):
            for item_name, item in value.items():
                item_key = f"{dotted}.{item_name}"
                if not isinstance(item, dict):
                    out.append(Problem(source, item_key, "expected a table"))
                    continue
                known = {k: v for k, v in item.items() if k in spec.item.keys}
                _check_table(
                    known if spec.open_keys else item,
                    spec.item,
                    item_key + ".",
                    source,
                    out,
                )
        else:
            _check_table(value, spec, dotted + ".", source, out)


def _merge(
    base: dict, over: dict, origins: dict, source: str, prefix: str = ""
) -> dict:
    merged = dict(base)
    for name, value in over.items():
        dotted = f"{prefix}{name}"
        if (
            isinstance(value, dict)
            and isinstance(merged.get(name), dict)
            and not _rebinds_channel(dotted, merged[name], value)
        ):
            merged[name] = _merge(merged[name], value, origins, source, dotted + ".")
        else:
            merged[name] = value
            for old in [
                k for k in origins if k == dotted or k.startswith(dotted + ".")
            ]:
                del origins[old]
            _record_origins(value, dotted, origins, source)
    return merged


def _rebinds_channel(dotted: str, base: dict, over: dict) -> bool:
    """A channel bound to another backend starts afresh: the old backend's
    settings (the file backend's folder) mean nothing to the new one."""
    return (
        dotted.startswith("channels.")
        and dotted.count(".") == 1
        and "backend" in over
        and over["backend"] != base.get("backend")
    )


def _record_origins(value: object, dotted: str, origins: dict, source: str) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _record_origins(inner, f"{dotted}.{name}", origins, source)
    else:
        origins[dotted] = source


def spec_for(dotted: str, schema: Table = SCHEMA) -> Key | None:
    """The schema entry for a dotted leaf key, if the core knows it."""
    node: Key | Table | TableMap | None = schema
    parts = dotted.split(".")
    index = 0
    while index < len(parts) and node is not None:
        if isinstance(node, TableMap):
            index += 1  # skip the sub-table's own name
            node = node.item
            continue
        if not isinstance(node, Table):
            return None
        node = node.keys.get(parts[index])
        index += 1
    return node if isinstance(node, Key) else None


@dataclass
class Config:
    """The effective configuration and where each value came from."""

    data: dict
    origins: dict[str, str]
    located: Located | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def path(self) -> Path | None:
        return self.located.path if self.located else None

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config are relative to the file holding them."""
        return self.path.parent if self.path else paths.user_data_dir()

    def get(self, dotted: str, default: object = None) -> object:
        node: object = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def set_override(self, dotted: str, value: object, source: str) -> None:
        """Apply a command-line or environment override such as ``--db``."""
        *parents, leaf = dotted.split(".")
        node = self.data
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        self.origins[dotted] = source

    def resolve_path(self, value: str | os.PathLike) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def database_path(self) -> Path:
        value = self.get("store.path")
        if not value:
            # The default folder is cobra's own, so it is created on demand
            # (private: the database holds personal data); a folder the user
            # named must already exist, or a typo would go unnoticed.
            default = paths.default_database_path()
            default.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            return default
        # An override from the command line or environment is relative to
        # where the user typed it, not to the config file.
        if self.origins.get("store.path", "").startswith(("--", "COBRA_")):
            return Path(value).expanduser().absolute()
        return self.resolve_path(value)

    def secret(self, dotted: str) -> str:
        """The value of the environment variable a ``*_env`` key names."""
        name = self.get(dotted)
        if not name:
            raise MissingSecret(
                f"{dotted} is not set in {self.describe_source(dotted)}"
            )
        value = os.environ.get(str(name))
        if value is None:
            raise MissingSecret(
                f"{dotted} refers to the environment variable {name}, which is not set; "
                f"export {name} before running cobra"
            )
        from cobra.logs import register_secret

        register_secret(value)
        return value

    def describe_source(self, dotted: str) -> str:
        return self.origins.get(dotted, "the config")


def load(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Find and read the config, failing on the first file with problems."""
    config = load_unchecked(explicit, cwd)
    if config.problems:
        raise ConfigError(format_problems(config.problems))
    return config


def load_unchecked(explicit: str | None = None, cwd: Path | None = None) -> Config:
    """Like :func:`load`, but return the problems instead of raising."""
    origins: dict[str, str] = {}
    starter = parse_toml(starter_text(), EMBEDDED)
    data = _merge({}, starter, origins, EMBEDDED)
    located = locate(explicit, cwd)
    problems: list[Problem] = []
    if located:
        user = read_file(located.path)
        problems = check(user, str(located.path))
        data = _merge(data, user, origins, str(located.path))
    return Config(data, origins, located, problems)


def format_problems(problems: list[Problem]) -> str:
    count = len(problems)
    head = "1 problem" if count == 1 else f"{count} problems"
    return f"{head} in the configuration:\n" + "\n".join(f"  {p}" for p in problems)
