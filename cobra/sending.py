"""Delivering the outbox: step 4 of the method, ``cobra send``.

A sender claims due messages (``queued`` → ``sending``) a few at a time,
checks each again as it is about to go (the customer may have paid, opted
out, disputed, or the contact rules may say "not now"), hands it to the
channel's backend, and records the answer at once:

- accepted → ``sent``, with the provider's id;
- a transient error → ``queued`` again, after an exponential backoff with
  jitter, until ``send.max_attempts``; then ``failed``;
- a permanent error → ``failed`` (and a rejected address marked invalid);
- a setup error (a wrong password, a ``*_env`` variable that is not set) →
  the channel is left alone for the rest of the run, its messages stay
  ``queued``.

A backend that declares a ``batch_size`` gets its messages that many at a
time, in one call; each message's answer is recorded on its own, as above.

At most as many messages are in ``sending`` as there are workers (times the
batch size), so a crash strands few; the next sender finds them (their
owner's process is gone), asks the backend whether the provider has them
when it can, resends them when the receiver drops duplicates, and otherwise
marks them ``unknown`` for a person: a message may be late, never sent twice.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from cobra.channels import (
    ChannelSettings,
    OutcomeUnknown,
    OutgoingMessage,
    PermanentError,
    SetupError,
    TransientError,
)
from cobra.errors import CobraInputError, MissingSecret
from cobra.store import outbox

log = logging.getLogger(__name__)

# The kind of message each built-in channel carries; a configured channel of
# another name says its own with `kind`, or takes its backend's first kind.
CHANNEL_KINDS = {
    "email": "email",
    "sms": "sms",
    "whatsapp": "whatsapp",
    "call": "task",
    "third_party": "task",
    "task": "task",
}
# Where each kind of message is addressed, from the customer's contacts.
ADDRESS_OF = {"email": "email", "sms": "phone", "whatsapp": "phone", "voice": "phone"}
# The backend a channel uses when the config binds none.
DEFAULT_BACKENDS = {"call": "task", "third_party": "task", "task": "task"}
# Channels whose contacts the country's rules govern, by their rule name.
RULES_CHANNEL = {"email": "email", "sms": "sms", "whatsapp": "whatsapp"}


@dataclass
class Binding:
    """A channel name bound to a backend, with its settings."""

    channel: str
    backend_name: str
    backend: object
    options: dict
    kind: str
    workers: int
    rate_limit: float | None
    batch_size: int = 1


@dataclass
class Summary:
    """What one ``cobra send`` did, for its report and its exit code."""

    sent: int = 0
    failed: int = 0
    held: int = 0
    retried: int = 0
    waiting: int = 0  # moved to a later moment by the contact rules
    cancelled: int = 0
    unknown: int = 0
    recovered: int = 0
    resent_unknown: int = 0
    setup_errors: dict[str, str] = field(default_factory=dict)
    unbound: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.setup_errors or self.unbound)

    def as_dict(self) -> dict:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "held": self.held,
            "retried": self.retried,
            "waiting": self.waiting,
            "cancelled": self.cancelled,
            "unknown": self.unknown,
            "recovered": self.recovered,
            "resent_unknown": self.resent_unknown,
            "setup_errors": dict(self.setup_errors),
            "unbound": dict(self.unbound),
        }


# -- binding channels to backends -----------------------------------------------


def bindings(config, plugins=None) -> tuple[dict[str, Binding], dict[str, str]]:
    """Every channel the config or the defaults bind, and those that fail.

    Returns (bound, problems): a channel whose backend is not installed is a
    problem for its own messages only; the other channels still send.
    """
    if plugins is None:
        from cobra.plugins import get_plugins

        plugins = get_plugins()
    installed = plugins.channels()
    tables = dict(config.get("channels") or {})
    names = set(tables) | set(CHANNEL_KINDS)
    bound, problems = {}, {}
    for channel in sorted(names):
        options = dict(tables.get(channel) or {})
        backend_name = options.get("backend") or DEFAULT_BACKENDS.get(channel)
        if not backend_name:
            problems[channel] = (
                f"no backend for channel {channel!r}: add [channels.{channel}] with "
                f'backend = "..." to the config (`cobra plugins` lists them)'
            )
            continue
        provided = installed.get(backend_name)
        if provided is None:
            known = ", ".join(sorted(installed)) or "none"
            problems[channel] = (
                f"channels.{channel}.backend: no channel backend {backend_name!r} is "
                f"installed (installed: {known})"
            )
            continue
        backend = provided.obj
        kinds = tuple(getattr(backend, "kinds", ()) or ())
        kind = str(
            options.get("kind")
            or CHANNEL_KINDS.get(channel)
            or (kinds[0] if kinds else channel)
        )
        workers = max(1, int(getattr(backend, "concurrency", 1) or 1))
        if "concurrency" in options:
            workers = max(1, min(workers, int(options["concurrency"])))
        rate = options.get("rate_limit", getattr(backend, "rate_limit", None))
        # Only the backend knows how many messages its provider takes at once.
        batch_size = max(1, int(getattr(backend, "batch_size", 1) or 1))
        bound[channel] = Binding(
            channel=channel,
            backend_name=backend_name,
            backend=backend,
            options=options,
            kind=kind,
            workers=workers,
            rate_limit=float(rate) if rate else None,
            batch_size=batch_size,
        )
    return bound, problems


def channel_settings(binding: Binding, config, store_path, *, relay=None):
    """What a backend gets for one channel: its table and cobra's services."""
    public_url = str(config.get("receipts.public_url") or "").rstrip("/")
    return ChannelSettings(
        channel=binding.channel,
        backend=binding.backend_name,
        options=binding.options,
        config=config,
        store_path=store_path,
        timeout=float(
            binding.options.get("timeout", config.get("send.timeout_seconds", 10))
        ),
        relay=relay,
        receipts_url=f"{public_url}/{binding.channel}" if public_url else None,
    )


