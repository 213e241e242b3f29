"""Real SMTP servers on loopback for the e-mail tests: aiosmtpd, and two liars.

:func:`start` runs an aiosmtpd server in a thread of the test process: plain,
with STARTTLS required (``require_starttls``), or with TLS from the first byte,
optionally with a login required (AUTH offered only after TLS, as a real
submission server does). Its :class:`Recorder` keeps every message that
arrived, so tests read what a customer would get. :func:`silent` listens and
never answers (a hung server); :func:`scripted` answers with fixed lines (a
server that speaks garbage).

The fixtures: ``smtp_certs`` (a private CA and a certificate for localhost and
127.0.0.1, made once per test run) and ``smtp_server`` (starts servers and
stops them at the end of the test). A test module uses them by naming them
at module level: ``smtp_server = services.smtp.smtp_server``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services import certs as certificates

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One message as it arrived: its envelope and its bytes."""

    peer: tuple  # the client's (address, port): one per connection
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)


class Recorder:
    """An aiosmtpd handler that keeps what arrives and refuses on request.

    ``refuse_rcpt`` maps an address to the reply its RCPT gets; ``data_reply``
    is the reply every DATA gets instead of acceptance (then nothing is kept).
    """

    def __init__(self):
        self.received: list[Received] = []
        self.refuse_rcpt: dict[str, str] = {}
        self.data_reply: str | None = None
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.refuse_rcpt.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        with self._lock:
            self.received.append(
                Received(
                    tuple(session.peer),
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.original_content or envelope.content,
                )
            )
        return "250 Message accepted for delivery"

    @property
    def connections(self) -> int:
        """How many connections carried the messages received."""
        return len({item.peer for item in self.received})


class Passwords:
    """An aiosmtpd authenticator over a dict of users and passwords."""

    def __init__(self, users: dict[str, str]):
        self.users = users
        self.mechanisms: list[str] = []  # of each successful login

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8")
            if self.users.get(login) == auth_data.password.decode("utf-8"):
                self.mechanisms.append(mechanism)
                return AuthResult(success=True)
        # handled=False makes aiosmtpd answer 535; handled=True would leave
        # the client waiting for a reply that never comes.
        return AuthResult(success=False, handled=False)


@dataclass
class Server:
    host: str
    port: int
    recorder: Recorder
    passwords: Passwords | None
    controller: Controller = field(repr=False)
    running: bool = True

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.controller.stop()


def start(
    security: str = "starttls",
    *,
    certs: certificates.Certificates | None = None,
    users: dict[str, str] | None = None,
    exclude_auth: tuple[str, ...] = (),
    idle_timeout: float | None = None,
    port: int | None = None,
    recorder: Recorder | None = None,
) -> Server:
    """Start aiosmtpd on loopback: ``starttls``, ``tls`` (implicit) or ``none``.

    With *users*, a login is required; *exclude_auth* hides mechanisms
    (``("PLAIN",)`` leaves LOGIN). *idle_timeout* closes idle connections.
    """
    recorder = recorder or Recorder()
    passwords = Passwords(users) if users else None
    kwargs: dict = {}
    if security == "starttls":
        kwargs.update(tls_context=certs.server_context(), require_starttls=True)
    if passwords:
        kwargs.update(
            authenticator=passwords,
            auth_required=True,
            auth_exclude_mechanism=list(exclude_auth),
            # aiosmtpd counts only STARTTLS as TLS: with TLS from the first
            # byte, or none at all, a login is offered without it.
            auth_require_tls=security == "starttls",
        )
    if idle_timeout is not None:
        kwargs["timeout"] = idle_timeout
    controller = Controller(
        recorder,
        hostname=HOST,
        port=port or free_port(),
        ssl_context=certs.server_context() if security == "tls" else None,
        ready_timeout=5.0,
        **kwargs,
    )
    controller.start()
    return Server(HOST, controller.port, recorder, passwords, controller)


@contextlib.contextmanager
def silent() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung server).

    The kernel completes the TCP handshake from the listen backlog, so the
    client connects and then waits for a greeting that never comes.
    """
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@contextlib.contextmanager
def scripted(*replies: bytes) -> Iterator[int]:
    """A server that sends ``replies[0]`` on connecting, then one reply a line.

    For replies no real server would send, such as a greeting without a code.
    An empty reply reads a message up to its final dot and hangs up without
    a word, as a server that crashes at the worst moment.
    """
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve():
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            with conn, conn.makefile("rb") as lines:
                talk(conn, lines)

    def talk(conn, lines) -> None:
        conn.sendall(replies[0])
        for reply in replies[1:]:
            if not lines.readline():
                return
            if not reply:
                while lines.readline() not in (b".\r\n", b""):
                    pass
                return  # hang up
            conn.sendall(reply)
        with contextlib.suppress(OSError):
            lines.readline()  # wait for the client to give up

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join(5)
        listener.close()


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_certs(tmp_path_factory) -> certificates.Certificates:
    return certificates.make(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture
def smtp_server(smtp_certs):
    """``smtp_server(security, **options)`` starts a server (see :func:`start`)."""
    started: list[Server] = []

    def starter(security: str = "starttls", **options) -> Server:
        options.setdefault("certs", smtp_certs)
        server = start(security, **options)
        started.append(server)
        return server

    yield starter
    for server in started:
        server.stop()
