"""The ``kannel`` channel backend: SMS through a Kannel gateway's smsbox.

Kannel (kannel.org) is the open-source SMS gateway many operators and
aggregators run: its ``bearerbox`` talks to the SMS centres, its ``smsbox``
takes messages over HTTP at ``/cgi-bin/sendsms``. This backend sends each
message with one GET on that interface, over one HTTP session per worker
(keep-alive), and reads Kannel's plain-text answer.

Delivery reports: with ``receipts.public_url`` set, every message asks for
all five report types (``dlr-mask=31``) at a ``dlr-url`` that carries the
idempotency key, so ``cobra receipts serve`` can find the message without a
provider id (smsbox 1.4 gives none). Kannel substitutes ``%`` codes in that
URL itself, so the key's own percent-escapes are doubled (``%%``) to reach
the listener intact.

Replies: Kannel hands an incoming SMS to an ``sms-service`` whose
``get-url`` points at ``cobra receipts serve`` (see docs/channels/kannel.md
for the exact URL); :meth:`KannelBackend.inbound` reads it.

Kannel keeps no record cobra could query by key, so a message interrupted
between Kannel's answer and cobra's bookkeeping cannot be looked up
(``can_lookup = False``): the core marks it ``unknown`` for a person.
"""

from __future__ import annotations

import codecs
import errno
import re
from datetime import datetime, timezone
from typing import ClassVar
from urllib.parse import parse_qsl, quote, urlsplit

import cobra
from cobra.channels import (
    Inbound,
    OutcomeUnknown,
    PermanentError,
    Receipt,
    SetupError,
    TransientError,
)
from cobra.config_schema import Key, pattern, positive, secret_key, string
from cobra.errors import MissingSecret

# GSM 03.38: the default alphabet and its extension table (each extension
# character costs two septets, but stays within 7-bit coding). A text made
# only of these goes as 7-bit SMS, 160 characters a part; anything else
# (Spanish á, í, ó, ú, emoji) needs UCS-2, 70 characters a part.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
GSM7 = frozenset(GSM7_BASIC + GSM7_EXTENSION)

# Kannel's data codings: 0 is 7-bit (its default, so never sent), 2 UCS-2.
CODING_UCS2 = "2"

# Every delivery report type: 1 delivered, 2 undeliverable, 4 buffered at the
# centre, 8 accepted by the centre, 16 rejected by the centre.
DLR_MASK = 31
DLR_STATES = {
    1: ("delivered", "delivered to the phone"),
    2: ("failed", "the SMS centre could not deliver it"),
    4: ("sent", "buffered at the SMS centre"),
    8: ("sent", "accepted by the SMS centre"),
    16: ("failed", "rejected by the SMS centre"),
}

# Failed reports that blame the number, which cobra then marks invalid. A 2
# (not delivered to the phone) does, unless the centre's answer says the
# message only expired or was dropped: a phone switched off for days works
# again later. A 16 (refused by the centre) does only when the refusal names
# the destination: SMPP's invalid destination address, type of number or
# numbering plan (Kannel answers "NACK/0x0000000b/Invalid Destination
# Address"), or an upstream smsbox refusing the receiver. Other refusals (the
# sender, the account, the text, a busy centre) are on cobra's side, and
# would otherwise mark every number of a run invalid.
_NOT_THE_NUMBER = re.compile(r"\bstat:(?:EXPIRED|DELETED|UNKNOWN)\b", re.IGNORECASE)
_BAD_DESTINATION = re.compile(
    r"NACK/(?:0x0000000b|0x00000050|0x00000051)/"
    r"|NACK/.*(?:receiver|number\(s\) has/have been denied)",
    re.IGNORECASE,
)

# smsbox's answers that mean it took the message: "0: Accepted for delivery",
# "3: Queued for later delivery" (no SMS centre connected right now; the
# bearerbox keeps it and sends it when one is), and "Sent." from a smsbox
# with immediate-sendsms-reply, which answers before the bearerbox has it.
_ACCEPTED = re.compile(r"\s*(?:[03]:\s|Sent\.)")
# 4xx answers that name the receiver: "Missing receiver number, rejected",
# "Empty receiver number not allowed, rejected", "Number(s) has/have been
# denied by white- and/or black-lists." (also smsbox's answer to a number
# with characters outside sendsms-chars).
_BAD_RECEIVER = re.compile(r"receiver|number", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s().-]")
_SHOWN = 200  # characters of an unexpected answer quoted in an error


