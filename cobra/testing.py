"""A test kit for cobra plugins: contract tests and fixtures, as a pytest plugin.

cobra registers this module with pytest (its ``pytest11`` entry point), so
wherever cobra is installed a plugin's tests can use the fixtures below and
inherit the contract tests by subclassing::

    import pytest
    from cobra.testing import ChannelContract

    class TestAcmeChat(ChannelContract):
        @pytest.fixture
        def backend(self):
            return AcmeChatBackend()

        @pytest.fixture
        def channel_settings(self, server, cobra_config):
            ...

:class:`ChannelContract` checks a channel backend and :class:`ImporterContract`
an importer, against what cobra relies on: docs/plugins.md lists the fixtures
each one needs. Fixtures:

- ``cobra_config``: a config file in a temporary folder, with ``COBRA_HOME``
  and ``COBRA_CONFIG`` pointing there, so nothing of the user's is read or
  written (:class:`CobraConfig`);
- ``cobra_store``: the database of that config, created and migrated;
- ``cobra_run``: runs the ``cobra`` command line in-process against them.

Nothing here acts unless a test asks for it (no autouse fixture, no hook), so
installing cobra changes nothing for other projects' tests; ``-p no:cobra``
removes the plugin altogether.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest

from cobra.channels import (
    ChannelError,
    ChannelSettings,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
)
from cobra.config_schema import CHANNEL_KEYS, Key, Table
from cobra.errors import CobraInputError, CobraWorkError
from cobra.importers import ImportContext, Importer, ImportOption
from cobra.records import (
    CreditNote,
    Customer,
    Invoice,
    LayoutRows,
    Payment,
    Rejected,
    Where,
)

__all__ = [
    "SEND_AT",
    "SEND_DAY",
    "ChannelContract",
    "CobraConfig",
    "ImporterContract",
    "StreamedSource",
    "deliver",
    "message_maker",
    "queue_message",
    "read_records",
    "toml_table",
]

# The day and instant queue_message plans for: a Thursday morning in New
# York, when no contact rule holds a message back.
SEND_DAY = date(2026, 12, 3)
SEND_AT = "2026-12-03T11:00:00-05:00"

_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_WORD = re.compile(r"[a-z][a-z0-9_]*")
_OPTION = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# -- fixtures: a config, a store, the command line -----------------------------------


def toml_value(value: object) -> str:
    """*value* written as TOML: strings, numbers, booleans, arrays, tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be written in TOML")
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string, but for DEL, which TOML
        # wants escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"{type(value).__name__} values cannot be written in TOML")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def toml_table(dotted: str, values: dict) -> str:
    """A ``[dotted]`` table holding *values*, as TOML text."""
    header = ".".join(_toml_key(part) for part in dotted.split("."))
    lines = [f"[{header}]"]
    lines += [f"{_toml_key(k)} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


class CobraConfig:
    """The config file of one test, in a folder of its own.

    It starts with only ``[store] path = "cobra.sqlite"`` (the database next
    to it); cobra's embedded defaults fill in the rest, as for a user.
    """

    def __init__(self, folder: Path, home: Path):
        self.folder = folder
        self.home = home
        self.path = folder / "cobra.toml"
        self.write('[store]\npath = "cobra.sqlite"\n')

    def write(self, text: str) -> None:
        """Replace the whole file."""
        self.path.write_text(text, encoding="utf-8")

    def add(self, text: str) -> None:
        """Append TOML text (a table of its own) to the file."""
        current = self.path.read_text(encoding="utf-8")
        self.write(current.rstrip("\n") + "\n\n" + text.strip("\n") + "\n")

    def add_channel(self, channel: str, backend: str, **options: object) -> None:
        """Bind *channel* to *backend* with *options*: ``[channels.CHANNEL]``."""
        self.add(toml_table(f"channels.{channel}", {"backend": backend, **options}))

    def tables(self) -> dict:
        """The file as written, parsed (without cobra's defaults)."""
        from cobra.config import read_file

        return read_file(self.path)

    def load(self):
        """The effective :class:`cobra.config.Config`; a file with problems fails."""
        from cobra.config import load

        return load(str(self.path))

    @property
    def database(self) -> Path:
        return self.load().database_path()

    def channel_settings(self, channel: str) -> ChannelSettings:
        """What ``cobra send`` would hand the backend of *channel*.

        Built by cobra's own code from the file, so a plugin's test sees its
        table, secrets and timeout exactly as they arrive in production.
        """
        from cobra.sending import bindings, channel_settings

        config = self.load()
        bound, problems = bindings(config)
        if channel not in bound:
            pytest.fail(problems.get(channel, f"channel {channel!r} is not bound"))
        return channel_settings(bound[channel], config, config.database_path())


@pytest.fixture
def cobra_config(tmp_path_factory, monkeypatch) -> Iterator[CobraConfig]:
    """A config file in a temporary folder, cobra's environment pointed at it.

    ``COBRA_HOME`` (user config and data) is a fresh folder, ``COBRA_CONFIG``
    names the file, and ``COBRA_DEBUG=1`` lets an unexpected exception fail
    the test with its traceback. Plugins are loaded afresh for the test.
    """
    from cobra import paths, plugins

    folder = tmp_path_factory.mktemp("cobra")
    home = folder / "home"
    home.mkdir()
    config = CobraConfig(folder, home)
    monkeypatch.setenv("COBRA_HOME", str(home))
    monkeypatch.setenv("COBRA_CONFIG", str(config.path))
    monkeypatch.setenv("COBRA_DEBUG", "1")
    for name in ("COBRA_DB", "COBRA_TRACE_HOOKS"):
        monkeypatch.delenv(name, raising=False)
    # The last place cobra looks for a config; never the machine's own.
    monkeypatch.setattr(paths, "SYSTEM_CONFIG", folder / "etc" / "cobra.toml")
    plugins.reset()
    yield config
    plugins.reset()


@pytest.fixture
def cobra_store(cobra_config):
    """The database of ``cobra_config``, created and migrated, open."""
    from cobra.store import Store

    store = Store.open(cobra_config.database)
    yield store
    store.close()


@pytest.fixture
def cobra_run(cobra_config) -> Callable:
    """Run the ``cobra`` command line in-process: ``cobra_run("plugins")``.

    Returns click's ``Result``: ``exit_code``, ``stdout`` (data) and
    ``stderr`` (messages) apart. *env* adds environment variables.
    """
    from click.testing import CliRunner

    from cobra.cli import cli

    def run(*args: object, input: str | None = None, env: dict | None = None):
        return CliRunner().invoke(
            cli,
            [str(arg) for arg in args],
            input=input,
            env=env,
            catch_exceptions=False,
        )

    return run


def queue_message(
    store,
    *,
    channel: str,
    kind: str,
    address: str | None = None,
    account: str = "C0001",
    name: str = "Ferretería Ñuñoa S.A.",
    language: str = "es",
    subject: str | None = "Factura F-0001 vencida",
    body: str = "Estimados: la factura F-0001 venció el 23 de noviembre.",
    day: date = SEND_DAY,
) -> str:
    """Put one message on *channel* in the outbox, as ``cobra plan`` would.

    The customer (in New York, with *address* as its e-mail or phone when
    the kind needs one) and an overdue invoice are imported through the
    ledger; the message is queued for *day*. ``cobra send --for SEND_DAY
    --at SEND_AT`` then sends it. Returns its idempotency key.
    """
    from cobra import ledger
    from cobra.sending import ADDRESS_OF
    from cobra.store import plans

    where = Where("cobra.testing")
    contact = ADDRESS_OF.get(kind)
    if contact and not address:
        raise ValueError(f"a message of kind {kind!r} needs an {contact} address")
    customer = Customer(
        account=account,
        name=name,
        where=where,
        email=address if contact == "email" else None,
        phone=address if contact == "phone" else None,
        language=language,
        country="US",
        timezone="America/New_York",
    )
    due = day - timedelta(days=10)
    number = f"F-{account}"
    invoice = Invoice(
        number=number,
        account=account,
        issue_date=due - timedelta(days=30),
        due_date=due,
        currency="USD",
        amount=120000,
        where=where,
    )
    ledger.load(store, [customer, invoice], ["cobra.testing"], ledger.LoadOptions())
    [customer_id] = store.conn.execute(
        "SELECT id FROM customers WHERE account = ?", (account,)
    ).fetchone()
    key = f"{account}|testing#1|{day.isoformat()}|{channel}"
    plans.insert(
        store.conn,
        [
            {
                "customer_id": customer_id,
                "planned_for": day.isoformat(),
                "send_at": None,
                "strategy": "testing",
                "step": 0,
                "cycle": due.isoformat(),
                "variant": 0,
                "channel": channel,
                "template": "testing",
                "tone": "friendly",
                "method": "suggestion",
                "tactic": "personal_appeal",
                "objective": "pay",
                "reason": "forgot",
                "language": language,
                "subject": subject,
                "body": body,
                "opt_out": 0,
                "state": "queued",
                "hold_reason": None,
                "idempotency_key": key,
                "invoices": json.dumps([number]),  # what the message asks for
                "created_at": f"{day.isoformat()}T00:00:00+00:00",
            }
        ],
    )
    return key


def _override(fixture: str, why: str):
    pytest.fail(
        f"the contract needs the fixture {fixture!r}: define it on your test class "
        f"({why})",
        pytrace=False,
    )


def _not_provided(fixture: str, what: str):
    pytest.skip(f"define the fixture {fixture!r} to check {what}")


def _defined_by(obj: object, hook: str) -> object | None:
    """The module defining *obj*'s class, or a package above it, that
    implements *hook*."""
    parts = type(obj).__module__.split(".")
    for end in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:end]))
        function = getattr(module, hook, None)
        if callable(function) and hasattr(function, "cobra_impl"):
            return function
    return None


