"""The ``matrix`` channel backend: each message becomes an event in a Matrix room.

It speaks the Matrix client-server API (spec.matrix.org, "Sending events to
a room") as a bot account with an access token::

    PUT {homeserver}/_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}
    Authorization: Bearer {access token}
    Content-Type: application/json

    {"msgtype": "m.text", "body": "...", "cobra.key": "...", "cobra.account": "..."}

    200 {"event_id": "$..."}                 the provider id cobra records
    4xx/5xx {"errcode": "M_...", "error": "..."}, 429 also "retry_after_ms"

The transaction id is derived from the message's idempotency key, and the
homeserver answers a repeated ``PUT`` with the same transaction id with the
first event's id instead of posting again. That makes the backend
``replay_safe``: a message whose answer was lost is simply sent again. A
homeserver keeps transaction ids for a while only (Synapse: about half an
hour) and per device, so a new login of the bot forgets them.

Answers: 429 ``M_LIMIT_EXCEEDED``, 408, 5xx and a refused connection are
transient (the homeserver's wait honoured); a timeout once the request is out
is an unknown outcome (resent safely); 401 (token refused), 403 (the bot may
not post in the room), 404 and 405 (a wrong homeserver URL or room), redirects
and TLS failures are setup errors; 413 ``M_TOO_LARGE`` and other 4xx refuse
the message for good.

``cobra doctor`` calls :meth:`MatrixBackend.check`, which asks the homeserver
who the token belongs to (``GET /account/whoami``) and whether that account
has joined the room (``GET /rooms/{roomId}/joined_members``).
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar
from urllib.parse import quote, urlsplit

import requests

from cobra.channels import (
    ChannelSettings,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
)
from cobra.config_schema import Key, choice, pattern, secret_key

ROOM_ID = r"![^\s:/]+:[^\s/]+"
EVENT_TYPE = "m.room.message"


class MatrixBackend:
    name = "matrix"
    description = "Posts each message to a Matrix room as a bot account."
    kinds = ("chat",)
    # Messages in a room read best in the order they were planned; the
    # homeserver's rate limit would not let many through at once anyway.
    concurrency = 1
    rate_limit = None
    can_lookup = False
    replay_safe = True
    config_keys: ClassVar[dict[str, Key]] = {
        "homeserver": Key(
            pattern(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL"),
            "Base URL of the homeserver, such as https://matrix.example.org.",
        ),
        "room_id": Key(
            pattern(ROOM_ID, "a room id such as !cBAvxhsJqtGlqNEOsn:example.org"),
            "The room messages are posted to (its id, not an alias).",
        ),
        "access_token_env": secret_key(
            "Environment variable holding the bot account's access token."
        ),
        "msgtype": Key(
            choice("m.text", "m.notice"),
            "m.text (default), or m.notice so that other bots leave it alone.",
        ),
    }

    def connect(self, settings: ChannelSettings) -> MatrixSession:
        return MatrixSession(settings)

    def check(self, settings: ChannelSettings) -> str:
        """For ``cobra doctor``: log in and look at the room, posting nothing."""
        session = MatrixSession(settings)
        try:
            return session.check()
        finally:
            session.close()


def transaction_id(key: str) -> str:
    """The Matrix transaction id of the message sent under *key*.

    Derived, never random, so every attempt at one message carries the same
    id and the homeserver keeps one event; hex, so it needs no escaping.
    """
    return "cobra-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def content(message: OutgoingMessage, msgtype: str = "m.text") -> dict:
    """The event content posted for *message*.

    The subject heads the text. The ``cobra.*`` keys (namespaced, as the
    spec asks of custom keys) let a bot or an audit tie the event to cobra's
    message and customer.
    """
    text = f"{message.subject}\n\n{message.body}" if message.subject else message.body
    return {
        "msgtype": msgtype,
        "body": text,
        "cobra.key": message.key,
        "cobra.account": message.account,
    }


class MatrixSession:
    """One HTTP session to the homeserver, one ``PUT`` per message."""

    def __init__(self, settings: ChannelSettings):
        where = f"channels.{settings.channel}"
        homeserver = settings.get("homeserver")
        parts = urlsplit(homeserver) if isinstance(homeserver, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(
                f"{where}.homeserver must be an http:// or https:// URL, such as "
                "https://matrix.example.org"
            )
        room = settings.get("room_id")
        if not isinstance(room, str) or not re.fullmatch(ROOM_ID, room):
            raise SetupError(
                f"{where}.room_id must be a room id such as !abc:example.org "
                "(Element shows it under Room settings, Advanced)"
            )
        self.where = where
        self.homeserver = homeserver.rstrip("/")
        self.room = room
        self.token_env = settings.get("access_token_env")
        token = settings.secret("access_token_env")
        self.api = f"{self.homeserver}/_matrix/client/v3"
        self.room_api = f"{self.api}/rooms/{quote(room, safe='')}"
        self.msgtype = str(settings.get("msgtype") or "m.text")
        self.timeout = float(settings.timeout)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"

    def send(self, message: OutgoingMessage) -> str | None:
        response = self._request(
            "PUT",
            f"{self.room_api}/send/{EVENT_TYPE}/{transaction_id(message.key)}",
            json=content(message, self.msgtype),
        )
        body = self._answer(response)
        event_id = body.get("event_id")
        return event_id if isinstance(event_id, str) and event_id else None

    def check(self) -> str:
        """Who the token logs in as, and that this account is in the room."""
        me = self._answer(self._request("GET", f"{self.api}/account/whoami"))
        user = me.get("user_id")
        members = self._answer(self._request("GET", f"{self.room_api}/joined_members"))
        if user not in (members.get("joined") or {}):
            raise SetupError(
                f"{user} has not joined {self.room}: invite it to the room and have "
                "it join"
            )
        return f"logged in as {user}, a member of {self.room}"

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        # Only a PUT can have posted something when its answer is lost.
        posting = method == "PUT"
        try:
            return self.http.request(
                method, url, timeout=self.timeout, allow_redirects=False, **kwargs
            )
        except requests.exceptions.SSLError as exc:
            raise SetupError(
                f"TLS with {self.homeserver} failed: {exc}; check the certificate "
                "(a private authority goes in REQUESTS_CA_BUNDLE)"
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise TransientError(
                f"{self.homeserver} did not accept a connection within "
                f"{self.timeout:g} s"
            ) from None
        except requests.exceptions.ReadTimeout:
            if not posting:
                raise TransientError(
                    f"{self.homeserver} did not answer within {self.timeout:g} s"
                ) from None
            raise OutcomeUnknown(
                f"{self.homeserver} did not answer within {self.timeout:g} s; the "
                "event may be posted, and sending it again is safe"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc) or not posting:
                raise TransientError(f"cannot reach {self.homeserver}: {exc}") from None
            raise OutcomeUnknown(
                f"the connection to {self.homeserver} broke before its answer: {exc}"
            ) from None
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach {self.homeserver}: {exc}") from None

    def _answer(self, response: requests.Response) -> dict:
        """The JSON body of a 200, or the error the homeserver's answer means."""
        status = response.status_code
        body = _json(response)
        if status == 200:
            return body
        errcode, error = body.get("errcode"), body.get("error")
        said = f"{self.homeserver} answered HTTP {status}"
        said += f" {errcode}" if errcode else ""
        said += f": {error}" if error else ""
        if status == 429 or status == 408 or status >= 500:
            raise TransientError(said, retry_after=_retry_after(response, body))
        if status == 401:
            raise SetupError(
                f"{said}; the homeserver refuses the access token: check that "
                f"${self.token_env} ({self.where}.access_token_env) holds a valid "
                "token of the bot account"
            )
        if status == 403:
            raise SetupError(
                f"{said}; the bot may not post in {self.room}: invite it to the "
                "room and have it join, or raise its power level"
            )
        if status in (404, 405):
            raise SetupError(
                f"{said}; check {self.where}.homeserver (the homeserver's base "
                f"URL) and {self.where}.room_id"
            )
        if 300 <= status < 400:
            raise SetupError(
                f"{self.homeserver} redirects (HTTP {status}) to "
                f"{response.headers.get('Location', '?')}; set {self.where}"
                ".homeserver to the final address"
            )
        raise PermanentError(said)


def _json(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(response: requests.Response, body: dict) -> float | None:
    """The homeserver's wait: ``Retry-After`` (spec v1.10) or ``retry_after_ms``."""
    header = response.headers.get("Retry-After", "")
    if header.isdigit():
        return float(header)
    millis = body.get("retry_after_ms")
    if isinstance(millis, int) and not isinstance(millis, bool) and millis >= 0:
        return millis / 1000
    return None


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when no connection was made, so nothing can have been posted."""
    from urllib3.exceptions import NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)
