"""The kannel backend against a real Kannel gateway on loopback.

Messages go through smsbox's sendsms interface to Kannel's fake SMS centre
(which prints what it gets) or to its HTTP centre (which hands each message
to the test's listener as query parameters); delivery reports and incoming
SMS come back from Kannel itself. Only faults that Kannel cannot be made to
show (a hung server, a page that is not Kannel's, answers of a differently
configured gateway) are played by small stand-ins on loopback that answer
in smsbox's wire format: a status line and one line of text.
"""

# ruff: noqa: F811 - the gateway fixtures imported from services.kannel are
# parameters of the tests, which ruff takes for redefinitions.

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cobra_plugins.channel_kannel import KannelBackend, is_gsm7, phone_number
from histories import History, load
from services.kannel import (
    BARRED_PASSWORD,
    BARRED_USERNAME,
    GLOBAL_SENDER,
    INBOUND_QUERY,
    PASSWORD,
    USERNAME,
    Listener,
    Unavailable,
    free_ports,
    installed,
    kannel,  # noqa: F401  (the session's gateway, a fixture)
    kannel_listener,  # noqa: F401
    running,
)

from cobra import config as cobra_config
from cobra.channels import (
    ChannelSettings,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    Request,
    SetupError,
    TransientError,
)
from cobra.plugins import get_plugins
from cobra.testing import ChannelContract

BACKEND = KannelBackend()
DAY = "2026-06-10"
NUMBER = "+56912345678"
counter = iter(range(1, 1_000_000))


def settings(
    url: str,
    monkeypatch,
    *,
    password: str = PASSWORD,
    receipts_url: str | None = None,
    timeout: float = 5.0,
    **options,
):
    """Channel settings as cobra send builds them, from a real config."""
    monkeypatch.setenv("KANNEL_TEST_PASSWORD", password)
    table = {
        "backend": "kannel",
        "url": url,
        "username": USERNAME,
        "password_env": "KANNEL_TEST_PASSWORD",
        **options,
    }
    lines = ["[channels.sms]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    with open("cobra.toml", "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    config = cobra_config.load()
    return ChannelSettings(
        channel="sms",
        backend="kannel",
        options=dict(config.get("channels.sms")),
        config=config,
        timeout=timeout,
        receipts_url=receipts_url,
    )


def message(body: str, *, to: str = NUMBER, key: str | None = None):
    number = next(counter)
    return OutgoingMessage(
        id=number,
        key=key or f"ACME-{number}|friendly-reminder#2|2026-06-10|sms",
        channel="sms",
        kind="sms",
        to=to,
        account="ACME",
        customer_name="Acme Tools",
        language="es",
        subject=None,
        body=body,
        planned_for=date(2026, 6, 10),
    )


def request(call) -> Request:
    """What `cobra receipts serve` hands a backend for one listener call."""
    return Request(
        method=call.method,
        path=call.path,
        url=call.url,
        query=call.query,
        form={},
        headers={},
        body=b"",
    )


def send(gateway_settings, outgoing):
    session = BACKEND.connect(gateway_settings)
    try:
        return session.send(outgoing)
    finally:
        session.close()


def unique(text: str) -> str:
    return f"{text} #{next(counter)}"


# -- registration and the alphabet ----------------------------------------------------


def test_the_backend_is_registered_as_a_builtin_plugin():
    backend = get_plugins().channels()["kannel"].obj
    assert backend.kinds == ("sms",)
    assert (backend.concurrency, backend.rate_limit, backend.can_lookup) == (
        4,
        None,
        False,
    )
    assert set(backend.config_keys) == {
        "url",
        "username",
        "password_env",
        "from",
        "smsc",
        "timeout",
    }
    assert backend.config_keys["password_env"].secret


@pytest.mark.parametrize(
    ("text", "gsm"),
    [
        ("Hola señor, ¿qué tal? Debe $1.200 (vence el 10/06) {ref} €", True),
        ("Está pendiente", False),  # á is not in the GSM alphabet
        ("Pagado 🙂", False),
        ("Line one\nline two", True),
        ("`backtick`", False),
    ],
)
def test_gsm_7_alphabet(text, gsm):
    assert is_gsm7(text) is gsm


def test_without_kannel_and_without_root_the_tests_skip_with_the_reason(
    tmp_path, monkeypatch
):
    from services import debian
    from services import kannel as service

    monkeypatch.setattr(service, "BEARERBOX", tmp_path / "bearerbox")
    monkeypatch.setattr(debian.os, "geteuid", lambda: 1000)
    with pytest.raises(Unavailable, match="apt-get install kannel kannel-extras"):
        installed()


def test_an_install_that_was_possible_and_failed_is_an_error_not_a_skip(
    tmp_path, monkeypatch
):
    from services import debian
    from services import kannel as service

    # An apt-get that cannot reach the archive, on a root machine: CI must
    # go red rather than skip the gateway's tests.
    apt_get = tmp_path / "apt-get"
    apt_get.write_text(
        "#!/bin/sh\necho 'E: Unable to locate package kannel' >&2\nexit 100\n"
    )
    apt_get.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(service, "BEARERBOX", tmp_path / "bearerbox")
    monkeypatch.setattr(debian.os, "geteuid", lambda: 0)
    monkeypatch.setattr(debian, "LOCK_FILE", str(tmp_path / "apt.lock"))
    with pytest.raises(debian.InstallFailed, match="Unable to locate package kannel"):
        installed()


# -- sending through the real gateway --------------------------------------------------


def test_accents_and_emoji_arrive_at_the_centre_as_ucs2(kannel, monkeypatch):
    body = unique("Hola Acme: su factura está vencida 🙂 — pague en línea")
    assert (
        send(
            settings(
                kannel.sendsms_url, monkeypatch, smsc="web", **{"from": "CobraCL"}
            ),
            message(body),
        )
        is None
    )

    [call] = kannel.listener.wait_for(
        lambda c: c.path == "/smsc" and body.encode("utf-16-be") == c.raw["text"]
    )
    assert call.query["to"] == NUMBER
    assert call.query["from"] == "CobraCL"
    assert (call.query["coding"], call.query["charset"]) == ("2", "UTF-16BE")


class CountingRelay:
    """Passes TCP connections through to smsbox, counting them.

    Sits between the session and the real smsbox, so what it counts is the
    connections the session opened, each carrying real requests and answers.
    """

    def __init__(self, upstream: str):
        parts = urllib.parse.urlsplit(upstream)
        self.target = (parts.hostname, parts.port)
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = parts._replace(netloc=f"127.0.0.1:{port}").geturl()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            server = socket.create_connection(self.target, timeout=10)
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), daemon=True
                ).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_a_session_sends_twenty_sms_over_one_connection(kannel, monkeypatch):
    relay = CountingRelay(kannel.sendsms_url)
    bodies = [unique(f"Recordatorio {n}: su factura vence hoy") for n in range(20)]
    session = BACKEND.connect(settings(relay.url, monkeypatch, smsc="web"))
    try:
        for body in bodies:
            assert session.send(message(body)) is None
    finally:
        session.close()
        relay.close()
    assert relay.connections == 1
    for body in bodies:
        kannel.listener.wait_for(
            lambda c, body=body: c.path == "/smsc" and c.query.get("text") == body
        )