def _registers(obj: object, hook: str) -> None:
    function = _defined_by(obj, hook)
    assert function is not None, (
        f"no @cobra.hookimpl {hook}(register) in {type(obj).__module__} or a "
        "package above it"
    )
    found: list = []
    function(register=found.append)
    assert any(type(item) is type(obj) and item.name == obj.name for item in found), (
        f"{hook} did not register a {type(obj).__name__} named {obj.name!r}"
    )


def _one_line(text: object, what: str) -> None:
    assert isinstance(text, str) and text.strip(), f"{what} must be a non-empty string"
    assert "\n" not in text.strip(), f"{what} must be one line, got {text!r}"


# -- channels -----------------------------------------------------------------------


def deliver(backend, settings: ChannelSettings, message: OutgoingMessage):
    """Open a session, send *message*, close: what one ``cobra send`` does."""
    session = backend.connect(settings)
    try:
        return session.send(message)
    finally:
        session.close()


def message_maker(channel: str, kind: str, to: str | None) -> Callable:
    """``make(n=1, key=None, **changes)``: the *n*-th test message to *to*."""

    def make(n: int = 1, *, key: str | None = None, **changes) -> OutgoingMessage:
        account = f"C{n:04d}"
        values = {
            "id": n,
            "key": key or f"{account}|contract#1|2027-03-01|{channel}",
            "channel": channel,
            "kind": kind,
            "to": to,
            "account": account,
            "customer_name": "Ferretería Ñuñoa S.A.",
            "language": "es",
            "subject": f"Factura F-{n} vencida",
            "body": f"Estimados: la factura F-{n} venció ayer. Saludos.",
            "planned_for": date(2027, 3, 1),
            **changes,
        }
        return OutgoingMessage(**values)

    return make


