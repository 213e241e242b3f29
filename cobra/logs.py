"""Logging set-up: levels from -v/-q, text or JSON lines, and secret scrubbing.

Modules log through ``logging.getLogger(__name__)``; this module only decides
where lines go and what they look like. Every secret cobra reads from the
environment is registered here and replaced by ``***`` in any log line, so a
password in an exception message cannot leak into a log file.

The log file names customers and their addresses, so cobra creates it
readable by its owner only (and any folder it makes for it, 0700). A
command's failures are printed on stderr in the command's own words and
written to the log file with :func:`to_file`, so cron's mail and the file
both have them without stderr showing them twice.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from cobra.errors import CobraInputError

LEVELS = ["debug", "info", "warning", "error"]
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    # Very short values would blank out ordinary words; they are not secrets
    # worth the name anyway.
    if value and len(value) >= 4:
        _secrets.add(value)


def scrub(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info:
            line["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class _NotForStderr(logging.Filter):
    """Leaves out the lines meant for the log file alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def to_file(
    level: int, message: str, logger: str = "cobra", *, exc_info: bool = False
) -> None:
    """Write *message* to the log file only, when one is configured.

    For what a command has already printed on stderr in its own words: a
    failure, the summary of a run that failed.
    """
    logging.getLogger(logger).log(
        level, "%s", message, exc_info=exc_info, extra={"file_only": True}
    )


def _create_private(file: Path) -> None:
    """Create the log file for its owner only, and any missing folder 0700.

    A file that already exists keeps its mode: whoever made it (logrotate's
    ``create`` line, say) chose it.
    """
    from cobra.paths import make_private_folders

    try:
        make_private_folders(file.parent)
        # Opened for appending, not only created: a file that exists but
        # cannot be written is reported here, with the way out.
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as exc:
        raise CobraInputError(
            f"cannot write the log file {file}: {exc.strerror}; "
            "choose another with --log-file or log.file"
        ) from None


def level_for(base: str, verbose: int, quiet: int) -> int:
    """Each -v moves one level toward debug, each -q one toward error."""
    index = LEVELS.index(base) - verbose + quiet
    return getattr(logging, LEVELS[max(0, min(index, len(LEVELS) - 1))].upper())


def configure(level: int, fmt: str = "text", file: Path | None = None) -> None:
    formatter: logging.Formatter
    if fmt == "json":
        formatter = _JsonFormatter()
    else:
        formatter = _ScrubbingFormatter("%(levelname)s %(name)s: %(message)s")

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].addFilter(_NotForStderr())
    if file is not None:
        _create_private(file)
        file_handler = logging.FileHandler(file, encoding="utf-8")
        file_handler.setFormatter(
            _JsonFormatter()
            if fmt == "json"
            else _ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        handlers.append(file_handler)
    handlers[0].setFormatter(formatter)

    # The root logger, so third-party plugins logging under their own module
    # names end up in the same place as cobra's lines.
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
