"""The ``smtp`` channel backend: e-mail through an SMTP submission server.

A session holds one SMTP connection, opened on its first message and reused
for every message after it; a server that closed an idle connection is
reconnected once, transparently. TLS is verified against the system's trust
store (or ``ca_file``), always: a server whose certificate cannot be
verified is a setup problem, never something to skip.

Each message is a MIME ``multipart/alternative``: the rendered text, and an
HTML version built from it (escaped, paragraphs, lists and links), in UTF-8,
with a ``Message-ID`` derived from the idempotency key and the key itself in
:data:`cobra.channels.KEY_HEADER`, so that bounces and replies, which quote
one or the other, lead back to the message.

Replies from the server are classified by their code: 4xx is transient; a
recipient refused with 550, 551 or 553 (or an enhanced status 5.1.x) is a bad
address; other 5xx refusals of a message are permanent; a refused login,
sender or certificate is a setup problem that no retry would fix.
"""

from __future__ import annotations

import base64
import email.policy
import html
import ipaddress
import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr

import cobra
from cobra.channels import (
    KEY_HEADER,
    ChannelError,
    ChannelSettings,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
    message_id,
)
from cobra.config_schema import (
    Key,
    choice,
    integer,
    pattern,
    secret_key,
    string,
)
from cobra.errors import MissingSecret

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}

# Recipient refusals that say the address itself is wrong (no such mailbox,
# user not local, mailbox name not allowed), as opposed to a policy refusal.
BAD_ADDRESS_CODES = frozenset({550, 551, 553})
# "5.1.1 Bad destination mailbox address": RFC 3463 puts every address
# problem in class 5.1; 5.7 is policy, 5.2 the mailbox's state.
ENHANCED_STATUS = re.compile(rb"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")

_address = pattern(
    r"[^@\s<>\"]+@[^@\s<>\"]+", "an e-mail address such as billing@example.com"
)

CONFIG_KEYS = {
    "host": Key(string, "The SMTP server's name or address."),
    "port": Key(
        integer(minimum=1),
        "Its port; by default 587 for starttls, 465 for tls, 25 for none.",
    ),
    "security": Key(
        choice("starttls", "tls", "none"),
        "starttls (the default): upgrade to TLS after connecting; tls: TLS "
        "from the first byte; none: plain text, for a relay that needs no TLS.",
    ),
    "username": Key(string, "Login name; leave out for a server without login."),
    "password_env": secret_key("Environment variable holding the login password."),
    "from": Key(_address, "The sender's address (bare, without a name)."),
    "from_name": Key(string, "The sender's display name, such as your company's."),
    "reply_to": Key(_address, "Where customers' replies go, if not to `from`."),
    "unsubscribe": Key(
        pattern(r"(mailto:|https://)\S+", "a mailto: or https:// URL"),
        "URL for List-Unsubscribe, added where the contact rules ask for an opt-out.",
    ),
    "message_id_domain": Key(
        string, "Domain of the Message-IDs; by default the domain of `from`."
    ),
    "ca_file": Key(
        string,
        "PEM file of the CA that signed the server's certificate, for a private "
        "CA; replaces the system trust store. Relative to the config file.",
        is_path=True,
    ),
}


@cobra.hookimpl
def register_channels(register):
    register(SmtpBackend())


class SmtpBackend:
    name = "smtp"
    description = "E-mail through an SMTP server (STARTTLS, implicit TLS or plain)"
    kinds = ("email",)
    config_keys = CONFIG_KEYS
    concurrency = 4  # each worker opens its own connection
    rate_limit = None
    can_lookup = False  # SMTP cannot ask whether a message was received
    replay_safe = False

    def connect(self, settings: ChannelSettings) -> SmtpSession:
        """A session for the channel; the connection opens on the first send."""
        return SmtpSession(Options.read(settings))

    def check(self, settings: ChannelSettings) -> str:
        """For ``cobra doctor``: connect, secure, log in and try the sender.

        ``MAIL FROM`` followed by ``RSET`` sends nothing, but shows whether the
        server takes `from` from this account.
        """
        session = SmtpSession(Options.read(settings))
        try:
            return session.check()
        finally:
            session.close()