class ChannelContract:
    """What cobra relies on from a channel backend, as tests to inherit.

    Define on the subclass:

    - ``backend``: the backend object;
    - ``channel_settings``: :class:`ChannelSettings` for a provider that
      works (a server on loopback; ``cobra_config.channel_settings`` builds
      them from a ``[channels.NAME]`` table);
    - ``delivered``: a function returning the idempotency key of each
      message the provider holds, once per copy, as read back from it;
    - to check the error classes, settings with which the *next* send
      fails, and later ones succeed: ``transient_failure`` (a 503, a
      refused connection), ``permanent_failure`` (an address refused),
      ``setup_failure`` (a wrong password or URL, failing every send) and
      ``hung_provider`` (accepts and never answers; a short
      ``settings.timeout``). A failure fixture left out skips its test.

    Optional: ``recipient``, the address messages go to (by default one
    fitting the backend's first kind), and ``make_message``. A backend with
    ``check(settings)`` (for ``cobra doctor``) has it tried too; set
    ``check_finds_setup_failures = False`` when the failure of
    ``setup_failure`` cannot be seen without sending (a webhook receiver's
    secret).

    A backend declaring ``batch_size`` above 1 has its ``send_batch`` tried
    with a full batch and with a batch of one; ``batch_permanent_failure``,
    settings with which the provider refuses for good the message of
    ``make_message(2)`` in the next batch and takes the others, checks that
    one refusal fails that message alone. With ``batch_size`` 1 these tests
    skip.
    """

    check_finds_setup_failures = True

    @pytest.fixture
    def backend(self):
        _override("backend", "return your backend object")

    @pytest.fixture
    def channel_settings(self):
        _override("channel_settings", "return ChannelSettings for a working provider")

    @pytest.fixture
    def delivered(self):
        _override(
            "delivered",
            "return a function listing the keys of the messages the provider holds",
        )

    @pytest.fixture
    def transient_failure(self):
        _not_provided("transient_failure", "transient errors")

    @pytest.fixture
    def permanent_failure(self):
        _not_provided("permanent_failure", "permanent errors")

    @pytest.fixture
    def setup_failure(self):
        _not_provided("setup_failure", "setup errors")

    @pytest.fixture
    def hung_provider(self):
        _not_provided("hung_provider", "that the timeout is honoured")

    @pytest.fixture
    def batch_size(self, backend) -> int:
        """The backend's ``batch_size``; its batch tests skip when it is 1."""
        size = _declared_batch_size(backend)
        if size == 1:
            pytest.skip(
                "batch_size is 1: cobra hands each message to send(), never to "
                "send_batch()"
            )
        return size

    @pytest.fixture
    def batch_permanent_failure(self, batch_size):
        _not_provided(
            "batch_permanent_failure",
            "that a message refused in a batch fails alone",
        )

    @pytest.fixture
    def recipient(self, backend) -> str | None:
        from cobra.sending import ADDRESS_OF

        return {"email": "ana.perez@example.com", "phone": "+12125550123"}.get(
            ADDRESS_OF.get(backend.kinds[0], "")
        )

    @pytest.fixture
    def make_message(self, backend, channel_settings, recipient) -> Callable:
        return message_maker(channel_settings.channel, backend.kinds[0], recipient)

    # -- what it declares

    def test_it_is_well_formed(self, backend):
        name = getattr(backend, "name", None)
        assert isinstance(name, str) and _NAME.fullmatch(name), (
            f"name must be lowercase letters, digits, - or _, got {name!r}"
        )
        _one_line(getattr(backend, "description", None), "description")
        kinds = getattr(backend, "kinds", None)
        assert isinstance(kinds, tuple) and kinds, "kinds must be a non-empty tuple"
        for kind in kinds:
            assert isinstance(kind, str) and _WORD.fullmatch(kind), f"kind {kind!r}"
        concurrency = getattr(backend, "concurrency", None)
        assert type(concurrency) is int and concurrency >= 1, (
            f"concurrency must be an integer of at least 1, got {concurrency!r}"
        )
        rate = getattr(backend, "rate_limit", None)
        assert rate is None or (
            isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0
        ), f"rate_limit must be None or messages a second, got {rate!r}"
        _declared_batch_size(backend)
        for flag in ("can_lookup", "replay_safe"):
            assert isinstance(getattr(backend, flag, False), bool), f"{flag}: a bool"
        assert callable(getattr(backend, "connect", None)), "connect(settings) missing"
        for optional in ("check", "receipt", "inbound"):
            if hasattr(backend, optional):
                assert callable(getattr(backend, optional)), f"{optional} not callable"

    def test_its_config_keys_are_well_formed(self, backend):
        keys = getattr(backend, "config_keys", None)
        assert isinstance(keys, dict), "config_keys must be a dict of Key"
        for name, key in keys.items():
            assert isinstance(name, str) and _WORD.fullmatch(name), f"key {name!r}"
            assert name != "backend", "backend is cobra's own key"
            assert isinstance(key, Key), f"{name}: a cobra.config_schema.Key"
            assert callable(key.check), f"{name}: its check is not callable"
            _one_line(key.doc, f"{name}'s doc")
            if name.endswith("_env"):
                assert key.secret, f"{name} names a secret: use secret_key(...)"

    def test_its_test_settings_pass_config_check(self, backend, channel_settings):
        """The keys the tests use are declared, so ``cobra config check``
        accepts the table a user copies from them."""
        from cobra.config import check

        options = {
            k: v for k, v in channel_settings.options.items() if k not in CHANNEL_KEYS
        }
        prefix = f"channels.{channel_settings.channel}."
        problems = check(options, "settings", Table(backend.config_keys), prefix)
        assert not problems, "; ".join(str(p) for p in problems)

    def test_its_plugin_registers_it(self, backend):
        _registers(backend, "register_channels")

    def test_cobra_finds_it_installed(self, backend, cobra_config):
        from cobra.plugins import get_plugins

        found = get_plugins().channels().get(backend.name)
        assert found is not None, (
            f"no channel backend {backend.name!r} among the installed plugins: "
            "install the package (pip install -e .) and declare its module under "
            "[project.entry-points.cobra] in pyproject.toml"
        )
        assert type(found.obj) is type(backend)

    # -- sending

    def test_a_message_reaches_the_provider(
        self, backend, channel_settings, make_message, delivered
    ):
        first, second = make_message(1), make_message(2)
        session = backend.connect(channel_settings)
        try:
            ids = [session.send(first), session.send(second)]
        finally:
            session.close()
        for found in ids:
            assert found is None or (isinstance(found, str) and found), (
                f"send must return the provider's id (a non-empty str) or None, "
                f"got {found!r}"
            )
        if None not in ids:
            assert ids[0] != ids[1], "two messages got the same provider id"
        assert sorted(delivered()) == sorted([first.key, second.key])

    def test_a_key_that_is_not_ascii_reaches_the_provider_intact(
        self, backend, channel_settings, make_message, delivered
    ):
        message = make_message(key="CÑ-01|contract#1|2027-03-01|ventas")
        deliver(backend, channel_settings, message)
        assert delivered() == [message.key]

    def test_a_message_sent_again_is_not_duplicated_when_replay_safe(
        self, backend, channel_settings, make_message, delivered
    ):
        """After a crash cobra resends a replay-safe backend's message as is:
        the provider must keep one copy."""
        if not getattr(backend, "replay_safe", False):
            pytest.skip("replay_safe is false: cobra never resends blindly")
        message = make_message()
        first = deliver(backend, channel_settings, message)
        again = deliver(backend, channel_settings, message)
        copies = delivered()
        assert copies == [message.key], (
            f"the provider holds {copies.count(message.key)} copies of a message "
            f"sent twice (and {len(copies) - copies.count(message.key)} others)"
        )
        if first is not None and again is not None:
            assert first == again, "the provider's id changed for the same message"

    def test_a_sent_message_is_found_by_its_key_when_it_can_look_up(
        self, backend, channel_settings, make_message
    ):
        if not getattr(backend, "can_lookup", False):
            pytest.skip("can_lookup is false")
        message, other = make_message(1), make_message(2)
        session = backend.connect(channel_settings)
        try:
            sent = session.send(message)
            assert session.lookup(message.key) == sent
            assert session.lookup(other.key) is None
        finally:
            session.close()

    def test_close_may_be_called_twice(self, backend, channel_settings, make_message):
        backend.connect(channel_settings).close()
        session = backend.connect(channel_settings)
        session.send(make_message())
        session.close()
        session.close()

    # -- sending in batches

    def test_a_batch_reaches_the_provider_with_one_result_per_message(
        self, batch_size, backend, channel_settings, make_message, delivered
    ):
        """A full batch, then a batch of one (cobra's last batch may be
        that short), in one session: each message gets its provider id."""
        full = [make_message(n) for n in range(1, batch_size + 1)]
        alone = [make_message(batch_size + 1)]
        session = backend.connect(channel_settings)
        try:
            results = [_batch_results(session, batch) for batch in (full, alone)]
            if getattr(backend, "can_lookup", False):
                # The provider's own record shows which id went with which key.
                for batch, ids in zip((full, alone), results, strict=True):
                    for message, found in zip(batch, ids, strict=True):
                        assert session.lookup(message.key) == found, (
                            f"send_batch returned {found!r} in the place of "
                            f"{message.key}: results go in the messages' order"
                        )
        finally:
            session.close()
        ids = [found for batch in results for found in batch]
        for number, found in enumerate(ids, 1):
            assert not isinstance(found, ChannelError), (
                f"the working provider refused message {number} of the batch: "
                f"{type(found).__name__}: {found}"
            )
        named = [found for found in ids if found is not None]
        assert len(set(named)) == len(named), (
            f"two messages of a batch got the same provider id: {named}"
        )
        sent = sorted(message.key for message in [*full, *alone])
        assert sorted(delivered()) == sent

    def test_a_permanent_failure_in_a_batch_fails_that_message_only(
        self, batch_size, backend, batch_permanent_failure, make_message, delivered
    ):
        # Message 2 in the middle when the batch can hold three: a result
        # list in another order puts the refusal in the wrong place.
        batch = [make_message(n) for n in range(1, min(batch_size, 3) + 1)]
        refused = batch[1]
        session = backend.connect(batch_permanent_failure)
        try:
            results = _batch_results(session, batch)
        finally:
            session.close()
        error = results[1]
        assert isinstance(error, PermanentError), (
            f"expected a PermanentError in the place of {refused.key} (message 2 "
            f"of the batch), got {error!r}"
        )
        assert str(error).strip(), "the error must say what happened"
        assert isinstance(error.invalid_address, bool)
        for number, found in enumerate(results, 1):
            if number != 2:
                assert not isinstance(found, ChannelError), (
                    f"message {number} of the batch failed with message 2's "
                    f"refusal ({type(found).__name__}: {found}): a permanent "
                    "error fails only the message it is in the place of"
                )
        taken = sorted(message.key for message in batch if message is not refused)
        assert sorted(delivered()) == taken

    # -- cobra doctor

    def test_check_tries_it_without_sending(self, backend, channel_settings, delivered):
        """``check(settings)``, for ``cobra doctor``: logs in, sends nothing."""
        if not callable(getattr(backend, "check", None)):
            pytest.skip("no check(settings): cobra doctor cannot try the channel")
        said = backend.check(channel_settings)
        _one_line(said, "what check() returns")
        assert delivered() == [], "check() must not send anything"

    def test_check_finds_a_setup_failure(self, backend, setup_failure, delivered):
        if not callable(getattr(backend, "check", None)):
            pytest.skip("no check(settings): cobra doctor cannot try the channel")
        if not self.check_finds_setup_failures:
            pytest.skip("check_finds_setup_failures is false for this backend")
        with pytest.raises(ChannelError) as caught:
            backend.check(setup_failure)
        assert isinstance(caught.value, SetupError), (
            f"expected SetupError, got {type(caught.value).__name__}: {caught.value}"
        )
        assert str(caught.value).strip(), "the error must say how to fix the setup"
        assert delivered() == []

    # -- errors: each classed, said, and nothing lost

    def test_a_transient_failure_loses_nothing(
        self, backend, transient_failure, make_message, delivered
    ):
        message = make_message()
        with pytest.raises(ChannelError) as caught:
            deliver(backend, transient_failure, message)
        error = caught.value
        assert isinstance(error, TransientError), (
            f"expected TransientError, got {type(error).__name__}: {error}"
        )
        assert str(error).strip(), "the error must say what happened"
        hint = error.retry_after
        assert hint is None or (isinstance(hint, (int, float)) and hint >= 0)
        assert message.key not in delivered()
        # The next attempt goes through, once.
        deliver(backend, transient_failure, message)
        assert delivered() == [message.key]

    def test_a_permanent_failure_is_permanent(
        self, backend, permanent_failure, make_message, delivered
    ):
        message = make_message()
        with pytest.raises(ChannelError) as caught:
            deliver(backend, permanent_failure, message)
        error = caught.value
        assert isinstance(error, PermanentError), (
            f"expected PermanentError, got {type(error).__name__}: {error}"
        )
        assert str(error).strip(), "the error must say what happened"
        assert isinstance(error.invalid_address, bool)
        assert message.key not in delivered()

    def test_a_setup_failure_is_a_setup_error(
        self, backend, setup_failure, make_message, delivered
    ):
        message = make_message()
        with pytest.raises(ChannelError) as caught:
            deliver(backend, setup_failure, message)
        error = caught.value
        assert isinstance(error, SetupError), (
            f"expected SetupError, got {type(error).__name__}: {error}"
        )
        assert str(error).strip(), "the error must say how to fix the setup"
        assert message.key not in delivered()

    def test_a_hung_provider_is_given_up_within_the_timeout(
        self, backend, hung_provider, make_message
    ):
        limit = float(hung_provider.timeout)
        allowed = 2 * limit + 1  # a connect and a read may each take the timeout
        outcome: dict = {}

        def attempt():
            started = time.monotonic()
            try:
                deliver(backend, hung_provider, make_message())
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome["error"] = exc
            outcome["took"] = time.monotonic() - started

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(allowed + 5)
        assert not worker.is_alive(), (
            f"send still waits after {allowed + 5:g} s with settings.timeout = "
            f"{limit:g}: pass the timeout to every network call"
        )
        error = outcome.get("error")
        assert isinstance(error, (TransientError, OutcomeUnknown)), (
            "a provider that never answers is a TransientError (nothing sent) or "
            f"OutcomeUnknown (sent, answer lost), got {error!r}"
        )
        assert str(error).strip(), "the error must say what happened"
        assert outcome["took"] <= allowed, (
            f"gave up after {outcome['took']:.1f} s; settings.timeout is {limit:g}"
        )

    # -- through cobra send

    def test_cobra_send_delivers_through_it(
        self,
        backend,
        channel_settings,
        delivered,
        recipient,
        cobra_config,
        cobra_store,
        cobra_run,
    ):
        from cobra.plugins import get_plugins
        from cobra.sending import bindings

        channel = channel_settings.channel
        if channel not in cobra_config.tables().get("channels", {}):
            options = dict(channel_settings.options)
            options.pop("backend", None)
            cobra_config.add_channel(channel, backend.name, **options)
        if backend.name not in get_plugins().channels():
            pytest.fail(f"channel backend {backend.name!r} is not installed")
        kind = bindings(cobra_config.load())[0][channel].kind
        key = queue_message(cobra_store, channel=channel, kind=kind, address=recipient)

        result = cobra_run(
            "send", "--for", SEND_DAY, "--at", SEND_AT, "--channel", channel
        )
        assert result.exit_code == 0, result.stderr
        assert "sent 1, failed 0" in result.stderr, result.stderr
        state, used, provider_id = cobra_store.conn.execute(
            "SELECT state, backend, provider_id FROM outbox WHERE idempotency_key = ?",
            (key,),
        ).fetchone()
        assert (state, used) == ("sent", backend.name)
        assert provider_id is None or provider_id
        assert delivered() == [key]


