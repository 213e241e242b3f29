"""A real Kannel SMS gateway on loopback: bearerbox, the fake SMS centre, smsbox.

One configuration file in a temporary folder, every port free and chosen
here, so a system Kannel that Debian may start on install (ports 13000 and
up, /etc/kannel) is neither used nor disturbed. The gateway has:

- ``fake``: Kannel's fake SMS centre, fed by ``fakesmsc -m 0``, which prints
  each message it gets; it also makes Kannel report delivery (8, then 1).
- ``web``: an HTTP "SMS centre" (``smsc = http``, ``system-type = kannel``).
  Messages sent with ``smsc=web`` arrive at the test's :class:`Listener` as
  query parameters; a GET on its own port injects an incoming SMS, which
  smsbox passes to the ``sms-service`` get-url, the listener again, or
  reports a message's delivery (:meth:`Kannel.report`).
- ``upstream``: another HTTP centre, whose "remote Kannel" is this gateway's
  own smsbox, logged in as the barred account: a message sent with
  ``smsc=upstream`` to a +1 number is refused there, and Kannel reports 16.

``fake`` refuses messages routed to ``web`` or ``upstream``, which take only
their own.
Kannel 1.4 has no interface setting for these two ports: they bind every
interface, and ``connect-allow-ip`` admits loopback only.

:func:`installed` installs the Debian packages when they are missing
(:mod:`services.debian`): the fixtures skip, saying why, only on a machine
that cannot install them.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from services import debian
from services.debian import Unavailable

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
PACKAGES = ("kannel", "kannel-extras")  # fakesmsc is in kannel-extras
START_TIMEOUT = 20  # seconds for a box to open its port; well under 1 normally
STOP_TIMEOUT = 10

USERNAME = "cobra"
PASSWORD = "sendsms-pw-4-tests"
ADMIN_PASSWORD = "admin-pw-4-tests"
WEB_USERNAME = "centre"
WEB_PASSWORD = "centre-pw-4-tests"
GLOBAL_SENDER = "COBRA"
BARRED_USERNAME = "barred"  # may not send to +1 numbers
BARRED_PASSWORD = "barred-pw-4-tests"
SHORT_CODE = "4242"  # where customers' replies are addressed


def _missing() -> list[Path]:
    return [path for path in (BEARERBOX, SMSBOX, FAKESMSC) if not path.exists()]


def installed() -> None:
    """Make sure Kannel's programs exist, installing the packages if need be.

    Raises :class:`Unavailable` with the reason when they are missing and
    cannot be installed here (not root, no apt-get), and
    :class:`~services.debian.InstallFailed` when installing them failed.
    """
    debian.ensure(
        PACKAGES, lambda: not _missing(), "Kannel (bearerbox, smsbox, fakesmsc)"
    )


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (kept open together, so all differ)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# -- the test's own HTTP listener ---------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One HTTP request the listener received."""

    method: str
    path: str
    target: str  # path and query as sent
    query: dict[str, str]  # decoded as UTF-8
    raw: dict[str, bytes]  # the query's values as bytes

    @property
    def url(self) -> str:
        return "http://127.0.0.1" + self.target