def is_gsm7(text: str) -> bool:
    """Whether *text* fits the GSM 7-bit alphabet (with its extension)."""
    return all(char in GSM7 for char in text)


class KannelSession:
    """One HTTP session with smsbox's sendsms interface."""

    def __init__(
        self,
        http,
        *,
        url: str,
        fixed: dict,
        timeout: float,
        status_url: str | None,
        password: str,
    ):
        self.http = http
        self.url = url
        self.fixed = fixed  # username, password, from, smsc: the same every time
        self.timeout = timeout
        self.status_url = status_url
        self.password = password

    def params(self, message) -> dict[str, str]:
        """The sendsms query for *message*."""
        params = dict(self.fixed)
        # smsbox reads a space in `to` as the start of another receiver: a
        # number written with separators would become several messages.
        params["to"] = _SEPARATORS.sub("", message.to)
        params["text"] = message.body
        # requests encodes every value as UTF-8; charset tells smsbox so.
        params["charset"] = "UTF-8"
        if not is_gsm7(message.body):
            params["coding"] = CODING_UCS2
        if self.status_url:
            params["dlr-mask"] = str(DLR_MASK)
            params["dlr-url"] = self.status_url + (
                "?key="
                + _kannel_literal(quote(message.key, safe=""))
                + "&status=%d&at=%T&to=%p&answer=%A"
            )
        return params

    def send(self, message) -> None:
        """Hand *message* to smsbox; None: Kannel 1.4 gives no message id."""
        if not message.to:
            raise PermanentError("no phone number to send the SMS to")
        if not message.body.strip():
            raise PermanentError("the SMS is empty; smsbox would send it as it is")
        import requests

        try:
            # A redirect is not smsbox's way; following it could send the
            # password elsewhere.
            answer = self.http.get(
                self.url,
                params=self.params(message),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise TransientError(
                f"no connection to Kannel at {self.url} within {self.timeout:g} s"
                f" ({_reason(exc)})"
            ) from None
        except requests.exceptions.Timeout:
            # The request went out: smsbox may have taken the message, and
            # Kannel cannot be asked. Retrying could text the customer twice,
            # so cobra settles it like a message interrupted by a crash.
            raise OutcomeUnknown(
                f"Kannel at {self.url} did not answer within {self.timeout:g} s;"
                " it may have taken the message"
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise TransientError(
                f"cannot reach Kannel at {self.url}: {_reason(exc)}"
                " (is smsbox running, and is its sendsms-port this one?)"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TransientError(
                f"HTTP request to Kannel at {self.url} failed: {type(exc).__name__}"
            ) from None
        text = answer.content.decode("utf-8", errors="replace")
        _check(answer.status_code, text, answer.headers, self.url, self.password)

    def close(self) -> None:
        self.http.close()


def _kannel_literal(text: str) -> str:
    """*text* with every ``%`` doubled: Kannel reads ``%%`` as one ``%`` and
    would take ``%C3`` (the start of an escaped é) for its own code ``%C``."""
    return text.replace("%", "%%")


def _reason(exc: BaseException) -> str:
    """A short cause for a connection failure, without the request's URL
    (which carries the password in its query)."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno:
            if current.errno == errno.ECONNREFUSED:
                return "connection refused"
            return current.strerror or errno.errorcode.get(current.errno, "error")
        stack.extend(
            item
            for item in (
                current.__cause__,
                current.__context__,
                getattr(current, "reason", None),
                *getattr(current, "args", ()),
            )
            if isinstance(item, BaseException)
        )
    return type(exc).__name__


def _check(status: int, text: str, headers, url: str, password: str) -> None:
    """Raise the error that smsbox's answer means; return when it was taken."""
    said = text.strip()
    if password:
        said = said.replace(password, "***")
    shown = said[:_SHOWN] + ("..." if len(said) > _SHOWN else "")
    answer = f"Kannel at {url} answered {status} {shown!r}"
    if 200 <= status < 300:
        if _ACCEPTED.match(said):
            return
        # A 2xx that is not smsbox's: a proxy's page, a different service on
        # that port. Whether the message went is unknown; trying again later
        # is the only safe course, and the message says what to check.
        raise TransientError(
            f"{answer}, which is not a sendsms answer; is url the smsbox's "
            "http://HOST:SENDSMS-PORT/cgi-bin/sendsms?"
        )
    if status == 403 and said.lower().startswith("authorization failed"):
        raise SetupError(
            f"{answer}: check username and the password in the variable that "
            "password_env names against the smsbox's sendsms-user group"
        )
    if said.lower().startswith("sender missing"):
        raise SetupError(
            f"{answer}: set `from` in the channel's table, or global-sender in "
            "the smsbox group"
        )
    if status == 429 or status >= 500:
        raise TransientError(answer, retry_after=_retry_after(headers))
    if 400 <= status < 500:
        raise PermanentError(answer, invalid_address=bool(_BAD_RECEIVER.search(said)))
    raise TransientError(f"{answer}, which is not a sendsms answer")


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


# -- callbacks: delivery reports and replies -----------------------------------------


def _instant(value: str | None) -> str | None:
    """Kannel's %T (seconds since the epoch) as an aware ISO 8601 instant."""
    if not value or not value.strip().isdigit():
        return None
    return datetime.fromtimestamp(int(value), timezone.utc).isoformat()


def _raw_query(request) -> dict[str, bytes]:
    """The query's values as bytes, from the URL as Kannel called it.

    Kannel sends an incoming SMS's text in the charset it arrived in (UCS-2
    replies come as UTF-16BE bytes, escaped), so the text can only be
    decoded once the ``charset`` parameter is known.
    """
    query = urlsplit(request.url or "").query
    if not query:
        merged = {**dict(request.form or {}), **dict(request.query or {})}
        return {name: str(value).encode("utf-8") for name, value in merged.items()}
    pairs = parse_qsl(query, keep_blank_values=True, encoding="latin-1")
    return {name: value.encode("latin-1") for name, value in pairs}


def _decode(data: bytes, charset: str, coding: str) -> str:
    name = charset.strip() or ("UTF-16BE" if coding.strip() == CODING_UCS2 else "")
    if name.upper() in ("UCS-2", "UCS2", "UTF-16"):
        name = "UTF-16BE"  # SMS UCS-2 is big-endian, without a byte-order mark
    try:
        codecs.lookup(name or "utf-8")
    except LookupError:
        name = "utf-8"
    return data.decode(name or "utf-8", errors="replace")


def bad_number(status: int, answer: str) -> bool:
    """Whether a delivery report of type *status* says the number is bad."""
    if status == 2:
        return not _NOT_THE_NUMBER.search(answer)
    if status == 16:
        return bool(_BAD_DESTINATION.match(answer))
    return False


def phone_number(value: str) -> str:
    """An SMS sender in E.164 where it can be read as a number.

    Kannel passes the number as the SMS centre gave it; international numbers
    often come without the ``+`` or with ``00``. National numbers cannot be
    told apart here: Kannel's ``unified-prefix`` on the smsc group turns them
    into international ones. Alphanumeric senders are returned as they are.
    """
    compact = _SEPARATORS.sub("", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.isdigit():
        compact = "+" + compact
    if re.fullmatch(r"\+[1-9]\d{5,14}", compact):
        return compact
    return value.strip()


def _channel_of(path: str) -> str:
    """The channel a callback is for: the path's part before ``/inbound``."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[-1] in ("inbound", "status"):
        return parts[-2]
    return "sms"


class KannelBackend:
    name = "kannel"
    description = "SMS through a Kannel gateway's smsbox sendsms interface."
    kinds = ("sms",)
    config_keys: ClassVar[dict[str, Key]] = {
        "url": Key(
            pattern(r"https?://\S+", "an http:// or https:// URL"),
            "The smsbox sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms.",
        ),
        "username": Key(string, "The username of a sendsms-user group."),
        "password_env": secret_key(
            "Environment variable holding that sendsms-user's password."
        ),
        "from": Key(string, "Sender number or name; smsbox's global-sender if unset."),
        "smsc": Key(string, "smsc-id of the SMS centre connection to route through."),
        "timeout": Key(positive, "Seconds to wait for smsbox's answer."),
    }
    # smsbox answers each request after the bearerbox acknowledged it; a few
    # requests in flight hide that round trip when the gateway is remote.
    concurrency = 4
    rate_limit = None
    can_lookup = False
    replay_safe = False

    def check(self, settings) -> str:
        """Log in to smsbox without a receiver: nothing can be sent.

        smsbox checks the credentials first: wrong ones get 403, right ones
        a 4xx for the missing receiver and text.
        """
        import requests

        session = self.connect(settings)
        query = {
            k: v for k, v in session.fixed.items() if k in ("username", "password")
        }
        try:
            answer = session.http.get(
                session.url, params=query, timeout=session.timeout
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"smsbox is unreachable at {session.url}: {_reason(exc)}"
            ) from None
        finally:
            session.close()
        text = answer.text.strip()
        if answer.status_code == 403 or "Authorization failed" in text:
            raise SetupError(
                f"smsbox refused user {query.get('username')!r}: check username and "
                "password_env against its sendsms-user group"
            )
        if answer.status_code >= 500:
            raise TransientError(f"smsbox answered {answer.status_code}: {text[:100]}")
        return f"smsbox at {session.url} accepted user {query.get('username')!r}"

    def connect(self, settings) -> KannelSession:
        url = str(settings.get("url") or "")
        where = f"channels.{settings.channel}"
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SetupError(
                f"{where}.url must be the smsbox sendsms URL, such as "
                f"http://127.0.0.1:13013/cgi-bin/sendsms; got {url!r}"
            )
        username = settings.get("username")
        if not username:
            raise SetupError(
                f"{where}.username is not set: name the smsbox's sendsms-user"
            )
        try:
            password = settings.secret("password_env")
        except MissingSecret as exc:
            raise SetupError(str(exc)) from None
        fixed = {"username": str(username), "password": password}
        for key in ("from", "smsc"):
            if settings.get(key):
                fixed[key] = str(settings.get(key))
        status_url = (
            _kannel_literal(settings.receipts_url.rstrip("/")) + "/status"
            if settings.receipts_url
            else None
        )
        import requests

        http = requests.Session()
        # requests reads the environment (proxy variables, CA bundle) again
        # for every request, which on a nearby gateway costs about as much as
        # the request itself: read it once for this URL, then stop looking.
        environment = http.merge_environment_settings(url, {}, None, None, None)
        http.proxies.update(environment["proxies"] or {})
        http.verify = environment["verify"]
        http.trust_env = False
        return KannelSession(
            http,
            url=url,
            fixed=fixed,
            timeout=float(settings.timeout),
            status_url=status_url,
            password=password,
        )

    def receipt(self, request, settings=None) -> list[Receipt]:
        """A delivery report Kannel made through the ``dlr-url`` sent with it."""
        values = {**dict(request.form or {}), **dict(request.query or {})}
        key, status = values.get("key"), str(values.get("status", "")).strip()
        if not key or not status.isdigit():
            raise ValueError(
                "not a Kannel delivery report: the dlr-url cobra sends carries "
                "key and status"
            )
        known = DLR_STATES.get(int(status))
        if known is None:
            raise ValueError(f"unknown Kannel delivery report type {status}")
        state, meaning = known
        answer = str(values.get("answer") or "").strip()
        return [
            Receipt(
                state=state,
                key=key,
                detail=answer or meaning,
                invalid_address=bad_number(int(status), answer),
            )
        ]

    def inbound(self, request, settings=None) -> list[Inbound]:
        """An SMS from a customer, passed on by an ``sms-service`` get-url."""
        raw = _raw_query(request)
        if "from" not in raw or "text" not in raw:
            raise ValueError(
                "not a Kannel sms-service call: its get-url must pass from=%p "
                "and text=%a"
            )

        def field(name: str) -> str:
            return raw.get(name, b"").decode("utf-8", errors="replace")

        text = _decode(raw["text"], field("charset"), field("coding"))
        return [
            Inbound(
                channel=_channel_of(request.path),
                sender=phone_number(field("from")),
                text=text,
                provider_id=field("id") or None,
                received_at=_instant(field("at")),
            )
        ]


@cobra.hookimpl
def register_channels(register):
    register(KannelBackend())