def _declared_batch_size(backend) -> int:
    size = getattr(backend, "batch_size", 1)
    assert type(size) is int and size >= 1, (
        f"batch_size must be an integer of at least 1, got {size!r}"
    )
    return size


# What a result of send_batch may be besides a provider id: cobra records
# each of these for its message alone.
_BATCH_ERRORS = (TransientError, PermanentError, OutcomeUnknown, SetupError)


def _batch_results(session, batch: list[OutgoingMessage]) -> list:
    """What ``send_batch(batch)`` returns, checked: one result per message,
    each a provider id (a non-empty str) or None, or an error of cobra's
    classes standing for that message alone."""
    send_batch = getattr(session, "send_batch", None)
    assert callable(send_batch), (
        "the backend declares batch_size above 1, but its sessions have no "
        "send_batch(messages)"
    )
    try:
        results = send_batch(list(batch))
    except ChannelError as exc:
        pytest.fail(
            f"send_batch raised {type(exc).__name__}: {exc}: an error raised "
            "stands for the whole batch; return each message's own in its place",
            pytrace=False,
        )
    assert isinstance(results, (list, tuple)), (
        f"send_batch must return a list of results, got {type(results).__name__}"
    )
    assert len(results) == len(batch), (
        f"send_batch returned {len(results)} results for a batch of {len(batch)}: "
        "one per message, in their order"
    )
    for number, found in enumerate(results, 1):
        assert (
            found is None
            or (isinstance(found, str) and found)
            or isinstance(found, _BATCH_ERRORS)
        ), (
            f"result {number} of the batch is {found!r}: a provider id (a "
            "non-empty str), None, or a TransientError, PermanentError, "
            "OutcomeUnknown or SetupError"
        )
    return list(results)


