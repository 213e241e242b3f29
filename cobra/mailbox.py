"""Reading customers' e-mail replies and bounces from an IMAP mailbox.

The mailbox named in ``[replies.email]`` receives what comes back from the
e-mails cobra sends: bounces (delivery status notifications), customers'
replies, and their auto-replies. This module only reads: it turns each
message into :class:`cobra.channels.Receipt` or :class:`cobra.channels.Inbound`
objects, and :mod:`cobra.receipts` applies those to the store.

Nothing is lost and nothing is read twice. Reading happens in two phases:
:meth:`Mailbox.fetch` reads the new messages without changing anything on the
server, the caller stores what they say, and only then
:meth:`Mailbox.acknowledge` moves them to the processed mailbox. A crash or a
failed store write in between leaves them where they were, to be read again
next time; the store side is idempotent by ``provider_id`` (the Message-ID).

How a message is read (docs/replies.md says it for users):

- a delivery status notification (``multipart/report``) or a plain-text
  bounce from a mailer daemon becomes a ``failed`` Receipt for the message it
  returns, found by the ``X-Cobra-Key`` header of the returned copy or by its
  Message-ID; a delay notice (4.x.x) is not a failure and yields nothing;
- an auto-reply (``Auto-Submitted``, ``X-Autoreply``, ``Precedence: bulk``,
  an "Out of office" subject) becomes an Inbound in
  :attr:`Fetched.auto_replies`, never in :attr:`Fetched.inbound`, so that
  its words are not taken as the customer's;
- anything else with a sender becomes an Inbound whose text is the reply
  without the quoted message: our own messages say "reply STOP to opt out",
  and a reply that quotes that must not opt the customer out.
"""

from __future__ import annotations

import base64
import email
import hashlib
import imaplib
import re
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from cobra.channels import KEY_HEADER, Inbound, Receipt
from cobra.errors import CobraWorkError, ConfigError

SECURITY = ("tls", "starttls", "none")
DEFAULT_PORT = {"tls": 993, "starttls": 143, "none": 143}

# UIDs per FETCH or MOVE command: bounds the size of one response and of one
# command line, whatever the number of messages waiting.
BATCH = 200


# -- settings ---------------------------------------------------------------


