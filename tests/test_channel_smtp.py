"""The smtp channel backend against real aiosmtpd servers on loopback.

Every message is read back from the server that received it, parsed as a
mail client would. Faults are real too: a server with a certificate the
client does not trust, a wrong password, a port nobody listens on, a server
that never answers, replies with 4xx and 5xx codes.
"""

from __future__ import annotations

import email
import json
import re
import shutil
import sqlite3
import time
from datetime import date, datetime
from email.header import decode_header, make_header
from email.utils import parseaddr
from pathlib import Path

import pytest
from cobra_plugins import channel_smtp
from histories import History, load, table_rows
from services import smtp as services

from cobra import config as config_module
from cobra.channels import (
    KEY_HEADER,
    ChannelSettings,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
    message_id,
)
from cobra.plugins import get_plugins

# aiosmtpd warns of a login without STARTTLS, which these tests do on purpose:
# over TLS from the first byte (which it does not count), or on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

# The servers, shared with other tests that send e-mail.
smtp_certs = services.smtp_certs
smtp_server = services.smtp_server

REPO = Path(__file__).resolve().parent.parent
USER, PASSWORD = "cobranza@andesur.example", "s3cret-ñandú"

BODY = """\
Estimado cliente:

Le recordamos que la factura F-1042 venció hace 3 días: saldo de $125.000 & IVA.
Puede pagarla en https://pagos.andesur.example/f/1042?c=7&m=125000.

- Factura F-1042, con vencimiento el 7 jun 2026: $125.000
- Factura F-1043, con vencimiento el 8 jun 2026: $80.500

.Esta línea empieza con un punto, y <esta> no es una etiqueta.

Para dejar de recibir estos correos, responda con la palabra BAJA.
Atentamente,
Equipo de cobranza de Andesur"""

SUBJECT = "Recordatorio: factura F-1042 vencida — ¿podemos ayudarle?"


def outgoing(number: int = 1, **changes) -> OutgoingMessage:
    fields = {
        "id": number,
        "key": f"C{number:04d}|friendly-reminder#1|2026-06-10|email",
        "channel": "email",
        "kind": "email",
        "to": f"pagos{number}@cliente.example",
        "account": f"C{number:04d}",
        "customer_name": "Ferretería Ñuñoa Ltda.",
        "language": "es",
        "subject": SUBJECT,
        "body": BODY,
        "planned_for": date(2026, 6, 10),
    }
    fields.update(changes)
    return OutgoingMessage(**fields)


