"""SMS and WhatsApp through Twilio's Messages REST API.

Each message is one ``POST {api_url}/2010-04-01/Accounts/{AccountSid}/
Messages.json``, form-encoded (``To``, ``From`` or ``MessagingServiceSid``,
``Body``, and ``StatusCallback`` when ``cobra receipts serve`` has a public
address), with HTTP basic authentication ``AccountSid:AuthToken``. Twilio
answers ``201 Created`` with the message resource, whose ``sid`` (``SM...``)
is the provider id; its error answers are JSON documents ``{"code",
"message", "more_info", "status"}`` whose code says what went wrong. A session
keeps one ``requests.Session``, so its messages share a TLS connection.

For WhatsApp, Twilio wants both numbers as channel addresses,
``whatsapp:+E164``; the backend adds the prefix when the channel's
``whatsapp`` key is true, or, with the key unset, when the message's kind is
``whatsapp``.

How answers are classed, so that the outbox retries what may go through later
and gives up on what never will:

- 401, 403 and 404 (wrong credentials, a suspended account, an account sid
  that does not exist), a redirect, a refused TLS certificate, and the codes
  meaning the sender itself is unusable (:data:`SENDER_CODES`):
  :class:`~cobra.channels.SetupError`, since no message is at fault;
- 400 with a code meaning the recipient cannot receive it (:data:`BAD_RECIPIENT`):
  :class:`~cobra.channels.PermanentError` with ``invalid_address``;
- any other 4xx error document: :class:`~cobra.channels.PermanentError`;
- 408, 429 and 5xx, timeouts, refused connections, and error answers that are
  not Twilio's JSON (a proxy's HTML page): :class:`~cobra.channels.TransientError`,
  with ``Retry-After`` as the retry hint;
- a ``201 Created`` whose body cannot be read still means Twilio created the
  message: it counts as sent, without an id, because sending it again would
  text the customer twice.

Twilio posts delivery reports to ``.../status`` and customers' messages to
``.../inbound``; both are accepted only with a valid ``X-Twilio-Signature``
(:func:`signature`), the HMAC-SHA1 Twilio computes with the account's auth
token, so nobody else can mark messages delivered or opt customers out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import ClassVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

import cobra
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
from cobra.config_schema import Key, boolean, number, pattern, secret_key, string
from cobra.httputil import retry_after

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.twilio.com"
WHATSAPP = "whatsapp:"

# Twilio error codes (https://www.twilio.com/docs/api/errors) meaning the
# recipient's number cannot receive the message, now or later.
BAD_RECIPIENT = {
    21211: "invalid 'To' phone number",
    21214: "'To' phone number cannot be reached",
    21217: "phone number does not appear to be valid",
    21407: "this phone number type does not support SMS",
    21421: "phone number is invalid",
    21610: "the recipient has unsubscribed (replied STOP)",
    21612: "'To' number is not reachable by SMS",
    21614: "'To' number is not a valid mobile number",
    63003: "no WhatsApp account at the 'To' address",
}

# Codes meaning the sending side is unusable: every message would fail alike.
SENDER_CODES = {
    20003: "authentication failed",
    21212: "invalid 'From' number",
    21606: "the 'From' number cannot send messages to this destination",
    21701: "the messaging service does not exist",
    21703: "the messaging service has no phone number to send from",
    21704: "the messaging service has no phone numbers",
    63007: "no WhatsApp sender is set up for the 'From' address",
}

# Delivery-report failures that say the number itself is bad. 30003
# (handset switched off) is left out: the same number may work tomorrow.
BAD_NUMBER_REPORTS = {21211, 21610, 21614, 30005, 30006, 63003}

# Twilio's message statuses, as the three states cobra records. "queued",
# "accepted", "sending" and "scheduled" say nothing cobra does not know.
REPORTED_STATES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}


class TwilioBackend:
    name = "twilio"
    description = "SMS and WhatsApp through Twilio's Messages REST API."
    kinds = ("sms", "whatsapp")
    concurrency = 4
    rate_limit = None
    can_lookup = False
    replay_safe = False
    config_keys: ClassVar[dict[str, Key]] = {
        "account_sid": Key(
            pattern(r"AC[0-9a-fA-F]{32}", "an account sid (AC and 32 hex digits)"),
            "Twilio account sid; the user name of the API's basic authentication.",
        ),
        "auth_token_env": secret_key(
            "Environment variable holding the account's auth token."
        ),
        "from": Key(
            string,
            "Sending number in E.164 form (+15551234567), or an alphanumeric "
            "sender id; without the whatsapp: prefix.",
        ),
        "messaging_service_sid": Key(
            pattern(r"MG[0-9a-fA-F]{32}", "a messaging service sid (MG and 32 hex)"),
            "Send through this messaging service instead of (or with) `from`.",
        ),
        "whatsapp": Key(
            boolean,
            "Send as WhatsApp messages; unset: only messages of kind whatsapp.",
        ),
        "api_url": Key(
            pattern(r"https?://[^\s/]+(/\S*)?", "an http:// or https:// URL"),
            f"Base URL of the API; {DEFAULT_API_URL} unless testing.",
        ),
        "timeout": Key(number, "Seconds to wait for Twilio before giving up."),
    }

    def check(self, settings: ChannelSettings) -> str:
        """Read the account resource: the credentials work, nothing is sent."""
        session = TwilioSession(settings)
        url = f"{session.api_url}/2010-04-01/Accounts/{session.account_sid}.json"
        try:
            answer = session.http.get(url, timeout=session.timeout)
        except requests.RequestException as exc:
            raise TransientError(f"Twilio is unreachable at {session.api_url}: {exc}")
        finally:
            session.close()
        if answer.status_code in (401, 403):
            raise SetupError(
                f"Twilio refused account {session.account_sid} with the token in "
                f"${session.token_env}: check auth_token_env"
            )
        if answer.status_code >= 400:
            raise TransientError(f"Twilio answered {answer.status_code} for {url}")
        return f"account {session.account_sid} accepted the credentials"

    def connect(self, settings: ChannelSettings) -> TwilioSession:
        return TwilioSession(settings)

    def receipt(
        self, request: Request, settings: ChannelSettings | None = None
    ) -> list[Receipt]:
        """A status callback as a :class:`Receipt`; nothing if not Twilio's.

        Raises ValueError for a signed request that is not a status callback,
        which ``cobra receipts serve`` answers with 400.
        """
        if not authentic(request, _required(settings)):
            return []
        sid = request.form.get("MessageSid") or request.form.get("SmsSid")
        status = request.form.get("MessageStatus") or request.form.get("SmsStatus")
        if not sid or not status:
            raise ValueError(
                "not a Twilio status callback: MessageSid and MessageStatus missing"
            )
        state = REPORTED_STATES.get(status)
        if state is None:
            return []
        code = _integer(request.form.get("ErrorCode"))
        detail = f"twilio status {status}" + (f", error {code}" if code else "")
        return [
            Receipt(
                state=state,
                provider_id=sid,
                detail=detail,
                invalid_address=state == "failed" and code in BAD_NUMBER_REPORTS,
            )
        ]

    def inbound(
        self, request: Request, settings: ChannelSettings | None = None
    ) -> list[Inbound]:
        """A customer's message to our number as an :class:`Inbound`."""
        settings = _required(settings)
        if not authentic(request, settings):
            return []
        sender = request.form.get("From")
        if not sender:
            raise ValueError("not a Twilio incoming message: From is missing")
        return [
            Inbound(
                channel=settings.channel,
                sender=_bare(sender),
                text=request.form.get("Body", ""),
                provider_id=request.form.get("MessageSid") or None,
            )
        ]


