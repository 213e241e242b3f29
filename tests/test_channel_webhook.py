"""The webhook channel backend, against a real HTTP receiver on loopback.

``services/http_receiver.py`` verifies signatures with its own code, as a
receiver written from docs/channels/webhook.md would, deduplicates on
``Idempotency-Key``, and answers as each test scripts it.
"""

from __future__ import annotations

import re
import socket
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from cobra_plugins.channel_webhook import WebhookBackend
from services.http_receiver import HttpReceiver

from cobra.channels import (
    ChannelSettings,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
)
from cobra.config import check, load_unchecked
from cobra.config_schema import Table

SECRET = "whsec-4f1d9a0c7b"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "channels" / "webhook.md"


@pytest.fixture
def receiver():
    with HttpReceiver(secret=SECRET) as server:
        yield server


@pytest.fixture
def settings(receiver, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)

    def make(channel="crm", *, timeout=5.0, **options):
        options = {"url": receiver.url, "secret_env": "HOOK_SECRET", **options}
        config = load_unchecked()
        for key, value in options.items():
            config.set_override(f"channels.{channel}.{key}", value, "test")
        return ChannelSettings(
            channel=channel,
            backend="webhook",
            options=options,
            config=config,
            timeout=timeout,
        )

    return make


def message(n=1, *, kind="webhook", key=None, details=None) -> OutgoingMessage:
    return OutgoingMessage(
        id=n,
        key=key or f"C{n:04d}|gentle#1|2027-03-01|crm",
        channel="crm",
        kind=kind,
        to=None,
        account=f"C{n:04d}",
        customer_name="Ferretería Ñuñoa",
        language="es",
        subject="Factura vencida",
        body=f"Hola, la factura {n} venció ayer.",
        planned_for=date(2027, 3, 1),
        details=details or {},
    )


def send(settings, *messages):
    session = WebhookBackend().connect(settings)
    try:
        return [session.send(m) for m in messages]
    finally:
        session.close()


# -- sending -----------------------------------------------------------------------


def test_a_message_arrives_signed_and_complete(receiver, settings):
    before = time.time()
    [event] = send(settings(), message(details={"due": date(2027, 2, 1), "n": 3}))

    assert event == "evt-1"
    [arrived] = receiver.received
    assert arrived.verdict == "accepted"  # the receiver's own check of the signature
    assert (arrived.method, arrived.path) == ("POST", "/hook")
    assert arrived.header("Content-Type") == "application/json; charset=utf-8"
    assert arrived.header("Idempotency-Key") == "C0001|gentle#1|2027-03-01|crm"
    assert before - 1 <= int(arrived.header("X-Cobra-Timestamp")) <= time.time() + 1
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", arrived.header("X-Cobra-Signature"))
    assert arrived.json == {
        "version": 1,
        "key": "C0001|gentle#1|2027-03-01|crm",
        "account": "C0001",
        "customer_name": "Ferretería Ñuñoa",
        "channel": "crm",
        "kind": "webhook",
        "to": None,
        "cc": None,
        "subject": "Factura vencida",
        "body": "Hola, la factura 1 venció ayer.",
        "language": "es",
        "planned_for": "2027-03-01",
        "details": {"due": "2027-02-01", "n": 3},
    }
    assert "Ñuñoa".encode() in arrived.body  # UTF-8, not \\u escapes


def test_extra_headers_are_sent_but_cannot_replace_cobras(receiver, settings):
    send(settings(headers={"X-Tenant": "acme"}), message())
    assert receiver.received[0].header("X-Tenant") == "acme"

    keys = Table(WebhookBackend().config_keys)
    problems = check(
        {"url": "ftp://x", "headers": {"X-Cobra-Signature": "forged"}},
        "cobra.toml",
        keys,
        prefix="channels.crm.",
    )
    found = {p.key: p.message for p in problems}
    assert "http:// or https://" in found["channels.crm.url"]
    assert "set by cobra" in found["channels.crm.headers"]