def write_config(options: dict) -> None:
    """``[channels.email]`` in the working directory's cobra.toml."""
    lines = ["[channels.email]", 'backend = "smtp"']
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    with open("cobra.toml", "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def session(server=None, *, timeout: float = 5.0, **options):
    """A session of the smtp backend, configured as a user would in cobra.toml."""
    table = {"from": "cobranza@andesur.example"}
    if server is not None:
        table.update(host=server.host, port=server.port)
    table.update(options)
    write_config(table)
    return configured_session(timeout)


def configured_session(timeout: float = 5.0):
    """A session from the [channels.email] of the cobra.toml cobra finds."""
    config = config_module.load_unchecked()
    assert not config.problems, config.problems
    settings = ChannelSettings(
        channel="email",
        backend="smtp",
        options=dict(config.get("channels.email")),
        config=config,
        timeout=timeout,
    )
    return channel_smtp.SmtpBackend().connect(settings)


@pytest.fixture
def password(monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)


def login(smtp_certs, **extra) -> dict:
    return {
        "username": USER,
        "password_env": "SMTP_PASSWORD",
        "ca_file": str(smtp_certs.ca_file),
        **extra,
    }


def text(part) -> str:
    return part.get_content().replace("\r\n", "\n")


# --- what arrives -------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_starttls_and_login_deliver_a_complete_message(
    smtp_server, smtp_certs, password, mechanism
):
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    server = smtp_server("starttls", users={USER: PASSWORD}, exclude_auth=(other,))
    mail = session(
        server,
        **login(smtp_certs),
        from_name="Cobranzas Andesur y Compañía",
        reply_to="respuestas@andesur.example",
        unsubscribe="https://andesur.example/baja?c=C0001",
    )
    message = outgoing(opt_out=True, cc="vendedor@andesur.example")
    provider_id = mail.send(message)
    mail.close()

    assert server.passwords.mechanisms == [mechanism]
    [got] = server.received
    assert got.mail_from == "cobranza@andesur.example"
    assert got.rcpt_tos == ["pagos1@cliente.example", "vendedor@andesur.example"]
    parsed = got.message
    expected_id = message_id(message.key, "andesur.example")
    assert provider_id == expected_id == parsed["Message-ID"]
    assert parsed["From"] == "Cobranzas Andesur y Compañía <cobranza@andesur.example>"
    assert parsed["To"] == '"Ferretería Ñuñoa Ltda." <pagos1@cliente.example>'
    # Non-ASCII names travel encoded (RFC 2047), the addresses as they are.
    head = got.data.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert [line for line in head if line.startswith(b"To: =?utf-8?")]
    assert max(len(line) for line in head) <= 78
    assert parsed["Cc"] == "vendedor@andesur.example"
    assert parsed["Reply-To"] == "respuestas@andesur.example"
    assert parsed["Subject"] == SUBJECT
    sent_at = parsed["Date"].datetime
    assert sent_at.tzinfo is not None
    assert abs((datetime.now(sent_at.tzinfo) - sent_at).total_seconds()) < 60
    assert parsed["Content-Language"] == "es"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed[KEY_HEADER] == message.key
    assert parsed["List-Unsubscribe"] == "<https://andesur.example/baja?c=C0001>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["MIME-Version"] == "1.0"

    assert parsed.get_content_type() == "multipart/alternative"
    plain, rich = parsed.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert rich.get_content_type() == "text/html"
    for part in (plain, rich):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    # Every line, accents, the leading dot and the final line, as written.
    assert text(plain).rstrip("\n") == BODY
    page = text(rich)
    assert '<html lang="es">' in page
    assert "<p>Estimado cliente:</p>" in page
    assert "$125.000 &amp; IVA." in page
    assert (
        '<a href="https://pagos.andesur.example/f/1042?c=7&amp;m=125000">'
        "https://pagos.andesur.example/f/1042?c=7&amp;m=125000</a>." in page
    )
    assert "<li>Factura F-1042, con vencimiento el 7 jun 2026: $125.000</li>" in page
    assert "<li>Factura F-1043" in page
    assert ".Esta línea empieza con un punto, y &lt;esta&gt; no es" in page
    assert "BAJA.<br>\nAtentamente,<br>\nEquipo de cobranza de Andesur</p>" in page
    # 7-bit on the wire: Spanish text travels encoded, never as raw 8-bit.
    assert got.data.isascii()


def test_a_long_name_with_accents_is_encoded_in_short_words(smtp_server):
    server = smtp_server("none")
    name = "Comercializadora de Ferretería y Construcción del Sur Austral Ñuble SpA"
    mail = session(server, security="none", from_name="Cobranzas " + name)
    mail.send(outgoing(customer_name=name))
    mail.close()

    [got] = server.received
    raw = email.message_from_bytes(got.data)  # headers as they travelled
    # Decoded as RFC 2047 says, ignoring the space between adjacent encoded
    # words (Python 3.11's newer parser keeps one where a word was split).
    for header, expected in (("To", name), ("From", "Cobranzas " + name)):
        decoded = str(make_header(decode_header(raw[header])))
        assert parseaddr(decoded)[0] == expected
    words = re.findall(rb"=\?utf-8\?[bq]\?[^?]*\?=", got.data)
    assert len(words) >= 4 and max(len(word) for word in words) <= 75


def test_the_message_id_depends_on_the_key_only(smtp_server, smtp_certs, password):
    server = smtp_server("starttls", users={USER: PASSWORD})
    first = session(
        server, **login(smtp_certs), message_id_domain="mail.andesur.example"
    )
    one = first.send(outgoing(1))
    again = first.send(outgoing(1, body="Otro texto.", subject="Otro asunto"))
    other = first.send(outgoing(2))
    first.close()
    later = session(
        server, **login(smtp_certs), message_id_domain="mail.andesur.example"
    )
    after_a_crash = later.send(outgoing(1))
    later.close()

    assert (
        one
        == again
        == after_a_crash
        == message_id(outgoing(1).key, "mail.andesur.example")
    )
    assert other != one
    assert [r.message["Message-ID"] for r in server.received] == [one, one, other, one]
    assert one.endswith("@mail.andesur.example>")