def test_a_gsm_text_goes_as_7_bit_utf8_to_one_receiver(kannel, monkeypatch):
    body = unique("Hola señor, ¿qué tal? Debe $1.200 €")
    # smsbox would read each space-separated part as a receiver of its own.
    to = "+56 9 1234-5678"
    send(settings(kannel.sendsms_url, monkeypatch, smsc="web"), message(body, to=to))

    [call] = kannel.listener.wait_for(
        lambda c: c.path == "/smsc" and c.query.get("text") == body
    )
    assert (call.query["coding"], call.query["charset"]) == ("0", "UTF-8")
    assert call.query["from"] == GLOBAL_SENDER  # smsbox's, when `from` is unset
    assert call.query["to"] == NUMBER
    time.sleep(0.3)
    assert len(kannel.listener.matching(lambda c: c.query.get("text") == body)) == 1


def test_delivery_reports_arrive_and_are_read(kannel, monkeypatch):
    # A key with what Kannel would take for its own codes once escaped: é is
    # %C3%A9 (%C is the charset, %A the answer) and a literal "%d".
    key = f"CAFÉ-{next(counter)}|friendly-reminder#2|2026-06-10|sms 100%d"
    body = unique("Recordatorio de pago")
    base = kannel.listener.base + "/sms"
    send(
        settings(kannel.sendsms_url, monkeypatch, receipts_url=base),
        message(body, key=key),
    )

    assert kannel.wait_fake_centre(body) == [(GLOBAL_SENDER, NUMBER, body)]
    calls = kannel.listener.wait_for(
        lambda c: c.path == "/sms/status" and c.query.get("key") == key, count=2
    )
    # Kannel makes both calls at once, so they may arrive in either order
    # (cobra's receipts never move a message back from delivered to sent).
    by_status = {c.query["status"]: c for c in calls}
    assert set(by_status) == {"8", "1"}
    assert all(c.query["to"] == NUMBER for c in calls)
    [accepted] = BACKEND.receipt(request(by_status["8"]))
    [delivered] = BACKEND.receipt(request(by_status["1"]))
    assert (accepted.state, accepted.key) == ("sent", key)
    assert (delivered.state, delivered.key) == ("delivered", key)
    assert accepted.detail == "ACK/"  # the centre's answer, Kannel's %A
    assert abs(int(by_status["1"].query["at"]) - time.time()) < 60


