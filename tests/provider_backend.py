"""A channel backend that stands in for a provider, for the outbox's own tests.

The real backends (smtp, kannel, twilio, webhook) have their tests against
real servers; this one lets the tests of ``cobra send`` itself control what
the provider does. What it accepts, it appends to a journal file, one JSON
line per message written with a single ``write`` on an ``O_APPEND``
descriptor and fsynced, so the journal is the provider's own record even
when the sending process is killed: a key in it twice is a message sent
twice. A kill can still tear a write (the kernel copies it page by page),
so each write starts a new line: a torn record stands alone, and
:func:`journal_records` leaves it out, as a message the provider did not
finish taking.

Options, in the channel's table: ``journal`` (path), ``delay`` (seconds per
message, or per batch), ``fail_first`` (fail each message this many times
before accepting it), ``error`` (``transient``, ``permanent``, ``invalid``,
``setup``, or ``unknown``: the provider took it but the answer was lost),
``retry_after``, ``only`` (the accounts whose messages ``fail_first``
applies to; all when absent), ``down`` (the provider refuses every
connection, and each call records the keys it was handed in the
``.attempts`` file: ``refused`` raises the plain ``ConnectionRefusedError``,
as a backend that does not class its errors would; ``transient`` raises a
``TransientError`` from it, as a backend that knows nothing went out).

The ``provider-batch`` backend is the same provider taking up to 10 messages
in one request (``send_batch``), as an SMS API that takes an array of
messages does; ``provider-replay`` and ``provider-batch-replay`` are the two
with a receiver that drops duplicates (``replay_safe``). A batch it accepts
goes into the journal in one write, each line naming the batch.
``batch_fault`` spoils, once, the first batch holding the message of account
``batch_fault_for``: ``lost`` (the provider took the whole batch, its answer
was lost), ``crash`` (the connection broke after the first half went out:
the session raises a plain error) or ``short`` (the answer lists one result
too few).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path

import cobra
from cobra.channels import (
    ChannelError,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    SetupError,
    TransientError,
)


def journal_records(path: Path) -> list[dict]:
    """The whole records of a journal, in the order written."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # an empty line, or a record torn by a kill
    return records


def journal_keys(path: Path) -> list[str]:
    return [record["key"] for record in journal_records(path)]


# Numbers the batches one process sends, for the journal.
_batches = itertools.count(1)


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
        only = settings.get("only")
        self.only = None if only is None else set(only)
        self.batch_fault = settings.get("batch_fault")
        self.batch_fault_for = settings.get("batch_fault_for")
        self.attempts = self.journal.with_suffix(".attempts")
        self.down = settings.get("down")

    def _append(self, path: Path, *documents: dict) -> None:
        # One write on an O_APPEND descriptor: a batch is recorded whole.
        # Each record starts a line, so one a kill tore cannot run into it.
        text = "".join("\n" + json.dumps(document) for document in documents)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _busy(self, change: int) -> None:
        with _Stats.lock:
            _Stats.running += change
            _Stats.most = max(_Stats.most, _Stats.running)

    def _accepted(self, message, at: float, batch: str | None = None) -> dict:
        return {
            "key": message.key,
            "to": message.to,
            "body": message.body,
            "at": at,
            "pid": os.getpid(),
            "batch": batch,
        }

    def _refuse_if_down(self, messages) -> None:
        if not self.down:
            return
        self._append(self.attempts, *({"key": m.key} for m in messages))
        refused = ConnectionRefusedError("[Errno 111] Connection refused")
        if self.down == "transient":
            raise TransientError(f"the provider is down: {refused}") from refused
        raise refused

    def send(self, message) -> str:
        self._refuse_if_down([message])
        started = time.time()  # when cobra handed it over (rate limit tests)
        self._busy(+1)
        try:
            if self.delay:
                time.sleep(self.delay)
            refused = self._refusal(message, started)
            if refused is not None:
                raise refused
            self._append(self.journal, self._accepted(message, time.time()))
            return f"P-{message.id}"
        finally:
            self._busy(-1)

    def send_batch(self, messages) -> list:
        self._refuse_if_down(messages)
        started = time.time()
        batch = f"{os.getpid()}-{next(_batches)}"
        self._busy(+1)
        try:
            if self.delay:
                time.sleep(self.delay)  # one request for the whole batch
            answers, accepted = [], []
            for message in messages:
                refused = self._refusal(message, started)
                if refused is None:
                    accepted.append(self._accepted(message, started, batch))
                answers.append(refused or f"P-{message.id}")
            fault = self._fault(messages)
            if fault == "crash":
                self._append(self.journal, *accepted[: len(accepted) // 2])
                raise ConnectionResetError("the provider closed the connection")
            if accepted:
                self._append(self.journal, *accepted)
            if fault == "lost":
                raise OutcomeUnknown("no answer within the timeout after the batch")
            return answers[:-1] if fault == "short" else answers
        finally:
            self._busy(-1)

    def _fault(self, messages) -> str | None:
        """The configured batch fault, if this batch is the one it spoils."""
        if not self.batch_fault or self.batch_fault_for not in {
            message.account for message in messages
        }:
            return None
        if "batch-fault" in journal_keys(self.attempts):
            return None  # it happens once: a resend on request goes through
        self._append(self.attempts, {"key": "batch-fault"})
        return str(self.batch_fault)

    def _refusal(self, message, started: float) -> ChannelError | None:
        """The error the provider gives this attempt at *message*, if any."""
        if not self.fail_first or (
            self.only is not None and message.account not in self.only
        ):
            return None
        self._append(self.attempts, {"key": message.key})
        tried = journal_keys(self.attempts).count(message.key)
        if tried > self.fail_first:
            return None
        if self.error == "unknown":  # accepted, answer lost
            self._append(self.journal, self._accepted(message, started))
        return self._error(tried)

    def _error(self, tried: int) -> ChannelError:
        text = f"provider refused attempt {tried}"
        if self.error == "permanent":
            return PermanentError(text)
        if self.error == "invalid":
            return PermanentError(f"{text}: no such recipient", invalid_address=True)
        if self.error == "unknown":
            return OutcomeUnknown("no answer within the timeout after sending")
        if self.error == "setup":
            return SetupError("login refused: check password_env")
        return TransientError(
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


class BatchProviderBackend(ProviderBackend):
    name = "provider-batch"
    description = "The stand-in provider, taking up to 10 messages a request."
    batch_size = 10


class ReplayProviderBackend(ProviderBackend):
    name = "provider-replay"
    description = "The stand-in provider, whose receiver drops duplicates."
    replay_safe = True


class BatchReplayProviderBackend(BatchProviderBackend):
    name = "provider-batch-replay"
    description = "The batching stand-in provider, whose receiver drops duplicates."
    replay_safe = True


class plugin:  # noqa: N801 - a plugin namespace, as a module would be
    @staticmethod
    @cobra.hookimpl
    def register_channels(register):
        register(ProviderBackend())
        register(BatchProviderBackend())
        register(ReplayProviderBackend())
        register(BatchReplayProviderBackend())


if __name__ == "__main__":
    # Run the cobra command line with this backend installed, as a separate
    # process would have it from an installed plugin package.
    import sys

    from cobra import plugins
    from cobra.cli import main

    plugins.get_plugins().register(plugin, "provider")
    sys.argv[0] = "cobra"
    main()
