"""Deciding the contacts due on a day: step 2 and 3 of the method.

For every customer with open invoices, the planner takes its diagnosis,
chooses a strategy (:mod:`cobra.strategies`), finds the step of the cadence
due today, and turns it into a contact: channel, template, method, tactic,
and the rendered message. Then it checks what must hold the contact back:
an opt-out, disputed invoices, a promise not yet due, a missing contact
address, or the contact rules of the customer's country (:mod:`cobra.guard`),
which may also move it to the next allowed moment. An automated message
that goes out demands only what is not in dispute: the templates leave
disputed invoices out of its listing and totals (:mod:`cobra.messages`).

Catching up: after days without planning, only the step due *now* is
planned, once; earlier skipped steps are not sent in a burst. A customer
gets one contact per channel per day, covering all its overdue invoices.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cobra import strategies as strategies_module
from cobra.strategies import Step, Strategy

# Channels that reach the customer and need an address of some kind.
NEEDS = {"email": "email", "sms": "phone", "whatsapp": "phone", "call": "phone"}
# Channels that are work for a person: the contact rules do not apply.
INTERNAL = ("task", "third_party")
# Channels the contact rules know; the names interactions use for them.
KNOWN_TO_RULES = ("email", "sms", "whatsapp", "call", "visit")
HISTORY_CHANNELS = {"phone": "call", "e-mail": "email"}
# Channels a person uses (a call); every other channel sends an automated
# message, which disputes and promises not yet due hold back.
PERSONAL = ("call", "visit") + INTERNAL
DEFAULT_SEND_TIME = time(10, 0)
# Reminders of a payment plan's instalments, which replace the strategy's
# cadence while the plan runs.
PLAN_STRATEGY = "payment-plan"
PLAN_TEMPLATE = "instalment-reminder"


@dataclass
class Contact:
    """One contact decided for one customer on one day."""

    customer_id: int
    account: str
    name: str
    planned_for: date
    strategy: str
    step: int
    cycle: str
    variant: int
    channel: str
    template: str
    tone: str
    method: str
    tactic: str
    objective: str
    reason: str
    language: str
    send_at: datetime | None = None
    subject: str | None = None
    body: str | None = None
    hold_reason: str | None = None
    opt_out: bool = False  # the country's rules require an opt-out line
    instalment: dict | None = None  # the payment-plan instalment reminded of
    # The invoice numbers a customer message asks to be paid (None for a
    # brief): the sender holds it if one is disputed before it goes.
    invoices: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return self.hold_reason is not None

    @property
    def idempotency_key(self) -> str:
        return (
            f"{self.account}|{self.strategy}#{self.step}|"
            f"{self.planned_for.isoformat()}|{self.channel}"
        )

    def row(self, now: str) -> dict:
        return {
            "customer_id": self.customer_id,
            "planned_for": self.planned_for.isoformat(),
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "strategy": self.strategy,
            "step": self.step,
            "cycle": self.cycle,
            "variant": self.variant,
            "channel": self.channel,
            "template": self.template,
            "tone": self.tone,
            "method": self.method,
            "tactic": self.tactic,
            "objective": self.objective,
            "reason": self.reason,
            "language": self.language,
            "subject": self.subject,
            "body": self.body,
            "state": "held" if self.held else "queued",
            "opt_out": int(self.opt_out),
            "hold_reason": self.hold_reason,
            "idempotency_key": self.idempotency_key,
            "invoices": None if self.invoices is None else json.dumps(self.invoices),
            "created_at": now,
        }


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The IANA time zone *name*, or None when there is no such zone."""
    from zoneinfo import ZoneInfoNotFoundError

    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def past_contacts(rows, zone: ZoneInfo) -> list:
    """Contacts made or planned (rows with at, channel, conversation) as the
    contact rules count them; channels the rules do not know are left out."""
    from cobra.guard import Contact as Past

    past = []
    for row in rows:
        channel = HISTORY_CHANNELS.get(row["channel"], row["channel"])
        if channel not in KNOWN_TO_RULES:
            continue
        at = row["at"]
        # A planned contact without a time yet counts at noon of its day.
        moment = (
            datetime.fromisoformat(at)
            if len(at) > 10
            else datetime.combine(date.fromisoformat(at), time(12), tzinfo=zone)
        )
        past.append(Past(moment, channel, bool(row["conversation"])))
    return past


def band(overdue: dict[str, int], bands: dict) -> str:
    """small, medium or large: the customer's largest overdue amount's band."""
    from cobra.money import Money

    best = "small"
    order = ("small", "medium", "large")
    for currency, amount in overdue.items():
        limits = bands.get(currency) or bands.get("default") or [1000, 10000]
        major = Money(amount, currency).to_decimal()
        here = (
            "large"
            if major >= limits[1]
            else "medium"
            if major >= limits[0]
            else "small"
        )
        best = max(best, here, key=order.index)
    return best