@dataclass(frozen=True)
class MailboxSettings:
    """The ``[replies.email]`` table, with its defaults filled in."""

    host: str
    username: str
    password: str = field(repr=False)
    security: str = "tls"
    port: int = 993
    mailbox: str = "INBOX"
    processed_mailbox: str = "cobra-processed"
    timeout: float = 10.0
    password_env: str = ""  # where the password came from, for messages
    ca_file: str | None = None  # a private CA's PEM file instead of the system's

    @classmethod
    def from_config(cls, config) -> MailboxSettings:
        """Read ``replies.email.*`` from a :class:`cobra.config.Config`.

        Raises ConfigError naming the missing key, and MissingSecret when
        the password's environment variable is not set.
        """
        table = config.get("replies.email")
        if not isinstance(table, dict) or not table.get("host"):
            raise ConfigError(
                "replies.email.host is not set: add a [replies.email] table with the "
                "IMAP server's host, username and password_env (see docs/replies.md)"
            )
        for key in ("username", "password_env"):
            if not table.get(key):
                raise ConfigError(
                    f"replies.email.{key} is not set in {config.describe_source('replies.email.host')}"
                )
        security = table.get("security", "tls")
        if security not in SECURITY:
            raise ConfigError(
                f"replies.email.security must be one of {', '.join(SECURITY)}; "
                f"got {security!r}"
            )
        return cls(
            host=str(table["host"]),
            username=str(table["username"]),
            password=config.secret("replies.email.password_env"),
            security=security,
            port=int(table.get("port", DEFAULT_PORT[security])),
            mailbox=str(table.get("mailbox", "INBOX")),
            processed_mailbox=str(table.get("processed_mailbox", "cobra-processed")),
            timeout=float(table.get("timeout", 10.0)),
            password_env=str(table["password_env"]),
            ca_file=str(config.resolve_path(table["ca_file"]))
            if table.get("ca_file")
            else None,
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


# -- errors -----------------------------------------------------------------


class MailboxError(CobraWorkError):
    """The mailbox could not be read; *transient* says whether to try later.

    *reply* is the server's own words, when it answered with a refusal.
    """

    transient = True
    reply = ""


class MailboxUnavailable(MailboxError):
    """The server is down, unreachable, too slow or dropped the connection.

    Nothing was read or moved: running the command again later is enough.
    """


class MailboxSetupError(MailboxError):
    """The mailbox cannot work as configured: a wrong password, a refused
    TLS certificate, a mailbox that does not exist. Retrying will not help;
    the message names the setting to fix.
    """

    transient = False


# -- what a message says ----------------------------------------------------

RECEIPT = "receipt"  # a bounce or delivery report: see Reading.receipts
REPLY = "reply"  # the customer's own words: Reading.inbound
AUTO_REPLY = "auto-reply"  # an automatic answer: Reading.inbound, kept apart
SKIPPED = "skipped"  # nothing for cobra: Reading.note says why


@dataclass(frozen=True)
class Reading:
    """One message of the mailbox and what it was read as."""

    uid: str
    kind: str
    receipts: tuple[Receipt, ...] = ()
    inbound: Inbound | None = None
    note: str = ""


@dataclass
class Fetched:
    """The messages one fetch read, in mailbox order."""

    readings: list[Reading] = field(default_factory=list)

    @property
    def receipts(self) -> list[Receipt]:
        return [receipt for reading in self.readings for receipt in reading.receipts]

    @property
    def inbound(self) -> list[Inbound]:
        """Customers' replies (auto-replies are not among them)."""
        return [r.inbound for r in self.readings if r.kind == REPLY and r.inbound]

    @property
    def auto_replies(self) -> list[Inbound]:
        return [r.inbound for r in self.readings if r.kind == AUTO_REPLY and r.inbound]

    @property
    def skipped(self) -> list[Reading]:
        """Messages that said nothing for cobra, each with its ``note``."""
        return [r for r in self.readings if r.kind == SKIPPED]

    @property
    def uids(self) -> list[str]:
        """Every message read, skipped ones too: all of them are done with."""
        return [r.uid for r in self.readings]


# -- the IMAP side ----------------------------------------------------------


class Mailbox:
    """One logged-in IMAP connection to the replies mailbox.

    Use it as a context manager::

        with Mailbox(settings) as box:
            fetched = box.fetch()
            store(fetched)  # if this raises, nothing was moved
            box.acknowledge(fetched.uids)
    """

    def __init__(self, settings: MailboxSettings):
        self.settings = settings
        self.imap: imaplib.IMAP4 | None = None
        self.capabilities: set[str] = set()
        self._processed_ready = False
        try:
            self._connect()
        except BaseException:
            self.close()  # a refused login or mailbox leaves a connection open
            raise

    def __enter__(self) -> Mailbox:  # noqa: PYI034 - never subclassed
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # Every server call goes through _call, which turns imaplib's and the
    # socket's exceptions into the two kinds of MailboxError.
    def _call(self, doing: str, function: Callable, *args):
        settings = self.settings
        try:
            return function(*args)
        except TimeoutError:
            self._drop()
            raise MailboxUnavailable(
                f"the IMAP server {settings.address} did not answer within "
                f"{settings.timeout:g} s while {doing}; check that it is up, or raise "
                "replies.email.timeout"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise MailboxSetupError(
                f"the TLS certificate of the IMAP server {settings.address} was "
                f"refused: {exc.verify_message}; check replies.email.host, or name "
                "the authority that signed it in replies.email.ca_file"
            ) from None
        except ssl.SSLError as exc:
            self._drop()
            raise MailboxSetupError(
                f"TLS with the IMAP server {settings.address} failed ({exc.reason}); "
                f'check replies.email.security ({settings.security!r}): use "tls" '
                'for a port that starts encrypted (993), "starttls" for 143'
            ) from None
        except imaplib.IMAP4.abort as exc:
            self._drop()
            raise MailboxUnavailable(
                f"the IMAP server {settings.address} closed the connection while "
                f"{doing}: {_text(exc)}"
            ) from None
        except ConnectionRefusedError:
            self._drop()
            raise MailboxUnavailable(
                f"cannot connect to the IMAP server {settings.address}: connection "
                "refused; is the server running, and are replies.email.host and "
                "replies.email.port right?"
            ) from None
        except OSError as exc:
            self._drop()
            raise MailboxUnavailable(
                f"cannot reach the IMAP server {settings.address} while {doing}: "
                f"{exc.strerror or exc}"
            ) from None
        except imaplib.IMAP4.error as exc:
            reply = _text(exc)
            if reply.startswith("* BYE"):  # a greeting that turns us away
                self._drop()
                raise MailboxUnavailable(
                    f"the IMAP server {settings.address} closed the connection "
                    f"while {doing}: {reply.removeprefix('* BYE').strip()}"
                ) from None
            error = MailboxError(
                f"the IMAP server {settings.address} refused {doing}: {reply}"
            )
            error.reply = reply
            raise error from None

    def _checked(self, doing: str, function: Callable, *args) -> list:
        """Call, and raise MailboxError when the server answers NO."""
        status, data = self._call(doing, function, *args)
        if status != "OK":
            raise MailboxError(
                f"the IMAP server {self.settings.address} refused {doing}: "
                f"{_text(data)}"
            )
        return data

    def _connect(self) -> None:
        settings = self.settings
        try:
            context = ssl.create_default_context(cafile=settings.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailboxSetupError(
                f"replies.email.ca_file {settings.ca_file} cannot be used: "
                f"{getattr(exc, 'strerror', None) or exc}; it must be a PEM file"
            ) from None
        if settings.security == "tls":
            self.imap = self._call(
                "connecting",
                lambda: imaplib.IMAP4_SSL(
                    settings.host,
                    settings.port,
                    ssl_context=context,
                    timeout=settings.timeout,
                ),
            )
        else:
            self.imap = self._call(
                "connecting",
                lambda: imaplib.IMAP4(
                    settings.host, settings.port, timeout=settings.timeout
                ),
            )
            if settings.security == "starttls":
                if "STARTTLS" not in self.imap.capabilities:
                    self._drop()
                    raise MailboxSetupError(
                        f"the IMAP server {settings.address} does not offer STARTTLS; "
                        'set replies.email.security to "tls" (and port 993) if it '
                        "takes TLS from the start"
                    )
                self._call("starting TLS", self.imap.starttls, context)
        self._login()
        self.capabilities = self._capabilities()
        mailbox = _quoted(settings.mailbox)
        status, data = self._call(
            f"opening {settings.mailbox}", self.imap.select, mailbox
        )
        if status != "OK":
            raise MailboxSetupError(
                f"cannot open the mailbox {settings.mailbox!r} on {settings.address}: "
                f"{_text(data)}; check replies.email.mailbox"
            )

    def _login(self) -> None:
        settings = self.settings
        imap = self.imap
        if "LOGINDISABLED" in imap.capabilities:
            self._drop()
            raise MailboxSetupError(
                f"the IMAP server {settings.address} does not take a password over an "
                'unencrypted connection; set replies.email.security to "starttls" or '
                '"tls"'
            )
        try:
            if settings.password.isascii() and settings.username.isascii():
                self._call(
                    "logging in", imap.login, settings.username, settings.password
                )
            else:  # LOGIN is ASCII only; SASL PLAIN carries UTF-8
                plain = f"\0{settings.username}\0{settings.password}".encode()
                self._call("logging in", imap.authenticate, "PLAIN", lambda _: plain)
        except MailboxError as exc:
            if not exc.reply:
                raise
            self._drop()
            variable = settings.password_env or "replies.email.password_env"
            raise MailboxSetupError(
                f"the IMAP server {settings.address} refused the login of "
                f"{settings.username!r} ({exc.reply}); check replies.email.username "
                f"and the password in {variable}"
            ) from None

    def _capabilities(self) -> set[str]:
        # imaplib keeps the capabilities from before the login, and servers
        # announce more (MOVE, UIDPLUS) once logged in: ask again.
        data = self._checked("listing capabilities", self.imap.capability)
        return set(_text(data).upper().split())

    def fetch(self, limit: int | None = None) -> Fetched:
        """Read the messages waiting in the mailbox, changing nothing there.

        Messages are read without setting their \\Seen flag, so a mail
        client watching the same mailbox still shows them as new.
        """
        data = self._checked(
            "searching the mailbox", self.imap.uid, "SEARCH", "UNDELETED"
        )
        uids = _text(data).split()
        if limit is not None:
            uids = uids[:limit]
        fetched = Fetched()
        for batch in _batches(uids):
            data = self._checked(
                "reading messages",
                self.imap.uid,
                "FETCH",
                _uid_set(batch),
                "(UID INTERNALDATE BODY.PEEK[])",
            )
            for uid, arrived, raw in _fetch_items(data):
                fetched.readings.append(read_message(raw, uid, arrived))
        return fetched

    def acknowledge(self, uids: Iterable[str]) -> None:
        """Move these messages to the processed mailbox, created if missing.

        Call it only once what they said is stored: a message that is not
        acknowledged is read again by the next fetch.
        """
        uids = list(uids)
        if not uids:
            return
        target = _quoted(self.settings.processed_mailbox)
        self._ensure_processed(target)
        for batch in _batches(uids):
            members = _uid_set(batch)
            if "MOVE" in self.capabilities:
                self._checked("moving messages", self.imap.uid, "MOVE", members, target)
                continue
            # Without MOVE: copy, then delete the originals. A crash between
            # the two leaves a message in both places; the next fetch reads it
            # again, which the idempotent store absorbs.
            self._checked("copying messages", self.imap.uid, "COPY", members, target)
            self._checked(
                "deleting copied messages",
                self.imap.uid,
                "STORE",
                members,
                "+FLAGS.SILENT",
                r"(\Deleted)",
            )
            if "UIDPLUS" in self.capabilities:  # expunge only these, not others
                self._checked("expunging", self.imap.uid, "EXPUNGE", members)
            else:
                self._checked("expunging", self.imap.expunge)

    def _ensure_processed(self, target: str) -> None:
        if self._processed_ready:
            return
        status, data = self._call(
            "creating the processed mailbox", self.imap.create, target
        )
        if status != "OK" and "ALREADYEXISTS" not in _text(data).upper():
            listed = self._checked("listing mailboxes", self.imap.list, '""', target)
            if not any(item for item in listed if item):
                raise MailboxSetupError(
                    f"cannot create the mailbox {self.settings.processed_mailbox!r} on "
                    f"{self.settings.address}: {_text(data)}; create it by hand or "
                    "change replies.email.processed_mailbox"
                )
        if status == "OK":
            # Subscribed, so that mail clients show it next to the inbox.
            self._call("subscribing", self.imap.subscribe, target)
        self._processed_ready = True

    def _drop(self) -> None:
        """Forget a connection that can no longer be trusted."""
        if self.imap is not None:
            try:
                self.imap.shutdown()
            except OSError:
                pass
            self.imap = None

    def close(self) -> None:
        if self.imap is None:
            return
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
        finally:
            self.imap = None


def fetch(
    settings: MailboxSettings,
    store: Callable[[Fetched], object] | None = None,
    *,
    limit: int | None = None,
) -> Fetched:
    """Read the new messages, let *store* record them, then move them away.

    If *store* raises, no message is moved and the exception propagates:
    the next fetch reads the same messages again. Without *store* the
    messages are moved as soon as they are read, so the caller must not lose
    the returned objects.
    """
    with Mailbox(settings) as box:
        fetched = box.fetch(limit=limit)
        if store is not None:
            store(fetched)
        box.acknowledge(fetched.uids)
    return fetched


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP quoted string, in modified UTF-7."""
    encoded = _imap_utf7(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_utf7(name: str) -> str:
    """RFC 3501 5.1.3: mailbox names outside printable ASCII."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be"))
            out.append("&" + encoded.rstrip(b"=").replace(b"/", b",").decode() + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def _batches(uids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(uids), BATCH):
        yield uids[start : start + BATCH]


def _uid_set(uids: list[str]) -> str:
    """``1,2,3,7`` as ``1:3,7``: short command lines for long runs."""
    numbers = sorted(int(uid) for uid in uids)
    ranges: list[str] = []
    start = end = numbers[0]
    for number in numbers[1:] + [None]:
        if number is not None and number == end + 1:
            end = number
            continue
        ranges.append(str(start) if start == end else f"{start}:{end}")
        if number is not None:
            start = end = number
    return ",".join(ranges)


_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ],
        start=1,
    )
}