class Listener:
    """A loopback HTTP server that records every request it gets.

    It plays three parts for Kannel: the ``web`` SMS centre's send-url
    (``/smsc``, answered ``Sent.`` as Kannel expects), the ``sms-service``
    get-url for incoming messages, and the receipts listener that delivery
    reports are sent to. Anything else is answered 200 with an empty body.
    """

    def __init__(self):
        self.calls: list[Call] = []
        self.changed = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                path, _, query = self.path.partition("?")
                pairs = parse_qsl(query, keep_blank_values=True, encoding="latin-1")
                call = Call(
                    method="GET",
                    path=path,
                    target=self.path,
                    query=dict(parse_qsl(query, keep_blank_values=True)),
                    raw={name: value.encode("latin-1") for name, value in pairs},
                )
                body = b"Sent." if path == "/smsc" else b""
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with listener.changed:
                    listener.calls.append(call)
                    listener.changed.notify_all()

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def wait_for(self, match, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """The first *count* calls for which *match(call)* holds, waiting for them."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [call for call in self.calls if match(call)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self.changed.wait(left)
        if len(found) < count:
            raise AssertionError(
                f"{len(found)} of {count} expected requests reached the listener "
                f"within {timeout:g} s; it got: {[c.target for c in self.calls][-10:]}"
            )
        return found[:count]

    def matching(self, match) -> list[Call]:
        with self.changed:
            return [call for call in self.calls if match(call)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the gateway ------------------------------------------------------------------------


CONFIG = """\
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-allow-ip = "127.0.0.1"
admin-password = {admin_password}
status-password = {admin_password}
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = "{folder}/bearerbox.log"
log-level = 1
access-log = "{folder}/access.log"
{core_extra}
group = smsc
smsc = fake
smsc-id = fake
port = {fake}
connect-allow-ip = "127.0.0.1"
denied-smsc-id = "web;upstream"

# A remote centre that reports back: it calls the dlr-url given with each
# message, this centre's own port with the report's type and Kannel's id.
group = smsc
smsc = http
smsc-id = web
system-type = kannel
port = {web}
connect-allow-ip = "127.0.0.1"
smsc-username = {web_username}
smsc-password = {web_password}
send-url = "{listener}/smsc"
dlr-url = "http://127.0.0.1:{web}/?username={web_username}&password={web_password}"
allowed-smsc-id = web

# An upstream Kannel, this gateway's own smsbox as the barred account: it
# refuses numbers of the United States and Canada, so Kannel reports 16.
group = smsc
smsc = http
smsc-id = upstream
system-type = kannel
port = {upstream}
connect-allow-ip = "127.0.0.1"
smsc-username = {barred_username}
smsc-password = {barred_password}
send-url = "http://127.0.0.1:{sendsms}/cgi-bin/sendsms"
allowed-smsc-id = upstream

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
global-sender = {sender}
log-file = "{folder}/smsbox.log"
log-level = 1
access-log = "{folder}/smsbox-access.log"

group = sendsms-user
username = {username}
password = {password}
concatenation = true
max-messages = 10

# An account whose operator barred numbers of the United States and Canada.
group = sendsms-user
username = {barred_username}
password = {barred_password}
black-list-regex = "^[+]1"

# Replies go to the listener; max-messages = 0: its answer is not texted back.
group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{get_url}"
"""

# What the sms-service passes on, as docs/channels/kannel.md tells users to
# write it: the sender, the text with its coding and charset (UCS-2 replies
# arrive as UTF-16BE bytes), Kannel's message id and the time.
INBOUND_QUERY = "from=%p&text=%a&id=%I&at=%T&coding=%c&charset=%C"


@dataclass
class Kannel:
    """A running gateway; every process was started here and is stopped by pid."""

    folder: Path
    ports: dict[str, int]
    listener: Listener
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    fake_runs: int = 0

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    @property
    def config(self) -> Path:
        return self.folder / "kannel.conf"

    # -- starting and stopping ------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        # The child keeps its own descriptor of the log; ours can close.
        with open(self.folder / f"{name}.out", "ab") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=True,  # a Ctrl-C in pytest does not reach it
            )
        self.processes[name] = process
        return process

    def _wait(self, name: str, ready, what: str) -> None:
        process = self.processes[name]
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode} before {what}:\n"
                    + self.tail(name)
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not get to {what} within {START_TIMEOUT} s:\n"
                    + self.tail(name)
                )
            time.sleep(0.02)

    def tail(self, name: str, lines: int = 15) -> str:
        path = self.folder / f"{name}.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start_bearerbox(self) -> None:
        self._spawn("bearerbox", [str(BEARERBOX), "-v", "1", str(self.config)])
        self._wait(
            "bearerbox",
            lambda: _port_open(self.ports["smsbox"]) and _port_open(self.ports["web"]),
            "opening its ports",
        )

    def start_fake_centre(self) -> None:
        """Connect fakesmsc to the ``fake`` SMS centre; it sends nothing."""
        self.fake_runs += 1
        self._spawn(
            "fakesmsc",
            [
                str(FAKESMSC),
                "-H",
                "127.0.0.1",
                "-r",
                str(self.ports["fake"]),
                "-m",
                "0",
                "x y text z",
            ],
        )
        self._wait(
            "fakesmsc",
            lambda: self.centre_state("fake") == "online",
            "the fake centre being online",
        )

    def stop_fake_centre(self) -> None:
        self._stop("fakesmsc", signal.SIGTERM)
        deadline = time.monotonic() + START_TIMEOUT
        while self.centre_state("fake") == "online":
            if time.monotonic() > deadline:
                raise RuntimeError("bearerbox still sees fakesmsc online")
            time.sleep(0.02)

    def start_smsbox(self) -> None:
        self._spawn("smsbox", [str(SMSBOX), "-v", "1", str(self.config)])
        self._wait(
            "smsbox",
            lambda: _port_open(self.ports["sendsms"]),
            "opening its sendsms port",
        )

    def stop_smsbox(self) -> None:
        self._stop("smsbox", signal.SIGTERM)

    def _stop(self, name: str, how: signal.Signals) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(how)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        # SIGINT to bearerbox shuts the gateway down cleanly (the boxes follow
        # within about a second); each process is still waited for by pid.
        self._stop("bearerbox", signal.SIGINT)
        for name in ("smsbox", "fakesmsc"):
            self._stop(name, signal.SIGTERM)

    # -- looking at it --------------------------------------------------------------

    def status(self) -> str:
        url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?" + urlencode(
            {"password": ADMIN_PASSWORD}
        )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def centre_state(self, smsc_id: str) -> str | None:
        """``online``, ``re-connecting``, ... as bearerbox's status page says."""
        found = re.search(
            rf"^\s*{re.escape(smsc_id)}\[{re.escape(smsc_id)}\]\s+\S+\s+\((\S+)",
            self.status(),
            re.MULTILINE,
        )
        return found.group(1) if found else None

    def fake_centre_got(self) -> list[tuple[str, str, str]]:
        """(from, to, text) of each message fakesmsc printed, in every run."""
        path = self.folder / "fakesmsc.out"
        text = path.read_text(errors="replace") if path.exists() else ""
        return re.findall(
            r"Got message \d+: <(\S*) (\S*) text (.*)>$", text, re.MULTILINE
        )

    def wait_fake_centre(self, text: str, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while True:
            found = [got for got in self.fake_centre_got() if got[2] == text]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def report(self, call: Call, kind: int) -> str:
        """The ``web`` centre's delivery report of type *kind* for the message
        it got as *call*: what a remote centre does with the ``dlr-url``
        Kannel gave it, a call on the centre's port naming Kannel's id."""
        found = re.search(r"[?&]dlr-mid=([0-9a-f-]+)", call.query.get("dlr-url", ""))
        assert found, f"no dlr-mid in the centre's dlr-url: {call.query}"
        query = urlencode(
            {
                "username": WEB_USERNAME,
                "password": WEB_PASSWORD,
                "dlr-mask": kind,
                "dlr-mid": found.group(1),
                "to": call.query["to"],
            }
        )
        url = f"http://127.0.0.1:{self.ports['web']}/?{query}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode("utf-8", errors="replace")

    def inject(self, sender: str, text: str | bytes, **extra: str) -> str:
        """An SMS from a customer, handed in through the ``web`` centre."""
        query = urlencode(
            {
                "username": WEB_USERNAME,
                "password": WEB_PASSWORD,
                "from": sender,
                "to": SHORT_CODE,
                "text": text,
                **extra,
            }
        )
        url = f"http://127.0.0.1:{self.ports['web']}/?{query}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode("utf-8", errors="replace")


@contextmanager
def running(
    folder: Path,
    *,
    listener: Listener,
    fake_centre: bool = True,
    outgoing_queue_limit: int | None = None,
    get_url: str | None = None,
):
    """Start a gateway in *folder* (config and logs); stop it on the way out.

    Incoming SMS go to *get_url* (default: the listener's ``/sms/inbound``).

    *outgoing_queue_limit* sets bearerbox's ``sms-outgoing-queue-limit``:
    with no SMS centre connected, that many messages are queued and the next
    ones refused with 503, the real "try again later" of a full gateway.
    """
    installed()
    folder.mkdir(parents=True, exist_ok=True)
    names = ("admin", "smsbox", "fake", "web", "upstream", "sendsms")
    ports = dict(zip(names, free_ports(len(names))))
    core_extra = (
        f"sms-outgoing-queue-limit = {outgoing_queue_limit}\n"
        if outgoing_queue_limit is not None
        else ""
    )
    (folder / "kannel.conf").write_text(
        CONFIG.format(
            folder=folder,
            listener=listener.base,
            get_url=get_url or f"{listener.base}/sms/inbound?{INBOUND_QUERY}",
            admin_password=ADMIN_PASSWORD,
            username=USERNAME,
            password=PASSWORD,
            barred_username=BARRED_USERNAME,
            barred_password=BARRED_PASSWORD,
            web_username=WEB_USERNAME,
            web_password=WEB_PASSWORD,
            sender=GLOBAL_SENDER,
            core_extra=core_extra,
            **ports,
        )
    )
    gateway = Kannel(folder, ports, listener)
    try:
        gateway.start_bearerbox()
        if fake_centre:
            gateway.start_fake_centre()
        gateway.start_smsbox()
        yield gateway
    finally:
        gateway.stop()


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kannel_listener():
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def kannel(tmp_path_factory, kannel_listener):
    """One gateway for the whole run (about a second to start)."""
    try:
        installed()
    except Unavailable as exc:
        pytest.skip(str(exc))
    with running(tmp_path_factory.mktemp("kannel"), listener=kannel_listener) as gw:
        yield gw