def variant_for(
    seed: int, account: str, strategy: str, step_index: int, count: int
) -> int:
    """A stable pseudo-random variant: the same customer always gets the same one."""
    if count <= 1:
        return 0
    digest = hashlib.sha256(
        f"{seed}:{account}:{strategy}:{step_index}".encode()
    ).digest()
    return int.from_bytes(digest[:8], "big") % count


class Planner:
    """Plans days for one store and config; see the module docstring."""

    def __init__(self, store, config, *, guard: bool = True, render: bool = True):
        from cobra.store import plans

        self.store = store
        self.config = config
        self.plans = plans
        from cobra.messages import list_templates

        templates = list_templates(config)
        # Every name a strategy uses must exist before anything is planned.
        self.strategies = strategies_module.load(config, templates=set(templates))
        # Payment-plan options cost a schedule per currency: work them out
        # only for the templates that mention them.
        self.templates_with_plans = {
            name
            for name, files in templates.items()
            if any("plan_options" in path.read_text("utf-8") for path in files.values())
        }
        self.guard = None
        if guard:
            from cobra.guard import Guard

            self.guard = Guard.from_config(config)
        self.render = render
        self.company_name = str(config.get("company.name", ""))
        self._policy = None
        self._learner = None
        self._learner_day = None
        self.seed = int(config.get("plan.seed", 1))
        self.bands = config.get("plan.amount_bands") or {}
        self.company_language = str(config.get("company.language", "en"))
        self.company_timezone = str(config.get("company.timezone", "UTC"))
        conn = store.conn
        self.customers = plans.customer_details(conn)
        self.addresses = plans.valid_contacts(conn)
        self.opt_outs = plans.opt_outs(conn)
        from cobra.store import followup

        # While a payment plan runs, its instalments set the cadence.
        self.instalments = followup.next_instalments(conn)
        self.reminder_days = int(config.get("follow_up.instalment_reminder_days", 3))
        # Until the promise check breaks an unpaid instalment it is still
        # open, and a reminder missed on its day is still worth sending.
        self.grace_days = int(config.get("follow_up.promise_grace_days", 2))
        self.reminder_channel = str(
            config.get("follow_up.instalment_reminder_channel") or "email"
        )

    def plan(
        self,
        day: date,
        account: str | None = None,
        done: dict | None = None,
        taken: set | None = None,
    ) -> list[Contact]:
        """Every contact due on *day* (planned and held), in worklist order.

        *done* maps (customer, strategy, cycle) to the furthest step planned,
        and *taken* holds (customer, channel) pairs already used on *day*;
        both default to what the store has, and a preview of several days
        passes its own so the days see each other.
        """
        from cobra import worklist

        conn = self.store.conn
        done = self.plans.steps_done(conn) if done is None else done
        taken = self.plans.planned_on(conn, day.isoformat()) if taken is None else taken
        history = self.plans.recent_contacts(
            conn, (day - timedelta(days=14)).isoformat()
        )
        contacts = []
        for entry in worklist.build(self.store, self.config, day):
            evidence = entry.evidence
            if account and evidence.account != account:
                continue
            contact = self._contact(day, entry, done)
            if contact is None:
                continue
            if (contact.customer_id, contact.channel) in taken:
                continue  # one contact per customer and channel per day
            self._hold_or_schedule(
                contact, evidence, history.get(contact.customer_id, [])
            )
            if not contact.held and self.render:
                self._render(contact, entry)
            taken.add((contact.customer_id, contact.channel))
            if not contact.held:
                key = (contact.customer_id, contact.strategy, contact.cycle)
                done[key] = max(done.get(key, -1), contact.step)
            contacts.append(contact)
        return contacts

    def _strategy_for(self, evidence, reason: str) -> Strategy | None:
        state = evidence.promise_state
        promise = (
            "broken" if state == "broken" else "open" if state == "open" else "none"
        )

        def choose(promise_state: str) -> Strategy | None:
            return strategies_module.choose(
                self.strategies,
                reason,
                evidence.segment,
                band(evidence.overdue, self.bands),
                promise_state,
            )

        chosen = choose(promise)
        if promise != "broken":
            return chosen
        # The strategy the customer is in says where a broken promise moves
        # it ([on] broken_promise): it wins over the strategies matching a
        # broken promise, which would otherwise always outrank it.
        for source in (choose("none"), chosen):
            if source and source.on_broken_promise:
                return strategies_module.by_name(
                    self.strategies, source.on_broken_promise
                )
        return chosen

    def _contact(self, day: date, entry, done: dict) -> Contact | None:
        evidence, diagnosis = entry.evidence, entry.diagnosis
        if not evidence.oldest_open_due:
            return None
        instalment = self.instalments.get(evidence.customer_id)
        if instalment is not None:
            return self._instalment_reminder(day, entry, instalment, done)
        strategy = self._strategy_for(evidence, diagnosis.reason)
        if strategy is None:
            return None
        days = (day - date.fromisoformat(evidence.oldest_open_due)).days
        index = strategy.due_step(days)
        if index is None:
            return None
        cycle = evidence.oldest_open_due
        if done.get((evidence.customer_id, strategy.name, cycle), -1) >= index:
            return None  # this step, or a later one, was already planned
        base: Step = strategy.steps[index]
        count = 1 + len(base.variants)
        if base.fixed_variant is not None:
            variant = base.fixed_variant  # an explicit choice always wins
        elif base.learn and count > 1:
            variant = self.learner(day).choose(
                evidence.account, strategy.name, index, diagnosis.reason, count
            )
        else:
            variant = variant_for(
                self.seed, evidence.account, strategy.name, index, count
            )
        step = base.variant(variant)
        customer = self.customers[evidence.customer_id]
        return Contact(
            customer_id=evidence.customer_id,
            account=evidence.account,
            name=evidence.name,
            planned_for=day,
            strategy=strategy.name,
            step=index,
            cycle=cycle,
            variant=variant,
            channel=step.channel,
            template=step.template,
            tone=step.tone,
            method=step.method,
            tactic=step.tactic,
            objective=step.objective,
            reason=diagnosis.reason,
            language=customer["language"] or self.company_language,
            notes=[
                f"{strategy.name} step {index + 1} of {len(strategy.steps)}, "
                f"day {base.day} (now day {days})"
            ],
        )

    def learner(self, day: date):
        """Outcomes so far, read once per planned day (cobra.learning)."""
        if self._learner is None or self._learner_day != day:
            from cobra.learning import for_day

            self._learner, self._learner_day = (
                for_day(self.store.conn, self.config, day),
                day,
            )
        return self._learner

    def _instalment_reminder(
        self, day: date, entry, instalment, done
    ) -> Contact | None:
        """A reminder of the plan's next instalment, on its days; else nothing.

        The usual cadence counts from the original due dates, which the plan
        replaced: while it runs, only its instalments prompt a contact.

        Two reminders per instalment: ``follow_up.instalment_reminder_days``
        before its date (step 0), and on it (step 1). One whose day passed
        without planning (cron did not run) is planned on the next day that
        plans, as the strategies' steps are: only the latest one due, once,
        and only while the instalment is open and within the promise's
        grace, after which the promise check breaks it. A reminder due
        before the plan was agreed was never owed, and is not made up for.
        """
        evidence = entry.evidence
        due = date.fromisoformat(instalment["due_on"])
        ahead = due - timedelta(days=self.reminder_days)
        if day < ahead or day > due + timedelta(days=self.grace_days):
            return None
        step = 0 if day < due else 1  # before the date, then on it
        if step == 0 and ahead.isoformat() < instalment["agreed_on"]:
            return None
        key = (evidence.customer_id, PLAN_STRATEGY, instalment["due_on"])
        if done.get(key, -1) >= step:
            return None  # this reminder, or the later one, was planned
        reminder_day = ahead if step == 0 else due
        customer = self.customers[evidence.customer_id]
        number, count = instalment["instalment"], instalment["instalments"]
        return Contact(
            customer_id=evidence.customer_id,
            account=evidence.account,
            name=evidence.name,
            planned_for=day,
            strategy=PLAN_STRATEGY,
            step=step,
            cycle=instalment["due_on"],
            variant=0,
            channel=self.reminder_channel,
            template=PLAN_TEMPLATE,
            tone="friendly",
            method="suggestion",
            tactic="consistency",
            objective="Keep the payment plan on track",
            reason=entry.diagnosis.reason,
            language=customer["language"] or self.company_language,
            instalment={
                "number": number,
                "count": count,
                "due": due,
                "currency": instalment["currency"],
                "amount": instalment["amount"] - instalment["paid"],
                # A reminder caught up after the date says the instalment
                # was due, not that it is.
                "overdue": day > due,
            },
            notes=[f"payment plan: instalment {number} of {count} due {due}"]
            + (
                [f"reminder due on {reminder_day}, planned late"]
                if reminder_day < day
                else []
            ),
        )

    def _hold_or_schedule(self, contact: Contact, evidence, history) -> None:
        customer = self.customers[contact.customer_id]
        strategy = strategies_module.by_name(self.strategies, contact.strategy)
        contact.channel = self._reachable_channel(contact, strategy)
        if contact.held:
            return
        if contact.channel in self.opt_outs.get(contact.customer_id, set()):
            contact.hold_reason = f"opted out of {contact.channel}"
            return
        if contact.channel in INTERNAL:
            return  # work for a person, not a message to the customer
        automated = contact.channel not in PERSONAL
        if (
            automated
            and contact.instalment is None  # the promise is what it reminds of
            and evidence.promise_state == "open"
            and evidence.open_promise_due
            and (evidence.open_promise_due >= contact.planned_for.isoformat())
        ):
            contact.hold_reason = f"promised to pay by {evidence.open_promise_due}"
            return
        if (
            automated
            and evidence.facts.get("overdue_invoices", 0)
            and not evidence.facts.get("undisputed_overdue", 0)
        ):
            contact.hold_reason = "every overdue invoice is disputed"
            return
        zone = zone_or_none(customer["timezone"] or self.company_timezone)
        if zone is None:
            contact.hold_reason = (
                f"{customer['timezone']!r} is not an IANA time zone, so the "
                "customer's local time is unknown"
            )
            return
        wanted = datetime.combine(contact.planned_for, DEFAULT_SEND_TIME, tzinfo=zone)
        contact.send_at = wanted
        if self.guard is not None:
            self._apply_rules(contact, customer, wanted, history, zone)

    def _apply_rules(
        self, contact: Contact, customer, wanted: datetime, history, zone: ZoneInfo
    ) -> None:
        """The country's contact rules: allowed, moved to a later moment, or held."""
        past = past_contacts(history, zone)
        decision = self.guard.check(
            customer["country"], customer["timezone"], contact.channel, wanted, past
        )
        if decision.held:
            contact.hold_reason = "; ".join(decision.reasons)
            contact.send_at = None
            return
        contact.send_at = decision.at
        contact.notes.extend(decision.reasons)
        if self.guard.requires_opt_out(customer["country"], contact.channel):
            contact.opt_out = True

    def _render(self, contact: Contact, entry) -> None:
        """Write the message (or, for a person, the brief) for the contact."""
        from cobra import messages

        customer = self.customers[contact.customer_id]
        invoices = [
            {
                "number": row["number"],
                "issue_date": date.fromisoformat(row["issue_date"]),
                "due_date": date.fromisoformat(row["due_date"]),
                "currency": row["currency"],
                "amount": row["amount"],
                "balance": row["balance"],
                "days_overdue": max(
                    0, (contact.planned_for - date.fromisoformat(row["due_date"])).days
                ),
                "disputed": bool(row["disputed_since"]),
            }
            for row in self.plans.open_invoices(self.store.conn, contact.customer_id)
        ]
        language = contact.language
        context = messages.MessageContext(
            company=self.company_name,
            customer_name=contact.name,
            account=contact.account,
            language=language,
            country=customer["country"],
            invoices=invoices,
            overdue=dict(entry.evidence.overdue),
            objective=contact.objective,
            reason=contact.reason,
            method=contact.method,
            tactic=contact.tactic,
            tone=contact.tone,
            evidence=list(entry.diagnosis.evidence),
            channel=contact.channel,
            opt_out=(
                messages.default_opt_out(language, contact.channel)
                if contact.opt_out
                else None
            ),
            salesperson=customer["salesperson_email"],
            plan_options=(
                # Offered for what may be asked for: not what is in dispute.
                self._plan_options(
                    messages.undisputed_overdue(invoices), contact.planned_for
                )
                if contact.template in self.templates_with_plans
                else []
            ),
            pay_by=contact.instalment["due"] if contact.instalment else None,
            instalment=contact.instalment,
        )
        rendered = messages.render(contact.template, language, context, self.config)
        contact.subject, contact.body = rendered.subject, rendered.body
        if rendered.to_customer:
            contact.invoices = [i["number"] for i in invoices if not i["disputed"]]

    def _plan_options(self, overdue: dict[str, int], day: date) -> list[dict]:
        """Instalment plans the policy allows, for templates that offer them."""
        from cobra import offer

        if self._policy is None:
            self._policy = offer.Policy.from_config(self.config)
        found = []
        for option in offer.options(overdue, self._policy, day):
            if option.instalments:
                found.append(
                    {
                        "installments": len(option.instalments),
                        "installment": option.instalments[0].amount.amount,
                        "currency": option.owed.currency,
                        "first_due": option.instalments[0].due,
                        "every": "month",
                    }
                )
        return found

    def _reachable_channel(self, contact: Contact, strategy: Strategy | None) -> str:
        """The step's channel, or its configured fallback when it cannot reach."""
        channel = contact.channel
        addresses = self.addresses.get(contact.customer_id, {})
        tried = []
        while channel in NEEDS and NEEDS[channel] not in addresses:
            tried.append(channel)
            fallback = strategy.on_failed_channel.get(channel) if strategy else None
            if not fallback or fallback in tried:
                contact.hold_reason = f"no valid {NEEDS[tried[0]]} for {tried[0]}"
                return tried[0]
            contact.notes.append(f"no valid {NEEDS[channel]}: {channel} -> {fallback}")
            channel = fallback
        return channel