def _fetch_items(data: list) -> Iterator[tuple[str, datetime | None, bytes]]:
    """(uid, arrival, raw message) from imaplib's answer to UID FETCH.

    imaplib gives a (head, literal) pair per message, followed by the bytes
    after the literal; a server may put UID there rather than in the head.
    """
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        head, raw = item
        tail = data[index + 1] if index + 1 < len(data) else b""
        tail = tail if isinstance(tail, bytes) else b""
        uid = _UID.search(head) or _UID.search(tail)
        if uid is None:
            continue
        date = _INTERNALDATE.search(head) or _INTERNALDATE.search(tail)
        yield uid.group(1).decode(), _internaldate(date.group(1)) if date else None, raw


def _internaldate(value: bytes) -> datetime | None:
    """``03-Dec-2026 18:41:32 +0000``, read without the locale's month names."""
    match = re.fullmatch(
        rb" ?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-]\d{4})", value
    )
    if not match or match.group(2).decode() not in _MONTHS:
        return None
    day, month, year, hour, minute, second, zone = match.groups()
    return datetime.strptime(
        f"{int(year):04d}-{_MONTHS[month.decode()]:02d}-{int(day):02d} "
        f"{hour.decode()}:{minute.decode()}:{second.decode()} {zone.decode()}",
        "%Y-%m-%d %H:%M:%S %z",
    )