# -- who owns a claim -----------------------------------------------------------


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def owner_alive_check(lease_seconds: float, now: datetime):
    """Whether the sender that claimed a message may still be running.

    On this machine, its process id says so; a claim from another machine
    (a shared database) is trusted until the lease runs out.
    """
    host = socket.gethostname()

    def alive(claimed_by: str | None, claimed_at: str | None) -> bool:
        if not claimed_by:
            return False
        name, _, pid = claimed_by.rpartition(":")
        if name == host and pid.isdigit():
            return int(pid) != os.getpid() and _pid_alive(int(pid))
        if not claimed_at:
            return False
        age = now - datetime.fromisoformat(claimed_at)
        return age.total_seconds() < lease_seconds

    return alive


# -- the sender -------------------------------------------------------------------


# The errors a backend raises on purpose, each with its own handling.
_CLASSED = (TransientError, PermanentError, SetupError, OutcomeUnknown)


def _classified(exc: Exception, backend_name: str) -> Exception:
    """The error cobra acts on for what a backend raised or answered."""
    if isinstance(exc, _CLASSED):
        return exc
    if isinstance(exc, MissingSecret):
        # A `*_env` variable that is not set: the channel's setup is at
        # fault, whichever backend asked for it, so no message fails.
        return SetupError(str(exc))
    # A backend's bug, before anything went out: delay, never lose.
    log.debug("backend %s raised", backend_name, exc_info=exc)
    return TransientError(f"{type(exc).__name__}: {exc}")


def _answer(answer, backend_name: str) -> tuple:
    """(provider id, error) for one message's result in a batch's answer."""
    if isinstance(answer, Exception):
        return None, _classified(answer, backend_name)
    return (None if answer is None else str(answer)), None


class _Clock:
    """The current instant: real time, or real time shifted to a given start
    (``--at``), so backoffs and rate limits still see time pass."""

    def __init__(self, start: datetime | None):
        self.offset = (start - datetime.now(timezone.utc)) if start else timedelta()

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def iso(self) -> str:
        return self.now().isoformat(timespec="microseconds")


