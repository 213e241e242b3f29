"""cobra.testing proves itself on cobra's own plugins, and catches broken ones.

The contract classes run here, unchanged, against the built-in jsonl and csv
importers and the webhook channel (with its real receiver on loopback), as a
third-party plugin's tests would run them. Then each contract test is handed
a plugin broken in the way it guards against, and must fail.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from cobra_plugins import importer_tryton
from cobra_plugins.channel_webhook import WebhookBackend, WebhookSession
from cobra_plugins.importer_csv import CsvImporter
from cobra_plugins.importer_jsonl import JsonLinesImporter
from cobra_plugins.importer_tryton import TrytonImporter
from provider_backend import (
    BatchProviderBackend,
    ProviderSession,
    journal_keys,
)
from provider_backend import plugin as provider_plugin
from services.http_receiver import HttpReceiver

import cobra.testing
from cobra.channels import ChannelSettings, PermanentError
from cobra.errors import CobraInputError, CobraWorkError
from cobra.importers import ImportContext
from cobra.plugins import get_plugins
from cobra.records import Rejected, Where
from cobra.store import latest_version
from cobra.testing import (
    ChannelContract,
    ImporterContract,
    StreamedSource,
    deliver,
    message_maker,
    queue_message,
    read_records,
    toml_table,
    toml_value,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytest_plugins = ["pytester"]

SECRET = "whsec-kit-5521"

JSONL = [
    {"type": "customer", "customer_id": "C1", "name": "Harbor Supply Co.",
     "email": "ap@harbor.example", "country": "US"},
    {"type": "invoice", "invoice_id": "F-1", "customer_id": "C1",
     "issue_date": "2026-10-01", "due_date": "2026-11-01", "currency": "USD",
     "amount": "1250.00"},
    {"type": "invoice", "invoice_id": "F-2", "customer_id": "C1",
     "issue_date": "2026-10-15", "due_date": "2026-11-15", "currency": "USD",
     "amount": "80.10"},
    {"type": "customer", "customer_id": "C2", "name": "Ferretería Ñuñoa",
     "country": "CL", "phone": "+56 9 9429 6940"},
    {"type": "invoice", "invoice_id": "F-3", "customer_id": "C2",
     "issue_date": "2026-10-20", "due_date": "2026-11-20", "currency": "CLP",
     "amount": "817748"},
    {"type": "payment", "payment_id": "P-1", "customer_id": "C1",
     "date": "2026-11-20", "currency": "USD", "amount": "80.10",
     "invoice_ids": ["F-2"]},
    {"type": "credit_note", "credit_note_id": "NC-1", "customer_id": "C1",
     "invoice_id": "F-1", "issue_date": "2026-11-05", "currency": "USD",
     "amount": "50.00"},
]  # fmt: skip

CSV_HEADER = (
    "customer_id,customer_name,email,invoice_id,issue_date,due_date,currency,"
    "amount,balance\n"
)


def csv_row(n: int, amount: str = "120.00") -> str:
    return (
        f"C{n:05d},Cliente {n},ap{n}@cliente.example,F-{n:06d},2026-10-01,"
        f"2026-11-01,USD,{amount},{amount}\n"
    )


def jsonl_text(rows) -> str:
    return "".join(
        (row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n"
        for row in rows
    )


def not_utf8_jsonl(folder: Path) -> tuple[str, str]:
    """A JSON Lines file whose third line is Latin-1, and where it says so."""
    path = folder / "latin1.jsonl"
    text = jsonl_text([JSONL[0], JSONL[1], JSONL[3], JSONL[4]])
    lines = text.splitlines(keepends=True)
    path.write_bytes(
        b"".join(
            line.encode("latin-1" if n == 2 else "utf-8")
            for n, line in enumerate(lines)
        )
    )
    return str(path), f"{path}:3: not UTF-8 text"


# -- the contracts pass for cobra's own plugins ------------------------------------


class TestJsonLinesImporterContract(ImporterContract):
    @pytest.fixture
    def importer(self):
        return JsonLinesImporter()

    @pytest.fixture
    def good_source(self, tmp_path):
        path = tmp_path / "ledger.jsonl"
        path.write_text(jsonl_text(JSONL), encoding="utf-8")
        return str(path)

    @pytest.fixture
    def bad_source(self, tmp_path):
        rows = list(JSONL)
        rows[1] = '{"type": "invoice", "invoice_id": '  # cut short
        rows[4] = {**JSONL[4], "due_date": "2026-13-45"}
        path = tmp_path / "bad.jsonl"
        path.write_text(jsonl_text(rows), encoding="utf-8")
        return str(path), {2, 5}

    @pytest.fixture
    def malformed_source(self, tmp_path):
        return not_utf8_jsonl(tmp_path)


class TestCsvImporterContract(ImporterContract):
    """The csv importer yields batches of layout rows; the contract checks
    them as the ledger does."""

    @pytest.fixture
    def importer(self):
        return CsvImporter()

    @pytest.fixture
    def good_source(self, tmp_path):
        path = tmp_path / "aging.csv"
        path.write_text(CSV_HEADER + "".join(map(csv_row, range(1, 6))))
        return str(path)

    @pytest.fixture
    def bad_source(self, tmp_path):
        rows = [
            csv_row(1),
            csv_row(2, "12O.00"),
            csv_row(3),
            csv_row(4, ""),
            csv_row(5),
        ]
        path = tmp_path / "aging.csv"
        path.write_text(CSV_HEADER + "".join(rows))
        return str(path), {3, 5}

    @pytest.fixture
    def malformed_source(self, tmp_path):
        # An export of something else: no amounts, no due dates.
        path = tmp_path / "contacts.csv"
        path.write_text("customer_id,customer_name,email\nC1,Ana,ana@example.com\n")
        return str(path), f"{path}: missing required columns"

    @pytest.fixture
    def import_options(self):
        return {"delimiter": ","}

    @pytest.fixture
    def streamed_source(self):
        # More than a batch (5000 rows) and than the 64 KiB read to find the
        # delimiter: the first batch must leave before the rest arrives.
        head = CSV_HEADER + "".join(map(csv_row, range(1, 5202)))
        tail = "".join(map(csv_row, range(5202, 5302)))
        return StreamedSource("aging.csv", head.encode(), tail.encode())


@pytest.fixture
def receiver():
    with HttpReceiver(secret=SECRET) as server:
        yield server


class TestWebhookChannelContract(ChannelContract):
    # A wrong signing secret shows only when a message is posted.
    check_finds_setup_failures = False

    @pytest.fixture
    def backend(self):
        return WebhookBackend()

    @pytest.fixture
    def channel_settings(self, receiver, cobra_config, monkeypatch):
        monkeypatch.setenv("HOOK_SECRET", SECRET)
        cobra_config.add_channel(
            "crm", "webhook", url=receiver.url, secret_env="HOOK_SECRET"
        )
        return cobra_config.channel_settings("crm")

    @pytest.fixture
    def delivered(self, receiver):
        return lambda: [r.json["key"] for r in receiver.accepted()]

    @pytest.fixture
    def transient_failure(self, receiver, channel_settings):
        receiver.answer(503, "busy", {"Retry-After": "3"})
        return channel_settings

    @pytest.fixture
    def permanent_failure(self, receiver, channel_settings):
        receiver.answer(422, {"error": "unknown account C0001"})
        return channel_settings

    @pytest.fixture
    def setup_failure(self, channel_settings, monkeypatch):
        monkeypatch.setenv("HOOK_SECRET", "not-the-receivers-secret")
        return channel_settings

    @pytest.fixture
    def hung_provider(self, receiver, channel_settings):
        receiver.answer(200, {"id": "late"}, delay=30)
        return replace(channel_settings, timeout=0.4)


class TestProviderBatchChannelContract(ChannelContract):
    """The stand-in provider of the outbox tests, taking 10 messages a
    request: the batch tests run here, where the webhook's skip."""

    @pytest.fixture
    def backend(self):
        return BatchProviderBackend()

    @pytest.fixture
    def cobra_config(self, cobra_config):
        # The stand-in is no installed package: the tests register it.
        get_plugins().register(provider_plugin, "provider")
        return cobra_config

    @pytest.fixture
    def journal(self, tmp_path):
        return tmp_path / "provider.jsonl"

    @pytest.fixture
    def bound(self, cobra_config, journal):
        """``bound(channel, **options)``: settings of the stand-in on a
        channel of its own, all writing to the one journal."""

        def bind(channel, **options):
            cobra_config.add_channel(
                channel, "provider-batch", journal=str(journal), **options
            )
            return cobra_config.channel_settings(channel)

        return bind

    @pytest.fixture
    def channel_settings(self, bound):
        return bound("sms")

    @pytest.fixture
    def delivered(self, journal):
        return lambda: journal_keys(journal)

    @pytest.fixture
    def batch_permanent_failure(self, bound):
        return bound("refusing", fail_first=1, error="permanent", only=["C0002"])

    @pytest.fixture
    def transient_failure(self, bound):
        return bound("busy", fail_first=1)

    @pytest.fixture
    def permanent_failure(self, bound):
        return bound("rejecting", fail_first=1, error="invalid")

    def test_its_test_settings_pass_config_check(self):
        pytest.skip("the stand-in's options are the tests' knobs, left undeclared")

    def test_its_plugin_registers_it(self):
        pytest.skip("the stand-in's hook is on a class the tests register")