# -- importers ----------------------------------------------------------------------


class StreamedSource(NamedTuple):
    """A source cut in two, to show that an importer yields as it reads.

    The contract writes *head* into a pipe named *filename*, expects a
    first record before anything else arrives, then writes *tail*.
    """

    filename: str
    head: bytes
    tail: bytes


def read_records(
    importer, source: str, options: dict | None = None, context=None
) -> list:
    """Everything *importer* reads from *source*, layout rows checked as the
    ledger checks them (each becomes its Customer and Invoice, or a Rejected)."""
    context = context or ImportContext()
    return list(_expand(importer.read(source, dict(options or {}), context)))


def _expand(records: Iterable) -> Iterator:
    from cobra.layout import check_row

    for record in records:
        if isinstance(record, LayoutRows):
            lines = getattr(record, "lines", None)
            if lines is None:  # rows of (line, cell, cell, ...)
                pairs = ((row[1:], row[0]) for row in record.rows)
            else:
                pairs = zip(record.rows, lines, strict=True)
            for cells, line in pairs:
                checked = check_row(
                    tuple(cells), Where(record.source, line), record.settings
                )
                if isinstance(checked, Rejected):
                    yield checked
                else:
                    yield from checked
        else:
            yield record


def _anywhere(records: list) -> list:
    """The records with their source's name left out, to compare two reads
    of the same content from two places."""
    return [replace(r, where=Where("<source>", r.where.line)) for r in records]