def _required(settings: ChannelSettings | None) -> ChannelSettings:
    # Checking a signature needs the channel's auth token: a listener that
    # passes no settings cannot have Twilio's callbacks.
    if settings is None:
        raise ValueError(
            "the twilio backend needs the channel's settings to check "
            "X-Twilio-Signature; this listener passed none"
        )
    return settings


class TwilioSession:
    """One HTTP session with Twilio, sending one message per request."""

    def __init__(self, settings: ChannelSettings):
        self.channel = settings.channel
        self.account_sid = settings.get("account_sid")
        self.sender = settings.get("from")
        self.service = settings.get("messaging_service_sid")
        where = f"[channels.{settings.channel}]"
        if not self.account_sid:
            raise SetupError(f"{where} needs account_sid, the AC... sid of the account")
        if not (self.sender or self.service):
            raise SetupError(f"{where} needs from (a number) or messaging_service_sid")
        self.token_env = settings.get("auth_token_env")
        token = settings.secret("auth_token_env")
        self.api_url = str(settings.get("api_url") or DEFAULT_API_URL).rstrip("/")
        self.url = (
            f"{self.api_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        )
        self.timeout = float(settings.get("timeout") or settings.timeout)
        self.whatsapp = settings.get("whatsapp")
        self.status_callback = (
            settings.receipts_url.rstrip("/") + "/status"
            if settings.receipts_url
            else None
        )
        self.http = requests.Session()
        self.http.auth = (self.account_sid, token)
        self.http.headers.update(
            {
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": f"cobra/{cobra.__version__}",
            }
        )

    def send(self, message: OutgoingMessage) -> str | None:
        if not message.to:
            raise PermanentError(f"message {message.key} has no phone number")
        whatsapp = (
            message.kind == "whatsapp" if self.whatsapp is None else self.whatsapp
        )
        form = {"To": _address(message.to, whatsapp), "Body": message.body}
        if self.sender:
            form["From"] = _address(self.sender, whatsapp)
        if self.service:
            form["MessagingServiceSid"] = self.service
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        # Encoded here, as bytes: http.client then sends headers and body in
        # one write instead of two, which Nagle's algorithm would delay.
        body = urlencode(form).encode("utf-8")
        try:
            response = self.http.post(
                self.url, data=body, timeout=self.timeout, allow_redirects=False
            )
        except requests.exceptions.SSLError as exc:
            raise SetupError(
                f"TLS with {self.api_url} failed: {exc}; check the certificate "
                "(a private authority goes in REQUESTS_CA_BUNDLE)"
            ) from None
        except requests.ConnectTimeout:
            raise TransientError(
                f"cannot reach Twilio at {self.api_url} within {self.timeout:g} s"
            ) from None
        except requests.Timeout:
            # The request went out: Twilio may have created the message, and
            # its API has no idempotency key to ask with.
            raise OutcomeUnknown(
                f"Twilio at {self.api_url} did not answer within {self.timeout:g} s;"
                " the message may have been created"
            ) from None
        except requests.RequestException as exc:
            raise TransientError(
                f"cannot reach Twilio at {self.api_url}: {exc}"
            ) from None
        return self._outcome(response, message)

    def close(self) -> None:
        self.http.close()

    def _outcome(self, response: requests.Response, message: OutgoingMessage):
        status = response.status_code
        if 200 <= status < 300:
            sid = _sid(response)
            if sid:
                return sid
            if status == 201:
                # Created is Twilio's word that the message exists; resending
                # would text the customer twice, so it counts as sent.
                log.warning(
                    "channel %s: Twilio created message %s but its answer has "
                    "no readable sid; delivery reports cannot be matched to it",
                    self.channel,
                    message.key,
                )
                return None
            raise TransientError(
                f"Twilio answered HTTP {status} without a message sid: "
                f"{_snippet(response)}"
            )

        if 300 <= status < 400:
            raise SetupError(
                f"{self.url} redirects (HTTP {status}) to "
                f"{response.headers.get('Location', '?')}; set api_url to the API"
            )
        error = _error(response)
        code = error["code"] if error else None
        described = _describe(status, error, response)
        if status in (401, 403, 404) or code in SENDER_CODES:
            raise SetupError(described + self._hint(status, code))
        if status in (408, 429) or status >= 500:
            raise TransientError(
                described, retry_after=retry_after(response.headers.get("Retry-After"))
            )
        if error is None:
            # Not Twilio's error document (a proxy, a captive portal): what
            # Twilio thinks of the message is unknown, so try again later.
            raise TransientError(
                described, retry_after=retry_after(response.headers.get("Retry-After"))
            )
        raise PermanentError(described, invalid_address=code in BAD_RECIPIENT)

    def _hint(self, status: int, code: int | None) -> str:
        where = f"channels.{self.channel}"
        if status == 401 or code == 20003:
            return (
                f"; check {where}.account_sid and the auth token in ${self.token_env}"
            )
        if status == 404:
            return f"; check {where}.account_sid and {where}.api_url"
        if code in SENDER_CODES:
            return f"; check {where}.from and {where}.messaging_service_sid"
        return ""


@cobra.hookimpl
def register_channels(register):
    register(TwilioBackend())


# -- signatures ----------------------------------------------------------------


def signature(token: str, url: str, params: dict[str, str]) -> str:
    """The ``X-Twilio-Signature`` of a form POST to *url*.

    Twilio's recipe: the full URL, then each parameter's name and value
    appended in the order of the names, HMAC-SHA1 with the auth token as the
    key, base64-encoded.
    """
    content = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(token.encode("utf-8"), content.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


def authentic(request: Request, settings: ChannelSettings) -> bool:
    """Whether *request* carries a valid signature for this channel's account.

    The URL is tried as called, without its port and with the scheme's
    default port, since proxies in front of the listener add or drop it and
    Twilio's own libraries accept each form.
    """
    given = _header(request.headers, "X-Twilio-Signature")
    if not given:
        log.warning(
            "channel %s: refused a callback to %s without X-Twilio-Signature",
            settings.channel,
            request.url,
        )
        return False
    token = settings.secret("auth_token_env")
    for url in _url_forms(request.url):
        if hmac.compare_digest(signature(token, url, dict(request.form)), given):
            return True
    log.warning(
        "channel %s: refused a callback to %s: X-Twilio-Signature does not match "
        "(another account's token, or a forged request)",
        settings.channel,
        request.url,
    )
    return False


def _url_forms(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.netloc.rsplit(":", 1)[0] if port else parts.netloc
    forms = [url, urlunsplit(parts._replace(netloc=host))]
    if default:
        forms.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    return list(dict.fromkeys(forms))


# -- helpers --------------------------------------------------------------------


def _address(number: str, whatsapp: bool) -> str:
    number = number.strip()
    if whatsapp and not number.startswith(WHATSAPP):
        return WHATSAPP + number
    return number


def _bare(address: str) -> str:
    return address.removeprefix(WHATSAPP)


def _header(headers, name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _sid(response: requests.Response) -> str | None:
    data = _json(response)
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) and sid else None


def _error(response: requests.Response) -> dict | None:
    """Twilio's error document, or None when the body is something else."""
    data = _json(response)
    if (
        isinstance(data, dict)
        and isinstance(data.get("code"), int)
        and isinstance(data.get("message"), str)
    ):
        return data
    return None


def _describe(status: int, error: dict | None, response: requests.Response) -> str:
    if error is None:
        return f"Twilio answered HTTP {status}: {_snippet(response)}"
    text = f"Twilio error {error['code']} (HTTP {status}): {error['message']}"
    more = error.get("more_info")
    return f"{text} ({more})" if isinstance(more, str) and more else text


def _snippet(response: requests.Response, limit: int = 120) -> str:
    text = " ".join(response.text.split())
    if not text:
        return "an empty body"
    return repr(text if len(text) <= limit else text[:limit] + "...")