# -- the fixtures --------------------------------------------------------------------


def test_cobra_testing_is_a_pytest_plugin(request):
    [entry] = [e for e in entry_points(group="pytest11") if e.value == "cobra.testing"]
    assert entry.name == "cobra"
    assert request.config.pluginmanager.get_plugin("cobra") is cobra.testing


def test_the_config_fixture_keeps_cobra_in_a_folder_of_its_own(
    cobra_config, cobra_store, cobra_run, tmp_path
):
    assert cobra_config.path.parent == cobra_config.folder
    result = cobra_run("db", "path")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(cobra_config.folder / "cobra.sqlite")
    assert cobra_store.path == cobra_config.folder / "cobra.sqlite"
    assert cobra_store.conn.execute("PRAGMA user_version").fetchone()[0] == (
        latest_version()
    )
    shown = cobra_run("config", "show", "--format", "json")
    [origin] = {
        row["source"] for row in json.loads(shown.stdout) if row["key"] == "store.path"
    }
    assert origin == str(cobra_config.path)


def test_a_config_with_a_problem_fails_loudly(cobra_config):
    from cobra.errors import ConfigError

    cobra_config.add("[send]\nmax_attempts = 'soon'\n")
    with pytest.raises(ConfigError, match="send.max_attempts: expected an integer"):
        cobra_config.load()


