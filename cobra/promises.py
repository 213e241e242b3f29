"""Checking promises to pay against the payments that came in.

A promise is about what was owed when it was made, so a payment counts
towards it only by the part that went to that: what the payment settled of
invoices already due on the day the promise was made (or, if the promise
named invoices with ``cobra log --invoice``, of those invoices), and what it
left unallocated as the customer's credit. A payment of a bill that was not
yet due (a customer paying its current bills on time) keeps no promise about
the overdue ones; a payment on account, which the import spends on the
oldest bills first, normally does. A promise for more than was due that day
(a payment plan, by its total: one for everything owed, or with interest)
is about the bills already issued too, and counts what a payment settled of
any invoice issued by then.

A promise is kept when the parts of the customer's payments in its currency
that count towards it, made on or after the day it was made and by its date
plus a grace period (``follow_up.promise_grace_days``), add up to its
amount. Once that deadline has passed, a promise partly paid is *partly
kept* (the rest is still owed) and one not paid at all is *broken*.
Payment-plan instalments are promises like any other, so a missed
instalment is a broken promise, and its plan is broken with it: the plan's
instalments still to come are *cancelled*, so they no longer hold contact
back, and the customer's latest promise is the broken one.

Payments are spent on promises in order of their dates: each part of a
payment goes to the earliest promise (by date) that it counts towards, that
was already made, is not yet covered, and whose deadline it meets. The
allocation is worked out afresh at each check from all of a customer's
promises, and only open promises change: a resolved one stays as it was
decided.

A broken or partly kept promise raises a task for a person, and the
customer's latest promise being broken (or its payment plan) moves it to the
strategy named by ``[on] broken_promise`` in the strategy it was in
(or the shipped ``broken-promise`` strategy).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from cobra.store import followup as queries
from cobra.store import transaction

DEFAULT_GRACE_DAYS = 2


@dataclass
class Checked:
    """What one check found."""

    kept: int = 0
    partly_kept: int = 0
    broken: int = 0
    still_open: int = 0
    plans_broken: int = 0
    plans_completed: int = 0
    cancelled: int = 0  # instalments of the plans broken
    tasks: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"promises: {self.kept} kept, {self.partly_kept} partly kept, "
            f"{self.broken} broken, {self.still_open} still open"
        )
        if self.plans_broken:
            text += (
                f"; {self.plans_broken} payment plan"
                f"{'s' if self.plans_broken > 1 else ''} broken, "
                f"{self.cancelled} later instalment"
                f"{'s' if self.cancelled != 1 else ''} cancelled"
            )
        return text


def _allocate(promises, parts, grace: timedelta) -> dict[int, tuple[int, str | None]]:
    """promise id -> (amount covered, day it was covered in full or None).

    *parts* are the payments' parts with the promises each counts towards
    (:func:`cobra.store.followup.payment_parts`). A cancelled instalment
    takes no share: the plan it belonged to is over.
    """
    promises = [p for p in promises if p["status"] != "cancelled"]
    remaining = {p["id"]: p["amount"] for p in promises}
    covered = {p["id"]: 0 for p in promises}
    full_on: dict[int, str | None] = {p["id"]: None for p in promises}
    for paid_on, amount, counts_for in parts:
        for promise in promises:
            if amount <= 0:
                break
            if promise["id"] not in counts_for:
                continue
            deadline = (date.fromisoformat(promise["due_on"]) + grace).isoformat()
            if not (promise["made_on"] <= paid_on <= deadline):
                continue
            share = min(amount, remaining[promise["id"]])
            if share <= 0:
                continue
            remaining[promise["id"]] -= share
            covered[promise["id"]] += share
            amount -= share
            if remaining[promise["id"]] == 0:
                full_on[promise["id"]] = paid_on
    return {pid: (covered[pid], full_on[pid]) for pid in covered}


def check(store, today: date, grace_days: int = DEFAULT_GRACE_DAYS) -> Checked:
    """Settle every open promise that payments or the calendar decide."""
    from cobra.money import Money

    conn = store.conn
    grace = timedelta(days=grace_days)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    found = Checked()
    raised = []  # (promise, status, task title) of each broken or partly kept
    groups = defaultdict(list)
    for row in queries.promises_to_check(conn):
        groups[(row["customer_id"], row["currency"])].append(row)
    with transaction(conn):
        for (customer_id, currency), promises in groups.items():
            since = min(p["made_on"] for p in promises)
            parts = queries.payment_parts(conn, customer_id, currency, since)
            allocation = _allocate(promises, parts, grace)
            for promise in promises:
                if promise["status"] != "open":
                    continue
                paid, full_on = allocation[promise["id"]]
                deadline = date.fromisoformat(promise["due_on"]) + grace
                owed = Money(promise["amount"] - paid, currency)
                if full_on is not None:
                    status, resolved = "kept", full_on
                    found.kept += 1
                elif today > deadline:
                    status = "partly_kept" if paid else "broken"
                    resolved = deadline.isoformat()
                    if paid:
                        found.partly_kept += 1
                    else:
                        found.broken += 1
                else:
                    queries.resolve_promise(
                        conn, promise["id"], status="open", paid=paid, resolved_on=None
                    )
                    found.still_open += 1
                    continue
                queries.resolve_promise(
                    conn, promise["id"], status=status, paid=paid, resolved_on=resolved
                )
                queries.close_tasks(
                    conn,
                    promise["id"],
                    kind="promise_check",
                    at=now,
                    note=f"settled by the promise check: {status}",
                )
                if status != "kept":
                    promised = Money(promise["amount"], currency)
                    what = (
                        f"{promise['name']} ({promise['account']}) did not keep the "
                        f"promise to pay {promised} by {promise['due_on']}"
                        if status == "broken"
                        else f"{promise['name']} ({promise['account']}) paid only part "
                        f"of {promised} promised by {promise['due_on']}: {owed} still owed"
                    )
                    raised.append((promise, status, what))
        broken_plans, found.plans_completed = queries.settle_plans(
            conn, at_day=today.isoformat()
        )
        found.plans_broken = len(broken_plans)
        cancelled = queries.cancel_instalments_of_broken_plans(conn, at=now)
        found.cancelled = sum(cancelled.values())
        found.still_open -= found.cancelled
        # The tasks come after the plans are settled, so a missed instalment's
        # task says what became of its plan.
        for promise, status, what in raised:
            plan = promise["plan_id"]
            if plan:
                what += f" (instalment {promise['instalment']} of a payment plan"
                if plan in broken_plans:
                    what += ", now broken"
                    left = cancelled.get(plan, 0)
                    if left:
                        what += f"; its {left} later instalment"
                        what += "s cancelled" if left > 1 else " cancelled"
                what += ")"
            queries.add_task(
                conn,
                customer_id=promise["customer_id"],
                kind="broken_promise",
                due_on=today.isoformat(),
                title=what,
                at=now,
                source_key=f"promise:{promise['id']}:{status}",
                promise_id=promise["id"],
            )
            found.tasks.append(what)
    return found
