"""A private certificate authority and a server certificate, for loopback TLS.

Made with the ``openssl`` command line, as an administrator would for a real
private CA, so the client's verification (on, always) is exercised for real:
the certificate names ``localhost`` and ``127.0.0.1`` in its subjectAltName,
without which verification by address fails.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = "30"
# P-256 keys take milliseconds to make, RSA ones far longer.
KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")

SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # the CA's certificate: what a client is told to trust
    cert_file: Path  # the server's certificate, signed by that CA
    key_file: Path  # the server's private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make(folder: Path, ca_name: str = "cobra test CA") -> Certificates:
    """A new CA and a certificate for localhost/127.0.0.1 signed by it."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed: apt-get install openssl")
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", *KEY, "-keyout", "ca.key", "-out", "ca.pem",
        "-days", DAYS, "-subj", f"/CN={ca_name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "req", "-new", *KEY, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
        cwd=folder,
    )  # fmt: skip
    (folder / "server.ext").write_text(SERVER_EXTENSIONS)
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", DAYS,
        "-extfile", "server.ext",
        cwd=folder,
    )  # fmt: skip
    return Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
