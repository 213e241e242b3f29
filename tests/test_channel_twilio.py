"""The twilio channel backend, against a STAND-IN for Twilio on loopback.

Twilio cannot run here. ``services/twilio_standin.py`` is a small HTTP server
that checks every request against Twilio's published API description (the
``CreateMessage`` operation of twilio-oai's ``twilio_api_v2010.json``) and
answers with the documented wire format: a 201 message resource, or Twilio's
error document. Passing these tests shows the backend speaks that format; it
does not show Twilio's servers agree. The signature tests also check against
the example vector published with Twilio's own request validator.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from datetime import date
from urllib.parse import urlsplit

import pytest
from cobra_plugins import channel_twilio
from cobra_plugins.channel_twilio import TwilioBackend, signature
from services.http_receiver import HttpReceiver
from services.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn

from cobra.channels import (
    ChannelSettings,
    Inbound,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    Receipt,
    Request,
    SetupError,
    TransientError,
)
from cobra.config import check, load_unchecked
from cobra.config_schema import Table

SENDER = "+15005550006"
# The parameters of the example Twilio publishes with its request validator.
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
SID = re.compile(r"SM[0-9a-f]{32}")


@pytest.fixture
def standin():
    with TwilioStandIn() as server:
        yield server


@pytest.fixture
def listener():
    """Where Twilio's callbacks arrive (``cobra receipts serve``'s place)."""
    with HttpReceiver(path="/receipts/sms") as server:
        yield server


@pytest.fixture
def settings(standin, monkeypatch):
    monkeypatch.setenv("TWILIO_TOKEN", AUTH_TOKEN)

    def make(channel="sms", *, timeout=5.0, receipts_url=None, **options):
        options = {
            "account_sid": ACCOUNT_SID,
            "auth_token_env": "TWILIO_TOKEN",
            "from": SENDER,
            "api_url": standin.api_url,
            **options,
        }
        options = {k: v for k, v in options.items() if v is not None}
        config = load_unchecked()
        for key, value in options.items():
            config.set_override(f"channels.{channel}.{key}", value, "test")
        return ChannelSettings(
            channel=channel,
            backend="twilio",
            options=options,
            config=config,
            timeout=timeout,
            receipts_url=receipts_url,
        )

    return make


def message(n=1, *, to="+56912345678", kind="sms", body=None) -> OutgoingMessage:
    return OutgoingMessage(
        id=n,
        key=f"C{n:04d}|gentle#1|2027-03-01|{kind}",
        channel=kind,
        kind=kind,
        to=to,
        account=f"C{n:04d}",
        customer_name="Ferretería Ñuñoa",
        language="es",
        subject=None,
        body=body or f"Hola, la factura {n} venció ayer. Responda STOP para salir.",
        planned_for=date(2027, 3, 1),
    )


def send(settings, *messages):
    session = TwilioBackend().connect(settings)
    try:
        return [session.send(m) for m in messages]
    finally:
        session.close()


def as_request(received) -> Request:
    """What ``cobra receipts serve`` hands the backend for a received call."""
    return Request(
        method=received.method,
        path=urlsplit(received.path).path,
        url=received.url,
        query=received.query,
        form=received.form,
        headers=received.headers,
        body=received.body,
    )


# -- sending -----------------------------------------------------------------------


def test_an_sms_goes_out_as_twilio_documents_it(standin, settings, listener):
    base = f"http://127.0.0.1:{listener.port}/receipts/sms"
    [sid] = send(settings(receipts_url=base), message())

    assert standin.violations == []
    [call] = standin.calls
    assert call.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert (call.user, call.password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert call.form == {
        "To": "+56912345678",
        "From": SENDER,
        "Body": "Hola, la factura 1 venció ayer. Responda STOP para salir.",
        "StatusCallback": base + "/status",
    }
    assert SID.fullmatch(sid) and sid == standin.messages[0]["sid"]


def test_no_status_callback_is_asked_for_without_a_listener(standin, settings):
    send(settings(), message())
    assert "StatusCallback" not in standin.calls[0].form


def test_whatsapp_numbers_are_channel_addresses(standin, settings):
    send(settings("whatsapp"), message(kind="whatsapp"))
    send(settings("sms", whatsapp=True), message(2))
    send(settings("sms", whatsapp=False), message(3, kind="whatsapp"))

    assert standin.violations == []
    sent = [(c.form["To"], c.form["From"]) for c in standin.calls]
    assert sent == [
        ("whatsapp:+56912345678", "whatsapp:" + SENDER),
        ("whatsapp:+56912345678", "whatsapp:" + SENDER),
        ("+56912345678", SENDER),
    ]


def test_a_messaging_service_can_stand_in_for_the_sender(standin, settings):
    service = "MG" + "ab" * 16
    send(settings(messaging_service_sid=service, **{"from": None}), message())
    assert standin.violations == []
    form = standin.calls[0].form
    assert form["MessagingServiceSid"] == service and "From" not in form


def test_many_messages_share_one_connection(standin, settings):
    sids = send(settings(), *(message(n) for n in range(1, 31)))
    assert len(set(sids)) == 30 and len(standin.messages) == 30
    assert standin.connections == 1
    assert {c.connection for c in standin.calls} == {1}


def test_the_channel_table_is_checked(settings):
    keys = Table(TwilioBackend().config_keys)
    problems = check(
        {"account_sid": "12345", "whatsapp": "yes", "messaging_service_sid": "x"},
        "cobra.toml",
        keys,
        prefix="channels.sms.",
    )
    found = {p.key: p.message for p in problems}
    assert "AC and 32 hex" in found["channels.sms.account_sid"]
    assert "true or false" in found["channels.sms.whatsapp"]
    assert "MG and 32 hex" in found["channels.sms.messaging_service_sid"]
    assert check(dict(settings().options), "cobra.toml", keys) == []


def test_it_is_registered_as_a_builtin_channel():
    from cobra.plugins import get_plugins

    backend = get_plugins().channels()["twilio"].obj
    assert backend.kinds == ("sms", "whatsapp")
    assert (backend.concurrency, backend.rate_limit, backend.can_lookup) == (
        4,
        None,
        False,
    )


def test_a_channel_without_a_sender_cannot_start(settings):
    with pytest.raises(SetupError, match="needs from .* or messaging_service_sid"):
        TwilioBackend().connect(settings(**{"from": None}))


# -- faults: each says what happened, is classed, and loses nothing --------------


def test_a_wrong_token_is_a_setup_error(standin, settings, monkeypatch):
    monkeypatch.setenv("TWILIO_TOKEN", "not-the-token")
    with pytest.raises(SetupError) as caught:
        send(settings(), message())
    text = str(caught.value)
    assert "Twilio error 20003 (HTTP 401): Authenticate" in text
    assert "$TWILIO_TOKEN" in text and "channels.sms.account_sid" in text
    assert standin.messages == []


def test_an_unknown_account_is_a_setup_error(standin, settings):
    with pytest.raises(SetupError, match=r"error 20404 \(HTTP 404\).*api_url"):
        send(settings(api_url=standin.api_url + "/nowhere"), message())
    assert standin.messages == []


@pytest.mark.parametrize(
    ("code", "invalid_address"),
    [(21211, True), (21614, True), (21610, True), (21617, False)],
)
def test_a_rejected_message_is_permanent(standin, settings, code, invalid_address):
    standin.fail(400, code, "The message cannot be sent as it is")
    with pytest.raises(PermanentError) as caught:
        send(settings(), message())
    assert str(caught.value) == (
        f"Twilio error {code} (HTTP 400): The message cannot be sent as it is "
        f"(https://www.twilio.com/docs/errors/{code})"
    )
    assert caught.value.invalid_address is invalid_address
    assert standin.messages == []


def test_an_invalid_number_is_refused_as_twilio_does(standin, settings):
    with pytest.raises(PermanentError, match="21211.*Invalid 'To' Phone Number: 12"):
        send(settings(), message(to="12"))
    assert standin.messages == []


def test_an_unusable_sender_is_a_setup_error(standin, settings):
    standin.fail(400, 21606, "The From phone number is not a valid sender")
    with pytest.raises(SetupError, match=r"21606.*check channels\.sms\.from"):
        send(settings(), message())
    assert standin.messages == []


def test_too_many_requests_is_transient_with_the_retry_hint(standin, settings):
    standin.fail(429, 20429, "Too Many Requests", retry_after="7")
    session = TwilioBackend().connect(settings())
    with pytest.raises(TransientError) as caught:
        session.send(message())
    assert "Twilio error 20429 (HTTP 429): Too Many Requests" in str(caught.value)
    assert caught.value.retry_after == 7.0

    # Nothing lost: the retry goes through, once.
    sid = session.send(message())
    session.close()
    assert [m["sid"] for m in standin.messages] == [sid]


def test_a_server_error_is_transient_and_honours_an_http_date(standin, settings):
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 120))
    standin.fail(503, 20500, "Service Unavailable", retry_after=later)
    with pytest.raises(TransientError, match="HTTP 503") as caught:
        send(settings(), message())
    assert 100 < caught.value.retry_after <= 120
    assert standin.messages == []


def test_a_hung_server_leaves_the_outcome_unknown(standin, settings):
    # The request went out: Twilio may have created the message.
    standin.hang(30)
    started = time.monotonic()
    with pytest.raises(OutcomeUnknown, match=r"did not answer within 0\.5 s"):
        send(settings(timeout=0.5), message())
    assert time.monotonic() - started < 3
    assert standin.messages == []


def test_a_refused_connection_is_transient(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError, match=f"cannot reach Twilio at .*:{port}"):
        send(settings(api_url=f"http://127.0.0.1:{port}"), message())


def test_a_failed_tls_handshake_is_a_setup_error(standin, settings):
    https = standin.api_url.replace("http://", "https://")
    with pytest.raises(SetupError, match="TLS with https://127.0.0.1"):
        send(settings(api_url=https), message())
    assert standin.messages == []


@pytest.mark.parametrize("status", [400, 502])
def test_an_answer_that_is_not_twilios_json_is_transient(standin, settings, status):
    standin.malformed(status, b"<html><body>Bad gateway</body></html>")
    with pytest.raises(TransientError) as caught:
        send(settings(), message())
    assert str(caught.value) == (
        f"Twilio answered HTTP {status}: '<html><body>Bad gateway</body></html>'"
    )
    assert standin.messages == []


def test_a_created_message_with_an_unreadable_answer_counts_as_sent(
    standin, settings, caplog
):
    standin.malformed(201, b"{not json")
    with caplog.at_level(logging.WARNING, logger=channel_twilio.__name__):
        assert send(settings(), message()) == [None]
    assert "no readable sid" in caplog.text

    standin.malformed(200, b"OK")
    with pytest.raises(TransientError, match="HTTP 200 without a message sid"):
        send(settings(), message())


# -- callbacks: status reports and incoming messages --------------------------------


def test_published_signature_vector():
    """The example of twilio-python's RequestValidator tests, as published."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature("12345", url, VECTOR_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