def test_many_messages_share_one_connection(receiver, settings):
    events = send(settings(), *(message(n) for n in range(1, 31)))
    assert events == [f"evt-{n}" for n in range(1, 31)]
    assert receiver.connections == 1
    assert {r.connection for r in receiver.received} == {1}


def test_a_message_sent_again_is_dropped_by_the_receiver(receiver, settings):
    """What makes the backend replay_safe: same key, new signature, one event."""
    first, again = send(settings(), message(), message())
    assert first == again == "evt-1"
    assert [r.verdict for r in receiver.received] == ["accepted", "duplicate"]
    assert WebhookBackend.replay_safe is True


def test_a_key_that_is_not_ascii_is_percent_encoded(receiver, settings):
    send(settings(), message(key="CÑ01|gentle#1|2027-03-01|crm"))
    arrived = receiver.received[0]
    assert arrived.header("Idempotency-Key") == "C%C3%9101|gentle#1|2027-03-01|crm"
    assert arrived.json["key"] == "CÑ01|gentle#1|2027-03-01|crm"


def test_it_is_registered_as_a_builtin_channel():
    from cobra.plugins import get_plugins

    backend = get_plugins().channels()["webhook"].obj
    assert backend.kinds == ("webhook",)
    assert (backend.concurrency, backend.rate_limit, backend.can_lookup) == (
        4,
        None,
        False,
    )


def test_a_url_that_is_not_http_cannot_start(settings):
    with pytest.raises(SetupError, match=r"channels\.crm\.url must be an http"):
        WebhookBackend().connect(settings(url="mailto:ops@example.com"))


# -- faults: each says what happened, is classed, and loses nothing --------------


def test_a_wrong_secret_is_a_setup_error(receiver, settings, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "not-the-secret")
    with pytest.raises(SetupError) as caught:
        send(settings(), message())
    assert str(caught.value) == (
        f'{receiver.url} answered HTTP 401: \'{{"error": "bad signature"}}\'; '
        "the receiver refuses our signature: check that $HOOK_SECRET "
        "(channels.crm.secret_env) holds the receiver's secret"
    )
    assert receiver.accepted() == []


@pytest.mark.parametrize(("status", "said"), [(403, "refuses our signature"),
                                              (404, "no such endpoint"),
                                              (302, "redirects")])  # fmt: skip
def test_a_receiver_that_cannot_work_is_a_setup_error(receiver, settings, status, said):
    receiver.answer(status, {"error": "no"}, {"Location": "https://elsewhere/"})
    with pytest.raises(SetupError, match=said):
        send(settings(), message())
    assert receiver.accepted() == []


def test_a_rejected_document_is_permanent(receiver, settings):
    receiver.answer(422, {"error": "unknown account C0001"})
    with pytest.raises(PermanentError) as caught:
        send(settings(), message())
    assert str(caught.value) == (
        f'{receiver.url} answered HTTP 422: \'{{"error": "unknown account C0001"}}\''
    )
    assert caught.value.invalid_address is False
    assert receiver.accepted() == []


@pytest.mark.parametrize(
    ("status", "retry", "hint"),
    [(429, "30", 30.0), (408, None, None), (500, None, None), (503, "2", 2.0)],
)
def test_a_busy_or_broken_receiver_is_transient(
    receiver, settings, status, retry, hint
):
    receiver.answer(status, "try later", {"Retry-After": retry} if retry else {})
    session = WebhookBackend().connect(settings())
    with pytest.raises(TransientError) as caught:
        session.send(message())
    assert str(caught.value) == f"{receiver.url} answered HTTP {status}: 'try later'"
    assert caught.value.retry_after == hint

    # Nothing lost: the retry is accepted, once.
    assert session.send(message()) == "evt-1"
    session.close()
    assert len(receiver.accepted()) == 1


def test_a_hung_receiver_times_out_as_transient(receiver, settings):
    receiver.answer(200, {"id": "late"}, delay=30)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"did not answer within 0\.5 s"):
        send(settings(timeout=0.5), message())
    assert time.monotonic() - started < 3
    assert receiver.accepted() == []


