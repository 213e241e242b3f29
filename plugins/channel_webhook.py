"""Each message as a signed JSON document POSTed to a URL of your own.

For any system that wants cobra's contacts: a chat bot, a CRM, an SMS or
letter service cobra has no backend for. A channel of any kind may be bound to
this backend (``[channels.sms] backend = "webhook"`` hands SMS to another
system); the document's ``kind`` and ``to`` say what to deliver and where.

The request (docs/channels/webhook.md is the receiver's reference)::

    POST {url}
    Content-Type: application/json; charset=utf-8
    Idempotency-Key: {the message's key}
    X-Cobra-Timestamp: {Unix time, seconds}
    X-Cobra-Signature: sha256={hex HMAC-SHA256 of "{timestamp}." + raw body}

The signature covers the timestamp, so a captured request cannot be replayed
later than the receiver's tolerance; the key is the same on every attempt, so
the receiver can drop a second copy, which makes the backend ``replay_safe``:
a message whose outcome a crash left unknown is simply posted again.

Answers: 2xx is sent (the provider id is the ``id`` of a JSON answer, if
any); 408, 429, 5xx, timeouts and refused connections are transient
(``Retry-After`` honoured); 401 and 403 mean the receiver refuses our
signature, and 404, 405 and 410 that the URL is wrong, setup errors that
leave every message queued; redirects and TLS failures are setup errors too;
any other 4xx rejects the message for good.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date, datetime, timezone
from typing import ClassVar
from urllib.parse import quote, urlsplit

import requests

import cobra
from cobra.channels import (
    ChannelSettings,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
)
from cobra.config_schema import Key, number, pattern, secret_key
from cobra.httputil import retry_after

# Version of the document's shape; a receiver can refuse one it does not know.
DOCUMENT_VERSION = 1

# Headers the backend sets itself; `headers` in the config cannot replace them.
RESERVED_HEADERS = {
    "content-type",
    "content-length",
    "host",
    "idempotency-key",
    "x-cobra-signature",
    "x-cobra-timestamp",
}


def _extra_headers(value: object) -> str | None:
    if not isinstance(value, dict):
        return "expected a table of header names and values"
    for name, text in value.items():
        if not isinstance(text, str):
            return f"{name}: expected a string"
        if name.lower() in RESERVED_HEADERS:
            return f"{name} is set by cobra and cannot be configured"
        if not name.isascii() or not text.isascii() or "\n" in text or "\r" in text:
            return f"{name}: header names and values must be single-line ASCII"
    return None


class WebhookBackend:
    name = "webhook"
    description = "POSTs each message as a JSON document signed with HMAC-SHA256."
    kinds = ("webhook",)
    concurrency = 4
    rate_limit = None
    can_lookup = False
    replay_safe = True
    config_keys: ClassVar[dict[str, Key]] = {
        "url": Key(
            pattern(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL"),
            "Where each message is POSTed.",
        ),
        "secret_env": secret_key(
            "Environment variable holding the HMAC-SHA256 signing secret."
        ),
        "timeout": Key(number, "Seconds to wait for the receiver's answer."),
        "headers": Key(
            _extra_headers, "Extra headers sent with every request (a table)."
        ),
    }

    def check(self, settings: ChannelSettings) -> str:
        """The receiver answers HTTP; the secret is only tested by a message."""
        session = WebhookSession(settings)
        try:
            answer = session.http.head(session.url, timeout=session.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"the receiver at {session.url} is unreachable: {exc}")
        finally:
            session.close()
        return (
            f"{session.url} answers (HTTP {answer.status_code}); the signature is "
            "checked by the receiver when a message is sent"
        )

    def connect(self, settings: ChannelSettings) -> WebhookSession:
        return WebhookSession(settings)


class WebhookSession:
    """One HTTP session to the receiver, one POST per message."""

    def __init__(self, settings: ChannelSettings):
        self.channel = settings.channel
        self.url = settings.get("url")
        where = f"channels.{settings.channel}"
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(f"{where}.url must be an http:// or https:// URL")
        self.secret_env = settings.get("secret_env")
        self.secret = settings.secret("secret_env").encode("utf-8")
        self.timeout = float(settings.get("timeout") or settings.timeout)
        self.http = requests.Session()
        self.http.headers.update(
            {
                **(settings.get("headers") or {}),
                "Content-Type": "application/json; charset=utf-8",
                "Accept": "application/json",
                "User-Agent": f"cobra/{cobra.__version__}",
            }
        )

    def send(self, message: OutgoingMessage) -> str | None:
        body = encode(message)
        timestamp = str(int(datetime.now(timezone.utc).timestamp()))
        headers = {
            "Idempotency-Key": header_key(message.key),
            "X-Cobra-Timestamp": timestamp,
            "X-Cobra-Signature": "sha256=" + sign(self.secret, timestamp, body),
        }
        try:
            response = self.http.post(
                self.url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise SetupError(
                f"TLS with {self.url} failed: {exc}; check the certificate "
                "(a private authority goes in REQUESTS_CA_BUNDLE)"
            ) from None
        except requests.Timeout:
            raise TransientError(
                f"{self.url} did not answer within {self.timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach {self.url}: {exc}") from None
        return self._outcome(response)

    def close(self) -> None:
        self.http.close()

    def _outcome(self, response: requests.Response) -> str | None:
        status = response.status_code
        if 200 <= status < 300:
            return _event_id(response)
        said = f"{self.url} answered HTTP {status}: {_snippet(response)}"
        if status in (408, 429) or status >= 500:
            raise TransientError(
                said, retry_after=retry_after(response.headers.get("Retry-After"))
            )
        if status in (404, 405, 410):
            # The URL itself is wrong: failing each message for good over a
            # typo in the config would lose them all.
            raise SetupError(
                f"{said}; the receiver has no such endpoint: check "
                f"channels.{self.channel}.url"
            )
        if status in (401, 403):
            raise SetupError(
                f"{said}; the receiver refuses our signature: check that "
                f"${self.secret_env} (channels.{self.channel}.secret_env) holds "
                "the receiver's secret"
            )
        if 300 <= status < 400:
            raise SetupError(
                f"{self.url} redirects (HTTP {status}) to "
                f"{response.headers.get('Location', '?')}; set channels."
                f"{self.channel}.url to the final address"
            )
        raise PermanentError(said)


@cobra.hookimpl
def register_channels(register):
    register(WebhookBackend())


def document(message: OutgoingMessage) -> dict:
    """The JSON document a receiver gets for *message*."""
    return {
        "version": DOCUMENT_VERSION,
        "key": message.key,
        "account": message.account,
        "customer_name": message.customer_name,
        "channel": message.channel,
        "kind": message.kind,
        "to": message.to,
        "cc": message.cc,
        "subject": message.subject,
        "body": message.body,
        "language": message.language,
        "planned_for": message.planned_for.isoformat(),
        "details": dict(message.details),
    }


def encode(message: OutgoingMessage) -> bytes:
    return json.dumps(
        document(message), ensure_ascii=False, separators=(",", ":"), default=_plain
    ).encode("utf-8")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``{timestamp}.`` followed by the raw body."""
    content = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret, content, hashlib.sha256).hexdigest()


def header_key(key: str) -> str:
    """The key as an HTTP header value: non-ASCII bytes percent-encoded (UTF-8)."""
    return key if key.isascii() else quote(key, safe="|#:-_.~!$&'()*+,;=@/")


def _plain(value: object) -> object:
    """JSON for the values details may hold: dates in ISO 8601, others as text."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _event_id(response: requests.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    found = data.get("id") if isinstance(data, dict) else None
    if isinstance(found, bool) or not isinstance(found, (str, int)):
        return None
    return str(found) or None


def _snippet(response: requests.Response, limit: int = 120) -> str:
    text = " ".join(response.text.split())
    if not text:
        return "an empty body"
    return repr(text if len(text) <= limit else text[:limit] + "...")
