"""The ``cobra`` command: the root group, its global options, error handling.

Sub-commands live one group per module (``cmd_*.py``) and are imported only
when invoked, so ``cobra --help`` stays as fast as importing click. The root
turns cobra's named errors into a message and an exit code: 0 success, 1 a
failure while working, 2 bad usage or bad input.
"""

from __future__ import annotations

import os

import click

from cobra import __version__

# name -> (module, attribute, one-line help shown by `cobra --help`).
# The help lives here so listing the commands imports none of them.
BUILTIN_COMMANDS = {
    "init": (
        "cobra.cli.cmd_init",
        "init_command",
        "Write a starter config and create the database.",
    ),
    "doctor": (
        "cobra.cli.cmd_doctor",
        "doctor_command",
        "Check config, database, channels, sources and mailbox; send nothing.",
    ),
    "import": (
        "cobra.cli.cmd_import",
        "import_command",
        "Load customers, invoices and payments through an importer.",
    ),
    "prioritize": (
        "cobra.cli.cmd_prioritize",
        "prioritize_command",
        "Rank customers to contact: diagnosis, score, next action.",
    ),
    "plan": (
        "cobra.cli.cmd_plan",
        "plan_command",
        "Decide the contacts due on a day, and what was held back.",
    ),
    "run": (
        "cobra.cli.cmd_run",
        "run_command",
        "Do the day: import, check promises, plan, send (for cron).",
    ),
    "send": (
        "cobra.cli.cmd_send",
        "send_command",
        "Deliver the planned messages through the channel backends.",
    ),
    "log": (
        "cobra.cli.cmd_log",
        "log_command",
        "Record what a contact led to: promise, dispute, plan, no answer.",
    ),
    "agenda": (
        "cobra.cli.cmd_agenda",
        "agenda_group",
        "What is due: calls, promises to check, messages for a person.",
    ),
    "history": (
        "cobra.cli.cmd_history",
        "history_command",
        "The contact log between two dates, for export.",
    ),
    "receipts": (
        "cobra.cli.cmd_receipts",
        "receipts_group",
        "Take delivery reports, bounces and replies.",
    ),
    "show": (
        "cobra.cli.cmd_show",
        "show_command",
        "One customer's timeline, diagnosis and evidence.",
    ),
    "customers": (
        "cobra.cli.cmd_customers",
        "customers_command",
        "List the portfolio: customers and open balances.",
    ),
    "plugins": (
        "cobra.cli.cmd_plugins",
        "plugins_command",
        "List installed plugins, importers and channels.",
    ),
    "config": (
        "cobra.cli.cmd_config",
        "config_group",
        "Show, check and locate the configuration.",
    ),
    "report": (
        "cobra.cli.cmd_report",
        "report_command",
        "Aging, DSO, CEI, promises kept, activity, tactic effectiveness.",
    ),
    "offer": (
        "cobra.cli.cmd_offer",
        "offer_command",
        "Payment-plan options for one customer, within policy.",
    ),
    "db": (
        "cobra.cli.cmd_db",
        "db_group",
        "Database path, schema migrations and backups.",
    ),
}

EPILOG = (
    "Exit codes: 0 success, 1 a failure while working, 2 bad usage or bad input.\n\n"
    "Commands added by plugins run as `cobra NAME`; `cobra plugins` lists them. "
    "COBRA_DEBUG=1 shows tracebacks."
)


