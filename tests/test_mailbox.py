"""Reading replies and bounces from a real Dovecot IMAP server on loopback.

Messages are handed to Dovecot over LMTP, the way a mail server delivers
them, then read through cobra.mailbox as `cobra receipts fetch` does.
"""

from __future__ import annotations

import imaplib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from email.message import EmailMessage

import pytest

from cobra.channels import KEY_HEADER, Inbound, Receipt, message_id
from cobra.config import Config
from cobra.errors import ConfigError, MissingSecret
from cobra.mailbox import (
    AUTO_REPLY,
    REPLY,
    SKIPPED,
    Mailbox,
    MailboxError,
    MailboxSettings,
    MailboxSetupError,
    MailboxUnavailable,
    fetch,
    html_text,
    invalid_address,
    own_text,
    read_message,
)

DOMAIN = "acme.example"
KEY = "ACME|friendly-reminder#2|2026-06-10|email"
OUR_ID = message_id(KEY, DOMAIN)
pytest_plugins = ["services.dovecot"]  # the dovecot and imap_account fixtures

LOST_KEY = "NOBODY|find-out#1|2026-06-10|email"


def ours(key: str = KEY, to: str = "maria@cliente.example") -> EmailMessage:
    """A message as cobra's smtp backend sends it."""
    message = EmailMessage()
    message["From"] = "Cobranzas ACME <cobros@acme.example>"
    message["To"] = to
    message["Subject"] = "Recordatorio de pago"
    message["Date"] = "Mon, 08 Jun 2026 09:00:00 -0400"
    message["Message-ID"] = message_id(key, DOMAIN)
    message[KEY_HEADER] = key
    message.set_content(
        "Estimada María, su factura F-1 de 1.200,00 está vencida.\n"
        "To stop receiving these emails, reply with the word STOP.\n"
    )
    return message


def quoted(message: EmailMessage) -> str:
    return "".join(f"> {line}\n" for line in message.get_content().splitlines())


SPANISH_REPLY = f"""\
From: =?utf-8?q?Mar=C3=ADa_P=C3=A9rez?= <maria@cliente.example>
To: cobros@acme.example
Subject: Re: Recordatorio de pago
Date: Tue, 09 Jun 2026 10:15:00 -0400
Message-ID: <reply-1@cliente.example>
In-Reply-To: {OUR_ID}
References: <older@acme.example> {OUR_ID}
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hola, pagaré el viernes sin falta.
Saludos

El lun, 8 jun 2026 a las 9:00, Cobranzas ACME (<cobros@acme.example>)
escribió:
{quoted(ours())}"""

STOP_REPLY = f"""\
From: Juan <juan@cliente.example>
To: cobros@acme.example
Subject: Re: Recordatorio de pago
Date: Tue, 09 Jun 2026 11:00:00 +0000
Message-ID: <reply-2@cliente.example>
In-Reply-To: {OUR_ID}
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

STOP

On Mon, Jun 8, 2026 at 9:00 AM Cobranzas ACME <cobros@acme.example> wrote:
{quoted(ours())}
--alt
Content-Type: text/html; charset=utf-8

<div>STOP</div><blockquote>To stop receiving these emails ...</blockquote>
--alt--
"""

# Gmail's HTML-only answer: the quote, which says STOP, is in a blockquote.
HTML_REPLY = f"""\
From: ana@cliente.example
To: cobros@acme.example
Subject: Re: Recordatorio de pago
Date: Tue, 09 Jun 2026 12:00:00 +0200
Message-ID: <reply-3@cliente.example>
References: {OUR_ID}
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<div dir="ltr">Thanks, I paid yesterday &amp; attach the receipt.</div><br>
<div class="gmail_quote"><div class="gmail_attr">On Mon, Jun 8, 2026 ACME
wrote:<br></div><blockquote class="gmail_quote">To stop receiving these emails,
reply with the word STOP.</blockquote></div>
"""


