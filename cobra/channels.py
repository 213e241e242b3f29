"""Channel backends: the plugin interface through which messages leave cobra.

Strategies name *channels* (``email``, ``sms``, ``call``...). The config binds
each channel to a *backend* registered by a plugin::

    [channels.sms]
    backend = "kannel"
    url = "http://127.0.0.1:13013/cgi-bin/sendsms"

so switching provider is a config change. A backend is an object with:

- ``name`` and ``description`` (str);
- ``kinds``: the kinds of message it carries (``email``, ``sms``,
  ``whatsapp``, ``voice``, ``task``, ``webhook``, ``file``...);
- ``config_keys``: ``{key: cobra.config_schema.Key}`` for its
  ``[channels.NAME]`` table, which ``cobra config check`` validates;
- ``concurrency``: how many sessions may send at once (1 sends serially);
- ``batch_size`` (optional, default 1): most messages a session takes in one
  call of :meth:`Session.send_batch`; 1 sends each message on its own;
- ``rate_limit``: messages per second it allows by default, or None;
  ``rate_limit`` in the channel's table overrides it;
- ``can_lookup``: whether a session can tell, from the idempotency key,
  whether a message already reached the provider (see :meth:`Session.lookup`);
- ``replay_safe``: whether the receiving end drops a second message with the
  same idempotency key (a webhook receiver deduplicating on it), so that a
  message left in ``sending`` by a crash may simply be sent again;
- ``connect(settings)``: opens a :class:`Session` (one SMTP connection, one
  HTTP session), which sends many messages and is closed at the end.

Optionally, ``check(settings)`` tries the channel without sending anything
(connects and logs in) for ``cobra doctor``: it returns a short description
of what it checked, or raises a :class:`ChannelError` saying what is wrong.

Optionally, for delivery reports and replies that the provider pushes to
``cobra receipts serve``: ``receipt(request, settings)`` returns a list of
:class:`Receipt`, and ``inbound(request, settings)`` a list of
:class:`Inbound`; *settings* are the channel's (a signature check needs its
secret). A request that is not the provider's raises ValueError.

A session's ``send`` returns the provider's id for the message (or None when
the provider gives none) and raises :class:`TransientError` (nothing reached
the provider, or it asked to try again later), :class:`OutcomeUnknown` (the
request went out, no answer came back), :class:`PermanentError` (do not
retry) or :class:`SetupError` (the channel is misconfigured; a
:class:`cobra.errors.MissingSecret` from ``settings.secret`` counts as one).
Anything else it raises is taken as transient, so a bug in a backend delays
messages but never loses them.

A backend that declares ``batch_size`` above 1 is handed its messages through
``send_batch(messages)`` instead, up to ``batch_size`` at a time, in one
request to the provider. It returns one result per message, in their order:
the provider's id (or None) when accepted, or the :class:`ChannelError` of
that message alone (a :class:`PermanentError` for one rejected number fails
that message only). An error it *raises* stands for the whole batch:
:class:`TransientError` only when none of it reached the provider,
:class:`OutcomeUnknown` when the request went out and no answer came back.
Anything else it raises, or a list of the wrong length, may have come after
part of the batch went out, so every message of the batch is settled as an
outcome unknown: looked up, resent when the receiver drops duplicates, or
marked for a person; never resent blindly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

# The kinds of address a message goes to, by message kind.
ADDRESS_KIND = {"email": "email", "sms": "phone", "whatsapp": "phone", "voice": "phone"}


class ChannelError(Exception):
    """A backend could not send a message; see the two subclasses."""


class TransientError(ChannelError):
    """The message may go through later (a timeout, a 5xx, a 429, a 4xx SMTP).

    *retry_after* is the provider's own hint, in seconds, when it gave one.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknown(ChannelError):
    """The request may have reached the provider, but no answer came back: a
    timeout after the message was written to the connection.

    Retrying could send a second copy. cobra looks the message up when the
    backend can, resends when the receiver drops duplicates, and otherwise
    marks it ``unknown`` for a person, as after a crash.
    """