class _RateLimiter:
    """At most *rate* messages a second: each waits for its slot.

    A channel's workers share one limiter. Each takes its slot under the
    lock before it sleeps, so workers waiting at once go one interval apart
    instead of together. A batch of *count* messages goes at its first slot
    and takes *count* slots, so the next send waits *count* intervals.
    """

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self.next_slot = 0.0
        self._lock = threading.Lock()

    def wait(self, count: int = 1) -> None:
        if not self.interval:
            return
        with self._lock:
            slot = max(time.monotonic(), self.next_slot)
            self.next_slot = slot + self.interval * count
        pause = slot - time.monotonic()
        if pause > 0:
            time.sleep(pause)


@dataclass
class _Prepared:
    row: object
    binding: Binding
    message: OutgoingMessage


class Sender:
    """Sends the due part of the outbox for one store and config."""

    def __init__(self, store, config, *, plugins=None, at: datetime | None = None):
        self.store = store
        self.config = config
        self.clock = _Clock(at)
        self.bindings, self.unbound = bindings(config, plugins)
        self.max_attempts = int(config.get("send.max_attempts", 5))
        self.backoff = float(config.get("send.backoff_seconds", 30))
        self.max_backoff = float(config.get("send.max_backoff_seconds", 3600))
        self.max_wait = float(config.get("send.max_wait_seconds", 60))
        self.lease = float(config.get("send.lease_seconds", 900))
        self.zone = ZoneInfo(str(config.get("company.timezone") or "UTC"))
        self.owner = owner_name()
        self._guard = None
        self._local = threading.local()
        self._sessions: list[object] = []
        self._sessions_lock = threading.Lock()
        self.summary = Summary(unbound=dict(self.unbound))

    # -- settings and sessions, one per worker thread and channel --------------

    def settings(self, binding: Binding) -> ChannelSettings:
        return channel_settings(
            binding, self.config, self.store.path, relay=self._session_for
        )

    def _session_for(self, channel: str):
        sessions = self._local.__dict__.setdefault("sessions", {})
        if channel not in sessions:
            binding = self.bindings.get(channel)
            if binding is None:
                raise SetupError(self.unbound.get(channel, f"no channel {channel!r}"))
            session = binding.backend.connect(self.settings(binding))
            sessions[channel] = session
            with self._sessions_lock:
                self._sessions.append(session)
        return sessions[channel]

    def _close_sessions(self) -> None:
        for session in self._sessions:
            try:
                session.close()
            except Exception as exc:  # closing must not hide what was sent
                log.debug("closing a channel session failed: %s", exc)
        self._sessions.clear()

    # -- the contact rules at send time -------------------------------------------

    @property
    def guard(self):
        if self._guard is None:
            from cobra.guard import Guard

            self._guard = Guard.from_config(self.config)
        return self._guard

    def _rules_decision(self, row, now: datetime):
        """The contact rules for sending *row* now, or None when none apply."""
        from cobra.planning import past_contacts, zone_or_none

        rule_channel = RULES_CHANNEL.get(self.bindings[row["channel"]].kind)
        if rule_channel is None:
            return None  # tasks and webhooks: no message to the customer here
        since = (now - timedelta(days=14)).isoformat()
        made = outbox.contacts_made(
            self.store.conn, row["customer_id"], since, besides=row["id"]
        )
        # An unknown zone: the guard holds the message and says why.
        zone = zone_or_none(row["timezone"]) or self.zone
        return self.guard.check(
            row["country"],
            row["timezone"],
            rule_channel,
            now,
            past_contacts(made, zone),
        )

    # -- one message ----------------------------------------------------------------

    def _prepare(self, row, now: datetime) -> _Prepared | None:
        """Check a claimed message again; None when it was settled here."""
        conn, at = self.store.conn, now.isoformat()
        binding = self.bindings[row["channel"]]
        if not row["open_invoices"]:
            outbox.finish(
                conn,
                row["id"],
                "cancelled",
                at=at,
                reason="nothing is owed any more (paid or credited)",
            )
            self.summary.cancelled += 1
            return None
        task = binding.kind == "task"
        if not task and row["overdue_invoices"] and not row["undisputed_overdue"]:
            return self._hold(row, at, "every overdue invoice is disputed")
        if not task and row["disputed_since_written"]:
            # The message asks for an invoice the customer now disputes. Held,
            # the step counts as not done, so the next plan writes it again
            # leaving that invoice out.
            return self._hold(
                row,
                at,
                f"it asks for {row['disputed_since_written']}, disputed since it "
                "was written; the next plan writes it again without",
            )
        if not task and row["opted_out"]:
            return self._hold(row, at, f"opted out of {row['channel']}")
        address = None
        wanted = ADDRESS_OF.get(binding.kind)
        if wanted:
            address = row["address"]  # recorded by the claim
            if address is None:
                return self._hold(row, at, f"no valid {wanted} for {row['channel']}")
        if not (row["body"] or "").strip():
            reason = (
                f"the message is empty after rendering template "
                f"{row['template']!r}; fix the template and plan again"
            )
            outbox.finish(conn, row["id"], "failed", at=at, reason=reason)
            log.warning("%s: %s", row["account"], reason)
            self.summary.failed += 1
            return None
        decision = self._rules_decision(row, now)
        if decision is not None and not decision.allowed:
            if decision.held:
                return self._hold(row, at, "; ".join(decision.reasons))
            outbox.requeue(
                conn,
                row["id"],
                at=at,
                retry_at=None,
                count_attempt=False,
                send_at=decision.at.astimezone(timezone.utc).isoformat(),
                error="waits: " + "; ".join(decision.reasons),
            )
            self.summary.waiting += 1
            return None
        message = OutgoingMessage(
            id=row["id"],
            key=row["idempotency_key"],
            channel=row["channel"],
            kind=binding.kind,
            to=address,
            account=row["account"],
            customer_name=row["customer_name"],
            language=row["language"] or row["customer_language"] or "en",
            subject=row["subject"],
            body=row["body"],
            planned_for=date.fromisoformat(row["planned_for"]),
            opt_out=bool(row["opt_out"]),
            cc=row["salesperson_email"] if row["channel"] == "third_party" else None,
            details={
                "strategy": row["strategy"],
                "step": row["step"] + 1,
                "template": row["template"],
                "variant": row["variant"],
                "method": row["method"],
                "tactic": row["tactic"],
                "objective": row["objective"],
                "reason": row["reason"],
            },
        )
        return _Prepared(row, binding, message)

    def _hold(self, row, at: str, reason: str) -> None:
        outbox.finish(self.store.conn, row["id"], "held", at=at, reason=reason)
        self.summary.held += 1

    def _deliver(self, batch: list[_Prepared], limiter: _RateLimiter) -> list:
        """Runs in a worker: send *batch*; returns (provider id, error) for each.

        A batch of one goes through the session's ``send``; a longer one
        through ``send_batch``, in one call.
        """
        binding = batch[0].binding
        try:
            session = self._session_for(binding.channel)
            if binding.batch_size == 1:
                limiter.wait()  # after connecting: the slot is for the send itself
                return [(session.send(batch[0].message), None)]
        except Exception as exc:  # noqa: BLE001 - _classified logs a backend's bug
            return [(None, _classified(exc, binding.backend_name))] * len(batch)
        send_batch = getattr(session, "send_batch", None)
        if send_batch is None:
            error = SetupError(
                f"backend {binding.backend_name!r} declares batch_size "
                f"{binding.batch_size} but its sessions have no send_batch(messages)"
            )
            return [(None, error)] * len(batch)
        limiter.wait(len(batch))
        try:
            answers = list(send_batch([prepared.message for prepared in batch]))
        except (*_CLASSED, MissingSecret) as exc:
            return [(None, _classified(exc, binding.backend_name))] * len(batch)
        except Exception as exc:
            # Unlike one message, a batch may break off after part of it went
            # out: resending it could send those twice.
            log.debug("backend %s raised", binding.backend_name, exc_info=True)
            lost = OutcomeUnknown(f"the batch broke off: {type(exc).__name__}: {exc}")
            return [(None, lost)] * len(batch)
        if len(answers) != len(batch):
            lost = OutcomeUnknown(
                f"backend {binding.backend_name!r} answered {len(answers)} results "
                f"for a batch of {len(batch)}, so which went is not known"
            )
            return [(None, lost)] * len(batch)
        return [_answer(answer, binding.backend_name) for answer in answers]

    def _record_all(self, batch: list[_Prepared], results: list) -> None:
        for prepared, (provider_id, error) in zip(batch, results, strict=True):
            self._record(prepared, provider_id, error)

    def _record(self, prepared: _Prepared, provider_id, error) -> None:
        conn, row = self.store.conn, prepared.row
        at = self.clock.iso()
        binding, message = prepared.binding, prepared.message
        if error is None:
            outbox.mark_sent(
                conn,
                row["id"],
                at=at,
                backend=binding.backend_name,
                address=message.to,
                provider_id=provider_id,
            )
            self.summary.sent += 1
        elif isinstance(error, SetupError):
            outbox.requeue(
                conn,
                row["id"],
                at=at,
                retry_at=None,
                error=str(error),
                count_attempt=False,
            )
            if binding.channel not in self.summary.setup_errors:
                self.summary.setup_errors[binding.channel] = str(error)
                log.error(
                    "channel %s (%s): %s; its messages stay queued",
                    binding.channel,
                    binding.backend_name,
                    error,
                )
        elif isinstance(error, OutcomeUnknown):
            settled = self._settle_unknown(row, binding, at, str(error), message.to)
            if settled == "sent":
                self.summary.sent += 1
            elif settled == "queued":
                self.summary.retried += 1
        elif isinstance(error, PermanentError):
            outbox.finish(
                conn,
                row["id"],
                "failed",
                at=at,
                reason=str(error),
                backend=binding.backend_name,
                address=message.to,
            )
            if error.invalid_address and message.to:
                outbox.invalidate_contact(
                    conn, row["customer_id"], message.to, at=at, reason=str(error)
                )
            log.warning(
                "%s to %s failed: %s", row["idempotency_key"], message.to, error
            )
            self.summary.failed += 1
        else:
            attempts = row["attempts"]  # counted when it was claimed
            if attempts >= self.max_attempts:
                outbox.finish(
                    conn,
                    row["id"],
                    "failed",
                    at=at,
                    reason=f"gave up after {attempts} attempts: {error}",
                    backend=binding.backend_name,
                    address=message.to,
                )
                log.warning(
                    "%s failed after %d attempts: %s",
                    row["idempotency_key"],
                    attempts,
                    error,
                )
                self.summary.failed += 1
                return
            self._retry_later(row, at, str(error), error.retry_after)
            self.summary.retried += 1

    def _retry_later(self, row, at: str, error: str, retry_after=None) -> None:
        """Back to ``queued`` after an exponential backoff with jitter."""
        attempts = row["attempts"]  # counted when it was claimed
        delay = min(self.max_backoff, self.backoff * 2 ** (attempts - 1))
        delay *= random.uniform(0.5, 1.0)  # jitter: retries do not stampede
        if retry_after:
            delay = max(delay, float(retry_after))
        retry_at = (self.clock.now() + timedelta(seconds=delay)).isoformat()
        outbox.requeue(
            self.store.conn, row["id"], at=at, retry_at=retry_at, error=error
        )
        log.info("%s: %s; retry in %.1f s", row["idempotency_key"], error, delay)

    # -- after a crash --------------------------------------------------------------

    def recover(self) -> None:
        """Settle messages that a sender which is gone left in ``sending``."""
        now = self.clock.now()
        alive = owner_alive_check(self.lease, now)
        for row in outbox.stale_claims(self.store.conn, owner_alive=alive):
            # Another sender starting now may have found it too: whoever takes
            # the claim over settles it, the other leaves it alone.
            if not outbox.take_over(
                self.store.conn,
                row["id"],
                owner=self.owner,
                at=now.isoformat(),
                claimed_by=row["claimed_by"],
                claimed_at=row["claimed_at"],
            ):
                continue
            self.summary.recovered += 1
            self._settle_unknown(
                row,
                self.bindings.get(row["channel"]),
                now.isoformat(),
                "interrupted while sending",
                # Where the dead sender sent it, recorded by its claim (an
                # earlier attempt may have gone to another address).
                row["address"],
                # The sender died, not the provider: no reason to wait.
                back_off=False,
            )

    def _settle_unknown(
        self,
        row,
        binding: Binding | None,
        at: str,
        why: str,
        address: str | None,
        *,
        back_off: bool = True,
    ) -> str:
        """A message the provider may or may not have: never send it blindly.

        Ask the provider when the backend can look messages up; resend when
        the provider did not have it or the receiver drops duplicates (after
        the same backoff as a transient error when *back_off*); otherwise,
        when the lookup itself fails (the provider is down), or once
        ``send.max_attempts`` attempts ended this way, mark it for a person.
        *address* is where it went, kept with it whatever is decided.
        """
        conn, key = self.store.conn, row["idempotency_key"]
        backend = binding.backend if binding is not None else None
        resend = None  # why sending it again is safe, when it is
        if getattr(backend, "can_lookup", False):
            try:
                found = self._session_for(row["channel"]).lookup(key)
            except Exception as exc:  # cannot ask: a person decides
                log.warning("looking up %s failed: %s", key, exc)
                why = f"{why}; looking it up failed: {type(exc).__name__}: {exc}"
            else:
                if found:
                    outbox.mark_sent(
                        conn,
                        row["id"],
                        at=at,
                        backend=binding.backend_name,
                        address=address,
                        provider_id=found,
                    )
                    return "sent"
                resend = "the provider did not have it"
        if resend is None and getattr(backend, "replay_safe", False):
            resend = "the receiver drops duplicates"
        attempts = row["attempts"]  # counted when it was claimed
        if resend is not None and attempts < self.max_attempts:
            if back_off:
                self._retry_later(row, at, f"{why}; {resend}")
            else:
                outbox.requeue(
                    conn, row["id"], at=at, retry_at=None, error=f"{why}; {resend}"
                )
            return "queued"
        if resend is not None:
            # A provider that never answers must not be asked forever.
            why = (
                f"{why}; {resend}, but {attempts} attempts (send.max_attempts) "
                "all ended without an answer"
            )
        outbox.finish(
            conn,
            row["id"],
            "unknown",
            at=at,
            reason=f"{why}: the provider may or may not have it; check, then "
            "`cobra send --retry-unknown` sends it again",
            backend=binding.backend_name if binding is not None else None,
            address=address,
        )
        self.summary.unknown += 1
        return "unknown"

    # -- the run ----------------------------------------------------------------------

    def run(
        self,
        *,
        day: date | None = None,
        channel: str | None = None,
        limit: int | None = None,
        retry_unknown: bool = False,
    ) -> Summary:
        if channel is not None and channel not in self.bindings:
            if channel in self.unbound:
                raise CobraInputError(self.unbound[channel])
            known = ", ".join(sorted(self.bindings))
            raise CobraInputError(f"unknown channel {channel!r} (channels: {known})")
        active = {
            name: binding
            for name, binding in self.bindings.items()
            if channel is None or name == channel
        }
        if channel is not None:
            self.summary.unbound = {}
        try:
            self.recover()
            if retry_unknown:
                self.summary.resent_unknown = outbox.release_unknown(
                    self.store.conn, at=self.clock.iso(), channels=list(active)
                )
            self._loop(active, day, limit)
        finally:
            self._close_sessions()
        return self.summary

    def _loop(self, active: dict[str, Binding], day: date | None, limit) -> None:
        """Keep every channel's workers busy until nothing is due.

        Each channel claims only as many messages as its idle workers send
        (one batch each), so no more messages are in ``sending`` than are
        really being sent. A channel whose claim comes back short has nothing
        more due; it is not asked again until a retry falls due.
        """
        limiters = {name: _RateLimiter(b.rate_limit) for name, b in active.items()}
        pools = {
            name: ThreadPoolExecutor(b.workers, thread_name_prefix=f"send-{name}")
            for name, b in active.items()
            if b.workers > 1
        }
        in_flight: dict[Future, list[_Prepared]] = {}
        busy = {name: 0 for name in active}
        drained: set[str] = set()
        handed = 0
        try:
            while True:
                now = self.clock.now()
                the_day = (day or now.astimezone(self.zone).date()).isoformat()
                claimed = False
                for name, binding in active.items():
                    wanted = (binding.workers - busy[name]) * binding.batch_size
                    if limit is not None:
                        wanted = min(wanted, limit - handed)
                    if (
                        wanted <= 0
                        or name in drained
                        or name in self.summary.setup_errors
                    ):
                        continue
                    rows = outbox.claim(
                        self.store.conn,
                        owner=self.owner,
                        day=the_day,
                        now=now.isoformat(),
                        channel=name,
                        count=wanted,
                        address_kind=ADDRESS_OF.get(binding.kind),
                    )
                    if len(rows) < wanted:
                        drained.add(name)
                    claimed = claimed or bool(rows)
                    for batch in self._batches(rows, now, binding.batch_size):
                        handed += len(batch)
                        if binding.workers == 1:
                            # One at a time: a thread would only add a handoff.
                            self._record_all(
                                batch, self._deliver(batch, limiters[name])
                            )
                            continue
                        busy[name] += 1
                        future = pools[name].submit(
                            self._deliver, batch, limiters[name]
                        )
                        in_flight[future] = batch
                if in_flight:
                    done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                    for future in done:
                        batch = in_flight.pop(future)
                        busy[batch[0].binding.channel] -= 1
                        self._record_all(batch, future.result())
                    continue
                if claimed:
                    continue  # all settled without sending: look for more
                if limit is not None and handed >= limit:
                    return
                if not self._wait_for_retry(list(active), the_day):
                    return
                drained.clear()
        finally:
            for future, batch in in_flight.items():
                self._record_all(batch, future.result())
            for pool in pools.values():
                pool.shutdown(wait=True)

    def _batches(self, rows, now: datetime, size: int):
        """The claimed *rows* still to send, checked again, *size* at a time.

        A generator: each batch goes as soon as it is full, while the rows
        after it are still being checked.
        """
        batch: list[_Prepared] = []
        for row in rows:
            prepared = self._prepare(row, now)
            if prepared is None:
                continue
            batch.append(prepared)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _wait_for_retry(self, channels: list[str], day: str) -> bool:
        """Sleep until the next retry when it is near; False when there is none."""
        usable = [c for c in channels if c not in self.summary.setup_errors]
        upcoming = outbox.next_retry(self.store.conn, day=day, channels=usable)
        if upcoming is None:
            return False
        pause = (datetime.fromisoformat(upcoming) - self.clock.now()).total_seconds()
        if pause > self.max_wait:
            return False  # the next run (cron) picks it up
        time.sleep(max(0.0, pause))
        return True