def dsn(action: str, status: str, original: str, original_type: str) -> str:
    """A Postfix delivery status notification (RFC 3464)."""
    return f"""\
From: MAILER-DAEMON@mx.acme.example (Mail Delivery System)
To: cobros@acme.example
Subject: Undelivered Mail Returned to Sender
Date: Wed, 10 Jun 2026 08:00:05 +0000 (UTC)
Message-Id: <20260610080005.4ABC@mx.acme.example>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4ABC.1781078405/mx.acme.example"

This is a MIME-encapsulated message.

--4ABC.1781078405/mx.acme.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.acme.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<nobody@cliente.example>: host mx.cliente.example[192.0.2.7] said: {status}
    Recipient address rejected

--4ABC.1781078405/mx.acme.example
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example
X-Postfix-Queue-ID: 4ABC
Arrival-Date: Wed, 10 Jun 2026 08:00:01 +0000 (UTC)

Final-Recipient: rfc822; nobody@cliente.example
Original-Recipient: rfc822;nobody@cliente.example
Action: {action}
Status: {status}
Remote-MTA: dns; mx.cliente.example
Diagnostic-Code: smtp; 550 {status} <nobody@cliente.example>: Recipient address
    rejected: User unknown in virtual mailbox table

--4ABC.1781078405/mx.acme.example
Content-Description: Undelivered Message
Content-Type: {original_type}

{original}
--4ABC.1781078405/mx.acme.example--
"""


def headers_of(message: EmailMessage) -> str:
    return "".join(f"{name}: {value}\n" for name, value in message.items())


BOUNCE = dsn(
    "failed",
    "5.1.1",
    ours(LOST_KEY, "nobody@cliente.example").as_string(),
    "message/rfc822",
)
DELAY = dsn(
    "delayed",
    "4.4.1",
    headers_of(ours(LOST_KEY, "nobody@cliente.example")),
    "text/rfc822-headers",
)

# Not a report: an explanation and the returned headers, as older Postfix,
# Exim and many hosted services send.
PLAIN_BOUNCE = f"""\
From: Mail Delivery System <MAILER-DAEMON@relay.example>
To: cobros@acme.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-2@relay.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mixed"

--mixed
Content-Type: text/plain; charset=us-ascii

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  pedro@old-company.example
    host mx.old-company.example [198.51.100.4]
    SMTP error from remote mail server after RCPT TO:<pedro@old-company.example>:
    550 5.1.1 The email account that you tried to reach does not exist

--mixed
Content-Type: text/rfc822-headers

{headers_of(ours("PEDRO|find-out#2|2026-06-10|email", "pedro@old-company.example"))}
--mixed--
"""

AUTO_REPLY_MAIL = f"""\
From: maria@cliente.example
To: cobros@acme.example
Subject: =?utf-8?q?Respuesta_autom=C3=A1tica=3A_Recordatorio_de_pago?=
Date: Tue, 09 Jun 2026 09:00:10 -0400
Message-ID: <auto-1@cliente.example>
In-Reply-To: {OUR_ID}
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Estoy fuera de la oficina hasta el lunes. Si desea darse de baja, escriba STOP.
"""

GARBAGE = b"\x00\xff\xfe this is not an e-mail at all\r\n\r\n\x80\x81\r\n"