def test_channel_settings_come_from_the_file_as_cobra_send_builds_them(
    cobra_config, monkeypatch
):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    cobra_config.add("[receipts]\npublic_url = 'https://cobra.example/r/'\n")
    cobra_config.add_channel(
        "crm",
        "webhook",
        url="http://127.0.0.1:9/hook",
        secret_env="HOOK_SECRET",
        timeout=2.5,
        headers={"X-Tenant": "acme"},
    )
    settings = cobra_config.channel_settings("crm")
    assert (settings.channel, settings.backend, settings.timeout) == (
        "crm",
        "webhook",
        2.5,
    )
    assert settings.get("headers") == {"X-Tenant": "acme"}
    assert settings.secret("secret_env") == SECRET
    assert settings.receipts_url == "https://cobra.example/r/crm"

    cobra_config.add_channel("chat", "acmechat")
    with pytest.raises(pytest.fail.Exception, match="no channel backend 'acmechat'"):
        cobra_config.channel_settings("chat")


@pytest.mark.parametrize(
    "value",
    [
        'say "hi" \\ bye\n\ttab',
        "Ñuñoa € \x7f \x01",
        3,
        -0.25,
        True,
        ["a", 1, [False]],
        {"X-Tenant": "acme", "with space": {"deep": 1.5}},
        {},
    ],
)
def test_toml_values_read_back_as_written(value):
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_toml_refuses_what_it_cannot_write():
    with pytest.raises(TypeError, match="set values"):
        toml_value({1, 2})
    with pytest.raises(ValueError, match="nan"):
        toml_value(float("nan"))
    text = toml_table("channels.my chat", {"backend": "x"})
    assert tomllib.loads(text) == {"channels": {"my chat": {"backend": "x"}}}


