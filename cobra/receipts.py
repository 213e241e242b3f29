"""What comes back after sending: delivery reports, bounces and replies.

Providers push reports and incoming messages to ``cobra receipts serve``
(a small HTTP listener; each backend parses its own provider's format) and
e-mail replies and bounces are read from a mailbox (:mod:`cobra.mailbox`).
Both end here:

- a report moves its message forward (``sent`` → ``delivered``, or
  ``failed``), never backward, and a hard bounce or a failed number marks
  that contact invalid, which the plan and the diagnosis use;
- a reply is kept on the customer's timeline, and one whose first word is an
  opt-out word opts the customer out of the channel it came through. The
  words are those of the contact-rule profile of the customer's country
  (``opt_out_words``: BAJA, STOP... in Chile; STOP, UNSUBSCRIBE... in the
  US), or ``replies.opt_out_words`` for anyone else.

Applying the same report or reply twice changes nothing the second time.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cobra.channels import Inbound, Receipt
from cobra.store import outbox

log = logging.getLogger(__name__)

DEFAULT_OPT_OUT_WORDS = ("STOP", "UNSUBSCRIBE", "BAJA")
_WORD = re.compile(r"\w+", re.UNICODE)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Applied:
    """What applying a batch of receipts and replies did, for the report."""

    updated: int = 0
    unchanged: int = 0
    unmatched: int = 0
    invalidated: int = 0
    replies: int = 0
    opt_outs: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Applied) -> None:
        for name in (
            "updated",
            "unchanged",
            "unmatched",
            "invalidated",
            "replies",
            "opt_outs",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems


def apply_receipt(store, receipt: Receipt, at: str | None = None) -> Applied:
    """Record a delivery report or bounce against the message it is about."""
    done = Applied()
    conn = store.conn
    row = outbox.find_message(conn, key=receipt.key, provider_id=receipt.provider_id)
    if row is None:
        done.unmatched += 1
        done.problems.append(
            f"a {receipt.state} report for an unknown message "
            f"(key {receipt.key!r}, provider id {receipt.provider_id!r})"
        )
        return done
    at = at or _now()
    if outbox.apply_report(conn, row, receipt.state, at=at, detail=receipt.detail):
        done.updated += 1
    else:
        done.unchanged += 1
    if receipt.state == "failed" and receipt.invalid_address and row["address"]:
        reason = f"bounced: {receipt.detail}" if receipt.detail else "bounced"
        if outbox.invalidate_contact(
            conn, row["customer_id"], row["address"], at=at, reason=reason
        ):
            done.invalidated += 1
    return done


def _fold(text: str) -> str:
    """*text* in any case and without accents: "Bája" and "BAJA" are "baja"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def is_opt_out(text: str, words: Iterable[str]) -> bool:
    """Whether a reply asks to stop: its first word is an opt-out word.

    Only the first word, so "STOP", "Stop please" and "baja." opt out while
    "I will pay at the end of the month" does not; the text given here has
    its quoted part removed already (a reply quoting "reply STOP to opt out"
    is not a STOP). Case and accents are ignored: phones add or drop accents
    as they please, so "Bája" is BAJA.
    """
    first = _WORD.search(_fold(text or ""))
    wanted = {_fold(w) for w in words}
    return bool(first) and first.group(0) in wanted


@dataclass(frozen=True)
class OptOutWords:
    """The opt-out words for each customer, by the customer's country.

    A customer whose country has a contact-rule profile naming
    ``opt_out_words`` is read with those; everyone else (no country, a
    country without a profile or whose profile names none, a sender tied to
    no customer) with *default*, the global ``replies.opt_out_words``. The
    default profile of ``contact_rules.default_profile`` is not used here: a
    customer of a country nobody wrote rules for may write in any language,
    and the global list is the broader one.
    """

    default: tuple[str, ...] = DEFAULT_OPT_OUT_WORDS
    by_country: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config) -> OptOutWords:
        """The words the config and its profiles name; ConfigError if invalid."""
        from cobra.guard import load_profiles

        return cls(
            tuple(config.get("replies.opt_out_words") or DEFAULT_OPT_OUT_WORDS),
            {
                code: profile.opt_out_words
                for code, profile in load_profiles(config).items()
                if profile.opt_out_words
            },
        )

    def for_country(self, country: str | None) -> tuple[str, ...]:
        return self.by_country.get((country or "").upper()) or self.default


def _normalise_sender(channel_kind: str, sender: str) -> list[str]:
    """The forms a sender's address may have been stored under."""
    sender = sender.strip()
    if channel_kind == "email":
        return [sender]
    digits = re.sub(r"[^\d+]", "", sender.removeprefix("whatsapp:"))
    forms = [digits]
    if not digits.startswith("+"):
        forms.append("+" + digits)
    return forms


def apply_inbound(
    store,
    inbound: Inbound,
    opt_out_words: OptOutWords | Iterable[str] = DEFAULT_OPT_OUT_WORDS,
    kind: str | None = None,
) -> Applied:
    """Keep a customer's message on its timeline, and honour an opt-out.

    *opt_out_words* is an :class:`OptOutWords`, which picks the words by the
    customer's country, or one list of words for every customer.
    """
    done = Applied()
    conn = store.conn
    replied_to = None
    if inbound.in_reply_to:
        replied_to = outbox.find_message(
            conn, key=inbound.in_reply_to, provider_id=inbound.in_reply_to
        )
    customer_id = replied_to["customer_id"] if replied_to is not None else None
    address_kind = "email" if (kind or inbound.channel) == "email" else "phone"
    if customer_id is None:
        for form in _normalise_sender(address_kind, inbound.sender):
            customer_id = outbox.customer_by_address(conn, address_kind, form)
            if customer_id is not None:
                break
    if not isinstance(opt_out_words, OptOutWords):
        opt_out_words = OptOutWords(tuple(opt_out_words))
    country = None
    if customer_id is not None:
        row = conn.execute(
            "SELECT country FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
        country = row[0] if row else None
    opt_out = is_opt_out(inbound.text, opt_out_words.for_country(country))
    stored = outbox.store_inbound(
        conn,
        customer_id=customer_id,
        channel=inbound.channel,
        sender=inbound.sender,
        received_at=inbound.received_at or _now(),
        text=inbound.text,
        outbox_id=replied_to["id"] if replied_to is not None else None,
        opt_out=opt_out,
        provider_id=inbound.provider_id,
    )
    if not stored:
        done.unchanged += 1
        return done
    done.replies += 1
    if customer_id is None:
        done.unmatched += 1
        done.problems.append(
            f"a {inbound.channel} message from {inbound.sender}, who is no known "
            "customer: kept, but on no timeline"
        )
    elif opt_out:
        done.opt_outs += 1
        log.info("customer %s opted out of %s", customer_id, inbound.channel)
    return done
