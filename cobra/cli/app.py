"""What every command shares: the global options, the config and the store.

The root command builds one :class:`App` and hands it to sub-commands as the
click context object; each loads the config and opens the store only when it
needs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import click

from cobra import logs


@dataclass
class App:
    config_path: str | None = None
    db: str | None = None
    db_source: str | None = None  # "--db" or "COBRA_DB"
    verbose: int = 0
    quiet: int = 0
    log_format: str | None = None
    log_file: str | None = None
    _config: object = field(default=None, repr=False)
    _store: object = field(default=None, repr=False)

    def configure_logging(
        self, base_level: str = "warning", fmt: str = "text", file: Path | None = None
    ) -> None:
        level = logs.level_for(base_level, self.verbose, self.quiet)
        log_file = Path(self.log_file) if self.log_file else file
        logs.configure(level, self.log_format or fmt, log_file)

    def config(self):
        """The effective config, loaded and checked once; raises ConfigError."""
        if self._config is None:
            from cobra import config as config_module

            loaded = config_module.load(self.config_path)
            if self.db:
                loaded.set_override("store.path", self.db, self.db_source or "--db")
            self._config = loaded
            log_file = loaded.get("log.file")
            self.configure_logging(
                str(loaded.get("log.level", "warning")),
                str(loaded.get("log.format", "text")),
                loaded.resolve_path(log_file) if log_file else None,
            )
        return self._config

    def database_path(self) -> Path:
        return self.config().database_path()

    def store(self):
        """The open store, migrated to this cobra's schema."""
        if self._store is None:
            from cobra.store import Store

            self._store = Store.open(
                self.database_path(),
                busy_timeout_ms=int(self.config().get("store.busy_timeout_ms", 5000)),
                synchronous=str(self.config().get("store.synchronous", "normal")),
            )
            click.get_current_context().call_on_close(self._store.close)
        return self._store


pass_app = click.make_pass_decorator(App)


def report(kind: str, message: str, logger: str = "cobra.cli") -> None:
    """A problem on stderr as ``kind: message``, and in the log file.

    *kind* is ``error`` or ``warning``; the log line takes that level, so a
    cron job's mail and the log file tell the same story.
    """
    message = logs.scrub(message)
    click.echo(f"{kind}: {message}", err=True)
    level = logging.ERROR if kind == "error" else logging.WARNING
    logs.to_file(level, message, logger)