def test_list_unsubscribe_only_where_an_opt_out_is_required(smtp_server, smtp_certs):
    server = smtp_server("none")
    mail = session(server, security="none", unsubscribe="mailto:baja@andesur.example")
    mail.send(outgoing(1, opt_out=False))
    mail.send(outgoing(2, opt_out=True))
    mail.close()

    without, with_mailto = (r.message for r in server.received)
    assert "List-Unsubscribe" not in without
    assert with_mailto["List-Unsubscribe"] == "<mailto:baja@andesur.example>"
    # One-click unsubscribing is an HTTPS POST; a mailto: URL has none.
    assert "List-Unsubscribe-Post" not in with_mailto
    assert "Reply-To" not in without and "Cc" not in without


def test_implicit_tls_by_host_name(smtp_server, smtp_certs, password):
    server = smtp_server("tls", users={USER: PASSWORD})
    # "localhost" checks the certificate's DNS name, 127.0.0.1 its IP address.
    mail = session(server, **login(smtp_certs), security="tls", host="localhost")
    provider_id = mail.send(outgoing())
    mail.close()

    [got] = server.received
    assert got.message["Message-ID"] == provider_id
    assert server.passwords.mechanisms


def test_plain_relay_without_login(smtp_server):
    server = smtp_server("none")
    mail = session(server, security="none")
    mail.send(outgoing())
    mail.close()

    [got] = server.received
    assert got.rcpt_tos == ["pagos1@cliente.example"]
    assert text(next(got.message.iter_parts())).rstrip("\n") == BODY


def test_one_connection_carries_every_message(smtp_server, smtp_certs, password):
    server = smtp_server("starttls", users={USER: PASSWORD})
    mail = session(server, **login(smtp_certs))
    ids = [mail.send(outgoing(n)) for n in range(1, 51)]
    mail.close()

    assert len(server.received) == 50 and len(set(ids)) == 50
    assert server.recorder.connections == 1
    assert server.passwords.mechanisms == ["PLAIN"]  # one login, not fifty


def test_a_connection_the_server_closed_is_reopened(
    smtp_server, smtp_certs, password, caplog
):
    caplog.set_level("INFO", logger="cobra_plugins.channel_smtp")
    server = smtp_server("starttls", users={USER: PASSWORD}, idle_timeout=0.3)
    mail = session(server, **login(smtp_certs))
    mail.send(outgoing(1))
    time.sleep(0.8)  # the server says 421 and hangs up meanwhile
    mail.send(outgoing(2))
    mail.send(outgoing(3))
    mail.close()

    assert [r.message[KEY_HEADER] for r in server.received] == [
        outgoing(n).key for n in (1, 2, 3)
    ]
    assert server.recorder.connections == 2
    [reconnect] = [
        r.getMessage() for r in caplog.records if r.name == "cobra_plugins.channel_smtp"
    ]
    assert reconnect == (
        f"the SMTP server 127.0.0.1:{server.port} closed the connection "
        "(Connection unexpectedly closed); reconnecting"
    )


def test_a_restarted_server_gets_a_new_connection(smtp_server, smtp_certs, password):
    first = smtp_server("starttls", users={USER: PASSWORD})
    mail = session(first, **login(smtp_certs))
    mail.send(outgoing(1))
    first.stop()
    second = smtp_server("starttls", users={USER: PASSWORD}, port=first.port)
    mail.send(outgoing(2))
    mail.close()

    assert [r.message[KEY_HEADER] for r in first.received] == [outgoing(1).key]
    assert [r.message[KEY_HEADER] for r in second.received] == [outgoing(2).key]


# --- setup problems: no retry helps, the message stays as it was ---------------


def test_a_wrong_password_is_a_setup_error(smtp_server, smtp_certs, monkeypatch):
    server = smtp_server("starttls", users={USER: PASSWORD})
    monkeypatch.setenv("SMTP_PASSWORD", "not-the-password")
    mail = session(server, **login(smtp_certs))
    with pytest.raises(SetupError) as caught:
        mail.send(outgoing())
    mail.close()

    message = str(caught.value)
    assert "535" in message and "refused the login of " + USER in message
    assert "$SMTP_PASSWORD" in message
    assert "not-the-password" not in message
    assert server.received == []

    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    fixed = session(server, **login(smtp_certs))
    fixed.send(outgoing())
    fixed.close()
    assert len(server.received) == 1


def test_an_untrusted_certificate_is_a_setup_error(smtp_server, smtp_certs, password):
    server = smtp_server("starttls", users={USER: PASSWORD})
    # No ca_file: the system's trust store does not know the test CA.
    mail = session(server, username=USER, password_env="SMTP_PASSWORD")
    with pytest.raises(SetupError) as caught:
        mail.send(outgoing())
    mail.close()

    assert "TLS certificate of the SMTP server 127.0.0.1:" in str(caught.value)
    assert "not trusted" in str(caught.value) and "set ca_file" in str(caught.value)
    assert server.received == [] and server.passwords.mechanisms == []