def _identity(record) -> tuple:
    """What the ledger knows a record by, on a second import."""
    if isinstance(record, Customer):
        return ("customer", record.account)
    if isinstance(record, Invoice):
        return ("invoice", record.account, record.number)
    if isinstance(record, CreditNote):
        return ("credit_note", record.account, record.number)
    if isinstance(record, Payment):
        return ("payment", record.account, record.reference)
    raise AssertionError(f"not a record: {record!r}")


def _import_flags(options: dict) -> list[str]:
    flags = []
    for key, value in options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            flags += [f"--{key.replace('_', '-')}", str(item)]
    return flags


def _undeclared(importer, options: dict) -> list[str]:
    return sorted(set(options) - {option.key for option in importer.options})


def _names_source(named: str, source: str) -> bool:
    """Whether a record's ``Where.source`` names *source*: as given, or a
    part of it (a file of a folder, a table of a server: ``SOURCE/part``)."""
    return named == source or named.startswith(source.rstrip("/") + "/")


@contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port where nothing listens: connecting is refused.

    The socket is bound but never listens, which holds the port so that no
    other process can start listening there during the test.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@contextmanager
def _silent_port() -> Iterator[int]:
    """A loopback port that takes connections and never answers.

    The kernel completes each connection into the listen queue and keeps
    what the client sends; nothing ever accepts it, so no answer comes, and
    closing the socket at the end resets the connections still waiting.
    """
    with socket.create_server(("127.0.0.1", 0), backlog=32) as sock:
        yield sock.getsockname()[1]


class _Attempt(NamedTuple):
    error: BaseException | None  # what read() raised, None if it ended
    took: float  # seconds
    records: int  # yielded before the end or the error


def _read_within(importer, source, options, context, limit: float) -> _Attempt:
    """Read *source* to the end in a thread of its own, waiting *limit*
    seconds at most: an importer that hangs fails the test, not the run."""
    outcome: dict = {}

    def attempt():
        started, count = time.monotonic(), 0
        try:
            for _ in importer.read(source, dict(options), context):
                count += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            outcome["error"] = exc
        outcome["took"], outcome["records"] = time.monotonic() - started, count

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(limit)
    assert not worker.is_alive(), (
        f"read() still runs after {limit:g} s: pass a timeout to every network "
        "call, and retry a bounded number of times"
    )
    return _Attempt(outcome.get("error"), outcome["took"], outcome["records"])


def _raised(attempt: _Attempt, expected: type, why: str) -> BaseException:
    error = attempt.error
    assert error is not None, (
        f"{why}: read() ended without an error, after {attempt.records} records"
    )
    assert isinstance(error, expected), (
        f"{why}: expected {expected.__name__}, got {type(error).__name__}: {error}"
    )
    assert str(error).strip(), "the error must say what happened"
    return error