def _text(value: object) -> str:
    """An imaplib answer or exception as one line of text."""
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(
            v if isinstance(v, bytes) else str(v).encode() for v in value if v
        )
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())


# -- reading one message ----------------------------------------------------


def read_message(raw: bytes, uid: str = "", arrived: datetime | None = None) -> Reading:
    """What one raw message says, as receipts, an inbound message or a note.

    *arrived* (the server's arrival time) stands in for a missing or
    zone-less Date header. Never raises: a message that cannot be read is
    SKIPPED with the reason.
    """
    try:
        message = email.message_from_bytes(raw, policy=policy.default)
        return _read(message, raw, uid, arrived)
    except Exception as exc:  # noqa: BLE001 - one odd message must not stop the rest
        return Reading(uid, SKIPPED, note=f"unreadable: {type(exc).__name__}: {exc}")


def _read(message: EmailMessage, raw: bytes, uid: str, arrived) -> Reading:
    report_type = _report_type(message)
    if report_type == "delivery-status":
        return _read_report(message, uid)
    if report_type == "disposition-notification":
        return _read_read_receipt(message, uid)
    if report_type:
        # A spam complaint (feedback-report) or another machine's report:
        # no customer wrote it, and it is about no delivery cobra tracks.
        return Reading(uid, SKIPPED, note=f"a {report_type} report")
    if _looks_like_bounce(message):
        return _read_plain_bounce(message, uid)
    if message.get(KEY_HEADER):
        # One of our own messages (a Bcc, a loop): it says "reply STOP to
        # opt out" and must not be read as the customer saying it.
        return Reading(uid, SKIPPED, note=f"our own message ({KEY_HEADER} is set)")
    sender = parseaddr(str(message.get("From", "")))[1].strip()
    if "@" not in sender:
        return Reading(uid, SKIPPED, note="unreadable: no sender address (From)")
    inbound = Inbound(
        channel="email",
        sender=sender,
        text=_reply_text(message),
        provider_id=_message_id(message) or _stand_in_id(raw),
        in_reply_to=_replied_to(message),
        received_at=_received_at(message, arrived),
    )
    automatic = _automatic(message)
    if automatic:
        return Reading(uid, AUTO_REPLY, inbound=inbound, note=automatic)
    return Reading(uid, REPLY, inbound=inbound)