def test_implicit_tls_with_an_untrusted_certificate(smtp_server, password):
    server = smtp_server("tls", users={USER: PASSWORD})
    mail = session(server, security="tls", username=USER, password_env="SMTP_PASSWORD")
    with pytest.raises(SetupError, match="not trusted .*set ca_file"):
        mail.send(outgoing())
    assert server.received == []


def test_ca_file_is_relative_to_the_config_file(
    smtp_server, smtp_certs, password, isolated, monkeypatch
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    shutil.copy(smtp_certs.ca_file, isolated / "private-ca.pem")
    session(server, **login(smtp_certs, ca_file="private-ca.pem"))
    (isolated / "elsewhere").mkdir()
    monkeypatch.chdir(isolated / "elsewhere")  # cobra finds ../cobra.toml
    mail = configured_session()
    mail.send(outgoing())
    mail.close()
    assert len(server.received) == 1


def test_a_missing_ca_file_is_a_setup_error(smtp_server, smtp_certs, password):
    server = smtp_server("starttls", users={USER: PASSWORD})
    mail = session(server, **login(smtp_certs, ca_file="no-such-ca.pem"))
    with pytest.raises(SetupError) as caught:
        mail.send(outgoing())
    assert "no-such-ca.pem cannot be used: No such file or directory" in str(
        caught.value
    )
    assert server.received == []


def test_tls_against_a_plain_server_names_the_mismatch(smtp_server, smtp_certs):
    server = smtp_server("none")
    mail = session(server, security="tls", ca_file=str(smtp_certs.ca_file))
    with pytest.raises(SetupError, match="check that security matches the port"):
        mail.send(outgoing())
    assert server.received == []


def test_a_server_without_starttls_is_a_setup_error(smtp_server, smtp_certs):
    server = smtp_server("none")
    mail = session(server, ca_file=str(smtp_certs.ca_file))  # starttls by default
    with pytest.raises(SetupError) as caught:
        mail.send(outgoing())

    assert "does not offer STARTTLS" in str(caught.value)
    assert 'set security = "tls"' in str(caught.value)
    assert server.received == []


def test_a_server_without_login_is_a_setup_error(smtp_server, password):
    server = smtp_server("none")
    mail = session(server, security="none", username=USER, password_env="SMTP_PASSWORD")
    with pytest.raises(SetupError, match="does not offer AUTH"):
        mail.send(outgoing())
    assert server.received == []


def test_a_server_that_wants_a_login_says_so(smtp_server, smtp_certs):
    server = smtp_server("starttls", users={USER: PASSWORD})
    mail = session(server, ca_file=str(smtp_certs.ca_file))  # no username
    with pytest.raises(
        SetupError, match="wants a login .*set username and password_env"
    ):
        mail.send(outgoing())
    assert server.received == []


def test_a_password_is_never_sent_in_clear_beyond_this_machine(password):
    with pytest.raises(SetupError, match="unencrypted to smtp.example.com"):
        session(
            host="smtp.example.com",
            security="none",
            username=USER,
            password_env="SMTP_PASSWORD",
        )


def test_a_missing_password_variable_is_a_setup_error(smtp_certs, monkeypatch):
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    with pytest.raises(SetupError, match="export SMTP_PASSWORD"):
        session(host="127.0.0.1", **login(smtp_certs))


def test_missing_host_or_sender(password):
    with pytest.raises(SetupError, match=r"\[channels.email\]: host is not set"):
        session()
    with pytest.raises(SetupError, match="from is not set"):
        session(host="127.0.0.1", **{"from": ""})


# --- the server, not the setup: try again later --------------------------------


def test_connection_refused_is_transient(smtp_certs, password):
    port = services.free_port()  # nothing listens there
    mail = session(host="127.0.0.1", port=port, **login(smtp_certs))
    with pytest.raises(TransientError, match="refused the connection"):
        mail.send(outgoing())


def test_a_hung_server_times_out(smtp_certs, password):
    with services.silent() as port:
        mail = session(host="127.0.0.1", port=port, timeout=0.5, **login(smtp_certs))
        started = time.monotonic()
        with pytest.raises(TransientError) as caught:
            mail.send(outgoing())
        took = time.monotonic() - started
        mail.close()

    assert (
        str(caught.value)
        == f"the SMTP server 127.0.0.1:{port} did not answer within 0.5 s"
    )
    assert 0.45 <= took < 1.5


def test_a_malformed_greeting_is_transient():
    with services.scripted(b"hello, this is not SMTP\r\n") as port:
        mail = session(host="127.0.0.1", port=port, security="none")
        with pytest.raises(TransientError) as caught:
            mail.send(outgoing())
        mail.close()
    # smtplib keeps only what follows the first four characters.
    assert (
        f"127.0.0.1:{port} greeted with 'o, this is not SMTP' (no reply code)"
        in str(caught.value)
    )


def test_a_malformed_reply_to_a_message_is_transient():
    script = (
        b"220 relay ESMTP\r\n",
        b"250-relay\r\n250 8BITMIME\r\n",  # EHLO
        b"OK then\r\n",  # MAIL FROM, answered with no code
    )
    with services.scripted(*script) as port:
        mail = session(host="127.0.0.1", port=port, security="none")
        with pytest.raises(TransientError, match="malformed reply to the sender"):
            mail.send(outgoing())
        mail.close()


def test_a_server_gone_after_the_whole_message_may_have_it():
    script = (
        b"220 relay ESMTP\r\n",
        b"250 relay\r\n",  # EHLO
        b"250 OK\r\n",  # MAIL FROM
        b"250 OK\r\n",  # RCPT TO
        b"354 go ahead\r\n",  # DATA
        b"",  # reads the message, then hangs up without a reply
    )
    with services.scripted(*script) as port:
        mail = session(host="127.0.0.1", port=port, security="none")
        with pytest.raises(OutcomeUnknown) as caught:
            mail.send(outgoing(1))
        mail.close()
    # The outcome is unknown: cobra send marks it for a person rather than
    # risk a second copy.
    assert str(caught.value) == (
        f"the SMTP server 127.0.0.1:{port} closed the connection (Connection "
        f"unexpectedly closed) after receiving message {outgoing(1).key}; it may "
        "have been delivered"
    )


@pytest.mark.parametrize(
    "reply", ["451 4.3.0 Try again later", "452 4.3.1 Insufficient system storage"]
)
def test_a_deferred_message_is_transient_and_nothing_is_lost(smtp_server, reply):
    server = smtp_server("none")
    server.recorder.data_reply = reply
    mail = session(server, security="none")
    with pytest.raises(TransientError) as caught:
        mail.send(outgoing(1))
    assert str(caught.value) == (
        f"the SMTP server 127.0.0.1:{server.port} deferred the message "
        f"pagos1@cliente.example: {reply}"
    )
    assert server.received == []

    server.recorder.data_reply = None  # the server recovers: the retry arrives
    mail.send(outgoing(1))
    mail.close()
    assert [r.message[KEY_HEADER] for r in server.received] == [outgoing(1).key]
    assert server.recorder.connections == 1


def test_an_unknown_recipient_is_an_invalid_address(smtp_server):
    server = smtp_server("none")
    server.recorder.refuse_rcpt["nadie@cliente.example"] = "550 no such user"
    mail = session(server, security="none")
    with pytest.raises(PermanentError) as caught:
        mail.send(outgoing(1, to="nadie@cliente.example"))
    assert caught.value.invalid_address is True
    assert "refused the address nadie@cliente.example: 550 no such user" in str(
        caught.value
    )

    mail.send(outgoing(2))  # the session goes on with the next customer
    mail.close()
    assert [r.rcpt_tos for r in server.received] == [["pagos2@cliente.example"]]


@pytest.mark.parametrize(
    "code", ["551 5.1.6 user has moved", "553 mailbox name not allowed"]
)
def test_other_bad_address_replies(smtp_server, code):
    server = smtp_server("none")
    server.recorder.refuse_rcpt["pagos1@cliente.example"] = code
    with pytest.raises(PermanentError) as caught:
        session(server, security="none").send(outgoing(1))
    assert caught.value.invalid_address is True and code in str(caught.value)


def test_a_policy_refusal_does_not_blame_the_address(smtp_server):
    server = smtp_server("none")
    server.recorder.refuse_rcpt["pagos1@cliente.example"] = "550 5.7.1 Relaying denied"
    with pytest.raises(PermanentError) as caught:
        session(server, security="none").send(outgoing(1))
    assert caught.value.invalid_address is False
    assert "5.7.1 Relaying denied" in str(caught.value)


def test_a_rejected_message_is_permanent(smtp_server):
    server = smtp_server("none")
    server.recorder.data_reply = "554 5.6.0 Message rejected as spam"
    mail = session(server, security="none")
    with pytest.raises(PermanentError) as caught:
        mail.send(outgoing(1))
    assert caught.value.invalid_address is False
    assert str(caught.value) == (
        f"the SMTP server 127.0.0.1:{server.port} refused the message to "
        "pagos1@cliente.example: 554 5.6.0 Message rejected as spam"
    )
    assert server.received == []


def test_a_refused_copy_to_the_salesperson_does_not_stop_the_message(smtp_server):
    server = smtp_server("none")
    server.recorder.refuse_rcpt["ex-vendedor@andesur.example"] = "550 no such user"
    mail = session(server, security="none")
    mail.send(outgoing(1, cc="ex-vendedor@andesur.example"))
    mail.close()
    [got] = server.received
    assert got.rcpt_tos == ["pagos1@cliente.example"]


def test_a_server_gone_mid_session_is_transient(smtp_server):
    server = smtp_server("none")
    mail = session(server, security="none")
    mail.send(outgoing(1))
    server.stop()
    with pytest.raises(TransientError, match="refused the connection"):
        mail.send(outgoing(2))
    assert len(server.received) == 1


def test_a_malformed_address_is_invalid_and_nothing_is_sent(smtp_server):
    server = smtp_server("none")
    mail = session(server, security="none")
    with pytest.raises(PermanentError) as caught:
        mail.send(outgoing(1, to="pagos@@cliente"))
    assert caught.value.invalid_address is True
    assert str(caught.value).startswith("'pagos@@cliente' is not an e-mail address")
    mail.send(outgoing(2))
    mail.close()
    assert [r.rcpt_tos for r in server.received] == [["pagos2@cliente.example"]]


def test_an_empty_body_is_refused_before_connecting():
    mail = session(host="127.0.0.1", port=services.free_port(), security="none")
    with pytest.raises(PermanentError, match="empty after rendering"):
        mail.send(outgoing(body="  \n "))


def settings_for_check(server=None, **options) -> ChannelSettings:
    table = {"from": "cobranza@andesur.example", **options}
    if server is not None:
        table.update(host=server.host, port=server.port)
    write_config(table)
    config = config_module.load_unchecked()
    return ChannelSettings("email", "smtp", dict(config.get("channels.email")), config)


def test_check_logs_in_and_tries_the_sender_without_sending(
    smtp_server, smtp_certs, password
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    backend = channel_smtp.SmtpBackend()
    detail = backend.check(settings_for_check(server, **login(smtp_certs)))
    assert detail == (
        f"127.0.0.1:{server.port}: STARTTLS (TLSv1.3), logged in as {USER}, "
        "sender cobranza@andesur.example accepted"
    )
    assert server.received == [] and server.passwords.mechanisms == ["PLAIN"]


def test_check_names_what_is_wrong(smtp_server, smtp_certs, monkeypatch):
    server = smtp_server("starttls", users={USER: PASSWORD})
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")
    backend = channel_smtp.SmtpBackend()
    with pytest.raises(SetupError, match="refused the login"):
        backend.check(settings_for_check(server, **login(smtp_certs)))
    with pytest.raises(TransientError, match="refused the connection"):
        backend.check(settings_for_check(host="127.0.0.1", port=services.free_port()))


def test_cobra_doctor_checks_the_channel(run, smtp_server, smtp_certs, password):
    server = smtp_server("starttls", users={USER: PASSWORD})
    send_setup(server, smtp_certs)
    result = run("doctor")
    assert f"smtp: 127.0.0.1:{server.port}: STARTTLS" in result.output
    assert server.received == []


# --- the plugin as cobra sees it -------------------------------------------------


def test_the_backend_is_registered_with_its_declared_traits():
    backend = get_plugins().channels()["smtp"].obj
    assert backend.kinds == ("email",)
    assert (backend.concurrency, backend.rate_limit, backend.can_lookup) == (
        4,
        None,
        False,
    )
    assert set(backend.config_keys) >= {
        "host", "port", "security", "username", "password_env", "from", "from_name",
        "reply_to", "unsubscribe", "message_id_domain", "ca_file",
    }  # fmt: skip


def test_config_check_knows_the_backends_keys(run, monkeypatch):
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    write_config(
        {
            "host": "smtp.example.com",
            "security": "starttls",
            "port": 587,
            "username": USER,
            "password_env": "SMTP_PASSWORD",
            "from": "cobranza@andesur.example",
            "unsubscribe": "https://andesur.example/baja",
            "timeout": 20,
            "concurrency": 2,
            "rate_limit": 10,
        }
    )
    assert run("config", "check").exit_code == 0

    write_config({"security": "ssl", "from": "Cobranza", "unsubscribe": "ftp://x"})
    result = run("config", "check")
    assert result.exit_code == 2
    assert (
        "channels.email.security: must be one of starttls, tls, none" in result.stderr
    )
    assert "channels.email.from: expected an e-mail address" in result.stderr
    assert (
        "channels.email.unsubscribe: expected a mailto: or https:// URL"
        in result.stderr
    )


# --- end to end: cobra plan, then cobra send through STARTTLS and a login -------

DAY = "2026-12-03"
AT = "2026-12-03T11:00:00-05:00"  # a Thursday morning in New York


def send_setup(server, smtp_certs, **options) -> None:
    """cobra.toml binding e-mail to the server, with quick retries."""
    table = {
        "backend": "smtp",
        "host": server.host,
        "port": server.port,
        "from": "cobranza@andesur.example",
        "from_name": "Andesur Cobranzas",
        "unsubscribe": "https://andesur.example/baja",
        **login(smtp_certs),
        **options,
    }
    lines = ["[send]", "backoff_seconds = 0.01", "max_wait_seconds = 5", ""]
    lines += ["[channels.email]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    with open("cobra.toml", "w", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")


def planned_reminder(run, tmp_path) -> None:
    """A customer with an e-mail address and no phone, a bill two days late."""
    late = History("ACME", "Acme Tools Inc.")
    late.monthly(date(2024, 11, 1), 25, "1200.00", unpaid={24})
    load(run, tmp_path, late)
    planned = run("plan", "--for", DAY)
    assert "Planned 1 contacts (1 new)" in planned.stderr, planned.stderr


def outbox_rows(run) -> list[dict]:
    return table_rows(run, "outbox")


def test_cobra_send_delivers_through_starttls_and_login(
    run, tmp_path, smtp_server, smtp_certs, password
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    send_setup(server, smtp_certs)
    planned_reminder(run, tmp_path)

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 1, failed 0, held 0, retried 0." in result.stderr

    [row] = outbox_rows(run)
    [got] = server.received
    parsed = got.message
    assert row["state"] == "sent" and row["backend"] == "smtp"
    assert row["address"] == "ap@acme.example" == parsed["To"].addresses[0].addr_spec
    assert parsed["To"].addresses[0].display_name == "Acme Tools Inc."
    assert parsed[KEY_HEADER] == row["idempotency_key"]
    assert parsed["Message-ID"] == row["provider_id"]
    assert parsed["Message-ID"] == message_id(row["idempotency_key"], "andesur.example")
    # The US rules want an opt-out in every electronic message.
    assert row["opt_out"] == 1
    assert parsed["List-Unsubscribe"] == "<https://andesur.example/baja>"
    assert text(next(parsed.iter_parts())).rstrip("\n") == row["body"].rstrip("\n")
    assert server.passwords.mechanisms == ["PLAIN"]

    again = run("send", "--for", DAY, "--at", AT)
    assert again.exit_code == 0 and "Send: sent 0" in again.stderr
    assert len(server.received) == 1


def test_cobra_send_with_a_wrong_password_keeps_the_message_queued(
    run, tmp_path, smtp_server, smtp_certs, monkeypatch
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    send_setup(server, smtp_certs)
    planned_reminder(run, tmp_path)
    monkeypatch.setenv("SMTP_PASSWORD", "wrong")

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 1
    assert "error: channel email: the SMTP server 127.0.0.1:" in result.stderr
    assert "refused the login of " + USER in result.stderr
    [row] = outbox_rows(run)
    assert (row["state"], row["attempts"]) == ("queued", 0)
    assert server.received == []

    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    fixed = run("send", "--for", DAY, "--at", AT)
    assert fixed.exit_code == 0 and "Send: sent 1" in fixed.stderr
    assert len(server.received) == 1


def test_cobra_send_marks_a_refused_address_invalid(
    run, tmp_path, smtp_server, smtp_certs, password
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    server.recorder.refuse_rcpt["ap@acme.example"] = "550 5.1.1 no such user"
    send_setup(server, smtp_certs)
    planned_reminder(run, tmp_path)

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 1
    assert "Send: sent 0, failed 1" in result.stderr
    [row] = outbox_rows(run)
    assert row["state"] == "failed"
    assert "refused the address ap@acme.example: 550 5.1.1 no such user" in row["error"]
    path = run("db", "path").stdout.strip()
    with sqlite3.connect(path) as conn:
        [(since, reason)] = conn.execute(
            "SELECT invalid_since, invalid_reason FROM contacts"
            " WHERE value = 'ap@acme.example'"
        ).fetchall()
    assert since and "550 5.1.1 no such user" in reason
    assert server.received == []


SALESPERSON = "vendedora@andesur.example"
MANAGER = "jefa.cobranzas@andesur.example"


def third_party_step(run, *, salesperson: str | None) -> str:
    """A queued third_party step for one customer; returns its key."""
    from outbox_seed import seed

    path = run("db", "path").stdout.strip()
    [key] = seed(path, 1, channel="third_party")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE customers SET salesperson_email = ?", (salesperson,))
    return key


def tasks(run) -> list[dict]:
    return table_rows(run, "tasks")


def test_a_third_party_brief_reaches_the_salesperson(
    run, smtp_server, smtp_certs, password
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    send_setup(server, smtp_certs)
    key = third_party_step(run, salesperson=SALESPERSON)

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 1, failed 0" in result.stderr
    [row] = outbox_rows(run)
    [got] = server.received
    parsed = got.message
    assert got.rcpt_tos == [SALESPERSON]  # to the colleague, not the customer
    assert parsed["To"].addresses[0].addr_spec == SALESPERSON
    assert parsed["Cc"] is None
    assert parsed["Subject"] == "Factura F-000000 vencida"
    assert parsed[KEY_HEADER] == key + "|brief"
    assert text(next(parsed.iter_parts())).rstrip("\n") == row["body"].rstrip("\n")
    [task] = tasks(run)
    assert (task["kind"], task["assignee"], task["brief"]) == (
        "third_party",
        SALESPERSON,
        row["body"],
    )
    assert task["title"] == "Ask the salesperson to help with Cliente 0 Ltda. (C000000)"
    assert row["provider_id"] == f"task:{task['id']}"

    again = run("send", "--for", DAY, "--at", AT)
    assert again.exit_code == 0 and "Send: sent 0" in again.stderr
    assert len(server.received) == 1 and len(tasks(run)) == 1


def test_without_a_salesperson_the_brief_goes_to_the_collections_manager(
    run, smtp_server, smtp_certs, password
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    send_setup(server, smtp_certs)
    with open("cobra.toml", "a", encoding="utf-8") as file:
        file.write(f'\n[company]\ncollections_manager_email = "{MANAGER}"\n')
    third_party_step(run, salesperson=None)

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 0, result.stderr
    [got] = server.received
    assert got.rcpt_tos == [MANAGER]
    [task] = tasks(run)
    assert task["assignee"] == MANAGER
    assert task["title"] == (
        "Ask the collections manager to help with Cliente 0 Ltda. (C000000)"
    )
    assert task["brief"] == outbox_rows(run)[0]["body"]


def test_a_brief_nobody_can_be_sent_says_so_in_its_task(
    run, smtp_server, smtp_certs, password
):
    server = smtp_server("starttls", users={USER: PASSWORD})
    send_setup(server, smtp_certs)
    third_party_step(run, salesperson=None)

    result = run("send", "--for", DAY, "--at", AT)
    assert result.exit_code == 0, result.stderr
    assert "Send: sent 1, failed 0" in result.stderr  # the task is made
    why = (
        "Not e-mailed: C000000 has no salesperson_email in the ledger and "
        "company.collections_manager_email is not set in the config; pass this "
        "brief on yourself."
    )
    assert why in result.stderr  # the warning
    assert server.received == []
    [task] = tasks(run)
    assert task["assignee"] is None
    assert task["title"] == "Find someone to help with Cliente 0 Ltda. (C000000)"
    assert task["brief"] == why + "\n\n" + outbox_rows(run)[0]["body"]
    agenda = run("agenda", "--for", DAY, "--format", "json")
    [item] = [i for i in json.loads(agenda.stdout) if i["kind"] == "third_party"]
    assert item["brief"].startswith("Not e-mailed: C000000 has no salesperson_email")


def test_every_key_is_documented():
    text = (REPO / "docs" / "channels" / "smtp.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", text, flags=re.MULTILINE))
    assert set(channel_smtp.CONFIG_KEYS) <= documented
