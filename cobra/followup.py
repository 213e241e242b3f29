"""Recording what a contact led to: step 5 of the method, ``cobra log``.

An :class:`Entry` is one interaction as a collector or a dialer reports it.
:func:`prepare` checks it against the store and the config and works out
everything it will write; :func:`record` writes that, all or nothing. So a
bad entry (an unknown account, a promise dated in the past, a plan whose
instalments do not add up) is refused before anything is written. A file of
entries is logged in order, each checked after the ones before it are
written, in one transaction (``cobra log --from``).

What each outcome writes besides the interaction itself:

- ``promise`` / ``partial_promise``: a promise (amount, currency, date) and a
  task to check it after the grace period;
- ``dispute``: the named invoices marked disputed (no automated message on
  them) and a task to resolve it;
- ``dispute_resolved``: the dispute cleared on the named invoices (all the
  customer's disputed ones when none is named), and the dispute tasks whose
  invoices are all settled closed;
- ``plan_agreed``: a payment plan, each instalment a promise, from a
  ``cobra offer`` option or given explicitly;
- ``wrong_contact``: the address or number marked invalid;
- ``paid``: a task to check that the payment arrives;
- ``--reason``: the collector's finding, which overrides the diagnosis;
- ``--follow-up``: a task on that date.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from cobra.store import followup as queries

OUTCOMES = (
    "paid",
    "promise",
    "partial_promise",
    "dispute",
    "dispute_resolved",
    "plan_agreed",
    "no_answer",
    "left_message",
    "wrong_contact",
    "callback",
    "refused",
    "other",
)
# Outcomes that mean no one spoke with the customer. Every other one was a
# conversation, which contact rules count: the US one bars calls for seven
# days after one.
NOT_SPOKEN = ("no_answer", "left_message", "wrong_contact", "other")
CONVERSATIONS = tuple(outcome for outcome in OUTCOMES if outcome not in NOT_SPOKEN)
REASONS = ("forgot", "cannot_pay", "dissatisfied", "unaware", "fraud")
PROMISES = ("promise", "partial_promise")
# Where an interaction on each channel reached the customer.
CONTACT_KIND = {"email": "email", "sms": "phone", "whatsapp": "phone", "call": "phone"}


class EntryError(ValueError):
    """One thing wrong with an entry, named by its field."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Entry:
    """One interaction as reported; amounts in major units, as typed."""

    account: str
    outcome: str
    at: datetime | None = None  # aware; None means now
    channel: str | None = None
    collector: str | None = None
    note: str | None = None
    reason: str | None = None
    amount: str | None = None
    currency: str | None = None
    on: date | None = None  # the promised date
    follow_up: date | None = None
    invoices: tuple[str, ...] = ()
    plan: str | None = None  # a `cobra offer` option: settle_now, plan_6 (or 6)
    instalments: tuple[tuple[date, str], ...] = ()  # explicit (date, amount)
    contact: str | None = None  # the address found wrong
    source: str | None = None  # FILE:LINE when read from a file
    source_id: str | None = None  # the file's own id for the row


@dataclass
class Prepared:
    """An entry checked and worked out, ready to be written."""

    entry: Entry
    customer: object
    at: datetime
    day: date
    source_key: str | None
    invoice_ids: list[int] = field(default_factory=list)
    promise: tuple[str, int, date] | None = None  # currency, minor units, date
    plan: tuple[str, str | None, list[tuple[date, int]]] | None = None
    resolves: list[str] = field(default_factory=list)  # invoices, by number
    invalidate: str | None = None
    notes: list[str] = field(default_factory=list)


def vocabulary(config) -> tuple[str, ...]:
    """The outcomes cobra knows and those the config adds."""
    extra = tuple(config.get("follow_up.outcomes") or ()) if config else ()
    return OUTCOMES + tuple(o for o in extra if o not in OUTCOMES)


def _money(text: str, currency: str, what: str) -> int:
    from cobra.money import InvalidAmount, Money

    try:
        amount = Money.from_decimal(Decimal(str(text).strip()), currency).amount
    except (InvalidAmount, ArithmeticError, ValueError) as exc:
        raise EntryError(
            what, f"{text!r} is not an amount in {currency}: {exc}"
        ) from None
    if amount <= 0:
        raise EntryError(what, f"must be more than 0, got {text}")
    return amount