_ID = re.compile(r"<[^<>\s]+>")
# cobra.channels.message_id: <cobra.{32 hex digits}@domain>
_OUR_ID = re.compile(r"<cobra\.[0-9a-f]{32}@[^<>\s]+>")


def _message_id(message: Message) -> str | None:
    found = _ID.search(str(message.get("Message-ID", "")))
    return found.group(0) if found else None


def _stand_in_id(raw: bytes) -> str:
    """A stable id for a message without a Message-ID, so a second fetch of
    the same message is recognised as the same."""
    return f"<sha256.{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.invalid>"


def _replied_to(message: Message) -> str | None:
    """Our Message-ID this replies to: In-Reply-To first, then References
    from the most recent; failing ours, the first id of In-Reply-To (a
    provider that rewrote the Message-ID returned that as its id)."""
    in_reply_to = _ID.findall(str(message.get("In-Reply-To", "")))
    references = _ID.findall(str(message.get("References", "")))
    for candidate in in_reply_to + references[::-1]:
        if _OUR_ID.fullmatch(candidate):
            return candidate
    return in_reply_to[0] if in_reply_to else None


def _received_at(message: Message, arrived: datetime | None) -> str | None:
    try:
        header = message.get("Date")
        sent = getattr(header, "datetime", None)
    except (TypeError, ValueError):
        sent = None
    if sent is not None and sent.tzinfo is not None:
        return sent.isoformat()
    return arrived.isoformat() if arrived else None