class CobraCommandError(click.ClickException):
    """A cobra error on its way to the terminal, keeping its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _database_busy(exc: Exception):
    """SQLite's "database is locked" as the temporary failure it is.

    Another process (a `cobra run` from cron, a collector's `cobra log`)
    held the write lock for longer than ``store.busy_timeout_ms``; the
    command's transaction was rolled back, so trying again is safe.
    """
    import sqlite3

    from cobra.errors import DatabaseBusy

    if isinstance(exc, sqlite3.OperationalError) and str(exc) in (
        "database is locked",
        "database is busy",
    ):
        return DatabaseBusy(
            "the database is busy: another cobra command (such as cobra run) kept "
            "it locked for longer than store.busy_timeout_ms; nothing was changed. "
            "Try again when it has finished"
        )
    return None


def _command_error(ctx: click.Context, exc) -> CobraCommandError:
    """A CobraError as the message and exit code click shows, logged first
    (secrets scrubbed) so the log file says how the command ended too."""
    from cobra.logs import scrub

    message = scrub(str(exc))
    _log_failure(ctx, exc.exit_code, message)
    return CobraCommandError(message, exc.exit_code)


def _log_failure(
    ctx: click.Context, code, message: str | None = None, exc_info=False
) -> None:
    """Write a command's failure to the log file; stderr gets it from click."""
    import logging

    from cobra import logs

    line = " ".join(filter(None, ["cobra", ctx.invoked_subcommand]))
    line += f" failed (exit {code})"
    if message:
        line += f": {logs.scrub(message)}"
    logs.to_file(logging.ERROR, line, "cobra.cli", exc_info=exc_info)


def _debugging() -> bool:
    return os.environ.get("COBRA_DEBUG", "") not in ("", "0")


class CobraGroup(click.Group):
    """The root group: lazy built-in commands, plugin commands, error mapping."""

    # The plugin set whose commands were added, and their names: when the
    # plugins are reloaded (tests do it between cases) the old ones go.
    _commands_from_plugins: tuple[object, set[str]] = (None, set())

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(BUILTIN_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in BUILTIN_COMMANDS:
            if name not in self.commands:
                from importlib import import_module

                module, attribute, _ = BUILTIN_COMMANDS[name]
                self.commands[name] = getattr(import_module(module), attribute)
            return self.commands[name]
        if name not in self.commands:
            self._load_plugin_commands()
        return self.commands.get(name)

    def _load_plugin_commands(self) -> None:
        from cobra.plugins import get_plugins

        plugins = get_plugins()
        loaded_from, names = self._commands_from_plugins
        if loaded_from is plugins:
            return
        for name in names:
            self.commands.pop(name, None)
        before = dict(self.commands)
        plugins.manager.hook.register_commands(cli=self)
        # A plugin may add commands but never shadow a built-in one, whether
        # or not the built-in has been imported yet.
        for name in set(self.commands) - set(before):
            if name in BUILTIN_COMMANDS:
                del self.commands[name]
        self.commands.update(before)
        self._commands_from_plugins = (plugins, set(self.commands) - set(before))

    def format_commands(
        self, ctx: click.Context, formatter: click.HelpFormatter
    ) -> None:
        rows = [
            (name, help_text)
            for name, (_, _, help_text) in sorted(BUILTIN_COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        from cobra.errors import CobraError

        try:
            return super().invoke(ctx)
        except CobraError as exc:
            raise _command_error(ctx, exc) from exc
        except click.exceptions.ClickException as exc:
            _log_failure(ctx, exc.exit_code, exc.format_message())
            raise
        except SystemExit as exc:
            # A command that printed its own report (`cobra run`, `cobra
            # send`) and exits non-zero: the log file gets a closing line.
            if exc.code not in (0, None):
                _log_failure(ctx, exc.code)
            raise
        except (click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise
        except Exception as exc:
            busy = _database_busy(exc)
            if busy:
                raise _command_error(ctx, busy) from exc
            message = f"unexpected {type(exc).__name__}: {exc}"
            _log_failure(ctx, 1, message, exc_info=True)
            if _debugging():
                raise
            import logging

            logging.getLogger("cobra").debug("unexpected error", exc_info=True)
            raise CobraCommandError(
                f"{message} (COBRA_DEBUG=1 shows the traceback)", 1
            ) from exc


@click.group(
    cls=CobraGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (default: $COBRA_CONFIG, ./cobra.toml or a parent's, "
    "the user config directory, /etc/cobra/cobra.toml).",
)
@click.option(
    "--db", metavar="PATH", envvar="COBRA_DB", help="Database file (env COBRA_DB)."
)
@click.option("-v", "--verbose", count=True, help="More log output; repeat for debug.")
@click.option("-q", "--quiet", count=True, help="Less log output; only errors with -q.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text or JSON (one object a line).  [default: text]",
)
@click.option("--log-file", metavar="PATH", help="Also append log lines to this file.")
@click.version_option(
    __version__, "--version", prog_name="cobra", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(ctx: click.Context, config_path, db, verbose, quiet, log_format, log_file):
    """Collect accounts receivable: understand each customer, decide whom to
    contact first, plan and send the contacts, and follow up.

    Start with `cobra init`, then `cobra import` your invoices.
    """
    from cobra.cli.app import App

    db_source = None
    if db:
        from click.core import ParameterSource

        from_env = ctx.get_parameter_source("db") == ParameterSource.ENVIRONMENT
        db_source = "COBRA_DB" if from_env else "--db"
    app = App(config_path, db, db_source, verbose, quiet, log_format, log_file)
    app.configure_logging()
    ctx.obj = app


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="cobra")
    except BrokenPipeError:
        # The reader went away (`cobra customers | head`): not an error. Point
        # stdout at nothing so the interpreter's final flush stays quiet.
        import sys

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