def test_a_number_an_upstream_gateway_refuses_is_reported_invalid(kannel, monkeypatch):
    # The upstream gateway bars +1 numbers: Kannel reports 16 with its answer.
    key = f"BARRED-{next(counter)}|friendly-reminder#2|2026-06-10|sms"
    base = kannel.listener.base + "/sms"
    send(
        settings(kannel.sendsms_url, monkeypatch, receipts_url=base, smsc="upstream"),
        message(unique("Recordatorio"), to="+12125550190", key=key),
    )

    [call] = kannel.listener.wait_for(
        lambda c: c.path == "/sms/status" and c.query.get("key") == key
    )
    assert call.query["status"] == "16"
    [receipt] = BACKEND.receipt(request(call))
    assert (receipt.state, receipt.key) == ("failed", key)
    assert receipt.invalid_address is True
    assert receipt.detail == (
        "NACK/Number(s) has/have been denied by white- and/or black-lists."
    )


def test_a_report_that_the_phone_never_got_it_marks_the_number_invalid(
    kannel, monkeypatch
):
    key = f"UNDELIV-{next(counter)}|friendly-reminder#2|2026-06-10|sms"
    body = unique("Aviso de pago")
    base = kannel.listener.base + "/sms"
    send(
        settings(kannel.sendsms_url, monkeypatch, receipts_url=base, smsc="web"),
        message(body, key=key),
    )
    [sent] = kannel.listener.wait_for(
        lambda c: c.path == "/smsc" and c.query.get("text") == body
    )
    assert kannel.report(sent, 2) == "Sent."  # the centre: not delivered

    def reported(status):
        [call] = kannel.listener.wait_for(
            lambda c: (
                c.path == "/sms/status"
                and c.query.get("key") == key
                and c.query.get("status") == status
            )
        )
        [receipt] = BACKEND.receipt(request(call))
        return receipt

    accepted, failed = reported("8"), reported("2")
    assert (accepted.state, accepted.invalid_address) == ("sent", False)
    assert (failed.state, failed.key) == ("failed", key)
    assert failed.invalid_address is True
    assert failed.detail == "the SMS centre could not deliver it"


def test_without_a_receipts_url_no_report_is_asked_for(kannel, monkeypatch):
    body = unique("Sin reportes")
    send(settings(kannel.sendsms_url, monkeypatch, smsc="web"), message(body))

    [call] = kannel.listener.wait_for(
        lambda c: c.path == "/smsc" and c.query.get("text") == body
    )
    assert not call.query.get("dlr-mask")


def test_a_replies_reach_the_get_url_and_are_read(kannel):
    stop = unique("STOP")
    answer = kannel.inject("+56987654321", stop)
    assert answer == "Sent."  # Kannel's HTTP centre took it
    reply = unique("Ya pagué, gracias 🙂")
    kannel.inject("56987654321", reply.encode("utf-16-be"), coding="2")

    def arrived(text):
        sent_as = (text.encode("utf-8"), text.encode("utf-16-be"))
        return lambda c: c.path == "/sms/inbound" and c.raw.get("text") in sent_as

    [first] = kannel.listener.wait_for(arrived(stop))
    [second] = kannel.listener.wait_for(arrived(reply))

    [opt_out] = BACKEND.inbound(request(first))
    assert (opt_out.channel, opt_out.sender, opt_out.text) == (
        "sms",
        "+56987654321",
        stop,
    )
    assert opt_out.provider_id and opt_out.received_at.endswith("+00:00")
    [answered] = BACKEND.inbound(request(second))
    # UCS-2 arrives as UTF-16BE bytes; a number without "+" is international.
    assert (answered.sender, answered.text) == ("+56987654321", reply)
    assert answered.provider_id != opt_out.provider_id
    # max-messages = 0 in the sms-service: the listener's answer is not texted
    # back (with 1, "<Empty reply from service provider>" reaches /smsc).
    time.sleep(1)
    assert not kannel.listener.matching(
        lambda c: c.path == "/smsc" and c.query.get("to") == "+56987654321"
    )


# -- faults -----------------------------------------------------------------------------