_AUTO_SUBJECT = re.compile(
    r"\s*(automatic reply|auto[- ]?reply|autoresponse|out of (the )?office|"
    r"respuesta autom[aá]tica|fuera de (la )?oficina|r[ée]ponse automatique|"
    r"abwesenheit)",
    re.IGNORECASE,
)


def _automatic(message: Message) -> str | None:
    """Why this message was sent by a machine (RFC 3834 and common habits)."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and not submitted.startswith("no"):
        return f"Auto-Submitted: {submitted}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Response"):
        if message.get(header) is not None:
            return f"{header} is set"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in ("auto_reply", "bulk", "junk"):
        return f"Precedence: {precedence}"
    subject = str(message.get("Subject", ""))
    if _AUTO_SUBJECT.match(subject):
        return f"automatic subject: {subject.strip()}"
    return None


# -- reply text -------------------------------------------------------------

# A line (or two joined, as clients wrap it) that introduces the quoted
# message, in the languages cobra's customers write in.
_ATTRIBUTION = re.compile(
    r"(on\b.{0,300}\bwrote"
    r"|el\b.{0,300}\bescribi[oó]"
    r"|le\b.{0,300}\ba [ée]crit ?"
    r"|am\b.{0,300}\bschrieb.{0,100}"
    r"|em\b.{0,300}\bescreveu"
    r"|il giorno\b.{0,300}\bha scritto)\s*:\s*",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"(on|el|le|am|em|il giorno)\b", re.IGNORECASE)
_FORWARD_MARK = re.compile(
    r"-{2,}\s*(original message|mensaje original|message d'origine|"
    r"urspr[üu]ngliche nachricht|mensagem original|forwarded message|"
    r"mensaje reenviado)\s*-{2,}|_{10,}",
    re.IGNORECASE,
)
# Outlook quotes without ">": a From: line with a Sent:/Date: line below.
_HEADER_FROM = re.compile(r"\*?(from|de|von|da)\s*:\*?\s+\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"\*?(sent|date|enviado|fecha|gesendet|envoy[ée]|data|inviato)\s*:", re.IGNORECASE
)


def own_text(text: str) -> str:
    """The part of a reply its sender wrote.

    Removed: lines quoted with ">", the signature, and the quoted message
    after its "On ... wrote:" line. When the quote under that line is marked
    with ">", only the line goes: the sender may answer below the quote or
    between its lines. An unmarked quote (Outlook's header block, a
    forwarded message) runs to the end and is cut whole.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    skip = 0
    for index, line in enumerate(lines):
        if skip:
            skip -= 1
            continue
        stripped = line.strip()
        following = [item.strip() for item in lines[index + 1 : index + 3]]
        if line in ("-- ", "--"):  # RFC 3676 signature separator
            break
        if _FORWARD_MARK.fullmatch(stripped) or _header_block(stripped, following):
            break
        attribution = _attribution_lines(stripped, following)
        if attribution:
            rest = (item.strip() for item in lines[index + attribution :])
            if not next((item for item in rest if item), "").startswith(">"):
                break
            skip = attribution - 1
            continue
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _attribution_lines(line: str, following: list[str]) -> int:
    """How many lines an "On ... wrote:" starting here spans (clients wrap
    it over two or three), or 0."""
    if _ATTRIBUTION_START.match(line):
        joined = [line, *following]
        for count in (1, 2, 3):
            if _ATTRIBUTION.fullmatch(" ".join(joined[:count])):
                return count
    return 0


def _header_block(line: str, following: list[str]) -> bool:
    return bool(_HEADER_FROM.match(line)) and any(
        _HEADER_SENT.match(item) for item in following
    )


def _reply_text(message: EmailMessage) -> str:
    """The reply's own text: text/plain preferred, else HTML without tags;
    attachments (a proof of payment) are named after it."""
    body = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        content = _content(body)
        if body.get_content_type() == "text/html":
            content = html_text(content)
        text = own_text(content)
    names = [
        part.get_filename()
        for part in message.walk()
        if part is not body and part.get_filename()
    ]
    if names:
        text = (text + "\n\n" if text else "") + "[attached: " + ", ".join(names) + "]"
    return text


def _content(part: Message) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeDecodeError):  # an unknown or lying charset
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