class ImporterContract:
    """What cobra relies on from an importer, as tests to inherit.

    Define on the subclass:

    - ``importer``: the importer object;
    - ``good_source``: a source (a path or URL, as text) holding several
      valid records and no invalid one;
    - ``bad_source``: ``(source, lines)``: a source where the rows at
      *lines* (a set of line numbers) are invalid and valid rows surround
      them.

    Optional: ``import_options`` (the options ``read`` gets, by their
    key), ``import_context`` and ``streamed_source``, a
    :class:`StreamedSource`. By default the streamed source is
    ``good_source`` cut after half its lines; an importer that reads in
    batches, or a source that is not a file, defines its own (or skips
    the test by overriding it with ``pytest.skip``).

    To check the errors, each fixture left out skipping its test:

    - ``malformed_source``: ``(source, where)``: a source that can never be
      read as it is (not the format, a database that does not exist),
      and the text, such as ``path:3`` or the URL, by which the error
      must say where the problem is;
    - for an importer that reads from a server, ``source_at``: a function
      ``(host, port) -> source`` pointing it at a server there. The
      contract starts its own servers on loopback: one that refuses the
      connection and one that takes it and never answers. A file importer
      (no ``schemes``) has no such errors: those tests skip, saying so.
      A server that answers in part and then stalls is not tried: that
      takes the importer's own wire format;
    - ``timeout_options``: a function ``(seconds) -> options`` (over
      ``import_options``) that sets the importer's timeout, for the server
      that never answers. Set ``tries`` and ``retry_waits`` when the
      importer retries a failed request.
    """

    # Seconds the first record may take once the head of a streamed source
    # is written.
    first_record_within = 5.0
    # Against a server: how many requests the importer makes before it gives
    # up on one that fails (retries included), and the seconds it waits
    # between them, in all.
    tries = 1
    retry_waits = 0.0
    # The timeout the contract sets, in seconds, for the server that never
    # answers.
    hang_timeout = 0.3

    @pytest.fixture
    def importer(self):
        _override("importer", "return your importer object")

    @pytest.fixture
    def good_source(self):
        _override("good_source", "return a source with valid records only")

    @pytest.fixture
    def bad_source(self):
        _override("bad_source", "return (source, {line numbers of the bad rows})")

    @pytest.fixture
    def import_options(self) -> dict:
        return {}

    @pytest.fixture
    def import_context(self) -> ImportContext:
        return ImportContext(default_currency="USD", default_country="US")

    @pytest.fixture
    def malformed_source(self):
        _not_provided("malformed_source", "that bad input is a permanent error")

    @pytest.fixture
    def source_at(self, importer):
        if not importer.schemes:
            pytest.skip(
                f"{importer.name} reads files (it declares no URL scheme): no "
                "server to be down or to hang"
            )
        _not_provided("source_at", "the errors of a server that is down or hangs")

    @pytest.fixture
    def timeout_options(self, source_at):
        _not_provided("timeout_options", "that the timeout is honoured")

    @pytest.fixture
    def streamed_source(self, good_source) -> StreamedSource:
        path = Path(good_source)
        if not path.is_file():
            _override("streamed_source", "good_source is not a file to cut in two")
        lines = path.read_bytes().splitlines(keepends=True)
        if len(lines) < 2:
            _override("streamed_source", "good_source has fewer than two lines")
        half = len(lines) // 2
        return StreamedSource(path.name, b"".join(lines[:half]), b"".join(lines[half:]))

    def _read(self, importer, source, import_options, import_context) -> list:
        return read_records(importer, source, import_options, import_context)

    # -- what it declares

    def test_it_is_well_formed(self, importer):
        assert isinstance(importer, Importer), (
            "an importer is an instance of a subclass of cobra.importers.Importer"
        )
        assert isinstance(importer.name, str) and _NAME.fullmatch(importer.name), (
            f"name must be lowercase letters, digits, - or _, got {importer.name!r}"
        )
        _one_line(importer.description, "description")
        assert isinstance(importer.extensions, tuple)
        for extension in importer.extensions:
            assert re.fullmatch(r"\.[a-z0-9][a-z0-9.]*", extension), (
                f"extension {extension!r}: a lowercase suffix with its dot"
            )
        assert isinstance(importer.schemes, tuple)
        for scheme in importer.schemes:
            assert re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme), f"scheme {scheme!r}"
        assert (
            importer.extensions
            or importer.schemes
            or (type(importer).recognizes is not Importer.recognizes)
        ), "declare extensions or schemes, or override recognizes()"

    def test_its_options_are_declared(self, importer, import_options):
        from cobra.cli.cmd_import import import_command

        options = importer.options
        assert isinstance(options, tuple), "options must be a tuple of ImportOption"
        taken = {opt for param in import_command.params for opt in param.opts}
        names = [option.name for option in options]
        assert len(names) == len(set(names)), f"an option is declared twice: {names}"
        for option in options:
            assert isinstance(option, ImportOption), f"{option!r}: an ImportOption"
            assert _OPTION.fullmatch(option.name), (
                f"option {option.name!r}: lowercase words joined by -, no dashes first"
            )
            assert f"--{option.name}" not in taken, (
                f"--{option.name} is an option of cobra import itself"
            )
            _one_line(option.help, f"--{option.name}'s help")
        undeclared = _undeclared(importer, import_options)
        assert not undeclared, f"options read but not declared: {undeclared}"

    def test_it_recognizes_its_source(self, importer, good_source):
        assert importer.recognizes(good_source)

    def test_its_plugin_registers_it(self, importer):
        _registers(importer, "register_importers")

    def test_cobra_finds_it_installed(self, importer, cobra_config):
        from cobra.plugins import get_plugins

        found = get_plugins().importers().get(importer.name)
        assert found is not None, (
            f"no importer {importer.name!r} among the installed plugins: install "
            "the package (pip install -e .) and declare its module under "
            "[project.entry-points.cobra] in pyproject.toml"
        )
        assert type(found.obj) is type(importer)

    # -- reading

    def test_it_yields_records_lazily(
        self, importer, good_source, import_options, import_context
    ):
        records = importer.read(good_source, dict(import_options), import_context)
        assert isinstance(records, Iterator) and not isinstance(
            records, (list, tuple)
        ), "read() must yield records as it reads (a generator), not return a list"
        found = list(_expand(records))
        assert len(found) >= 2, "good_source should hold several records"
        rejected = [r for r in found if isinstance(r, Rejected)]
        assert not rejected, f"good_source has bad rows: {rejected[:3]}"

    @pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
    def test_the_first_record_comes_before_the_source_ends(
        self, importer, streamed_source, import_options, import_context, tmp_path
    ):
        name, head, tail = streamed_source
        (tmp_path / "pipe").mkdir()
        (tmp_path / "file").mkdir()
        pipe = tmp_path / "pipe" / name
        os.mkfifo(pipe)
        release = threading.Event()
        wait = self.first_record_within

        def feed():
            try:
                with open(pipe, "wb") as writer:  # waits for the reader
                    writer.write(head)
                    writer.flush()
                    release.wait(wait * 6)
                    writer.write(tail)
            except BrokenPipeError:
                pass  # the importer stopped reading; its test fails below

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        first: dict = {}

        def take_first():
            # read() itself runs here too: one that reads everything before
            # returning must not block the test.
            try:
                records = iter(
                    importer.read(str(pipe), dict(import_options), import_context)
                )
                first["records"] = records
                first["record"] = next(records)
            except BaseException as exc:  # noqa: BLE001 - reported below
                first["error"] = exc

        taker = threading.Thread(target=take_first, daemon=True)
        taker.start()
        taker.join(wait)
        early = not taker.is_alive()
        release.set()
        taker.join(wait * 2)
        assert not taker.is_alive(), "read() still waits after the source ended"
        if feeder.is_alive() and "error" in first:
            # The importer never opened the pipe: let the feeder go.
            os.close(os.open(pipe, os.O_RDONLY | os.O_NONBLOCK))
        if "error" in first:
            raise first["error"]
        assert early, (
            f"no record within {wait:g} s of the first {len(head)} bytes: read() "
            "waits for the whole source before yielding"
        )
        streamed = list(_expand([first["record"], *first["records"]]))
        whole = tmp_path / "file" / name
        whole.write_bytes(head + tail)
        expected = self._read(importer, str(whole), import_options, import_context)
        assert _anywhere(streamed) == _anywhere(expected), (
            "reading the source as it arrives gave other records than reading it whole"
        )

    def test_bad_rows_are_reported_with_their_lines(
        self, importer, bad_source, import_options, import_context
    ):
        source, lines = bad_source
        found = self._read(importer, source, import_options, import_context)
        rejected = [r for r in found if isinstance(r, Rejected)]
        for reject in rejected:
            assert _names_source(reject.where.source, source), (
                f"{reject}: Where(source, line) must name the source as given "
                "(or a part of it: SOURCE/part)"
            )
            assert isinstance(reject.where.line, int), f"{reject}: no line number"
            assert isinstance(reject.field, str)
            assert reject.problem.strip(), f"{reject}: says nothing of the problem"
        assert {r.where.line for r in rejected} == set(lines), (
            f"rejected lines {sorted({r.where.line for r in rejected})}, "
            f"expected {sorted(lines)}"
        )
        good = [r for r in found if not isinstance(r, Rejected)]
        assert any(r.where.line > min(lines) for r in good), (
            "reading must go on after a bad row (put a valid row after one)"
        )
        assert all(r.where.line not in lines for r in good)

    def test_the_same_source_gives_the_same_records(
        self, importer, good_source, import_options, import_context
    ):
        first = self._read(importer, good_source, import_options, import_context)
        again = self._read(importer, good_source, import_options, import_context)
        assert first == again, "two reads of one source gave different records"
        for record in first:
            identity = _identity(record)
            assert all(isinstance(part, str) and part for part in identity[1:]), (
                f"{record.where}: a record needs its ids: {identity}"
            )
            assert _names_source(record.where.source, good_source), (
                f"{record.where}: Where(source, line) must name {good_source}"
            )

    def test_importing_twice_changes_nothing(
        self, importer, good_source, import_options, cobra_run
    ):
        """Through ``cobra import``: the keys are stable, so the second
        import finds every record unchanged."""
        args = ["import", good_source, "--using", importer.name, "--format", "json"]
        args += _import_flags(import_options)
        first = cobra_run(*args)
        assert first.exit_code == 0, first.stderr
        counts = json.loads(first.stdout)
        assert counts["rejected"] == 0
        assert counts["customers"]["inserted"] + counts["invoices"]["inserted"] > 0
        again = cobra_run(*args)
        assert again.exit_code == 0, again.stderr
        counts = json.loads(again.stdout)
        for kind in ("customers", "invoices", "payments", "credit_notes"):
            changed = {k: v for k, v in counts[kind].items() if k != "unchanged"}
            assert not any(changed.values()), f"second import changed {kind}: {counts}"

    # -- errors: transient or permanent, and said

    def test_a_malformed_source_is_a_permanent_error_saying_where(
        self,
        importer,
        malformed_source,
        import_options,
        import_context,
        cobra_store,
        cobra_run,
    ):
        source, where = malformed_source
        attempt = _read_within(importer, source, import_options, import_context, 60)
        error = _raised(
            attempt,
            CobraInputError,
            "a source that can never be read as it stands is bad input (exit 2: "
            "running again unchanged fails again)",
        )
        assert where in str(error), f"the error must say where ({where}): {error}"
        args = ["import", source, "--using", importer.name]
        result = cobra_run(*args, *_import_flags(import_options))
        assert result.exit_code == 2, result.stderr
        assert where in result.stderr, result.stderr
        for table in ("customers", "invoices", "credit_notes", "payments"):
            [count] = cobra_store.conn.execute(
                f"SELECT COUNT(*) FROM {table}"
            ).fetchone()
            assert count == 0, f"cobra import wrote {count} {table} of a bad source"

    def test_a_server_that_is_down_is_a_transient_error(
        self, importer, source_at, import_options, import_context
    ):
        with _closed_port() as port:
            source = source_at("127.0.0.1", port)
            # Refused at once: only the waits between retries take time.
            limit = self.retry_waits + 5
            attempt = _read_within(
                importer, source, import_options, import_context, limit
            )
        _raised(
            attempt,
            CobraWorkError,
            "a server that refuses the connection is a failure to retry (exit 1: "
            "the next run tries again)",
        )

    def test_a_server_that_never_answers_is_given_up_within_the_timeout(
        self, importer, source_at, timeout_options, import_options, import_context
    ):
        limit = self.hang_timeout
        options = {**import_options, **timeout_options(limit)}
        undeclared = _undeclared(importer, options)
        assert not undeclared, f"timeout_options not declared: {undeclared}"
        # Each request may take the timeout to connect and again to read.
        allowed = self.tries * 2 * limit + self.retry_waits + 1
        with _silent_port() as port:
            source = source_at("127.0.0.1", port)
            attempt = _read_within(
                importer, source, options, import_context, allowed + 5
            )
        _raised(
            attempt,
            CobraWorkError,
            "a server that never answers is a failure to retry (exit 1)",
        )
        assert attempt.took <= allowed, (
            f"gave up after {attempt.took:.1f} s with a timeout of {limit:g} s "
            f"and {self.tries} tries: pass the timeout to every network call"
        )