def test_a_queued_message_is_sent_by_cobra_send(
    cobra_config, cobra_store, cobra_run, tmp_path
):
    """queue_message leaves what `cobra plan` leaves: the file backend sends it."""
    folder = tmp_path / "outbox"
    cobra_config.add_channel("email", "file", folder=str(folder))
    key = queue_message(
        cobra_store, channel="email", kind="email", address="ap@harbor.example"
    )
    result = cobra_run("send", "--for", "2026-12-03", "--at", cobra.testing.SEND_AT)
    assert result.exit_code == 0, result.stderr
    assert "sent 1, failed 0" in result.stderr
    [sent] = list(folder.iterdir())
    text = sent.read_text(encoding="utf-8")
    assert "<ap@harbor.example>" in text
    assert key in text
    with pytest.raises(ValueError, match="needs an email address"):
        queue_message(cobra_store, channel="email", kind="email", account="C2")


def test_read_records_checks_layout_rows_as_the_ledger_does(tmp_path):
    path = tmp_path / "aging.csv"
    path.write_text(CSV_HEADER + csv_row(1) + csv_row(2, "abc"))
    records = read_records(CsvImporter(), str(path))
    assert [type(r).__name__ for r in records] == ["Customer", "Invoice", "Rejected"]
    assert records[1].amount == 12000
    assert records[2].where == Where(str(path), 3)
    assert records[2].field == "amount"


# -- and they fail for plugins that break them -------------------------------------


class ListImporter(JsonLinesImporter):
    """Reads the whole source before handing anything over."""

    def read(self, source, options, context):
        return list(super().read(source, options, context))


class LinelessImporter(JsonLinesImporter):
    def read(self, source, options, context):
        for record in super().read(source, options, context):
            if isinstance(record, Rejected):
                record = Rejected(Where(source), record.field, record.problem)
            yield record


class RandomIdImporter(JsonLinesImporter):
    """Makes up a payment reference on each read: a second import duplicates."""

    def read(self, source, options, context):
        for record in super().read(source, options, context):
            if type(record).__name__ == "Payment":
                record.reference = f"P-{random.randrange(10**9)}"
            yield record


