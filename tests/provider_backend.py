"""A channel backend that stands in for a provider, for the outbox's own tests.

The real backends (smtp, kannel, twilio, webhook) have their tests against
real servers; this one lets the tests of ``cobra send`` itself control what
the provider does. What it accepts, it appends to a journal file, one JSON
line per message written with a single ``write`` on an ``O_APPEND``
descriptor and fsynced, so the journal is the provider's own record even
when the sending process is killed: a key in it twice is a message sent
twice.

Options, in the channel's table: ``journal`` (path), ``delay`` (seconds per
message), ``fail_first`` (fail each message this many times before
accepting it), ``error`` (``transient``, ``permanent``, ``invalid``,
``setup``, or ``unknown``: the provider took it but the answer was lost),
``retry_after``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import cobra
from cobra.channels import (
    OutcomeUnknown,
    PermanentError,
    Receipt,
    SetupError,
    TransientError,
)


def journal_keys(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text().splitlines() if line]


class _Stats:
    """How many sends ran at once, across one process's workers."""

    lock = threading.Lock()
    running = 0
    most = 0


class ProviderSession:
    def __init__(self, settings):
        self.journal = Path(str(settings.get("journal")))
        self.delay = float(settings.get("delay", 0))
        self.fail_first = int(settings.get("fail_first", 0))
        self.error = str(settings.get("error", "transient"))
        self.retry_after = settings.get("retry_after")
        self.attempts = self.journal.with_suffix(".attempts")

    def _append(self, path: Path, document: dict) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(document) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def send(self, message) -> str:
        started = time.time()  # when cobra handed it over (rate limit tests)
        with _Stats.lock:
            _Stats.running += 1
            _Stats.most = max(_Stats.most, _Stats.running)
        try:
            if self.delay:
                time.sleep(self.delay)
            if self.fail_first:
                self._append(self.attempts, {"key": message.key})
                tried = journal_keys(self.attempts).count(message.key)
                if tried <= self.fail_first:
                    if self.error == "unknown":  # accepted, answer lost
                        self._append(self.journal, {"key": message.key, "at": started,
                                                    "pid": os.getpid()})
                    self._fail(tried)
            self._append(
                self.journal,
                {
                    "key": message.key,
                    "to": message.to,
                    "body": message.body,
                    "at": time.time(),
                    "pid": os.getpid(),
                },
            )
            return f"P-{message.id}"
        finally:
            with _Stats.lock:
                _Stats.running -= 1

    def _fail(self, tried: int):
        text = f"provider refused attempt {tried}"
        if self.error == "permanent":
            raise PermanentError(text)
        if self.error == "invalid":
            raise PermanentError(f"{text}: no such recipient", invalid_address=True)
        if self.error == "unknown":
            raise OutcomeUnknown("no answer within the timeout after sending")
        if self.error == "setup":
            raise SetupError("login refused: check password_env")
        raise TransientError(
            text, retry_after=float(self.retry_after) if self.retry_after else None
        )

    def close(self) -> None:
        pass


class ProviderBackend:
    name = "provider"
    description = "A stand-in provider for the outbox tests."
    kinds = ("email", "sms")
    config_keys: dict = {}  # noqa: RUF012 - read only
    concurrency = 8
    rate_limit = None
    can_lookup = False
    replay_safe = False

    def connect(self, settings) -> ProviderSession:
        return ProviderSession(settings)

    def receipt(self, request, settings):
        query = request.query
        return [
            Receipt(
                state=query["state"],
                key=query.get("key"),
                provider_id=query.get("id"),
                detail=query.get("detail", ""),
                invalid_address=query.get("invalid") == "1",
            )
        ]


class plugin:  # noqa: N801 - a plugin namespace, as a module would be
    @staticmethod
    @cobra.hookimpl
    def register_channels(register):
        register(ProviderBackend())


if __name__ == "__main__":
    # Run the cobra command line with this backend installed, as a separate
    # process would have it from an installed plugin package.
    import sys

    from cobra import plugins
    from cobra.cli import main

    plugins.get_plugins().register(plugin, "provider")
    sys.argv[0] = "cobra"
    main()