def test_a_wrong_password_is_a_setup_error(kannel, monkeypatch):
    body = unique("Nunca sale")
    with pytest.raises(SetupError) as raised:
        send(
            settings(kannel.sendsms_url, monkeypatch, password="not-it"), message(body)
        )

    said = str(raised.value)
    assert "403 'Authorization failed for sendsms'" in said
    assert "password_env" in said and "not-it" not in said
    time.sleep(0.3)
    assert kannel.wait_fake_centre(body, timeout=0) == []


def test_a_receiver_kannel_refuses_is_an_invalid_address(kannel, monkeypatch):
    body = unique("Número malo")
    with pytest.raises(PermanentError) as raised:
        send(
            settings(kannel.sendsms_url, monkeypatch),
            message(body, to="+56 9 1234 ABCD"),
        )

    assert raised.value.invalid_address
    assert "400 'Number(s) has/have been denied" in str(raised.value)
    time.sleep(0.3)
    assert kannel.wait_fake_centre(body, timeout=0) == []


def test_smsbox_down_is_transient_and_the_message_goes_once_it_is_back(
    kannel, monkeypatch
):
    body = unique("Cuando vuelva")
    outgoing = message(body)
    gateway = settings(kannel.sendsms_url, monkeypatch)
    kannel.stop_smsbox()
    try:
        with pytest.raises(TransientError) as raised:
            send(gateway, outgoing)
    finally:
        kannel.start_smsbox()

    said = str(raised.value)
    assert "connection refused" in said and "is smsbox running" in said
    assert PASSWORD not in said
    assert kannel.wait_fake_centre(body, timeout=0) == []
    send(gateway, outgoing)  # what cobra send does on its retry
    assert kannel.wait_fake_centre(body) == [(GLOBAL_SENDER, NUMBER, body)]


@pytest.fixture
def full_gateway(tmp_path, monkeypatch):
    """A gateway of its own with no SMS centre connected and room for one
    queued message: the real way to a 503 from smsbox."""
    try:
        installed()
    except Unavailable as exc:
        pytest.skip(str(exc))
    listener = Listener()
    try:
        with running(
            tmp_path / "kannel",
            listener=listener,
            fake_centre=False,
            outgoing_queue_limit=1,
        ) as gateway:
            yield gateway
    finally:
        listener.close()


def test_a_full_gateway_is_transient_and_nothing_is_lost(full_gateway, monkeypatch):
    gateway = settings(full_gateway.sendsms_url, monkeypatch)
    queued, refused = message(unique("Primero")), message(unique("Segundo"))
    session = BACKEND.connect(gateway)
    try:
        assert session.send(queued) is None  # "3: Queued for later delivery"
        with pytest.raises(TransientError) as raised:
            session.send(refused)
        assert "503 'Temporal failure, try again later.'" in str(raised.value)

        full_gateway.start_fake_centre()
        assert full_gateway.wait_fake_centre(queued.body)
        session.send(refused)  # the retry
        assert full_gateway.wait_fake_centre(refused.body)
    finally:
        session.close()
    got = [text for _, _, text in full_gateway.fake_centre_got()]
    assert got.count(queued.body) == got.count(refused.body) == 1


class StandIn:
    """A loopback HTTP server answering every request the same way."""

    def __init__(self, status: int, body: str, headers: dict | None = None):
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stand_in.requests.append(self.path)
                data = body.encode()
                self.send_response(status)
                for name, value in {
                    "Content-Type": "text/html",
                    **(headers or {}),
                }.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/sendsms"
        threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "check"),
    [
        # A page that is not smsbox's answer (a proxy, another service).
        (
            200,
            "<html><body>Welcome to nginx!</body></html>",
            {},
            TransientError,
            "which is not a sendsms answer",
        ),
        (500, "Internal Server Error", {}, TransientError, "500"),
        (429, "Too Many Requests", {"Retry-After": "7"}, TransientError, "429"),
        # smsbox's own 4xx answers when its config or the request is wrong.
        (
            400,
            "Charset or body misformed, rejected",
            {},
            PermanentError,
            "Charset or body misformed",
        ),
        (
            400,
            "Sender missing and no global set, rejected",
            {},
            SetupError,
            "set `from`",
        ),
        (
            400,
            "Empty receiver number not allowed, rejected",
            {},
            PermanentError,
            "Empty receiver",
        ),
        (302, "", {"Location": "/login"}, TransientError, "not a sendsms answer"),
    ],
)
def test_answers_are_classified(monkeypatch, status, body, headers, error, check):
    stand_in = StandIn(status, body, headers)
    try:
        with pytest.raises(error) as raised:
            send(settings(stand_in.url, monkeypatch), message("Hola"))
    finally:
        stand_in.close()

    assert type(raised.value) is error
    assert check in str(raised.value)
    assert len(stand_in.requests) == 1  # no retry hidden in the backend
    if error is PermanentError:
        assert raised.value.invalid_address == ("receiver" in body)
    if status == 429:
        assert raised.value.retry_after == 7