class _HTMLText(HTMLParser):
    """Text of an HTML reply, leaving out quoted blocks, scripts and styles."""

    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "tr",
            "li",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "table",
            "blockquote",
            "pre",
            "hr",
        ]
    )
    VOID = frozenset(
        [
            "br",
            "hr",
            "img",
            "meta",
            "link",
            "input",
            "col",
            "area",
            "base",
            "wbr",
            "source",
        ]
    )
    HIDDEN = frozenset(["script", "style", "head", "title"])
    # Where mail clients put the quoted message.
    QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix")
    QUOTE_IDS = ("divrplyfwdmsg", "appendonsend")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_depth = 0  # open elements since a skipped one began
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag in self.VOID:
            return
        attributes = {name: (value or "").lower() for name, value in attrs}
        skipped = (
            tag in self.HIDDEN
            or tag == "blockquote"
            or any(c in attributes.get("class", "") for c in self.QUOTE_CLASSES)
            or attributes.get("id", "") in self.QUOTE_IDS
        )
        if self.skip_depth or skipped:
            self.skip_depth += 1
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag in self.VOID or tag not in self.stack:
            return
        # Close up to the matching tag, forgiving unclosed inner elements.
        while self.stack:
            open_tag = self.stack.pop()
            if self.skip_depth:
                self.skip_depth -= 1
            if open_tag == tag:
                break

    def handle_data(self, data):
        if not self.skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- bounces ----------------------------------------------------------------

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_REPLY = re.compile(r"\b(5[0-5]\d)[ -]")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification|mail delivery failed|"
    r"delivery failure|failure notice|returned mail|delivery has failed|"
    r"no se (pudo|puede) entregar|no entregado|non remis|unzustellbar",
    re.IGNORECASE,
)
_DELAY_WORDS = re.compile(
    r"delayed|not (yet )?been delivered yet|has not yet been delivered|"
    r"will (continue|keep) trying|still trying|warning message only|"
    r"retrasad|demorad",
    re.IGNORECASE,
)


def _report_type(message: Message) -> str:
    """The report-type of a multipart/report (RFC 6522), else ""."""
    if message.get_content_type() != "multipart/report":
        return ""
    return str(message.get_param("report-type", "")).strip().lower() or "unnamed"


def _read_read_receipt(message: Message, uid: str) -> Reading:
    """RFC 8098: the recipient's mail client says it showed our message,
    which proves delivery (other dispositions prove nothing)."""
    part = next(
        (
            p
            for p in message.walk()
            if p.get_content_type() == "message/disposition-notification"
        ),
        None,
    )
    blocks = _status_blocks(part) if part is not None else []
    fields = blocks[0] if blocks else Message()
    disposition = " ".join(str(fields.get("Disposition", "")).split())
    key, attached_id, _ = _identify(message)
    original_id = _ID.search(str(fields.get("Original-Message-ID", "")))
    message_id = original_id.group(0) if original_id else attached_id
    if "displayed" in disposition.lower() and (key or message_id):
        receipt = Receipt("delivered", key, message_id, f"read receipt: {disposition}")
        return Reading(uid, RECEIPT, receipts=(receipt,))
    return Reading(
        uid, SKIPPED, note=f"a read receipt ({disposition or 'no disposition'})"
    )


def _looks_like_bounce(message: Message) -> bool:
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    local = sender.partition("@")[0]
    if local in _BOUNCE_SENDERS:
        return True
    return bool(_BOUNCE_SUBJECT.search(str(message.get("Subject", ""))))


def invalid_address(status: str) -> bool:
    """Whether a permanent failure with this RFC 3463 status condemns the
    address itself (5.1.x bad address, 5.2.x mailbox, 5.4.x unroutable,
    5.0.0 unspecified) rather than this message (5.3 size, 5.5 protocol,
    5.6 content, 5.7 policy and spam blocks)."""
    code, subject, _ = (status.split(".") + ["", ""])[:3]
    return code == "5" and subject in ("0", "1", "2", "4")