class SetupError(ChannelError):
    """The channel cannot work as configured: a wrong password (SMTP 535), a
    refused TLS certificate, an unknown account at the provider.

    No message is at fault, so none is failed: ``cobra send`` stops using
    the channel for this run, leaves its messages queued, and exits 1 with
    this message, which should name the fix.
    """


class PermanentError(ChannelError):
    """The message will never go through as it is (a rejected address).

    *invalid_address* says the address itself is bad: cobra marks the
    customer's contact invalid, which stops further messages to it and feeds
    the diagnosis.
    """

    def __init__(self, message: str, invalid_address: bool = False):
        super().__init__(message)
        self.invalid_address = invalid_address


@dataclass(frozen=True)
class OutgoingMessage:
    """One message as a backend receives it, rendered and addressed."""

    id: int  # the outbox row
    key: str  # idempotency key: customer, step, date, channel
    channel: str  # the strategy's channel name
    kind: str  # email, sms, whatsapp, task, ...
    to: str | None  # an e-mail address, an E.164 number, or None for a task
    account: str
    customer_name: str
    language: str
    subject: str | None
    body: str
    planned_for: date
    opt_out: bool = False  # the customer's rules ask for an opt-out notice
    cc: str | None = None  # the salesperson, for third-party briefs
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass
class ChannelSettings:
    """What a backend's session gets: its channel's table and a few services.

    *options* is the ``[channels.NAME]`` table as written. :meth:`secret`
    reads a ``*_env`` key's environment variable. *relay* opens a session of
    another configured channel (a task backend e-mailing a brief).
    *receipts_url* is where ``cobra receipts serve`` takes this channel's
    delivery reports (``.../status``) and replies (``.../inbound``), from
    ``receipts.public_url``; None when no listener is configured.
    """

    channel: str
    backend: str
    options: dict
    config: object  # cobra.config.Config
    store_path: Path | None = None
    timeout: float = 10.0
    relay: Callable[[str], Session] | None = None
    receipts_url: str | None = None

    def get(self, key: str, default: object = None) -> object:
        return self.options.get(key, default)

    def secret(self, key: str) -> str:
        """The value of the environment variable that *key* names.

        Raises :class:`cobra.errors.MissingSecret` when it is not set, which
        ``cobra send`` takes as a :class:`SetupError` of the channel: a
        backend may let it through.
        """
        return self.config.secret(f"channels.{self.channel}.{key}")


class Session(Protocol):
    def send(self, message: OutgoingMessage) -> str | None: ...

    def send_batch(
        self, messages: Sequence[OutgoingMessage]
    ) -> Sequence[str | None | ChannelError]:
        """One request for *messages*: a provider id or an error for each.

        Only called when the backend declares ``batch_size`` above 1, with at
        most that many messages.
        """
        ...

    def lookup(self, key: str) -> str | None:
        """The provider's id of a message sent with *key*, or None if none was.

        Only called when the backend declares ``can_lookup = True``.
        """
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Request:
    """An HTTP request a provider made to ``cobra receipts serve``."""

    method: str
    path: str
    url: str  # the full URL as the provider called it (signatures use it)
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Receipt:
    """A delivery report or bounce for a message cobra sent.

    The message is found by *key* (the idempotency key) or, failing that, by
    the provider's id. *state* is ``delivered``, ``sent`` (accepted by the
    network, not yet delivered) or ``failed``.
    """

    state: str
    key: str | None = None
    provider_id: str | None = None
    detail: str = ""
    invalid_address: bool = False


@dataclass(frozen=True)
class Inbound:
    """A message from a customer: a reply, or an opt-out request."""

    channel: str
    sender: str  # the e-mail address or E.164 number it came from
    text: str
    provider_id: str | None = None
    in_reply_to: str | None = None  # our key or provider id, when known
    received_at: str | None = None  # aware ISO 8601; None means now


# Every message cobra e-mails carries its key in this header, and a
# Message-ID derived from the key, so that bounces and replies (which quote
# one or the other) lead back to the message.
KEY_HEADER = "X-Cobra-Key"


def message_id(key: str, domain: str) -> str:
    """The RFC 5322 Message-ID of the e-mail sent under *key*.

    Derived, not random: a message sent twice after a crash carries the same
    id, which lets mail systems and the customer's client spot the copy.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<cobra.{digest}@{domain}>"