@pytest.mark.parametrize(
    ("url", "signed"),
    [
        # Signed without the port; the listener saw it with one.
        (
            "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        # Signed with the default port; the listener saw none.
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
    ],
)
def test_a_signature_holds_with_or_without_the_port(settings, monkeypatch, url, signed):
    monkeypatch.setenv("TWILIO_TOKEN", "12345")
    headers = {"x-twilio-signature": signed}  # any case: proxies vary it
    request = Request("POST", "/myapp.php", url, {}, VECTOR_PARAMS, headers, b"")
    assert channel_twilio.authentic(request, settings())


def test_a_delivery_report_updates_the_message(standin, settings, listener):
    base = f"http://127.0.0.1:{listener.port}/receipts/sms"
    channel = settings(receipts_url=base)
    [sid] = send(channel, message())

    assert standin.report(sid, "sent").status_code == 202
    assert standin.report(sid, "delivered").status_code == 202
    assert standin.report(sid, "queued").status_code == 202
    backend = TwilioBackend()
    receipts = [backend.receipt(as_request(r), channel) for r in listener.received]

    assert [r.path for r in listener.received] == ["/receipts/sms/status"] * 3
    assert receipts == [
        [Receipt("sent", provider_id=sid, detail="twilio status sent")],
        [Receipt("delivered", provider_id=sid, detail="twilio status delivered")],
        [],  # queued: nothing cobra did not know
    ]


@pytest.mark.parametrize(("code", "invalid"), [(30005, True), (30003, False)])
def test_a_failed_delivery_says_whether_the_number_is_bad(
    standin, settings, listener, code, invalid
):
    channel = settings(receipts_url=f"http://127.0.0.1:{listener.port}/receipts/sms")
    [sid] = send(channel, message())
    standin.report(sid, "undelivered", error_code=code)

    [receipt] = TwilioBackend().receipt(as_request(listener.received[0]), channel)
    assert receipt == Receipt(
        "failed",
        provider_id=sid,
        detail=f"twilio status undelivered, error {code}",
        invalid_address=invalid,
    )


def test_a_tampered_or_forged_report_is_refused(standin, settings, listener, caplog):
    channel = settings(receipts_url=f"http://127.0.0.1:{listener.port}/receipts/sms")
    [sid] = send(channel, message())
    standin.report(sid, "failed", error_code=30005)
    standin.post_signed(
        listener.url + "/status",
        {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30005"},
        token="another-accounts-token",
    )
    genuine, forged = (as_request(r) for r in listener.received)
    tampered = Request(
        **{**genuine.__dict__, "form": {**genuine.form, "ErrorCode": "30003"}}
    )
    unsigned = Request(**{**genuine.__dict__, "headers": {}})

    backend = TwilioBackend()
    with caplog.at_level(logging.WARNING, logger=channel_twilio.__name__):
        assert backend.receipt(tampered, channel) == []
        assert backend.receipt(forged, channel) == []
        assert backend.receipt(unsigned, channel) == []
    assert caplog.text.count("X-Twilio-Signature does not match") == 2
    assert "without X-Twilio-Signature" in caplog.text
    assert len(backend.receipt(genuine, channel)) == 1


def test_a_signed_call_that_is_not_a_report_cannot_be_read(standin, settings, listener):
    channel = settings()
    standin.post_signed(listener.url + "/status", {"AccountSid": ACCOUNT_SID})
    standin.post_signed(listener.url + "/inbound", {"Body": "hola"})
    status, inbound = (as_request(r) for r in listener.received)

    backend = TwilioBackend()
    with pytest.raises(ValueError, match="not a Twilio status callback"):
        backend.receipt(status, channel)
    with pytest.raises(ValueError, match="not a Twilio incoming message"):
        backend.inbound(inbound, channel)
    with pytest.raises(ValueError, match="needs the channel's settings"):
        backend.receipt(status)


def test_an_incoming_message_is_read(standin, settings, listener):
    channel = settings("whatsapp")
    url = f"http://127.0.0.1:{listener.port}/receipts/whatsapp/inbound"
    _, sid = standin.send_inbound(url, "whatsapp:+56987654321", "STOP")
    standin.send_inbound(url, "+56987654321", "pagaré el viernes")

    backend = TwilioBackend()
    found = [backend.inbound(as_request(r), channel) for r in listener.received]
    assert found[0] == [Inbound("whatsapp", "+56987654321", "STOP", provider_id=sid)]
    assert found[1][0].text == "pagaré el viernes"

    forged = Request(
        **{**as_request(listener.received[0]).__dict__, "url": url + "?x=1"}
    )
    assert backend.inbound(forged, channel) == []


# -- end to end: cobra send, then Twilio's callbacks through cobra's listener ------

DAY = "2026-12-03"
AT = "2026-12-03T11:00:00-05:00"  # inside every US contact hour


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bind_sms_to_twilio(work, standin, public_url: str) -> None:
    (work / "cobra.toml").write_text(
        "[send]\nbackoff_seconds = 0.01\nmax_wait_seconds = 5\nmax_attempts = 3\n\n"
        f'[receipts]\npublic_url = "{public_url}"\n\n'
        "[channels.sms]\n"
        'backend = "twilio"\n'
        f'account_sid = "{ACCOUNT_SID}"\n'
        'auth_token_env = "TWILIO_TOKEN"\n'
        f'from = "{SENDER}"\n'
        f'api_url = "{standin.api_url}"\n',
        encoding="utf-8",
    )


def outbox_rows(run):
    import sqlite3

    path = run("db", "path").stdout.strip()
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT idempotency_key, state, backend, address, provider_id"
            " FROM outbox ORDER BY id"
        ).fetchall()


def test_cobra_send_texts_through_twilio(run, standin, isolated, monkeypatch):
    from outbox_seed import seed

    monkeypatch.setenv("TWILIO_TOKEN", AUTH_TOKEN)
    port = free_port()
    bind_sms_to_twilio(isolated, standin, f"http://127.0.0.1:{port}")
    standin.fail(503, 20500, "Service Unavailable")  # one retry on the way
    keys = seed(run("db", "path").stdout.strip(), 3, channel="sms")

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 3, failed 0, held 0, retried 1." in result.stderr
    assert standin.violations == []
    by_number = {m["to"]: m for m in standin.messages}
    assert sorted(by_number) == ["+12125550000", "+12125550001", "+12125550002"]
    assert all(
        m["_status_callback"] == f"http://127.0.0.1:{port}/sms/status"
        for m in standin.messages
    )
    rows = outbox_rows(run)
    assert [r[0] for r in rows] == keys
    assert {(r[1], r[2]) for r in rows} == {("sent", "twilio")}
    assert {r[4] for r in rows} == {m["sid"] for m in standin.messages}

    again = run("send", "--for", DAY, "--at", AT)
    assert "Send: sent 0" in again.stderr and len(standin.messages) == 3


def test_a_twilio_delivery_report_reaches_the_outbox(
    run, standin, isolated, monkeypatch
):
    import threading

    from outbox_seed import seed

    from cobra import config as config_module
    from cobra.receipts_server import make_server

    monkeypatch.setenv("TWILIO_TOKEN", AUTH_TOKEN)
    port = free_port()
    bind_sms_to_twilio(isolated, standin, f"http://127.0.0.1:{port}")
    path = run("db", "path").stdout.strip()
    seed(path, 1, channel="sms")
    assert run("send", "--for", DAY, "--at", AT).exit_code == 0
    server = make_server(config_module.load(), path, "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sid = standin.messages[0]["sid"]
        assert standin.report(sid, "delivered").status_code == 200
        assert [r[1] for r in outbox_rows(run)] == ["delivered"]
    finally:
        server.shutdown()
        server.server_close()


def test_cobra_send_without_the_auth_token_keeps_the_sms_queued(
    run, standin, isolated, monkeypatch
):
    """An unset auth_token_env variable is a setup error: nothing fails."""
    from outbox_seed import seed

    monkeypatch.delenv("TWILIO_TOKEN", raising=False)
    bind_sms_to_twilio(isolated, standin, f"http://127.0.0.1:{free_port()}")
    seed(run("db", "path").stdout.strip(), 2, channel="sms")

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 1
    assert (
        "error: channel sms: channels.sms.auth_token_env refers to the environment "
        "variable TWILIO_TOKEN, which is not set; export TWILIO_TOKEN" in result.stderr
    )
    assert "Send: sent 0, failed 0, held 0, retried 0." in result.stderr
    assert standin.messages == []
    assert [r[1] for r in outbox_rows(run)] == ["queued", "queued"]

    monkeypatch.setenv("TWILIO_TOKEN", AUTH_TOKEN)
    fixed = run("send", "--for", DAY, "--at", AT)
    assert fixed.exit_code == 0, fixed.stderr
    assert "Send: sent 2" in fixed.stderr and len(standin.messages) == 2