def lmtp_bytes(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def settings_for(dovecot, account, **changes) -> MailboxSettings:
    values = {
        "host": dovecot.host,
        "port": dovecot.imap_port,
        "security": "none",
        "username": account.username,
        "password": account.password,
        "timeout": 5.0,
        **changes,
    }
    return MailboxSettings(**values)


def deliver_all(dovecot, account) -> None:
    for text in (
        SPANISH_REPLY,
        STOP_REPLY,
        HTML_REPLY,
        BOUNCE,
        DELAY,
        PLAIN_BOUNCE,
        AUTO_REPLY_MAIL,
    ):
        sender = "" if "MAILER-DAEMON" in text or "Auto-Submitted" in text else "x@y"
        dovecot.deliver(account, lmtp_bytes(text), sender=sender)
    dovecot.deliver(account, GARBAGE)


def count(dovecot, account, mailbox: str) -> int:
    imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    try:
        imap.login(account.username, account.password)
        status, data = imap.select(f'"{mailbox}"', readonly=True)
        return int(data[0]) if status == "OK" else -1
    finally:
        imap.logout()


# -- the mailbox, end to end ---------------------------------------------


def test_every_kind_of_message_is_read_as_what_it_is(dovecot, imap_account):
    deliver_all(dovecot, imap_account)
    with Mailbox(settings_for(dovecot, imap_account)) as box:
        fetched = box.fetch()

    assert len(fetched.uids) == 8

    spanish, stop, html = fetched.inbound
    assert spanish == Inbound(
        channel="email",
        sender="maria@cliente.example",
        text="Hola, pagaré el viernes sin falta.\nSaludos",
        provider_id="<reply-1@cliente.example>",
        in_reply_to=OUR_ID,
        received_at="2026-06-09T10:15:00-04:00",
    )
    # The quoted "reply with the word STOP" is gone from every reply; only
    # the customer who wrote STOP says it.
    assert stop.text == "STOP"
    assert (stop.sender, stop.in_reply_to) == ("juan@cliente.example", OUR_ID)
    assert html.text == "Thanks, I paid yesterday & attach the receipt."
    assert html.in_reply_to == OUR_ID
    assert html.received_at == "2026-06-09T12:00:00+02:00"

    assert fetched.receipts == [
        Receipt(
            state="failed",
            key=LOST_KEY,
            provider_id=message_id(LOST_KEY, DOMAIN),
            detail="550 5.1.1 <nobody@cliente.example>: Recipient address rejected: "
            "User unknown in virtual mailbox table",
            invalid_address=True,
        ),
        Receipt(
            state="failed",
            key="PEDRO|find-out#2|2026-06-10|email",
            provider_id=message_id("PEDRO|find-out#2|2026-06-10|email", DOMAIN),
            detail="550 5.1.1 The email account that you tried to reach does not exist",
            invalid_address=True,
        ),
    ]

    [auto] = fetched.auto_replies
    assert auto.sender == "maria@cliente.example"
    assert auto.text.startswith("Estoy fuera de la oficina")
    [auto_reading] = [r for r in fetched.readings if r.kind == AUTO_REPLY]
    assert auto_reading.note == "Auto-Submitted: auto-replied"

    delay, garbage = fetched.skipped
    assert "delayed for nobody@cliente.example" in delay.note
    assert "not a failure" in delay.note
    assert garbage.note == "unreadable: no sender address (From)"


def test_acknowledged_messages_are_moved_and_never_read_again(dovecot, imap_account):
    deliver_all(dovecot, imap_account)
    settings = settings_for(dovecot, imap_account)
    stored: list = []

    first = fetch(settings, store=stored.append)

    assert stored == [first]
    assert len(first.uids) == 8
    again = fetch(settings)
    assert again.readings == []
    assert count(dovecot, imap_account, "INBOX") == 0
    assert count(dovecot, imap_account, "cobra-processed") == 8


def test_a_failed_store_write_moves_nothing(dovecot, imap_account):
    deliver_all(dovecot, imap_account)
    settings = settings_for(dovecot, imap_account)

    def broken_store(fetched):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        fetch(settings, store=broken_store)

    assert count(dovecot, imap_account, "INBOX") == 8
    retried = fetch(settings)
    assert [i.provider_id for i in retried.inbound] == [
        "<reply-1@cliente.example>",
        "<reply-2@cliente.example>",
        "<reply-3@cliente.example>",
    ]
    assert len(retried.receipts) == 2


def test_a_crash_between_fetch_and_acknowledge_reads_the_messages_again(
    dovecot, imap_account
):
    deliver_all(dovecot, imap_account)
    settings = settings_for(dovecot, imap_account)
    # A process that reads the mailbox and is killed before acknowledging.
    script = textwrap.dedent(f"""
        import os, signal
        from cobra.mailbox import Mailbox, MailboxSettings
        box = Mailbox(MailboxSettings(**{settings.__dict__!r}))
        fetched = box.fetch()
        print(len(fetched.uids), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    crashed = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert crashed.returncode == -9, crashed.stderr
    assert crashed.stdout.strip() == "8"

    again = fetch(settings)
    assert len(again.uids) == 8
    assert len(again.inbound) == 3 and len(again.receipts) == 2
    assert fetch(settings).readings == []


def test_without_move_the_messages_are_copied_then_expunged(dovecot, imap_account):
    deliver_all(dovecot, imap_account)
    # Older servers lack MOVE (RFC 6851) and UIDPLUS; the fallback must move
    # each message exactly once.
    with Mailbox(settings_for(dovecot, imap_account)) as box:
        box.capabilities -= {"MOVE", "UIDPLUS"}
        fetched = box.fetch(limit=5)
        box.acknowledge(fetched.uids)
    assert count(dovecot, imap_account, "INBOX") == 3
    assert count(dovecot, imap_account, "cobra-processed") == 5
    assert len(fetch(settings_for(dovecot, imap_account)).uids) == 3


def test_the_processed_mailbox_may_have_any_name(dovecot, imap_account):
    dovecot.deliver(imap_account, lmtp_bytes(SPANISH_REPLY))
    name = 'Cobranza "leídos" & más'
    fetched = fetch(settings_for(dovecot, imap_account, processed_mailbox=name))
    assert len(fetched.inbound) == 1
    imap = imaplib.IMAP4(dovecot.host, dovecot.imap_port, timeout=5)
    imap.login(imap_account.username, imap_account.password)
    _, listed = imap.list()
    imap.logout()
    # Modified UTF-7 (RFC 3501 5.1.3), as every IMAP client shows it.
    assert any(b'"Cobranza \\"le&AO0-dos\\" &- m&AOE-s"' in line for line in listed)


def test_implicit_tls_and_starttls(dovecot, imap_account):
    dovecot.deliver(imap_account, lmtp_bytes(STOP_REPLY))
    tls = settings_for(
        dovecot,
        imap_account,
        security="tls",
        port=dovecot.imaps_port,
        ca_file=str(dovecot.ca_file),
    )
    with Mailbox(tls) as box:
        assert [i.text for i in box.fetch().inbound] == ["STOP"]
    starttls = settings_for(
        dovecot, imap_account, security="starttls", ca_file=str(dovecot.ca_file)
    )
    assert [i.text for i in fetch(starttls).inbound] == ["STOP"]


# -- faults -------------------------------------------------------------------


def test_a_wrong_password_is_a_setup_error_and_loses_nothing(dovecot, imap_account):
    dovecot.deliver(imap_account, lmtp_bytes(SPANISH_REPLY))
    wrong = settings_for(
        dovecot, imap_account, password="not-the-password", password_env="IMAP_PASSWORD"
    )
    with dovecot.failing_logins(), pytest.raises(MailboxSetupError) as caught:
        fetch(wrong)
    assert str(caught.value) == (
        f"the IMAP server 127.0.0.1:{dovecot.imap_port} refused the login of "
        f"'{imap_account.username}' ([AUTHENTICATIONFAILED] Authentication failed.); "
        "check replies.email.username and the password in IMAP_PASSWORD"
    )
    assert caught.value.transient is False
    assert caught.value.exit_code == 1
    assert len(fetch(settings_for(dovecot, imap_account)).inbound) == 1


def test_an_untrusted_certificate_is_a_setup_error(dovecot, imap_account):
    dovecot.deliver(imap_account, lmtp_bytes(SPANISH_REPLY))
    tls = settings_for(dovecot, imap_account, security="tls", port=dovecot.imaps_port)
    with pytest.raises(MailboxSetupError) as caught:
        fetch(tls)
    assert "TLS certificate of the IMAP server" in str(caught.value)
    assert "self-signed certificate" in str(caught.value)
    assert "replies.email.ca_file" in str(caught.value)
    assert caught.value.transient is False
    assert len(fetch(settings_for(dovecot, imap_account)).inbound) == 1


def test_tls_against_a_plain_port_names_the_setting(dovecot, imap_account):
    plain_port = settings_for(dovecot, imap_account, security="tls")
    with pytest.raises(MailboxSetupError) as caught:
        fetch(plain_port)
    assert "check replies.email.security ('tls')" in str(caught.value)
    assert caught.value.transient is False


def test_a_missing_mailbox_names_the_setting(dovecot, imap_account):
    with pytest.raises(MailboxSetupError) as caught:
        fetch(settings_for(dovecot, imap_account, mailbox="Respuestas"))
    assert "cannot open the mailbox 'Respuestas'" in str(caught.value)
    assert "check replies.email.mailbox" in str(caught.value)


def test_a_server_that_is_down_is_transient():
    from services.dovecot import free_port  # here: the module is a pytest plugin

    port = free_port()
    settings = MailboxSettings("127.0.0.1", "u", "p", security="none", port=port)
    with pytest.raises(MailboxUnavailable) as caught:
        fetch(settings)
    assert str(caught.value) == (
        f"cannot connect to the IMAP server 127.0.0.1:{port}: connection refused; is "
        "the server running, and are replies.email.host and replies.email.port right?"
    )
    assert caught.value.transient is True
    assert isinstance(caught.value, MailboxError)


@pytest.fixture
def hung_server():
    """A server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.mark.parametrize("security", ["none", "tls"])
def test_a_hung_server_times_out(hung_server, security):
    settings = MailboxSettings(
        "127.0.0.1", "u", "p", security=security, port=hung_server, timeout=0.5
    )
    started = time.monotonic()
    with pytest.raises(MailboxUnavailable) as caught:
        fetch(settings)
    assert time.monotonic() - started < 3
    assert str(caught.value) == (
        f"the IMAP server 127.0.0.1:{hung_server} did not answer within 0.5 s while "
        "connecting; check that it is up, or raise replies.email.timeout"
    )
    assert caught.value.transient is True


# -- settings -------------------------------------------------------------------


def config_with(table: dict) -> Config:
    return Config(data={"replies": {"email": table}}, origins={})


def test_settings_come_from_the_replies_email_table(monkeypatch):
    monkeypatch.setenv("IMAP_PASSWORD", "s3cret")
    settings = MailboxSettings.from_config(
        config_with(
            {
                "host": "imap.acme.example",
                "username": "cobros@acme.example",
                "password_env": "IMAP_PASSWORD",
            }
        )
    )
    assert settings == MailboxSettings(
        "imap.acme.example",
        "cobros@acme.example",
        "s3cret",
        "tls",
        993,
        "INBOX",
        "cobra-processed",
        10.0,
        "IMAP_PASSWORD",
    )
    assert "s3cret" not in repr(settings)
    starttls = MailboxSettings.from_config(
        config_with(
            {
                "host": "h",
                "username": "u",
                "password_env": "IMAP_PASSWORD",
                "security": "starttls",
                "timeout": 5,
                "mailbox": "Replies",
            }
        )
    )
    assert (starttls.port, starttls.timeout, starttls.mailbox) == (143, 5.0, "Replies")


def test_settings_name_what_is_missing(monkeypatch):
    with pytest.raises(ConfigError, match=r"replies.email.host is not set"):
        MailboxSettings.from_config(Config(data={}, origins={}))
    with pytest.raises(ConfigError, match=r"security must be one of tls, starttls"):
        MailboxSettings.from_config(
            config_with(
                {"host": "h", "username": "u", "password_env": "P", "security": "ssl"}
            )
        )
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    with pytest.raises(MissingSecret, match="export NO_SUCH_PASSWORD"):
        MailboxSettings.from_config(
            config_with(
                {"host": "h", "username": "u", "password_env": "NO_SUCH_PASSWORD"}
            )
        )


# -- reading single messages (no server needed) -------------------------------


def test_outlook_and_gmail_quotes_are_removed():
    outlook = (
        "Ya pagué, adjunto comprobante.\r\n\r\n"
        "________________________________\r\n"
        "De: Cobranzas ACME <cobros@acme.example>\r\n"
        "Enviado: lunes, 8 de junio de 2026 9:00\r\n"
        "Para dejar de recibir estos correos, responda con la palabra BAJA.\r\n"
    )
    assert own_text(outlook) == "Ya pagué, adjunto comprobante."
    no_separator = "Paid.\n\nFrom: ACME <a@acme.example>\nSent: Monday\n\nReply STOP"
    assert own_text(no_separator) == "Paid."
    bottom_posted = (
        "On Mon, Jun 8, 2026 at 9:00 AM ACME <a@acme.example> wrote:\n"
        "> Your invoice F-1 is overdue.\n\nI paid it on Friday.\n"
        "> To stop receiving these emails, reply with the word STOP.\n"
    )
    assert own_text(bottom_posted) == "I paid it on Friday."
    signature = "I will pay on Friday.\n-- \nJuan Soto\nStop & Shop Ltd."
    assert own_text(signature) == "I will pay on Friday."
    # A sentence that merely starts like an attribution is kept.
    assert own_text("On Friday I will pay it all.") == "On Friday I will pay it all."


def test_html_without_quotes_scripts_or_styles():
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>Pagaré&nbsp;mañana.</p><div id='divRplyFwdMsg'>De: ACME"
        "<p>responda BAJA</p></div><script>alert(1)</script></body></html>"
    )
    assert html_text(html) == "Pagaré mañana."


def test_a_reply_with_only_an_attachment_names_it():
    message = EmailMessage()
    message["From"] = "maria@cliente.example"
    message["Subject"] = "Re: Recordatorio"
    message.set_content("> Estimada María\n")
    message.add_attachment(
        b"%PDF-1.4", maintype="application", subtype="pdf", filename="comprobante.pdf"
    )
    reading = read_message(message.as_bytes(), "1")
    assert reading.kind == REPLY
    assert reading.inbound.text == "[attached: comprobante.pdf]"
    # No Message-ID: a stable stand-in, so a second read is the same message.
    assert (
        reading.inbound.provider_id
        == read_message(message.as_bytes()).inbound.provider_id
    )
    assert reading.inbound.provider_id.endswith("@no-message-id.invalid>")
    assert reading.inbound.in_reply_to is None


def test_our_own_message_is_not_a_reply():
    reading = read_message(ours().as_bytes(), "4")
    assert reading.kind == SKIPPED
    assert reading.note == f"our own message ({KEY_HEADER} is set)"


def test_a_policy_block_fails_the_message_but_not_the_address():
    original = ours(to="nobody@cliente.example")
    blocked = dsn("failed", "5.7.1", original.as_string(), "message/rfc822")
    [receipt] = read_message(lmtp_bytes(blocked)).receipts
    assert (receipt.state, receipt.key, receipt.invalid_address) == (
        "failed",
        KEY,
        False,
    )
    assert [invalid_address(s) for s in ("5.1.1", "5.2.1", "5.4.4", "5.0.0")] == [
        True
    ] * 4
    assert [invalid_address(s) for s in ("5.7.1", "5.3.4", "4.4.1", "")] == [False] * 4


def test_a_bounce_for_a_copy_does_not_fail_the_message():
    original = ours(to="maria@cliente.example")
    original["Cc"] = "nobody@cliente.example"
    reading = read_message(
        lmtp_bytes(dsn("failed", "5.1.1", original.as_string(), "message/rfc822"))
    )
    assert reading.kind == SKIPPED
    assert (
        reading.note == "failed for nobody@cliente.example, not the message's recipient"
    )


def test_a_bounce_that_cannot_be_traced_is_skipped_with_its_reason():
    qmail = (
        "From: MAILER-DAEMON@mail.example\nSubject: failure notice\n\n"
        "Hi. This is the qmail-send program at mail.example.\n"
        "<nobody@cliente.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n"
    )
    reading = read_message(qmail.encode())
    assert reading.kind == SKIPPED
    assert reading.note.startswith(
        "a bounce that does not say which message it returns"
    )
    # With the copy quoted inline, as qmail does, the key is found in it.
    inline = (
        qmail
        + "\n--- Below this line is a copy of the message.\n\n"
        + (ours().as_string())
    )
    [receipt] = read_message(inline.encode()).receipts
    assert (receipt.key, receipt.provider_id, receipt.invalid_address) == (
        KEY,
        OUR_ID,
        True,
    )
    assert receipt.detail == "Sorry, no mailbox here by that name. (#5.1.1)"


def test_a_zoneless_date_falls_back_to_the_arrival_time():
    from datetime import datetime, timezone

    text = "From: a@b.example\nDate: Tue, 09 Jun 2026 10:15:00 -0000\n\nHola\n"
    arrived = datetime(2026, 6, 9, 14, 16, tzinfo=timezone.utc)
    assert read_message(text.encode(), "1", arrived).inbound.received_at == (
        "2026-06-09T14:16:00+00:00"
    )


# -- through the command line: cobra send, then cobra receipts fetch -----------


def sent_emails(run, count: int) -> list:
    """Queue *count* e-mails and send them through the file backend (the
    starter config's); returns the messages as they were written, in order."""
    from email import message_from_bytes, policy
    from pathlib import Path

    from outbox_seed import seed

    database = Path(run("db", "path").stdout.strip())
    seed(database, count)
    result = run("send", "--for", "2026-12-03", "--at", "2026-12-03T11:00:00-05:00")
    assert result.exit_code == 0, result.stderr
    folder = Path(database).parent / "outbox"
    files = sorted(folder.glob("*.eml"))
    assert len(files) == count, result.stderr
    return [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]


def reply_to(sent, text: str, attribution: str) -> bytes:
    """The customer's answer to one of our e-mails, quoting it."""
    customer = sent["To"].addresses[0].addr_spec
    answer = EmailMessage()
    answer["From"] = customer
    answer["To"] = str(sent["From"])
    answer["Subject"] = f"Re: {sent['Subject']}"
    answer["Date"] = "Thu, 03 Dec 2026 12:30:00 -0500"
    answer["Message-ID"] = f"<answer.{customer}>"
    answer["In-Reply-To"] = sent["Message-ID"]
    answer["References"] = sent["Message-ID"]
    body = sent.get_body(("plain",)).get_content()
    body += "To stop receiving these emails, reply with the word STOP.\n"
    answer.set_content(f"{text}\n\n{attribution}\n{quoted_text(body)}")
    return answer.as_bytes()


def quoted_text(body: str) -> str:
    return "".join(f"> {line}\n" for line in body.splitlines())


def use_mailbox(dovecot, account, work, monkeypatch, password=None) -> None:
    monkeypatch.setenv("COBRA_TEST_IMAP_PASSWORD", password or account.password)
    (work / "cobra.toml").write_text(
        textwrap.dedent(f"""\
            [replies.email]
            host = "{dovecot.host}"
            port = {dovecot.imap_port}
            security = "none"
            username = "{account.username}"
            password_env = "COBRA_TEST_IMAP_PASSWORD"
            timeout = 5
        """),
        encoding="utf-8",
    )


def test_cobra_receipts_fetch_applies_bounces_replies_and_opt_outs(
    run, dovecot, imap_account, isolated, monkeypatch
):
    import sqlite3

    opting_out, bouncing, paying = sent_emails(run, 3)
    when = "On Thu, Dec 3, 2026 at 11:00 AM Cobranzas <cobros@example.com> wrote:"
    dovecot.deliver(imap_account, reply_to(opting_out, "Stop, please.", when))
    original = bouncing.as_string()
    dovecot.deliver(
        imap_account,
        lmtp_bytes(dsn("failed", "5.1.1", original, "message/rfc822")).replace(
            b"nobody@cliente.example", b"ap1@cliente1.example"
        ),
    )
    spanish = (
        "El jue, 3 dic 2026 a las 11:00, Cobranzas (<cobros@example.com>) escribió:"
    )
    dovecot.deliver(imap_account, reply_to(paying, "Pagaré el viernes.", spanish))
    use_mailbox(dovecot, imap_account, isolated, monkeypatch)

    result = run("receipts", "fetch")

    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip() == (
        "Fetched 1 bounces, 2 replies and 0 automatic replies: 1 messages updated, "
        "1 addresses marked invalid, 1 opt-outs, 0 unmatched."
    )
    database = run("db", "path").stdout.strip()
    with sqlite3.connect(database) as conn:
        states = conn.execute(
            "SELECT c.account, o.state FROM outbox o JOIN customers c"
            " ON c.id = o.customer_id ORDER BY c.account"
        ).fetchall()
        invalid = conn.execute(
            "SELECT value, invalid_reason FROM contacts WHERE invalid_since IS NOT NULL"
        ).fetchall()
        inbound = conn.execute(
            "SELECT sender, text, opt_out, received_at FROM inbound ORDER BY sender"
        ).fetchall()
    assert states == [("C000000", "sent"), ("C000001", "failed"), ("C000002", "sent")]
    [(address, reason)] = invalid
    assert address == "ap1@cliente1.example"
    assert reason.startswith("bounced: 550 5.1.1 <ap1@cliente1.example>")
    # Both quoted "reply with the word STOP"; only the first customer said it.
    assert inbound == [
        ("ap0@cliente0.example", "Stop, please.", 1, "2026-12-03T12:30:00-05:00"),
        ("ap2@cliente2.example", "Pagaré el viernes.", 0, "2026-12-03T12:30:00-05:00"),
    ]

    again = run("receipts", "fetch")
    assert again.exit_code == 0, again.stderr
    assert again.stderr.startswith("Fetched 0 bounces, 0 replies")
    assert count(dovecot, imap_account, "cobra-processed") == 3


def test_an_e_mail_reply_is_read_with_the_words_of_the_customers_country(
    run, dovecot, imap_account, isolated, monkeypatch
):
    import sqlite3

    chilean, american = sent_emails(run, 2)
    database = run("db", "path").stdout.strip()
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE customers SET country = 'CL' WHERE account = 'C000000'")
    when = "El jue, 3 dic 2026 a las 11:00, Cobranzas (<cobros@example.com>) escribió:"
    # BAJA is among the Chilean profile's words, not the US profile's.
    dovecot.deliver(imap_account, reply_to(chilean, "Bája, por favor.", when))
    dovecot.deliver(imap_account, reply_to(american, "Baja", when))
    use_mailbox(dovecot, imap_account, isolated, monkeypatch)

    result = run("receipts", "fetch")

    assert result.exit_code == 0, result.stderr
    assert "2 replies" in result.stderr and "1 opt-outs" in result.stderr
    with sqlite3.connect(database) as conn:
        opted_out = conn.execute(
            "SELECT c.account, o.channel FROM opt_outs o"
            " JOIN customers c ON c.id = o.customer_id"
        ).fetchall()
        kept = conn.execute(
            "SELECT sender, opt_out FROM inbound ORDER BY sender"
        ).fetchall()
    assert opted_out == [("C000000", "email")]
    assert kept == [("ap0@cliente0.example", 1), ("ap1@cliente1.example", 0)]


def test_cobra_receipts_fetch_with_a_wrong_password_exits_1_and_keeps_the_mail(
    run, dovecot, imap_account, isolated, monkeypatch
):
    dovecot.deliver(imap_account, lmtp_bytes(SPANISH_REPLY))
    use_mailbox(dovecot, imap_account, isolated, monkeypatch, password="wrong")

    with dovecot.failing_logins():
        result = run("receipts", "fetch")

    assert result.exit_code == 1
    assert "refused the login" in result.stderr
    assert "check replies.email.username and the password in " in result.stderr
    assert "COBRA_TEST_IMAP_PASSWORD" in result.stderr
    assert count(dovecot, imap_account, "INBOX") == 1


def test_an_unreadable_ca_file_names_the_setting(tmp_path):
    settings = MailboxSettings(
        "127.0.0.1", "u", "p", security="tls", ca_file=str(tmp_path / "missing.pem")
    )
    with pytest.raises(MailboxSetupError) as caught:
        fetch(settings)
    assert str(caught.value) == (
        f"replies.email.ca_file {tmp_path / 'missing.pem'} cannot be used: "
        "No such file or directory; it must be a PEM file"
    )


def report(report_type: str, part_type: str, fields: str) -> bytes:
    return lmtp_bytes(f"""\
From: maria@cliente.example
To: cobros@acme.example
Subject: Read: Recordatorio de pago
Message-ID: <report-1@cliente.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="R"

--R
Content-Type: text/plain

Your message was read on Tuesday. To stop receiving these emails, reply STOP.

--R
Content-Type: {part_type}

{fields}
--R--
""")


def test_a_read_receipt_proves_delivery_and_is_no_reply():
    fields = (
        "Reporting-UA: cliente.example; Outlook\n"
        "Final-Recipient: rfc822; maria@cliente.example\n"
        f"Original-Message-ID: {OUR_ID}\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
    )
    reading = read_message(
        report("disposition-notification", "message/disposition-notification", fields)
    )
    assert reading.receipts == (
        Receipt(
            "delivered",
            provider_id=OUR_ID,
            detail="read receipt: manual-action/MDN-sent-manually; displayed",
        ),
    )
    deleted = fields.replace("displayed", "deleted")
    reading = read_message(
        report("disposition-notification", "message/disposition-notification", deleted)
    )
    assert (reading.kind, reading.note) == (
        SKIPPED,
        "a read receipt (manual-action/MDN-sent-manually; deleted)",
    )


def test_a_spam_complaint_is_not_read_as_the_customers_words():
    fields = "Feedback-Type: abuse\nUser-Agent: SomeISP/1.0\nVersion: 1\n"
    reading = read_message(report("feedback-report", "message/feedback-report", fields))
    assert (reading.kind, reading.note) == (SKIPPED, "a feedback-report report")


def test_a_server_that_says_bye_is_transient():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def greet_and_leave():
            connection, _ = listener.accept()
            connection.sendall(b"* BYE Server shutting down for maintenance\r\n")
            connection.close()

        thread = threading.Thread(target=greet_and_leave, daemon=True)
        thread.start()
        settings = MailboxSettings("127.0.0.1", "u", "p", security="none", port=port)
        with pytest.raises(MailboxUnavailable) as caught:
            fetch(settings)
        thread.join(timeout=5)
    assert str(caught.value) == (
        f"the IMAP server 127.0.0.1:{port} closed the connection while connecting: "
        "Server shutting down for maintenance"
    )
    assert caught.value.transient is True