@dataclass(frozen=True)
class Options:
    """A channel's ``[channels.NAME]`` table, checked and with defaults."""

    channel: str
    host: str
    port: int
    security: str
    username: str | None
    password: str | None
    password_env: str | None
    sender: str
    sender_name: str | None
    reply_to: str | None
    unsubscribe: str | None
    domain: str
    ca_file: str | None
    timeout: float

    @property
    def where(self) -> str:
        return f"the SMTP server {self.host}:{self.port}"

    @classmethod
    def read(cls, settings: ChannelSettings) -> Options:
        table = f"[channels.{settings.channel}]"

        def missing(key: str, example: str) -> SetupError:
            return SetupError(f"{table}: {key} is not set; add {key} = {example}")

        host = settings.get("host")
        if not host:
            raise missing("host", '"smtp.example.com"')
        sender = settings.get("from")
        if not sender:
            raise missing("from", '"billing@example.com"')
        security = settings.get("security", "starttls")
        if security not in DEFAULT_PORTS:
            raise SetupError(
                f"{table}: security must be starttls, tls or none; got {security!r}"
            )

        username = settings.get("username") or None
        password_env = settings.get("password_env") or None
        password = None
        if username:
            if not password_env:
                raise missing("password_env", '"SMTP_PASSWORD" (the variable name)')
            try:
                password = settings.secret("password_env")
            except MissingSecret as exc:
                raise SetupError(str(exc)) from None
            if security == "none" and not _is_loopback(host):
                raise SetupError(
                    f'{table}: security = "none" would send the password for '
                    f"{username} unencrypted to {host}; use security = "
                    '"starttls" or "tls"'
                )

        ca_file = settings.get("ca_file") or None
        if ca_file and settings.config is not None:
            ca_file = str(settings.config.resolve_path(ca_file))

        return cls(
            channel=settings.channel,
            host=host,
            port=int(settings.get("port") or DEFAULT_PORTS[security]),
            security=security,
            username=username,
            password=password,
            password_env=password_env,
            sender=sender,
            sender_name=settings.get("from_name") or None,
            reply_to=settings.get("reply_to") or None,
            unsubscribe=settings.get("unsubscribe") or None,
            domain=settings.get("message_id_domain") or sender.rpartition("@")[2],
            ca_file=ca_file,
            # The channel's `timeout`, or [send] timeout_seconds: cobra's own.
            timeout=float(settings.timeout),
        )

    def tls_context(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise SetupError(
                f"[channels.{self.channel}] ca_file {self.ca_file} cannot be used: "
                f"{getattr(exc, 'strerror', None) or exc}; name a PEM file holding "
                "the certificate of the CA that signed the server's"
            ) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the message ------------------------------------------------------------------


def build_message(message: OutgoingMessage, options: Options) -> EmailMessage:
    """The MIME message for *message*: text and HTML alternatives, UTF-8."""
    mail = EmailMessage()
    mail["From"] = Address(options.sender_name or "", addr_spec=options.sender)
    try:
        mail["To"] = Address(message.customer_name or "", addr_spec=message.to)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise PermanentError(
            f"{message.to!r} is not an e-mail address ({exc})", invalid_address=True
        ) from None
    if message.cc:
        mail["Cc"] = message.cc
    if options.reply_to:
        mail["Reply-To"] = options.reply_to
    mail["Subject"] = message.subject or ""
    mail["Date"] = format_datetime(datetime.now(timezone.utc))
    mail["Message-ID"] = message_id(message.key, options.domain)
    # RFC 3834: tells autoresponders (vacation replies) not to answer.
    mail["Auto-Submitted"] = "auto-generated"
    mail[KEY_HEADER] = message.key
    if message.opt_out and options.unsubscribe:
        mail["List-Unsubscribe"] = f"<{options.unsubscribe}>"
        if options.unsubscribe.startswith("https://"):
            # RFC 8058: the mail client may unsubscribe with one POST.
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    # Quoted-printable keeps the body 7-bit, so it passes any server, and the
    # Spanish text stays readable in the raw message.
    mail.set_content(
        message.body, subtype="plain", charset="utf-8", cte="quoted-printable"
    )
    mail.add_alternative(
        text_to_html(message.body, message.language, message.subject),
        subtype="html",
        charset="utf-8",
        cte="quoted-printable",
    )
    # After the parts exist: making them moves every Content-* header of the
    # message into its first part.
    if message.language:
        mail["Content-Language"] = message.language
    return mail


_URL = re.compile(r"https?://[^\s<>\"']+")
_BULLET = re.compile(r"\s*[-*]\s+")


def text_to_html(text: str, language: str | None, title: str | None) -> str:
    """A plain HTML rendering of the text: paragraphs, bullet lists, links.

    Blank lines separate paragraphs; a paragraph whose every line starts with
    ``-`` or ``*`` is a list; other line breaks are kept.
    """
    blocks = []
    for paragraph in re.split(r"\n[ \t]*\n", text.strip()):
        lines = paragraph.splitlines()
        if all(_BULLET.match(line) for line in lines):
            items = "".join(
                f"<li>{_inline(_BULLET.sub('', line, count=1))}</li>\n"
                for line in lines
            )
            blocks.append(f"<ul>\n{items}</ul>")
        else:
            blocks.append("<p>" + "<br>\n".join(_inline(x) for x in lines) + "</p>")
    lang = f' lang="{html.escape(language)}"' if language else ""
    return (
        f"<!DOCTYPE html>\n<html{lang}>\n<head>\n"
        '<meta charset="utf-8">\n'
        f"<title>{html.escape(title or '')}</title>\n"
        "</head>\n<body>\n" + "\n".join(blocks) + "\n</body>\n</html>\n"
    )


def _inline(text: str) -> str:
    """Escape *text*, turning http(s) URLs into links."""
    out, position = [], 0
    for match in _URL.finditer(text):
        # A sentence's full stop or a closing parenthesis is not part of it.
        url = match.group().rstrip(".,;:!?)")
        out.append(html.escape(text[position : match.start()]))
        out.append(f'<a href="{html.escape(url)}">{html.escape(url)}</a>')
        position = match.start() + len(url)
    out.append(html.escape(text[position:]))
    return "".join(out)


def _international(*addresses: str | None) -> bool:
    return any(a and not a.isascii() for a in addresses)


class _WirePolicy(EmailPolicy):
    """The default policy, writing a short address header (To...) itself.

    The email package folds a display name with accents ("Ferretería Ñuñoa
    Ltda.") by re-parsing its encoded words over and over: about 2 ms for one
    header, as long as building and writing the rest of the message. When
    the name fits one encoded word and the header one line, which is nearly
    always, :func:`email.utils.formataddr` writes the same thing at once;
    longer ones are left to the email package, which folds them correctly.
    """

    def fold_binary(self, name: str, value) -> bytes:
        addresses = getattr(value, "addresses", None)
        if (
            not self.utf8
            and addresses
            and len(addresses) == 1
            and not any(group.display_name for group in value.groups)
        ):
            address = addresses[0]
            pair = (address.display_name, address.addr_spec)
            line = f"{name}: {formataddr(pair, charset='utf-8')}"
            if len(line) <= 78 and line.isascii():  # RFC 5322's line, one word
                return f"{line}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _WirePolicy(linesep="\r\n")
_WIRE_UTF8 = email.policy.default.clone(linesep="\r\n", utf8=True)


def flatten(mail: EmailMessage, international: bool) -> bytes:
    """The message as SMTP carries it: CRLF line ends, dots doubled.

    *international*: an address is not ASCII, so the headers go as UTF-8
    (SMTPUTF8) instead of encoded words.
    """
    data = mail.as_bytes(policy=_WIRE_UTF8 if international else _WIRE)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    # RFC 5321 4.5.2: a line starting with a dot gets another one.
    return re.sub(rb"(?m)^\.", b"..", data)


# --- the session ------------------------------------------------------------------


class _Dropped(Exception):
    """The connection broke before any of the message went out: safe to redo."""


class SmtpSession:
    """One SMTP connection, reused for every message sent through it."""

    def __init__(self, options: Options):
        self.options = options
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: OutgoingMessage) -> str:
        if not message.to:
            raise PermanentError(f"message {message.key} has no e-mail address")
        if not message.body or not message.body.strip():
            raise PermanentError(
                f"message {message.key} is empty after rendering; check its template"
            )
        mail = build_message(message, self.options)
        international = _international(self.options.sender, message.to, message.cc)
        data = flatten(mail, international)

        # An idle connection may have been closed by the server since the last
        # message; that is found out at the first command, and a new
        # connection is tried once. A fresh connection failing is not retried.
        for attempt in (1, 2):
            fresh = self._smtp is None
            smtp = self._connection()
            try:
                self._transaction(smtp, message, data, international)
            except _Dropped as exc:
                self._discard()
                if fresh or attempt == 2:
                    raise TransientError(str(exc)) from None
                log.info("%s; reconnecting", exc)
                continue
            return mail["Message-ID"]
        raise AssertionError("unreachable")  # pragma: no cover

    def check(self) -> str:
        o = self.options
        smtp = self._connection()
        code, reply = self._command(smtp, lambda: smtp.mail(o.sender))
        if code != 250:
            raise self._refused(smtp, code, reply, "the sender", o.sender)
        smtp.rset()
        secured = (
            f"{o.security.upper()} ({smtp.sock.version()})"
            if o.security != "none"
            else "no TLS"
        )
        login = f"logged in as {o.username}" if o.username else "no login"
        return f"{o.host}:{o.port}: {secured}, {login}, sender {o.sender} accepted"

    def lookup(self, key: str) -> str | None:
        raise NotImplementedError("SMTP cannot look a message up (can_lookup is False)")

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    # -- one message -----------------------------------------------------------

    def _transaction(
        self, smtp: smtplib.SMTP, message: OutgoingMessage, data: bytes, intl: bool
    ) -> None:
        where = self.options.where
        mail_options = ["SMTPUTF8", "BODY=8BITMIME"] if intl else []
        if intl and not smtp.has_extn("smtputf8"):
            raise PermanentError(
                f"{message.to} (or the sender or Cc) is not an ASCII address and "
                f"{where} does not accept such addresses (no SMTPUTF8)"
            )

        # Before the message content is sent, a broken connection loses
        # nothing: the caller may reconnect and start over.
        code, reply = self._command(
            smtp, lambda: smtp.mail(self.options.sender, mail_options)
        )
        if code != 250:
            raise self._refused(smtp, code, reply, "the sender", self.options.sender)
        code, reply = self._command(smtp, lambda: smtp.rcpt(message.to))
        if code not in (250, 251):
            raise self._refused(smtp, code, reply, "the recipient", message.to)
        if message.cc:
            code, reply = self._command(smtp, lambda: smtp.rcpt(message.cc))
            if code not in (250, 251):
                # The customer's copy matters; a salesperson's refused copy
                # does not stop it.
                log.warning(
                    "%s refused the Cc %s of %s: %s",
                    where,
                    message.cc,
                    message.key,
                    _text(code, reply),
                )
        code, reply = self._command(smtp, lambda: smtp.docmd("data"))
        if code != 354:
            raise self._refused(smtp, code, reply, "the message", message.to)

        # From here on the server may have the message: a broken connection
        # leaves the outcome unknown, which cobra never retries blindly.
        try:
            smtp.send(data + b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._discard()
            what = (
                f"did not confirm message {message.key} within "
                f"{self.options.timeout:g} s"
                if _timed_out(exc)
                else f"{_broken(exc)} after receiving message {message.key}"
            )
            raise OutcomeUnknown(f"{where} {what}; it may have been delivered") from None
        if code != 250:
            raise self._refused(smtp, code, reply, "the message", message.to)

    def _command(self, smtp: smtplib.SMTP, call) -> tuple[int, bytes]:
        try:
            code, reply = call()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if _timed_out(exc):
                self._discard()
                raise TransientError(
                    f"{self.options.where} did not answer within "
                    f"{self.options.timeout:g} s"
                ) from None
            raise _Dropped(f"{self.options.where} {_broken(exc)}") from None
        if code == 421:
            # The server is closing the connection: after an idle spell that
            # is routine, and a new connection is worth one try.
            raise _Dropped(f"{self.options.where} is closing: {_text(code, reply)}")
        return code, reply

    def _refused(
        self, smtp: smtplib.SMTP, code: int, reply: bytes, what: str, address: str
    ) -> ChannelError:
        """The error for a refusal, after making the connection usable again."""
        if code == -1 or code == 421:
            self._discard()
        else:
            try:
                smtp.rset()
            except (smtplib.SMTPException, OSError):
                self._discard()
        where, text = self.options.where, _text(code, reply)

        if code == -1:
            return TransientError(f"{where} sent a malformed reply to {what}: {text}")
        if 400 <= code < 500:
            return TransientError(f"{where} deferred {what} {address}: {text}")
        if code in (530, 534, 535, 538):
            return SetupError(
                f"{where} wants a login before sending ({text}); set username "
                "and password_env"
            )
        if what == "the sender":
            return SetupError(
                f"{where} refused the sender {address}: {text}; set `from` to an "
                "address this account may send as"
            )
        if what == "the recipient" and _bad_address(code, reply):
            return PermanentError(
                f"{where} refused the address {address}: {text}", invalid_address=True
            )
        return PermanentError(f"{where} refused {what} to {address}: {text}")

    # -- the connection --------------------------------------------------------

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._open()
        return self._smtp

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        o = self.options
        context = o.tls_context() if o.security != "none" else None
        try:
            smtp = self._handshake(context)
        except ssl.SSLCertVerificationError as exc:
            raise SetupError(
                f"the TLS certificate of {o.where} is not trusted "
                f"({exc.verify_message}); if the server uses a private CA, set "
                "ca_file to that CA's certificate; if the host name differs from "
                "the certificate's, connect by the name it was issued for"
            ) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
            raise TransientError(f"{o.where} closed the TLS handshake: {exc}") from None
        except ssl.SSLError as exc:
            raise SetupError(
                f"TLS with {o.where} failed ({exc.reason or exc}); check that "
                "security matches the port (usually tls on 465, starttls on 587)"
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            text = _text(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                raise TransientError(
                    f"{o.where} could not log in now: {text}"
                ) from None
            raise SetupError(
                f"{o.where} refused the login of {o.username} ({text}); check "
                f"username and the password in ${o.password_env}"
            ) from None
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_AGAIN:
                raise TransientError(
                    f"cannot resolve {o.host} now: {exc.strerror}"
                ) from None
            raise SetupError(
                f"cannot resolve the host {o.host!r} ({exc.strerror}); check host"
            ) from None
        except ConnectionRefusedError:
            raise TransientError(
                f"{o.where} refused the connection; is it running, and is the "
                "port right?"
            ) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            if _timed_out(exc):
                raise TransientError(
                    f"{o.where} did not answer within {o.timeout:g} s"
                ) from None
            raise TransientError(f"{o.where} {_broken(exc)}") from None
        except smtplib.SMTPResponseException as exc:
            self._refuse_setup(exc.smtp_code, exc.smtp_error, "answered")
        except smtplib.SMTPException as exc:
            # smtplib's login() found no mechanism it shares with the server.
            raise SetupError(f"cannot log in to {o.where}: {exc}") from None
        log.debug("connected to %s (%s)", o.where, o.security)
        return smtp

    def _handshake(self, context: ssl.SSLContext | None) -> smtplib.SMTP:
        """Connect, greet, secure and log in; the errors are _open's to sort."""
        o = self.options
        try:
            if o.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    o.host, o.port, timeout=o.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout)
        except smtplib.SMTPConnectError as exc:
            self._refuse_setup(exc.smtp_code, exc.smtp_error, "greeted with")
        try:
            self._secure_and_log_in(smtp, context)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _secure_and_log_in(
        self, smtp: smtplib.SMTP, context: ssl.SSLContext | None
    ) -> None:
        o = self.options
        self._ehlo(smtp)

        if o.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise SetupError(
                    f"{o.where} does not offer STARTTLS; if it expects TLS from "
                    'the start (usually port 465), set security = "tls"'
                )
            try:
                smtp.starttls(context=context)
            except smtplib.SMTPResponseException as exc:
                self._refuse_setup(exc.smtp_code, exc.smtp_error, "refused STARTTLS:")
            self._ehlo(smtp)

        if o.username:
            if not smtp.has_extn("auth"):
                raise SetupError(
                    f"{o.where} does not offer AUTH (login); leave out username "
                    "if it needs none, or check security and port"
                )
            self._log_in(smtp)

    def _log_in(self, smtp: smtplib.SMTP) -> None:
        """AUTH PLAIN or LOGIN, with the password in UTF-8.

        smtplib's login() encodes passwords as ASCII, and fails on one with
        an accent or an n-tilde; it still serves servers offering neither.
        """
        o = self.options
        offered = (smtp.esmtp_features.get("auth") or "").upper().split()
        user, password = o.username.encode(), o.password.encode()
        if "PLAIN" in offered:
            token = _b64(b"\0" + user + b"\0" + password)
            code, reply = smtp.docmd("AUTH", f"PLAIN {token}")
        elif "LOGIN" in offered:
            code, reply = smtp.docmd("AUTH", "LOGIN")
            if code == 334:
                code, reply = smtp.docmd(_b64(user))
            if code == 334:
                code, reply = smtp.docmd(_b64(password))
        else:
            smtp.login(o.username, o.password)
            return
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _ehlo(self, smtp: smtplib.SMTP) -> None:
        code, reply = smtp.ehlo()
        if code != 250:
            self._refuse_setup(code, reply, "answered EHLO with")

    def _refuse_setup(self, code: int, reply: bytes, doing: str):
        text = f"{self.options.where} {doing} {_text(code, reply)}"
        if code == -1 or 400 <= code < 500:
            raise TransientError(text)
        raise SetupError(f"{text}; it does not accept mail from this machine")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bad_address(code: int, reply: bytes) -> bool:
    enhanced = ENHANCED_STATUS.match(reply or b"")
    if enhanced:
        return enhanced.group(2) == b"1"
    return code in BAD_ADDRESS_CODES


def _text(code: int, reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    reply = " ".join(reply.split())
    return f"{code} {reply}" if code != -1 else f"{reply!r} (no reply code)"


def _timed_out(exc: BaseException) -> bool:
    # smtplib turns a timeout while reading a reply into SMTPServerDisconnected.
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def _broken(exc: BaseException) -> str:
    return f"closed the connection ({exc})" if str(exc) else "closed the connection"