def test_a_refused_connection_is_transient(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    with pytest.raises(TransientError, match=f"cannot reach {re.escape(url)}"):
        send(settings(url=url), message())


def test_a_failed_tls_handshake_is_a_setup_error(receiver, settings):
    url = receiver.url.replace("http://", "https://")
    with pytest.raises(SetupError, match=f"TLS with {re.escape(url)} failed"):
        send(settings(url=url), message())
    assert receiver.accepted() == []


@pytest.mark.parametrize(
    "body", [b"<html>ok</html>", b'{"id": true}', b"[1, 2]", b'{"status": "ok"}', b""]
)
def test_a_success_without_a_readable_id_is_sent_without_one(receiver, settings, body):
    receiver.answer(200, body)
    assert send(settings(), message()) == [None]


def test_a_numeric_id_is_kept_as_text(receiver, settings):
    receiver.answer(201, {"id": 981})
    assert send(settings(), message()) == ["981"]


# -- the receiver example in the docs ------------------------------------------------


def docs_verify():
    text = DOCS.read_text(encoding="utf-8")
    source = re.search(r"```python\n(.+?)```", text, flags=re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(source, str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


def test_the_documented_receiver_accepts_what_cobra_sends(receiver, settings):
    send(settings(), message())
    arrived = receiver.received[0]
    verify = docs_verify()

    assert verify(SECRET.encode(), arrived.headers, arrived.body)
    assert not verify(b"another secret", arrived.headers, arrived.body)
    assert not verify(SECRET.encode(), arrived.headers, arrived.body + b" ")
    replayed_later = int(arrived.header("X-Cobra-Timestamp")) + 600
    assert not verify(
        SECRET.encode(), arrived.headers, arrived.body, now=replayed_later
    )
    moved = {**arrived.headers, "X-Cobra-Timestamp": str(replayed_later)}
    assert not verify(SECRET.encode(), moved, arrived.body, now=replayed_later)


def test_every_field_sent_is_documented(receiver, settings):
    send(settings(), message())
    text = DOCS.read_text(encoding="utf-8")
    cells = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    documented = {name for cell in cells for name in re.findall(r"`(\w+)`", cell)}
    assert set(receiver.received[0].json) <= documented


def test_dates_and_times_in_details_are_iso_8601(receiver, settings):
    at = datetime(2027, 3, 1, 9, 30, tzinfo=timezone.utc)
    send(settings(), message(details={"promised": at, "amount": "125.50"}))
    assert receiver.received[0].json["details"] == {
        "promised": "2027-03-01T09:30:00+00:00",
        "amount": "125.50",
    }


# -- end to end: cobra send -------------------------------------------------------


def sms_through_webhook(isolated, receiver) -> None:
    """cobra.toml binding the sms channel to *receiver*, with quick retries."""
    (isolated / "cobra.toml").write_text(
        "[send]\nbackoff_seconds = 0.01\nmax_wait_seconds = 5\nmax_attempts = 3\n\n"
        "[channels.sms]\n"
        'backend = "webhook"\n'
        f'url = "{receiver.url}"\n'
        'secret_env = "HOOK_SECRET"\n',
        encoding="utf-8",
    )


def test_cobra_send_posts_sms_to_a_webhook(run, receiver, isolated, monkeypatch):
    """Another system sends cobra's SMS: the sms channel bound to a webhook."""
    import sqlite3

    from outbox_seed import seed

    monkeypatch.setenv("HOOK_SECRET", SECRET)
    sms_through_webhook(isolated, receiver)
    receiver.answer(503, "busy", {"Retry-After": "0"})
    path = run("db", "path").stdout.strip()
    keys = seed(path, 3, channel="sms")

    result = run("send", "--for", "2026-12-03", "--at", "2026-12-03T11:00:00-05:00")
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 3, failed 0, held 0, retried 1." in result.stderr
    accepted = receiver.accepted()
    assert sorted(r.json["key"] for r in accepted) == sorted(keys)
    assert {(r.json["kind"], r.json["channel"]) for r in accepted} == {("sms", "sms")}
    assert sorted(r.json["to"] for r in accepted) == [
        "+12125550000",
        "+12125550001",
        "+12125550002",
    ]
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, state, backend, provider_id FROM outbox"
        ).fetchall()
    ids = {r.header("Idempotency-Key"): r for r in accepted}
    assert {(r[1], r[2]) for r in rows} == {("sent", "webhook")}
    assert all(r[3] and r[3].startswith("evt-") and r[0] in ids for r in rows)


def test_cobra_send_without_the_secret_keeps_the_messages_queued(
    run, receiver, isolated, monkeypatch
):
    """An unset secret_env variable is a setup error, not a failing message."""
    import sqlite3

    from outbox_seed import seed

    monkeypatch.delenv("HOOK_SECRET", raising=False)
    sms_through_webhook(isolated, receiver)
    path = run("db", "path").stdout.strip()
    seed(path, 2, channel="sms")

    result = run("send", "--for", "2026-12-03", "--at", "2026-12-03T11:00:00-05:00")
    assert result.exit_code == 1
    assert (
        "error: channel sms: channels.sms.secret_env refers to the environment "
        "variable HOOK_SECRET, which is not set; export HOOK_SECRET" in result.stderr
    )
    assert "Send: sent 0, failed 0, held 0, retried 0." in result.stderr
    assert receiver.received == []
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT state, attempts FROM outbox").fetchall()
    assert rows == [("queued", 0), ("queued", 0)]

    monkeypatch.setenv("HOOK_SECRET", SECRET)
    fixed = run("send", "--for", "2026-12-03", "--at", "2026-12-03T11:00:00-05:00")
    assert fixed.exit_code == 0, fixed.stderr
    assert "Send: sent 2" in fixed.stderr and len(receiver.accepted()) == 2


def test_a_webhook_in_flight_when_cobra_was_killed_arrives_once(
    run, receiver, isolated, monkeypatch
):
    """The receiver took the messages but cobra died before its answers came.

    The backend is replay_safe, so the next cobra send posts them again
    instead of marking them unknown, and the receiver, which drops a second
    copy by its Idempotency-Key, has each message once.
    """
    import os
    import signal
    import sqlite3
    import subprocess
    import sys

    from outbox_seed import seed

    monkeypatch.setenv("HOOK_SECRET", SECRET)
    sms_through_webhook(isolated, receiver)
    path = run("db", "path").stdout.strip()
    keys = seed(path, 6, channel="sms")
    receiver.latency = 60  # each request is taken, its answer held back
    args = ["send", "--for", "2026-12-03", "--at", "2026-12-03T11:00:00-05:00"]
    sender = subprocess.Popen(
        [sys.executable, "-m", "cobra", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(receiver.accepted()) < 4:  # one per worker of the backend
        assert sender.poll() is None, sender.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sender.send_signal(signal.SIGKILL)
    sender.communicate()
    in_flight = {r.json["key"] for r in receiver.accepted()}
    with sqlite3.connect(path) as conn:
        sending = {
            key
            for (key,) in conn.execute(
                "SELECT idempotency_key FROM outbox WHERE state = 'sending'"
            )
        }
    assert sending == in_flight  # taken by the receiver, not recorded by cobra

    receiver.latency = 0
    again = run(*args)
    assert again.exit_code == 0, again.stderr
    assert "may or may not have reached" not in again.stderr
    assert sorted(r.json["key"] for r in receiver.accepted()) == sorted(keys)
    duplicates = [r.json["key"] for r in receiver.received if r.verdict != "accepted"]
    assert sorted(duplicates) == sorted(in_flight)  # replayed, and dropped
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, state, provider_id FROM outbox"
        ).fetchall()
        replayed = conn.execute(
            "SELECT o.idempotency_key FROM outbox_events e JOIN outbox o"
            " ON o.id = e.outbox_id WHERE e.detail = ?",
            ("interrupted while sending; the receiver drops duplicates",),
        ).fetchall()
    assert {state for _, state, _ in rows} == {"sent"}
    assert {key for (key,) in replayed} == in_flight
    # The id each message has is the one the receiver gave its first copy.
    assert {key: pid for key, _, pid in rows} == {
        key: receiver.accepted_keys[key] for key in keys
    }