@pytest.mark.parametrize(
    "answer",
    [
        "3: Queued for later delivery",  # the real one: test_a_full_gateway...
        "Sent.",  # smsbox with immediate-sendsms-reply = true
    ],
)
def test_other_answers_that_mean_accepted(monkeypatch, answer):
    stand_in = StandIn(202, answer)
    try:
        assert send(settings(stand_in.url, monkeypatch), message("Hola")) is None
    finally:
        stand_in.close()


def test_proxy_variables_are_honoured(monkeypatch):
    """The session reads the environment once; a proxy set there is used."""
    proxy = StandIn(202, "0: Accepted for delivery")
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.removesuffix("/cgi-bin/sendsms"))
    [closed] = free_ports(1)  # nothing listens there: only the proxy answers
    url = f"http://127.0.0.1:{closed}/cgi-bin/sendsms"
    try:
        send(settings(url, monkeypatch), message("Hola"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with pytest.raises(TransientError, match="connection refused"):
            send(settings(url, monkeypatch), message("Hola"))
    finally:
        proxy.close()
    [through_proxy] = proxy.requests
    assert through_proxy.startswith(url + "?")


class HungServer:
    """Accepts connections on loopback and never answers."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.held = []
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/cgi-bin/sendsms"
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self):
        try:
            while True:
                self.held.append(self.server.accept()[0])
        except OSError:  # closed
            pass

    def close(self):
        for connection in self.held:
            connection.close()
        self.server.close()


def test_a_server_that_never_answers_leaves_the_outcome_unknown(monkeypatch):
    hung = HungServer()
    started = time.monotonic()
    try:
        with pytest.raises(OutcomeUnknown) as raised:
            send(settings(hung.url, monkeypatch, timeout=0.5), message("Hola"))
    finally:
        hung.close()

    took = time.monotonic() - started
    # The request went out: smsbox may have the message, and a retry could
    # text the customer twice, so cobra settles it as after a crash.
    assert "did not answer within 0.5 s; it may have taken the message" in str(
        raised.value
    )
    assert 0.4 < took < 3


def test_an_empty_message_or_no_number_fails_without_a_request(monkeypatch):
    stand_in = StandIn(202, "0: Accepted for delivery")
    try:
        gateway = settings(stand_in.url, monkeypatch)
        with pytest.raises(PermanentError, match="empty"):
            send(gateway, message("  \n"))
        with pytest.raises(PermanentError, match="no phone number"):
            send(gateway, message("Hola", to=None))
    finally:
        stand_in.close()
    assert stand_in.requests == []


def test_setup_problems_are_named(monkeypatch):
    with pytest.raises(SetupError, match="channels.sms.url must be the smsbox"):
        BACKEND.connect(settings("localhost:13013", monkeypatch))
    gateway = settings("http://127.0.0.1:9/cgi-bin/sendsms", monkeypatch)
    monkeypatch.delenv("KANNEL_TEST_PASSWORD")
    with pytest.raises(SetupError, match="KANNEL_TEST_PASSWORD, which is not set"):
        BACKEND.connect(gateway)


# -- reading callbacks ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("1", "delivered"),
        ("2", "failed"),
        ("4", "sent"),
        ("8", "sent"),
        ("16", "failed"),
    ],
)
def test_each_report_type_maps_to_a_state(status, state):
    query = {"key": "K|s#1|2026-06-10|sms", "status": status, "answer": ""}
    call = Request("GET", "/sms/status", "http://x/sms/status", query, {}, {}, b"")
    [receipt] = BACKEND.receipt(call)
    assert (receipt.key, receipt.state) == ("K|s#1|2026-06-10|sms", state)
    assert receipt.detail  # the meaning, when the centre gave no answer


SMPP_REPORT = "id:7 sub:001 dlvrd:000 submit date:2606101200 done date:2606101201"


@pytest.mark.parametrize(
    ("status", "answer", "invalid"),
    [
        ("2", "", True),  # Kannel's own word: not delivered to the phone
        ("2", f"{SMPP_REPORT} stat:UNDELIV err:001 text:Hola", True),
        ("2", f"{SMPP_REPORT} stat:REJECTD err:000 text:Hola", True),
        # Switched off past the validity period, or dropped: it may work later.
        ("2", f"{SMPP_REPORT} stat:EXPIRED err:000 text:Hola", False),
        ("2", f"{SMPP_REPORT} stat:DELETED err:000 text:Hola", False),
        ("16", "NACK/0x0000000b/Invalid Destination Address", True),
        ("16", "NACK/0x00000051/Invalid Destination Numbering Plan Indicator", True),
        (
            "16",
            "NACK/Number(s) has/have been denied by white- and/or black-lists.",
            True,
        ),
        # The centre refused cobra's side: the sender, the account, the rate.
        ("16", "NACK/0x0000000a/Invalid Source Address", False),
        ("16", "NACK/0x00000058/Throttling error", False),
        ("16", "NACK/", False),
        ("1", "", False),
        ("8", "ACK/", False),
    ],
)
def test_a_failed_report_says_whether_the_number_is_bad(status, answer, invalid):
    query = {"key": "K|s#1|2026-06-10|sms", "status": status, "answer": answer}
    call = Request("GET", "/sms/status", "http://x/sms/status", query, {}, {}, b"")
    [receipt] = BACKEND.receipt(call)
    assert receipt.invalid_address is invalid


@pytest.mark.parametrize(
    "query",
    [{"status": "1"}, {"key": "K", "status": "32"}, {"key": "K", "status": "%d"}],
)
def test_a_request_that_is_not_a_report_is_refused(query):
    call = Request("GET", "/sms/status", "http://x/sms/status", query, {}, {}, b"")
    with pytest.raises(ValueError):
        BACKEND.receipt(call)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+56987654321", "+56987654321"),
        ("0056987654321", "+56987654321"),
        ("56 9 8765 4321", "+56987654321"),
        ("MOVISTAR", "MOVISTAR"),
    ],
)
def test_senders_are_read_as_e164(raw, e164):
    assert phone_number(raw) == e164


# -- end to end: cobra plan, cobra send, cobra receipts serve --------------------------


def wait_until(check, what: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)
    return found


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def receipts_serve(isolated):
    """`cobra receipts serve` as a process of its own, on a port chosen here."""
    [port] = free_ports(1)
    processes = []

    def start():
        process = subprocess.Popen(
            [sys.executable, "-m", "cobra", "receipts", "serve", "--port", str(port)],
            cwd=isolated,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        processes.append(process)
        wait_until(
            lambda: process.poll() is not None or port_open(port),
            "cobra receipts serve listening",
        )
        assert process.poll() is None, process.stderr.read().decode()
        return process

    yield port, start
    for process in processes:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does: it stops cleanly
        process.wait(10)
        process.stderr.close()


def test_cobra_send_through_kannel_then_reports_and_a_stop_reach_receipts_serve(
    run, tmp_path, isolated, monkeypatch, receipts_serve
):
    try:
        installed()
    except Unavailable as exc:
        pytest.skip(str(exc))
    port, start_serve = receipts_serve
    public = f"http://127.0.0.1:{port}"
    listener = Listener()
    gateway = running(
        tmp_path / "kannel",
        listener=listener,
        get_url=f"{public}/sms/inbound?{INBOUND_QUERY}",
    )
    with gateway as kannel:
        monkeypatch.setenv("KANNEL_TEST_PASSWORD", PASSWORD)
        (isolated / "cobra.toml").write_text(
            sms_config(
                kannel, f'from = "CobraUS"\n[receipts]\npublic_url = "{public}"\n'
            )
        )
        number = "+12125550147"
        reminded_customer(run, tmp_path, "KANNELE2E", number)
        # The kannel backend's keys pass `cobra config check` (whatever else
        # the check may find in the starter files).
        checked = run("config", "check")
        assert "channels.sms" not in checked.stdout + checked.stderr
        start_serve()

        # Noon in New York on the planned day: the US rules allow an SMS.
        result = run("send", "--for", DAY, "--at", f"{DAY}T12:00:00-04:00")
        assert result.exit_code == 0, result.stderr
        assert "Send: sent 1, failed 0" in result.stderr

        db = sqlite3.connect(run("db", "path").stdout.strip())
        db.row_factory = sqlite3.Row
        [row] = db.execute("SELECT * FROM outbox WHERE channel = 'sms'").fetchall()
        assert (row["backend"], row["address"]) == ("kannel", number)
        got = kannel.wait_fake_centre(row["body"])
        assert got == [("CobraUS", number, row["body"])]

        def state():
            return db.execute(
                "SELECT state FROM outbox WHERE id = ?", (row["id"],)
            ).fetchone()[0]

        def events():
            return {
                event
                for (event,) in db.execute(
                    "SELECT state FROM outbox_events WHERE outbox_id = ?", (row["id"],)
                )
            }

        # Kannel sends its reports 8 (at the centre) and 1 (delivered) each on
        # its own HTTP request, so they may arrive in either order; a late 8
        # is kept as an event without moving the message back.
        wait_until(
            lambda: {"sent", "delivered"} <= events(), "both delivery reports kept"
        )
        assert state() == "delivered"

        assert kannel.inject(number, "STOP") == "Sent."
        wait_until(
            lambda: db.execute(
                "SELECT 1 FROM opt_outs WHERE customer_id = ? AND channel = 'sms'",
                (row["customer_id"],),
            ).fetchone(),
            "the STOP reply applied",
        )
        [(sender, text)] = db.execute("SELECT sender, text FROM inbound").fetchall()
        assert (sender, text) == (number, "STOP")
        db.close()
    listener.close()


def test_a_number_refused_upstream_is_marked_invalid_through_receipts_serve(
    kannel, run, tmp_path, isolated, monkeypatch, receipts_serve
):
    port, start_serve = receipts_serve
    number = "+12125550191"
    monkeypatch.setenv("KANNEL_TEST_PASSWORD", PASSWORD)
    (isolated / "cobra.toml").write_text(
        sms_config(
            kannel,
            f'smsc = "upstream"\n[receipts]\npublic_url = "http://127.0.0.1:{port}"\n',
        )
    )
    reminded_customer(run, tmp_path, "BARREDUP", number)
    start_serve()

    result = run("send", "--for", DAY, "--at", f"{DAY}T12:00:00-04:00")
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 1, failed 0" in result.stderr  # smsbox took it
    with sqlite3.connect(run("db", "path").stdout.strip()) as db:

        def outcome():
            return db.execute(
                "SELECT o.state, o.error, c.invalid_since, c.invalid_reason"
                " FROM outbox o JOIN contacts c ON c.customer_id = o.customer_id"
                " WHERE o.channel = 'sms' AND c.value = ?",
                (number,),
            ).fetchone()

        wait_until(lambda: outcome()[0] == "failed", "Kannel's report 16 applied")
        wait_until(lambda: outcome()[2], "the number marked invalid")
        _, error, _, reason = outcome()
    assert "denied by white- and/or black-lists" in error
    assert "denied by white- and/or black-lists" in reason


def sms_config(kannel, extra: str = "") -> str:
    """cobra.toml for the kannel backend of this gateway, then *extra*."""
    return (
        "[channels.sms]\n"
        'backend = "kannel"\n'
        f'url = "{kannel.sendsms_url}"\n'
        f'username = "{USERNAME}"\n'
        'password_env = "KANNEL_TEST_PASSWORD"\n'
    ) + extra


def reminded_customer(run, tmp_path, account: str, number: str) -> None:
    """A customer whose SMS reminder is planned for DAY: two years of bills
    paid on time, the last one two days overdue, the friendly-reminder
    strategy's SMS step."""
    customer = History(account, f"{account.title()} Inc.", phone=number)
    customer.monthly(date(2024, 5, 8), 24, "1200.00")
    customer.invoice(date(2026, 5, 9), "1200.00")
    load(run, tmp_path, customer)
    assert run("plan", "--for", DAY).exit_code == 0


def outbox_state(run) -> tuple[str, str | None]:
    with sqlite3.connect(run("db", "path").stdout.strip()) as db:
        return db.execute(
            "SELECT state, error FROM outbox WHERE channel = 'sms'"
        ).fetchone()


def test_cobra_send_keeps_the_sms_queued_through_a_wrong_password_and_smsbox_down(
    kannel, run, tmp_path, isolated, monkeypatch
):
    number = "+12125550148"
    (isolated / "cobra.toml").write_text(
        sms_config(
            kannel,
            "[send]\n"
            "backoff_seconds = 60\n"
            "max_wait_seconds = 0\n",  # leave retries to the next run
        )
    )
    reminded_customer(run, tmp_path, "WRONGPW", number)

    def sent_to_number():
        return [got for got in kannel.fake_centre_got() if got[1] == number]

    noon = f"{DAY}T12:00:00-04:00"

    monkeypatch.setenv("KANNEL_TEST_PASSWORD", "stale-password")
    refused = run("send", "--for", DAY, "--at", noon)
    assert refused.exit_code == 1
    assert "channel sms" in refused.stderr
    assert "Authorization failed for sendsms" in refused.stderr
    assert "stale-password" not in refused.stderr
    state, error = outbox_state(run)
    assert state == "queued" and "Authorization failed" in error

    monkeypatch.setenv("KANNEL_TEST_PASSWORD", PASSWORD)
    kannel.stop_smsbox()
    try:
        down = run("send", "--for", DAY, "--at", noon)
    finally:
        kannel.start_smsbox()
    assert down.exit_code == 0, down.stderr
    assert "retried 1" in down.stderr
    state, error = outbox_state(run)
    assert state == "queued" and "connection refused" in error
    assert PASSWORD not in error
    time.sleep(0.3)
    assert sent_to_number() == []

    later = run("send", "--for", DAY, "--at", f"{DAY}T13:00:00-04:00")
    assert later.exit_code == 0, later.stderr
    assert "Send: sent 1, failed 0" in later.stderr
    assert outbox_state(run)[0] == "sent"
    wait_until(sent_to_number, "the SMS at the fake centre")
    time.sleep(0.3)
    assert len(sent_to_number()) == 1


# -- cobra's channel contract (cobra.testing), against the real gateway ----------------


class SmsboxGate:
    """In front of the real smsbox: the first request gets the answer smsbox
    gives when the bearerbox's queue is full (503 "Temporal failure, try
    again later.", as test_a_full_gateway... gets from Kannel itself); every
    later one is passed on to smsbox, and its answer back."""

    def __init__(self, target: str):
        self.requests = 0
        gate = self
        origin = target.removesuffix("/cgi-bin/sendsms")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                gate.requests += 1
                if gate.requests == 1:
                    status, body = 503, b"Temporal failure, try again later."
                else:
                    try:
                        with urllib.request.urlopen(origin + self.path, timeout=5) as a:
                            status, body = a.status, a.read()
                    except urllib.error.HTTPError as refused:
                        status, body = refused.code, refused.read()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/sendsms"
        threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def with_options(channel_settings, **changes):
    return replace(channel_settings, options={**channel_settings.options, **changes})


contract_runs = iter(range(1, 1_000_000))


class TestKannelChannelContract(ChannelContract):
    """What cobra relies on from every backend, through the real gateway.

    Which messages Kannel holds is read from Kannel itself: each message
    the SMS centre accepts gets a delivery report of type 8 carrying its
    idempotency key, at a listener path of the test's own.
    """

    @pytest.fixture
    def backend(self):
        return KannelBackend()

    @pytest.fixture
    def reports_path(self):
        return f"/contract-{next(contract_runs)}"

    @pytest.fixture
    def channel_settings(self, kannel, cobra_config, monkeypatch, reports_path):
        monkeypatch.setenv("KANNEL_TEST_PASSWORD", PASSWORD)
        public_url = kannel.listener.base + reports_path
        cobra_config.add(f'[receipts]\npublic_url = "{public_url}"\n')
        cobra_config.add_channel(
            "sms",
            "kannel",
            url=kannel.sendsms_url,
            username=USERNAME,
            password_env="KANNEL_TEST_PASSWORD",
        )
        return cobra_config.channel_settings("sms")

    @pytest.fixture
    def delivered(self, kannel, reports_path):
        path = f"{reports_path}/sms/status"

        def accepted() -> list[str]:
            calls = kannel.listener.matching(
                lambda c: c.path == path and c.query.get("status") == "8"
            )
            return [call.query["key"] for call in calls]

        def keys() -> list[str]:
            # Reports come on their own time: wait until none came for a while.
            seen, quiet_since = accepted(), time.monotonic()
            deadline = quiet_since + 10
            while time.monotonic() - quiet_since < 0.6 < deadline - time.monotonic():
                time.sleep(0.05)
                if (now := accepted()) != seen:
                    seen, quiet_since = now, time.monotonic()
            return seen

        return keys

    @pytest.fixture
    def transient_failure(self, kannel, channel_settings):
        gate = SmsboxGate(kannel.sendsms_url)
        yield with_options(channel_settings, url=gate.url)
        gate.close()

    @pytest.fixture
    def permanent_failure(self, channel_settings, monkeypatch):
        # The contract's recipient is +1 212...: barred for this account.
        monkeypatch.setenv("KANNEL_TEST_PASSWORD", BARRED_PASSWORD)
        return with_options(channel_settings, username=BARRED_USERNAME)

    @pytest.fixture
    def setup_failure(self, channel_settings, monkeypatch):
        monkeypatch.setenv("KANNEL_TEST_PASSWORD", "not-the-password")
        return channel_settings

    @pytest.fixture
    def hung_provider(self, channel_settings):
        hung = HungServer()
        yield replace(with_options(channel_settings, url=hung.url), timeout=0.4)
        hung.close()
