"""The matrix backend, against a stand-in homeserver on loopback.

No homeserver runs here: ``homeserver.py`` replays the client-server API's
documented wire format. The contract tests come from ``cobra.testing``,
which cobra registers with pytest; the tests after them check what is
particular to Matrix.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from cobra_chat_example import MatrixBackend
from cobra_chat_example.matrix import transaction_id
from homeserver import Homeserver

from cobra.channels import OutcomeUnknown, PermanentError, SetupError, TransientError
from cobra.testing import ChannelContract, deliver, message_maker

BOT = "@cobra:example.org"
TOKEN = "syt_Y29icmE_hGfxQbWmPeCGbVAsQpZj_2xW5kA"
ROOM = "!cBAvxhsJqtGlqNEOsn:example.org"
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def homeserver():
    with Homeserver() as server:
        server.add_user(BOT, TOKEN)
        server.add_room(ROOM, BOT)
        yield server


@pytest.fixture
def channel(homeserver, cobra_config, monkeypatch):
    """Bind a channel to the backend in the config file, as a user does, and
    return the settings ``cobra send`` would give it."""
    monkeypatch.setenv("MATRIX_TOKEN", TOKEN)

    def bind(name="team", **options):
        options = {
            "homeserver": homeserver.url,
            "room_id": ROOM,
            "access_token_env": "MATRIX_TOKEN",
            "timeout": 2,
            **options,
        }
        cobra_config.add_channel(name, "matrix", **options)
        return cobra_config.channel_settings(name)

    return bind


@pytest.fixture
def settings(channel):
    return channel()


message = message_maker("team", "chat", None)


class TestMatrixContract(ChannelContract):
    @pytest.fixture
    def backend(self):
        return MatrixBackend()

    @pytest.fixture
    def channel_settings(self, settings):
        return settings

    @pytest.fixture
    def delivered(self, homeserver):
        return homeserver.keys

    @pytest.fixture
    def transient_failure(self, homeserver, settings):
        homeserver.fail_next(
            429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=1500
        )
        return settings

    @pytest.fixture
    def permanent_failure(self, homeserver, settings):
        homeserver.fail_next(413, "M_TOO_LARGE", "event too large")
        return settings

    @pytest.fixture
    def setup_failure(self, settings, monkeypatch):
        monkeypatch.setenv("MATRIX_TOKEN", "syt_revoked_4711")
        return settings

    @pytest.fixture
    def hung_provider(self, homeserver, settings):
        homeserver.hang_next()
        return replace(settings, timeout=0.4)


# -- the request --------------------------------------------------------------------


def test_an_event_is_put_in_the_room_as_the_spec_writes_it(homeserver, settings):
    sent = deliver(MatrixBackend(), settings, message())

    [request] = homeserver.requests
    key = "C0001|contract#1|2027-03-01|team"
    assert request.method == "PUT"
    assert request.path == (
        "/_matrix/client/v3/rooms/%21cBAvxhsJqtGlqNEOsn%3Aexample.org"
        f"/send/m.room.message/{transaction_id(key)}"
    )
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json == {
        "msgtype": "m.text",
        "body": "Factura F-1 vencida\n\nEstimados: la factura F-1 venció ayer. Saludos.",
        "cobra.key": key,
        "cobra.account": "C0001",
    }
    [event] = homeserver.events
    assert (event.room_id, event.sender, event.type) == (ROOM, BOT, "m.room.message")
    assert sent == event.event_id
    assert re.fullmatch(r"\$[A-Za-z0-9_-]{43}", sent)


def test_the_transaction_id_is_the_keys_and_needs_no_escaping():
    key = "CÑ-01|gentle#1|2027-03-01|team"
    assert transaction_id(key) == transaction_id(key)
    assert transaction_id(key) != transaction_id(key.replace("01", "02"))
    assert re.fullmatch(r"cobra-[0-9a-f]{40}", transaction_id(key))


def test_notices_and_a_message_without_subject(homeserver, channel):
    deliver(MatrixBackend(), channel(msgtype="m.notice"), message(subject=None))
    [request] = homeserver.requests
    assert request.json["msgtype"] == "m.notice"
    assert request.json["body"] == "Estimados: la factura F-1 venció ayer. Saludos."


def test_many_messages_share_one_connection(homeserver, settings):
    session = MatrixBackend().connect(settings)
    try:
        ids = [session.send(message(n)) for n in range(1, 11)]
    finally:
        session.close()
    assert len(set(ids)) == 10
    assert homeserver.connections == 1


# -- what the homeserver answers -----------------------------------------------------


@pytest.mark.parametrize(("headers", "wait"), [({}, 2.5), ({"Retry-After": "7"}, 7.0)])
def test_a_rate_limit_waits_as_long_as_the_homeserver_says(
    homeserver, settings, headers, wait
):
    homeserver.fail_next(
        429,
        "M_LIMIT_EXCEEDED",
        "Too Many Requests",
        retry_after_ms=2500,
        headers=headers,
    )
    with pytest.raises(TransientError) as caught:
        deliver(MatrixBackend(), settings, message())
    assert str(caught.value) == (
        f"{homeserver.url} answered HTTP 429 M_LIMIT_EXCEEDED: Too Many Requests"
    )
    assert caught.value.retry_after == wait
    assert homeserver.events == []
    deliver(MatrixBackend(), settings, message())
    assert len(homeserver.events) == 1


def test_a_homeserver_in_trouble_is_transient(homeserver, settings):
    homeserver.fail_next(502, "M_UNKNOWN", "Bad gateway")
    with pytest.raises(TransientError, match="HTTP 502 M_UNKNOWN: Bad gateway"):
        deliver(MatrixBackend(), settings, message())
    assert homeserver.events == []


def test_a_bot_outside_the_room_is_a_setup_error(homeserver, settings):
    homeserver.add_room(ROOM)  # nobody joined
    with pytest.raises(SetupError) as caught:
        deliver(MatrixBackend(), settings, message())
    assert str(caught.value) == (
        f"{homeserver.url} answered HTTP 403 M_FORBIDDEN: User {BOT} not in room "
        f"{ROOM}; the bot may not post in {ROOM}: invite it to the room and have "
        "it join, or raise its power level"
    )
    assert homeserver.events == []


def test_a_refused_token_names_the_variable_to_fix(homeserver, settings, monkeypatch):
    monkeypatch.setenv("MATRIX_TOKEN", "syt_revoked_4711")
    with pytest.raises(SetupError) as caught:
        deliver(MatrixBackend(), settings, message())
    assert str(caught.value) == (
        f"{homeserver.url} answered HTTP 401 M_UNKNOWN_TOKEN: Invalid access token "
        "passed.; the homeserver refuses the access token: check that $MATRIX_TOKEN "
        "(channels.team.access_token_env) holds a valid token of the bot account"
    )


def test_a_wrong_homeserver_url_is_a_setup_error(homeserver, channel):
    settings = channel(homeserver=homeserver.url + "/matrix")
    with pytest.raises(
        SetupError,
        match=r"404 M_UNRECOGNIZED: Unrecognized request;"
        r" check channels\.team\.homeserver",
    ):
        deliver(MatrixBackend(), settings, message())


def test_a_message_too_large_is_refused_for_good(homeserver, settings):
    with pytest.raises(PermanentError) as caught:
        deliver(MatrixBackend(), settings, message(body="x" * 70_000))
    assert str(caught.value) == (
        f"{homeserver.url} answered HTTP 413 M_TOO_LARGE: event too large"
    )
    assert caught.value.invalid_address is False
    assert homeserver.events == []


def test_a_lost_answer_is_unknown_and_sending_again_posts_once(homeserver, channel):
    """What makes the backend replay_safe: the same transaction id, one event."""
    settings = channel(timeout=0.4)
    homeserver.lose_next_answer()
    with pytest.raises(
        OutcomeUnknown,
        match=r"did not answer within 0\.4 s; the "
        "event may be posted, and sending it again is safe",
    ):
        deliver(MatrixBackend(), settings, message())
    [posted] = homeserver.events

    assert deliver(MatrixBackend(), settings, message()) == posted.event_id
    assert homeserver.events == [posted]
    assert MatrixBackend.replay_safe is True


def test_a_refused_connection_is_transient(channel):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = channel(homeserver=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match=f"cannot reach http://127.0.0.1:{port}"):
        deliver(MatrixBackend(), settings, message())


def test_a_room_alias_is_refused_before_anything_is_sent(
    homeserver, channel, cobra_run
):
    with pytest.raises(SetupError, match=r"channels\.team\.room_id must be a room id"):
        MatrixBackend().connect(channel(room_id="#collections:example.org"))
    result = cobra_run("config", "check")
    assert result.exit_code != 0
    assert "channels.team.room_id" in result.stderr + result.stdout
    assert homeserver.requests == []


# -- installed as a user installs it -------------------------------------------------


def test_cobra_plugins_lists_it(cobra_run):
    result = cobra_run("plugins", "--format", "json")
    assert result.exit_code == 0, result.stderr
    [row] = [row for row in json.loads(result.stdout) if row["name"] == "matrix"]
    assert row["distribution"] == "cobra-chat-example"
    assert row["channels"] == ["matrix"]
    assert row["builtin"] is False
    assert row["error"] is None


def test_the_readme_configuration_passes_cobra_config_check(
    cobra_config, cobra_run, monkeypatch
):
    monkeypatch.setenv("COBRA_MATRIX_TOKEN", TOKEN)
    text = README.read_text(encoding="utf-8")
    [table] = [
        block
        for block in re.findall(r"```toml\n(.+?)```", text, re.DOTALL)
        if "[channels." in block
    ]
    cobra_config.add(table)
    result = cobra_run("config", "check")
    assert result.exit_code == 0, result.stderr


# -- cobra doctor ---------------------------------------------------------------------


def test_cobra_doctor_logs_in_and_looks_at_the_room(homeserver, channel, cobra_run):
    channel()
    result = cobra_run("doctor", "--format", "json")
    assert result.exit_code == 0, result.stdout
    [row] = [row for row in json.loads(result.stdout) if row["area"] == "channel team"]
    assert (row["status"], row["detail"]) == (
        "ok",
        f"matrix: logged in as {BOT}, a member of {ROOM}",
    )
    assert [r.method for r in homeserver.requests] == ["GET", "GET"]
    assert homeserver.events == []


def test_cobra_doctor_reports_a_bot_outside_the_room(homeserver, channel, cobra_run):
    channel()
    homeserver.add_room(ROOM)  # the bot left, or was never invited
    result = cobra_run("doctor", "--format", "json")
    assert result.exit_code == 1
    [row] = [row for row in json.loads(result.stdout) if row["area"] == "channel team"]
    assert row["status"] == "problem"
    assert row["detail"] == (
        f"matrix: {homeserver.url} answered HTTP 403 M_FORBIDDEN: User {BOT} not in "
        f"room {ROOM}; the bot may not post in {ROOM}: invite it to the room and "
        "have it join, or raise its power level"
    )