def _original(message: Message) -> Message | None:
    """The returned copy of our message, or its headers."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            return HeaderParser(policy=policy.default).parsestr(_content(part).lstrip())
    return None


def _identify(message: Message) -> tuple[str | None, str | None, set[str]]:
    """Key, Message-ID and recipients of the message a bounce returns.

    Without an attached copy, a copy quoted in the bounce's own text (qmail
    and some others do so) is searched for the key and our Message-ID.
    """
    original = _original(message)
    if original is not None:
        key = str(original.get(KEY_HEADER, "")).strip() or None
        recipients = {
            address.lower()
            for _, address in getaddresses([str(original.get("To", ""))])
            if address
        }
        return key, _message_id(original), recipients
    text = "\n".join(
        _content(part)
        for part in message.walk()
        if part.get_content_maintype() == "text"
    )
    key = re.search(
        rf"^{KEY_HEADER}:[ \t]*(\S.*?)\s*$", text, re.MULTILINE | re.IGNORECASE
    )
    ours = _OUR_ID.search(text)
    return (key.group(1) if key else None), (ours.group(0) if ours else None), set()


def _address(field_value: str) -> str:
    """The address of a DSN recipient field such as ``rfc822; a@b.example``."""
    return field_value.partition(";")[2].strip().strip("<>").lower() or field_value


def _status_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload
    # Encoded (rare): decode it and split the blocks ourselves.
    text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    parser = HeaderParser(policy=policy.default)
    return [
        parser.parsestr(block) for block in re.split(r"\n\s*\n", text) if block.strip()
    ]


def _read_report(message: Message, uid: str) -> Reading:
    """RFC 3464: one verdict per recipient of the returned message."""
    status_part = next(
        (
            p
            for p in message.walk()
            if p.get_content_type() == "message/delivery-status"
        ),
        None,
    )
    if status_part is None:
        return _read_plain_bounce(message, uid)
    key, message_id, recipients = _identify(message)
    receipts: list[Receipt] = []
    notes: list[str] = []
    for block in _status_blocks(status_part)[1:]:  # the first is per message
        recipient = _address(str(block.get("Final-Recipient", "")))
        status_match = _STATUS.search(str(block.get("Status", "")))
        status = status_match.group(0) if status_match else ""
        action = str(block.get("Action", "")).strip().lower()
        if not action:
            action = {"5": "failed", "4": "delayed", "2": "delivered"}.get(
                status[:1], ""
            )
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        diagnostic = diagnostic.partition(";")[2].strip() or diagnostic
        detail = diagnostic or f"status {status or 'unknown'} for {recipient}"
        if recipients and recipient not in recipients:
            # A copy (Cc) failed; the message reached its own recipient.
            notes.append(f"{action} for {recipient}, not the message's recipient")
        elif action == "failed":
            receipts.append(
                Receipt("failed", key, message_id, detail, invalid_address(status))
            )
        elif action == "delivered":
            receipts.append(Receipt("delivered", key, message_id, detail))
        else:  # delayed (4.x.x: still trying), relayed, expanded
            notes.append(
                f"{action or 'no action'} for {recipient} ({detail}): not a failure"
            )
    return _verdict(uid, receipts, notes, key, message_id)


def _read_plain_bounce(message: Message, uid: str) -> Reading:
    """A bounce without a machine-readable report: the status is read from
    its text ("... said: 550 5.1.1 User unknown")."""
    key, message_id, _ = _identify(message)
    body = message.get_body(preferencelist=("plain", "html"))
    text = _content(body) if body is not None else ""
    if body is not None and body.get_content_type() == "text/html":
        text = html_text(text)
    status_match = _STATUS.search(text)
    reply_match = _SMTP_REPLY.search(text)
    if status_match:
        status = status_match.group(0)
    elif reply_match:
        status = "5.0.0"
    else:
        status = ""
    line_of = status_match or reply_match
    if line_of:
        start = text.rfind("\n", 0, line_of.start()) + 1
        end = text.find("\n\n", line_of.start())
        detail = " ".join(text[start : end if end >= 0 else None].split())[:500]
    else:
        detail = " ".join(text.split())[:300]
    if status.startswith("2"):
        return _verdict(
            uid, [Receipt("delivered", key, message_id, detail)], [], key, message_id
        )
    if _DELAY_WORDS.search(text) and not status.startswith("5"):
        return _verdict(
            uid, [], [f"delivery delayed ({detail}): not a failure"], key, message_id
        )
    failed = Receipt("failed", key, message_id, detail, invalid_address(status))
    return _verdict(uid, [failed], [], key, message_id)


def _verdict(uid, receipts, notes, key, message_id) -> Reading:
    if receipts and not (key or message_id):
        return Reading(
            uid,
            SKIPPED,
            note="a bounce that does not say which message it returns (no copy, no "
            f"{KEY_HEADER}, no Message-ID): {receipts[0].detail}",
        )
    if receipts:
        # One verdict per message: several failed recipients of one message
        # all lead back to the same outbox row.
        return Reading(uid, RECEIPT, receipts=(receipts[0],), note="; ".join(notes))
    return Reading(uid, SKIPPED, note="; ".join(notes) or "a report with no verdict")