@pytest.fixture
def jsonl_source(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_text(jsonl_text(JSONL), encoding="utf-8")
    return str(path)


def test_an_importer_that_returns_a_list_fails_the_contract(jsonl_source, tmp_path):
    contract = ImporterContract()
    contract.first_record_within = 0.5
    context = ImportContext()
    with pytest.raises(AssertionError, match=r"not return a list"):
        contract.test_it_yields_records_lazily(
            ListImporter(), jsonl_source, {}, context
        )
    text = jsonl_text(JSONL).encode()
    streamed = StreamedSource("ledger.jsonl", text[:200], text[200:])
    with pytest.raises(AssertionError, match="waits for the whole source"):
        contract.test_the_first_record_comes_before_the_source_ends(
            ListImporter(), streamed, {}, context, tmp_path
        )


def test_bad_rows_without_lines_fail_the_contract(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(jsonl_text([JSONL[0], "{", JSONL[1]]), encoding="utf-8")
    with pytest.raises(AssertionError, match="no line number"):
        ImporterContract().test_bad_rows_are_reported_with_their_lines(
            LinelessImporter(), (str(path), {2}), {}, ImportContext()
        )
    with pytest.raises(AssertionError, match=r"expected \[2, 3\]"):
        ImporterContract().test_bad_rows_are_reported_with_their_lines(
            JsonLinesImporter(), (str(path), {2, 3}), {}, ImportContext()
        )


def test_keys_that_change_between_reads_fail_the_contract(jsonl_source):
    with pytest.raises(AssertionError, match="different records"):
        ImporterContract().test_the_same_source_gives_the_same_records(
            RandomIdImporter(), jsonl_source, {}, ImportContext()
        )


def test_an_option_named_like_cobras_own_fails_the_contract():
    from cobra.importers import ImportOption

    class Clashing(JsonLinesImporter):
        options = (ImportOption("format", "Which flavour of JSON."),)

    with pytest.raises(AssertionError, match="--format is an option of cobra import"):
        ImporterContract().test_its_options_are_declared(Clashing(), {})
    with pytest.raises(AssertionError, match=r"not declared: \['encoding'\]"):
        ImporterContract().test_its_options_are_declared(
            JsonLinesImporter(), {"encoding": "latin-1"}
        )


def rewrapping(base, caught, convert):
    """A *base* importer that turns each *caught* error it raises into
    ``convert(error)``, or stops reading without a word when that is None."""

    class Rewrapping(base):
        def read(self, source, options, context):
            try:
                yield from super().read(source, options, context)
            except caught as exc:
                error = convert(exc)
                if error is not None:
                    raise error from None

    return Rewrapping()


class PatientTryton(TrytonImporter):
    """Waits ten times longer than its --tryton-timeout says."""

    def read(self, source, options, context):
        timeout = float(options["tryton_timeout"]) * 10
        return super().read(source, {**options, "tryton_timeout": timeout}, context)


@pytest.fixture
def tryton_at(monkeypatch):
    """Where TrytonImporter reads with a login, retrying after 0.01 s."""
    monkeypatch.setattr(importer_tryton, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("TRYTON_USER", "admin")
    monkeypatch.setenv("TRYTON_PASSWORD", "tryton-pw")
    monkeypatch.delenv("TRYTON_API_KEY", raising=False)
    return lambda host, port: f"tryton://{host}:{port}/cobra"


def tryton_contract() -> ImporterContract:
    contract = ImporterContract()
    contract.tries = importer_tryton.TRIES
    # Each wait doubles the one before: 0.01 + 0.02 + 0.04 s.
    contract.retry_waits = sum(0.01 * 2**n for n in range(importer_tryton.TRIES - 1))
    return contract


def test_a_server_that_is_down_taken_for_bad_input_fails_the_contract(tryton_at):
    """cobra run would never try it again: a server down for the night
    would stop the imports for good."""
    hopeless = rewrapping(
        TrytonImporter, CobraWorkError, lambda e: CobraInputError(str(e))
    )
    with pytest.raises(
        AssertionError,
        match="expected CobraWorkError, got CobraInputError: cannot reach",
    ):
        tryton_contract().test_a_server_that_is_down_is_a_transient_error(
            hopeless, tryton_at, {}, ImportContext()
        )
    tryton_contract().test_a_server_that_is_down_is_a_transient_error(
        TrytonImporter(), tryton_at, {}, ImportContext()
    )


def test_a_timeout_not_honoured_fails_the_importer_contract(tryton_at):
    contract = tryton_contract()
    contract.hang_timeout = 0.1

    def options(seconds):
        return {"tryton_timeout": seconds}

    with pytest.raises(
        AssertionError, match=r"gave up after [4-6]\.\d s with a timeout of 0.1 s and 4"
    ):
        contract.test_a_server_that_never_answers_is_given_up_within_the_timeout(
            PatientTryton(), tryton_at, options, {}, ImportContext()
        )
    contract.test_a_server_that_never_answers_is_given_up_within_the_timeout(
        TrytonImporter(), tryton_at, options, {}, ImportContext()
    )


@pytest.mark.parametrize(
    ("convert", "says"),
    [
        (lambda e: CobraWorkError(str(e)), "expected CobraInputError, got CobraWorkE"),
        (lambda e: CobraInputError("not UTF-8 text"), "the error must say where"),
        (lambda e: None, "read.. ended without an error, after 2 records"),
    ],
    ids=["taken-for-transient", "saying-not-where", "stopping-quietly"],
)
def test_a_malformed_source_misreported_fails_the_contract(
    convert, says, tmp_path, cobra_store, cobra_run
):
    importer = rewrapping(JsonLinesImporter, CobraInputError, convert)
    with pytest.raises(AssertionError, match=says):
        ImporterContract().test_a_malformed_source_is_a_permanent_error_saying_where(
            importer,
            not_utf8_jsonl(tmp_path),
            {},
            ImportContext(),
            cobra_store,
            cobra_run,
        )


class PanickySession(WebhookSession):
    """Takes a busy receiver for a refusal: messages would be failed for good."""

    def _outcome(self, response):
        if response.status_code >= 500:
            raise PermanentError(f"HTTP {response.status_code}")
        return super()._outcome(response)


class PatientSession(WebhookSession):
    """Waits far longer than it was told to."""

    def __init__(self, settings):
        super().__init__(settings)
        self.timeout *= 6


class ForgetfulSession(WebhookSession):
    """Sends a new Idempotency-Key each time, so the receiver keeps copies."""

    def send(self, message):
        return super().send(replace(message, key=f"{message.key}#{random.random()}"))


def broken(session_class, base=WebhookBackend, **attributes):
    """A *base* backend whose sessions are *session_class*, with *attributes*
    declared on it."""

    class Broken(base):
        def connect(self, settings):
            return session_class(settings)

    for name, value in attributes.items():
        setattr(Broken, name, value)
    return Broken()


@pytest.fixture
def webhook(receiver, monkeypatch):
    """Settings for the receiver, a message maker, and what it accepted."""
    from cobra.channels import ChannelSettings
    from cobra.config import load_unchecked

    monkeypatch.setenv("HOOK_SECRET", SECRET)
    config = load_unchecked()
    config.set_override("channels.crm.secret_env", "HOOK_SECRET", "test")
    settings = ChannelSettings(
        channel="crm",
        backend="webhook",
        options={"url": receiver.url, "secret_env": "HOOK_SECRET"},
        config=config,
        timeout=0.3,
    )
    make = message_maker("crm", "webhook", None)
    return settings, make, lambda: [r.json["key"] for r in receiver.accepted()]


def test_a_busy_receiver_taken_as_permanent_fails_the_contract(receiver, webhook):
    settings, make, delivered = webhook
    receiver.answer(503, "busy")
    with pytest.raises(AssertionError, match="expected TransientError, got Perm"):
        ChannelContract().test_a_transient_failure_loses_nothing(
            broken(PanickySession), settings, make, delivered
        )


def test_a_timeout_not_honoured_fails_the_contract(receiver, webhook):
    settings, make, _ = webhook
    receiver.answer(200, {"id": "late"}, delay=30)
    with pytest.raises(
        AssertionError, match=r"gave up after 1\.[89] s; settings.timeout is 0.3"
    ):
        ChannelContract().test_a_hung_provider_is_given_up_within_the_timeout(
            broken(PatientSession), settings, make
        )


def test_a_false_claim_of_replay_safety_fails_the_contract(receiver, webhook):
    settings, make, _ = webhook

    def keys():
        return [r.json["key"].split("#0.")[0] for r in receiver.accepted()]

    with pytest.raises(AssertionError, match="holds 2 copies of a message sent twice"):
        ChannelContract().test_a_message_sent_again_is_not_duplicated_when_replay_safe(
            broken(ForgetfulSession), settings, make, keys
        )
    assert len(receiver.accepted()) == 2


def test_a_backend_declared_wrongly_fails_the_contract():
    contract = ChannelContract()
    with pytest.raises(AssertionError, match="kinds must be a non-empty tuple"):
        contract.test_it_is_well_formed(broken(WebhookSession, kinds="webhook"))
    with pytest.raises(AssertionError, match="rate_limit"):
        contract.test_it_is_well_formed(broken(WebhookSession, rate_limit=-1))
    from cobra.config_schema import Key, string

    keys = {"token_env": Key(string, "Environment variable holding the token.")}
    with pytest.raises(AssertionError, match="token_env names a secret"):
        contract.test_its_config_keys_are_well_formed(
            broken(WebhookSession, config_keys=keys)
        )


def test_a_check_that_says_nothing_or_sends_fails_the_contract(receiver, webhook):
    settings, _, delivered = webhook

    def silent(self, settings):
        return ""

    def sending(self, settings):
        deliver(WebhookBackend(), settings, message_maker("crm", "webhook", None)())
        return "posted a test message"

    contract = ChannelContract()
    with pytest.raises(AssertionError, match="what check.. returns must be a non-em"):
        contract.test_check_tries_it_without_sending(
            broken(WebhookSession, check=silent), settings, delivered
        )
    with pytest.raises(AssertionError, match="check.. must not send anything"):
        contract.test_check_tries_it_without_sending(
            broken(WebhookSession, check=sending), settings, delivered
        )


def test_a_backend_no_plugin_registers_fails_the_contract():
    with pytest.raises(AssertionError, match="no @cobra.hookimpl register_channels"):
        ChannelContract().test_its_plugin_registers_it(broken(WebhookSession))


def test_the_end_to_end_check_reads_the_outbox(
    receiver, cobra_config, cobra_store, cobra_run, monkeypatch
):
    """What test_cobra_send_delivers_through_it sees when cobra send fails."""
    monkeypatch.setenv("HOOK_SECRET", "not-the-secret")
    cobra_config.add_channel(
        "crm", "webhook", url=receiver.url, secret_env="HOOK_SECRET"
    )
    settings = cobra_config.channel_settings("crm")
    with pytest.raises(AssertionError, match="refuses our signature"):
        ChannelContract().test_cobra_send_delivers_through_it(
            WebhookBackend(),
            settings,
            list,
            None,
            cobra_config,
            cobra_store,
            cobra_run,
        )
    [state] = cobra_store.conn.execute("SELECT state FROM outbox").fetchone()
    assert state == "queued"  # nothing lost


class ShortSession(ProviderSession):
    """Leaves the last message of each batch out of its answer."""

    def send_batch(self, messages):
        return super().send_batch(messages)[:-1]


class SpreadingSession(ProviderSession):
    """Answers a batch holding one refused message with that refusal for all."""

    def send_batch(self, messages):
        results = super().send_batch(messages)
        refusals = [found for found in results if isinstance(found, PermanentError)]
        return [refusals[0]] * len(results) if refusals else results


class UnbatchedSession(ProviderSession):
    send_batch = None  # declares batch_size, sends one message at a time


def broken_batch(session_class, **attributes):
    return broken(session_class, BatchProviderBackend, **attributes)


@pytest.fixture
def provider(tmp_path):
    """Settings for the stand-in provider, one refusing the message of
    C0002 for good, a message maker, and what the provider holds."""
    journal = tmp_path / "provider.jsonl"

    def settings(**options):
        options = {"journal": str(journal), **options}
        return ChannelSettings("sms", "provider-batch", options, config=None)

    refusing = settings(fail_first=1, error="permanent", only=["C0002"])
    make = message_maker("sms", "sms", "+12125550123")
    return settings(), refusing, make, lambda: journal_keys(journal)


def test_a_short_batch_answer_fails_the_contract(provider):
    working, refusing, make, delivered = provider
    contract = ChannelContract()
    with pytest.raises(
        AssertionError, match="send_batch returned 9 results for a batch of 10"
    ):
        contract.test_a_batch_reaches_the_provider_with_one_result_per_message(
            10, broken_batch(ShortSession), working, make, delivered
        )
    with pytest.raises(
        AssertionError, match="send_batch returned 2 results for a batch of 3"
    ):
        contract.test_a_permanent_failure_in_a_batch_fails_that_message_only(
            10, broken_batch(ShortSession), refusing, make, delivered
        )


def test_one_refusal_reported_for_the_whole_batch_fails_the_contract(provider):
    _, refusing, make, delivered = provider
    with pytest.raises(
        AssertionError,
        match="message 1 of the batch failed with message 2's refusal "
        r"\(PermanentError: provider refused attempt 1\)",
    ):
        ChannelContract().test_a_permanent_failure_in_a_batch_fails_that_message_only(
            10, broken_batch(SpreadingSession), refusing, make, delivered
        )
    # The provider took the other two: cobra would have failed sent messages.
    assert sorted(delivered()) == [make(1).key, make(3).key]


def test_the_stand_in_batch_passes_where_the_broken_ones_fail(provider):
    """The same calls as above, on the working stand-in: the contract tests
    can pass, so their failures above are the broken backends'."""
    working, refusing, make, delivered = provider
    contract = ChannelContract()
    contract.test_a_permanent_failure_in_a_batch_fails_that_message_only(
        10, BatchProviderBackend(), refusing, make, delivered
    )
    # The next test expects the provider to hold its own messages only.
    Path(str(working.get("journal"))).unlink()
    contract.test_a_batch_reaches_the_provider_with_one_result_per_message(
        2, BatchProviderBackend(), working, make, delivered
    )
    assert len(delivered()) == 3  # a batch of two, then one of one


def test_a_batch_size_without_send_batch_fails_the_contract(provider):
    working, _, make, delivered = provider
    with pytest.raises(AssertionError, match="its sessions have no send_batch"):
        ChannelContract().test_a_batch_reaches_the_provider_with_one_result_per_message(
            10, broken_batch(UnbatchedSession), working, make, delivered
        )
    assert delivered() == []


@pytest.mark.parametrize("size", [0, -3, "10", 2.5, True])
def test_a_batch_size_that_is_no_positive_int_fails_the_contract(size):
    with pytest.raises(AssertionError, match="batch_size must be an integer of at"):
        ChannelContract().test_it_is_well_formed(
            broken_batch(ProviderSession, batch_size=size)
        )


def test_a_backend_sending_one_at_a_time_skips_the_batch_tests(pytester, monkeypatch):
    """Before the fixtures a batch test needs, so a plugin without batches
    is not asked for batch_permanent_failure."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    pytester.makepyfile(
        test_single="""
        import pytest
        from provider_backend import ProviderBackend
        from cobra.testing import ChannelContract

        class TestSingle(ChannelContract):
            @pytest.fixture
            def backend(self):
                return ProviderBackend()
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-rs", "-k", "batch"
    )
    result.assert_outcomes(skipped=2)
    reason = "batch_size is 1: cobra hands each message to send(), never to send_batch"
    assert result.stdout.str().count(reason) == 2, result.stdout.str()


# -- the examples in docs/plugins.md -----------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
EXAMPLE_TESTS = (
    Path(__file__).resolve().parent.parent
    / "plugins"
    / "cobra-chat-example"
    / "tests"
    / "test_matrix.py"
)


def docs_block(containing: str, after: str = "") -> str:
    text = DOCS.read_text(encoding="utf-8")
    text = text[text.index(after) :] if after else text
    blocks = re.findall(r"```python\n(.+?)```", text, flags=re.DOTALL)
    return next(block for block in blocks if containing in block)


def test_the_importer_contract_example_in_the_docs_passes(pytester, monkeypatch):
    """The documented importer, installed as a distribution with its entry
    point, passes the documented contract class."""
    site = pytester.mkdir("site")
    (site / "cobra_acme.py").write_text(docs_block("class AcmeLedgerImporter"))
    info = site / "cobra_acme-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: cobra-acme\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[cobra]\nacme = cobra_acme\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("COBRA_LOAD_PLUGINS", "acme")
    pytester.makepyfile(
        test_acme=docs_block("class TestAcmeLedger", "## Testing your plugin")
    )

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")

    # A file importer: the two tests of a server that is down or hangs skip.
    result.assert_outcomes(passed=len(contract_tests(ImporterContract)) - 2, skipped=2)
    reason = "acme-ledger reads files (it declares no URL scheme)"
    assert result.stdout.str().count(reason) == 2, result.stdout.str()


def contract_tests(contract) -> list[str]:
    return [name for name in dir(contract) if name.startswith("test_")]


def test_the_channel_contract_example_in_the_docs_is_the_example_plugins():
    block = docs_block("class TestMatrixContract")
    assert block in EXAMPLE_TESTS.read_text(encoding="utf-8")