def _currency(entry: Entry, owed: dict, what: str) -> str:
    """The currency of an amount: the one given, or the only one owed."""
    if entry.currency:
        code = entry.currency.upper()
        if code not in owed:
            owes = ", ".join(sorted(owed)) or "nothing"
            raise EntryError(
                "currency",
                f"{entry.account} owes nothing in {code} (it owes in {owes})",
            )
        return code
    if len(owed) == 1:
        return next(iter(owed))
    if not owed:
        raise EntryError(
            what, f"{entry.account} has no open balance to promise against"
        )
    raise EntryError(
        "currency",
        f"{entry.account} owes in {', '.join(sorted(owed))}: say which with --currency",
    )


def _unknown_account(conn, account: str) -> EntryError:
    close = difflib.get_close_matches(account, queries.accounts(conn), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return EntryError("account", f"no customer with account {account!r}{hint}")


def source_key(entry: Entry, at: datetime) -> str | None:
    """What makes a row read from a file the same row when read again."""
    if entry.source is None:
        return None
    if entry.source_id:
        return f"id:{entry.source_id}"
    parts = (
        entry.account,
        at.isoformat(),
        entry.outcome,
        entry.channel or "",
        entry.note or "",
        entry.amount or "",
        str(entry.on or ""),
    )
    return "row:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def prepare(store, config, entry: Entry, *, now: datetime | None = None) -> Prepared:
    """Check an entry and work out what it writes; raises EntryError."""
    conn = store.conn
    now = now or datetime.now(timezone.utc)
    if entry.outcome not in vocabulary(config):
        raise EntryError(
            "outcome",
            f"{entry.outcome!r} is not an outcome; use one of "
            f"{', '.join(vocabulary(config))} (follow_up.outcomes adds more)",
        )
    customer = queries.customer(conn, entry.account)
    if customer is None:
        raise _unknown_account(conn, entry.account)
    at = entry.at or now
    if at.utcoffset() is None:
        raise EntryError("at", f"{at.isoformat()} has no UTC offset")
    if at - now > timedelta(hours=1):
        raise EntryError("at", f"{at.isoformat()} is in the future")
    from zoneinfo import ZoneInfo

    # The day of the contact: a promise cannot be dated before it, and a
    # contact logged late is judged as of when it happened.
    day = at.astimezone(ZoneInfo(str(config.get("company.timezone") or "UTC"))).date()
    prepared = Prepared(entry, customer, at, day, source_key(entry, at))
    if entry.reason and entry.reason not in REASONS:
        raise EntryError(
            "reason",
            f"{entry.reason!r} is not a reason; use one of {', '.join(REASONS)}",
        )
    if entry.follow_up and entry.follow_up < day:
        raise EntryError("follow_up", f"{entry.follow_up} is in the past")

    named = queries.invoices(conn, customer["id"], entry.invoices)
    for number in entry.invoices:
        invoice = named.get(number)
        if invoice is None:
            raise EntryError("invoice", f"no invoice {number!r}")
        if invoice["customer_id"] != customer["id"]:
            raise EntryError("invoice", f"invoice {number} is not {entry.account}'s")
        prepared.invoice_ids.append(invoice["id"])

    owed = {
        currency: balance
        for currency, (balance, _overdue) in queries.open_balance(
            conn, customer["id"], day.isoformat()
        ).items()
    }
    if entry.outcome in PROMISES:
        _prepare_promise(prepared, owed, day)
    elif entry.outcome == "plan_agreed":
        _prepare_plan(prepared, owed, day, config, conn)
    elif entry.outcome == "dispute" and not entry.invoices:
        raise EntryError(
            "invoice", "a dispute names the invoices disputed: --invoice ID"
        )
    elif entry.outcome == "dispute_resolved":
        _prepare_resolution(prepared, named, conn)
    elif entry.outcome == "wrong_contact":
        prepared.invalidate = _wrong_contact(conn, entry, customer)
    return prepared


def _prepare_promise(prepared: Prepared, owed: dict, day: date) -> None:
    entry = prepared.entry
    if not entry.amount:
        raise EntryError("amount", f"a {entry.outcome} needs the amount: --amount X")
    if not entry.on:
        raise EntryError("on", f"a {entry.outcome} needs the date promised: --on DATE")
    if entry.on < day:
        raise EntryError("on", f"the promised date {entry.on} is in the past")
    currency = _currency(entry, owed, "amount")
    amount = _money(entry.amount, currency, "amount")
    if amount > owed[currency]:
        from cobra.money import Money

        raise EntryError(
            "amount",
            f"{Money(amount, currency)} is more than the {Money(owed[currency], currency)}"
            f" {entry.account} owes",
        )
    prepared.promise = (currency, amount, entry.on)


def _prepare_plan(prepared: Prepared, owed: dict, day: date, config, conn) -> None:
    entry = prepared.entry
    if entry.plan and entry.instalments:
        raise EntryError("plan", "give either --plan OPTION or --instalment, not both")
    if entry.plan:
        from cobra import offer

        overdue = {
            currency: late
            for currency, (_, late) in queries.open_balance(
                conn, prepared.customer["id"], day.isoformat()
            ).items()
            if late
        }
        wanted = entry.plan if not entry.plan.isdigit() else f"plan_{entry.plan}"
        options = offer.options(overdue, offer.Policy.from_config(config), day)
        chosen = [
            o
            for o in options
            if o.option == wanted
            and (not entry.currency or o.currency == entry.currency.upper())
        ]
        if not chosen:
            names = ", ".join(sorted({o.option for o in options})) or "none"
            raise EntryError(
                "plan",
                f"{entry.plan!r} is not one of the options `cobra offer "
                f"{entry.account}` makes today ({names})",
            )
        if len(chosen) > 1:
            raise EntryError(
                "currency",
                "that option exists in several currencies: say which with --currency",
            )
        option = chosen[0]
        schedule = [(p.due, p.amount.amount) for p in option.schedule]
        prepared.plan = (option.currency, option.option, schedule)
        return
    if not entry.instalments:
        raise EntryError(
            "plan",
            "plan_agreed needs --plan OPTION (see cobra offer) or --instalment "
            "DATE=AMOUNT for each payment",
        )
    currency = _currency(entry, owed, "instalment")
    schedule = []
    for due, amount in entry.instalments:
        if due < day:
            raise EntryError("instalment", f"instalment date {due} is in the past")
        schedule.append((due, _money(amount, currency, "instalment")))
    schedule.sort()
    total = sum(amount for _, amount in schedule)
    expected = (
        _money(entry.amount, currency, "amount") if entry.amount else owed[currency]
    )
    if total != expected:
        from cobra.money import Money

        what = "the --amount agreed" if entry.amount else "what is owed"
        raise EntryError(
            "instalment",
            f"the instalments add up to {Money(total, currency)}, not "
            f"{Money(expected, currency)} ({what})",
        )
    prepared.plan = (currency, None, schedule)


def _prepare_resolution(prepared: Prepared, named: dict, conn) -> None:
    """The invoices whose dispute ends: those named, or all in dispute."""
    entry, customer = prepared.entry, prepared.customer
    disputed = queries.disputed_invoices(conn, customer["id"])
    if not disputed:
        raise EntryError(
            "invoice", f"{entry.account} has no invoice in dispute to resolve"
        )
    if not entry.invoices:
        prepared.invoice_ids = [row["id"] for row in disputed]
        prepared.resolves = [row["number"] for row in disputed]
        return
    for number in entry.invoices:
        if not named[number]["disputed_since"]:
            numbers = ", ".join(row["number"] for row in disputed)
            raise EntryError(
                "invoice",
                f"invoice {number} is not in dispute (in dispute: {numbers})",
            )
    prepared.resolves = list(entry.invoices)


def _wrong_contact(conn, entry: Entry, customer) -> str:
    if entry.contact:
        if not queries.contact_exists(conn, customer["id"], entry.contact):
            raise EntryError(
                "contact", f"{entry.account} has no contact {entry.contact!r}"
            )
        return entry.contact
    kind = CONTACT_KIND.get(entry.channel or "")
    if kind is None:
        raise EntryError(
            "contact",
            "wrong_contact needs the address or number found wrong (--contact) or "
            "the channel it was used on (--channel email, sms, call)",
        )
    from cobra.store import outbox

    value = outbox.address(conn, customer["id"], kind)
    if value is None:
        raise EntryError(
            "contact", f"{entry.account} has no valid {kind} to mark wrong"
        )
    return value


@dataclass
class Recorded:
    interaction_id: int | None
    tasks: int = 0
    promises: int = 0
    disputed: int = 0
    resolved: int = 0  # invoices no longer in dispute
    closed: int = 0  # dispute tasks closed
    invalidated: int = 0
    already: bool = False  # read from a file before: nothing written


def record(store, config, prepared: Prepared) -> Recorded:
    """Write one prepared entry; the caller holds the transaction."""
    from cobra.money import Money

    conn = store.conn
    entry, customer = prepared.entry, prepared.customer
    if prepared.source_key and queries.logged(conn, prepared.source_key):
        return Recorded(None, already=True)
    at = prepared.at.astimezone(timezone.utc).isoformat(timespec="seconds")
    day = prepared.day.isoformat()
    grace = int(config.get("follow_up.promise_grace_days", 2))
    interaction = queries.add_interaction(
        conn,
        {
            "customer_id": customer["id"],
            "at": at,
            "channel": entry.channel,
            "outcome": entry.outcome,
            "collector": entry.collector,
            "note": entry.note,
            "reason": entry.reason,
            "follow_up_on": entry.follow_up.isoformat() if entry.follow_up else None,
            "source": entry.source,
            "source_key": prepared.source_key,
        },
    )
    done = Recorded(interaction)
    who = f"{customer['name']} ({customer['account']})"

    def task(kind: str, due: date | str, title: str, **links) -> None:
        if queries.add_task(
            conn,
            customer_id=customer["id"],
            kind=kind,
            due_on=str(due),
            title=title,
            at=at,
            assignee=entry.collector,
            brief=entry.note,
            interaction_id=interaction,
            **links,
        ):
            done.tasks += 1

    queries.link_invoices(conn, interaction, prepared.invoice_ids)
    if entry.reason:
        queries.add_finding(
            conn,
            customer["id"],
            entry.reason,
            at=at,
            collector=entry.collector,
            note=entry.note,
        )
    if prepared.promise:
        currency, amount, due = prepared.promise
        promise = queries.add_promise(
            conn,
            customer["id"],
            made_on=day,
            due_on=due.isoformat(),
            currency=currency,
            amount=amount,
            interaction_id=interaction,
            note=entry.note,
        )
        done.promises += 1
        task(
            "promise_check",
            due + timedelta(days=grace),
            f"Check that {who} paid {Money(amount, currency)} promised by {due}",
            promise_id=promise,
        )
    if prepared.plan:
        currency, option, schedule = prepared.plan
        plan = queries.add_plan(
            conn,
            customer["id"],
            agreed_on=day,
            currency=currency,
            total=sum(a for _, a in schedule),
            option=option,
            interaction_id=interaction,
        )
        for number, (due, amount) in enumerate(schedule, start=1):
            queries.add_promise(
                conn,
                customer["id"],
                made_on=day,
                due_on=due.isoformat(),
                currency=currency,
                amount=amount,
                interaction_id=interaction,
                note=entry.note,
                plan_id=plan,
                instalment=number,
            )
            done.promises += 1
    if entry.outcome == "dispute":
        done.disputed = queries.dispute(conn, prepared.invoice_ids, day)
        task(
            "dispute",
            entry.follow_up or prepared.day,
            f"Resolve {who}'s dispute of {', '.join(entry.invoices)}",
        )
    if entry.outcome == "dispute_resolved":
        done.resolved = queries.end_dispute(conn, prepared.invoice_ids)
        done.closed = queries.close_settled_dispute_tasks(
            conn,
            customer["id"],
            at=at,
            note=f"dispute of {', '.join(prepared.resolves)} resolved, logged by "
            f"{entry.collector or 'a collector'}"
            + (f": {entry.note}" if entry.note else ""),
        )
    if prepared.invalidate:
        done.invalidated = queries.invalidate(
            conn,
            customer["id"],
            prepared.invalidate,
            at=at,
            reason=f"wrong contact, logged by {entry.collector or 'a collector'}",
        )
    if entry.outcome == "paid":
        task(
            "payment_check",
            entry.follow_up or prepared.day + timedelta(days=grace),
            f"Check that {who}'s payment arrived, as the customer said",
        )
    elif entry.follow_up:
        task(
            "follow_up",
            entry.follow_up,
            f"Follow up with {who} ({entry.outcome.replace('_', ' ')})",
        )
    return done