def preview(
    store,
    config,
    *,
    at: datetime | None = None,
    day: date | None = None,
    channel: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """What ``cobra send`` would hand to the backends now (``--dry-run``)."""
    sender = Sender(store, config, at=at)
    now = sender.clock.now()
    names = [channel] if channel else list(sender.bindings)
    the_day = day or now.astimezone(sender.zone).date()
    rows = outbox.due(
        store.conn,
        day=the_day.isoformat(),
        now=now.isoformat(),
        channels=names,
        limit=limit,
    )
    found = []
    for row in rows:
        binding = sender.bindings[row["channel"]]
        wanted = ADDRESS_OF.get(binding.kind)
        decision = sender._rules_decision(row, now)
        from cobra.planning import zone_or_none

        zone = zone_or_none(row["timezone"]) or sender.zone
        found.append(
            {
                "account": row["account"],
                "channel": row["channel"],
                "backend": binding.backend_name,
                "to": outbox.address(store.conn, row["customer_id"], wanted)
                if wanted
                else None,
                "key": row["idempotency_key"],
                "rules": (
                    "allowed"
                    if decision is None or decision.allowed
                    else "held"
                    if decision.held
                    else f"waits until {decision.at.astimezone(zone).isoformat()}"
                ),
                "subject": row["subject"],
            }
        )
    return found
