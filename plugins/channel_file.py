"""The ``file`` channel backend: each message becomes a file in a folder.

The starter config binds e-mail, SMS and WhatsApp here, so cobra runs end to
end with no server at all (the README's first command), and a team can look
at exactly what would have gone out before binding a real provider.

E-mail is written as an ``.eml`` file any mail client opens (the same MIME
message the smtp backend would send, minus the transport); every other kind
as a JSON document. Files are named after the idempotency key and written to
a temporary name first, then renamed: a file exists only when complete, so
after a crash the backend can tell whether a message was written
(``can_lookup``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path

import cobra
from cobra.channels import KEY_HEADER, PermanentError, SetupError, message_id
from cobra.config_schema import Key, string

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(key: str, suffix: str) -> str:
    """A readable, unique file name for an idempotency key."""
    readable = _UNSAFE.sub("_", key)[:80]
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"{readable}-{digest}{suffix}"


def as_email(message, sender: str, domain: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = formataddr((message.customer_name, message.to or ""))
    if message.cc:
        email["Cc"] = message.cc
    email["Subject"] = message.subject or ""
    email["Date"] = formatdate(usegmt=True)
    email["Message-ID"] = message_id(message.key, domain)
    email[KEY_HEADER] = message.key
    email.set_content(message.body)
    # After set_content, which replaces every Content-* header.
    email["Content-Language"] = message.language
    return email


class FileSession:
    def __init__(self, folder: Path, sender: str, domain: str):
        self.folder = folder
        self.sender = sender
        self.domain = domain

    def _path(self, key: str, suffix: str) -> Path:
        return self.folder / file_name(key, suffix)

    def send(self, message) -> str:
        suffix = ".eml" if message.kind == "email" else ".json"
        if message.kind == "email" and not message.to:
            raise PermanentError("no e-mail address to write the message to")
        if message.kind == "email":
            data = bytes(as_email(message, self.sender, self.domain))
        else:
            document = {
                "key": message.key,
                "kind": message.kind,
                "channel": message.channel,
                "to": message.to,
                "account": message.account,
                "customer": message.customer_name,
                "language": message.language,
                "planned_for": message.planned_for.isoformat(),
                "subject": message.subject,
                "body": message.body,
                "opt_out": message.opt_out,
                "details": dict(message.details),
            }
            data = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode()
        path = self._path(message.key, suffix)
        partial = path.with_name(path.name + ".partial")
        # The messages hold personal data: readable by the owner only.
        fd = os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        return self._provider_id(message.key, path)

    def _provider_id(self, key: str, path: Path) -> str:
        # For e-mail, the Message-ID: a customer's reply quotes it, which
        # leads the reply back to this message (as with the smtp backend).
        if path.suffix == ".eml":
            return message_id(key, self.domain)
        return str(path)

    def lookup(self, key: str) -> str | None:
        for suffix in (".eml", ".json"):
            path = self._path(key, suffix)
            if path.exists():
                return self._provider_id(key, path)
        return None

    def close(self) -> None:
        pass


class FileBackend:
    name = "file"
    description = "Writes each message to a folder (.eml for e-mail, JSON otherwise)."
    kinds = ("email", "sms", "whatsapp", "voice", "webhook", "file")
    config_keys = {
        "folder": Key(
            string, "Folder the messages are written to (created if missing)."
        ),
        "from": Key(string, "From address written into e-mail files."),
    }
    concurrency = 1
    rate_limit = None
    can_lookup = True
    replay_safe = False

    def check(self, settings) -> str:
        """The folder exists (or can be made) and is writable."""
        folder = settings.config.resolve_path(str(settings.get("folder") or "outbox"))
        probe = folder
        while not probe.exists():
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            raise SetupError(f"cannot write to {probe}; choose another folder")
        return f"writes to {folder}"

    def connect(self, settings) -> FileSession:
        folder = settings.config.resolve_path(str(settings.get("folder") or "outbox"))
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        sender = str(settings.get("from") or "collections@example.invalid")
        domain = sender.rpartition("@")[2] or "cobra.invalid"
        return FileSession(folder, sender, domain)


@cobra.hookimpl
def register_channels(register):
    register(FileBackend())
