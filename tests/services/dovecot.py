"""A real Dovecot IMAP server on loopback, for the tests that read e-mail.

One server runs per test session (``dovecot -F`` with a config of its own in
a temporary folder: its own ``base_dir``, ``state_dir`` and free ports, so a
system Dovecot that installing the package may have started is never
touched). Each test gets a fresh account, so mailboxes start empty without a
restart. Messages reach the mailbox through Dovecot's LMTP listener, the way
a mail server hands them over.

Plain IMAP (with STARTTLS offered) and implicit TLS listen on separate ports;
the certificate is self-signed for ``localhost`` and ``127.0.0.1``, and
:attr:`Dovecot.ca_file` is the file a client must trust.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from services import debian

PACKAGES = ("dovecot-imapd", "dovecot-lmtpd")
START_TIMEOUT = 10.0
# Loopback addresses for failing logins, one per use (127.0.0.1 is the rest).
_failing_sources = itertools.count(2)

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
instance_name = cobra-test-{imap_port}
protocols = imap lmtp
listen = 127.0.0.1
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
ssl_dh = <{dh}
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password answers at once instead of after the default 2 s.
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_uid = mail
mail_gid = mail
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users/%u
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
"""


@dataclass(frozen=True)
class Account:
    username: str
    password: str


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    lmtp_port: int
    process: subprocess.Popen
    host: str = "127.0.0.1"

    @property
    def ca_file(self) -> Path:
        return self.root / "cert.pem"

    def add_account(self, username: str, password: str = "s3cret") -> Account:
        # One passwd-file per account (the passdb path holds %u): Dovecot
        # notices a new file at once, while a changed one may be re-read a
        # second later.
        line = f"{username}:{{PLAIN}}{password}::::::\n"
        (self.root / "users" / username).write_text(line, "utf-8")
        return Account(username, password)

    def deliver(self, account: Account, raw: bytes, sender: str = "") -> None:
        """Hand one message to the account's INBOX, as a mail server would."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            refused = lmtp.sendmail(sender, [account.username], raw)
        assert not refused, refused

    @contextlib.contextmanager
    def failing_logins(self):
        """Connections opened inside come from a loopback address of their own.

        After a failed login Dovecot delays the next login from the same
        address by seconds (its auth penalty, which no setting turns off).
        Tests of a wrong password run their logins inside this, so neither
        the tests after them nor another such test are slowed down. Only the
        source address changes (the kernel routes all of 127/8 to loopback);
        the client code under test runs unchanged.
        """
        source = f"127.0.0.{next(_failing_sources)}"
        original = socket.create_connection

        def create_connection(address, *args, **kwargs):
            kwargs["source_address"] = (source, 0)
            return original(address, *args[:1], **kwargs)

        socket.create_connection = create_connection
        try:
            yield
        finally:
            socket.create_connection = original

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def stop(self) -> None:
        """SIGTERM the master and wait for it (and so its children) to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_dovecot() -> str:
    """The dovecot binary, installing the packages on a fresh machine."""

    def found() -> str | None:
        return shutil.which("dovecot", path="/usr/sbin:/usr/bin")

    try:
        debian.ensure(PACKAGES, lambda: found() is not None, "Dovecot")
    except debian.Unavailable as exc:
        pytest.skip(str(exc))
    return found()


def make_certificate(root: Path) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make the test server's certificate")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(root / "cert.pem"),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def wait_for_port(server: Dovecot, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"dovecot exited at start:\n{server.log()}")
        try:
            socket.create_connection((server.host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    server.stop()
    raise RuntimeError(f"dovecot did not open port {port} in {START_TIMEOUT} s")


def start(binary: str) -> Dovecot:
    # Not under pytest's tmp_path: that folder is private to root, and the
    # mail user and Dovecot's unprivileged login processes must reach theirs.
    root = Path(tempfile.mkdtemp(prefix="cobra-dovecot-"))
    root.chmod(0o755)
    (root / "mail").mkdir()
    shutil.chown(root / "mail", "mail", "mail")
    (root / "users").mkdir()
    make_certificate(root)
    ports = {
        "imap_port": free_port(),
        "imaps_port": free_port(),
        "lmtp_port": free_port(),
    }
    config = root / "dovecot.conf"
    dh = "/usr/share/dovecot/dh.pem"
    text = CONFIG.format(root=root, dh=dh, **ports)
    if not Path(dh).exists():  # only the Debian package ships one
        text = text.replace(f"ssl_dh = <{dh}\n", "")
    config.write_text(text, "utf-8")
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=open(root / "stderr.log", "wb"),  # noqa: SIM115 - kept by the child
    )
    server = Dovecot(root, process=process, **ports)
    for port in ports.values():
        wait_for_port(server, port)
    return server


@pytest.fixture(scope="session")
def dovecot_server():
    server = start(find_dovecot())
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


_accounts = itertools.count(1)


@pytest.fixture
def dovecot(dovecot_server) -> Dovecot:
    """The session's server, checked to be still running."""
    if dovecot_server.process.poll() is not None:
        pytest.fail(f"dovecot stopped during the tests:\n{dovecot_server.log()}")
    return dovecot_server


@pytest.fixture
def imap_account(dovecot) -> Account:
    """A new account with an empty INBOX."""
    return dovecot.add_account(f"customer-care-{next(_accounts)}")
