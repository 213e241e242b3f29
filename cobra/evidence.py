"""What is known about each customer with an open balance, as named facts.

Diagnosis rules (:mod:`cobra.diagnosis`) and scores (:mod:`cobra.scoring`)
read these facts by name, and each fact can say itself in plain words for
the worklist ("paid 23 of 24 invoices on time"). The names below are the
vocabulary a rule in the config may use; a plugin may add facts of its own
through the ``register_evidence`` hook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

# fact name -> what it means (shown by `cobra prioritize --help` and checked
# against the rules in the config).
FACTS: dict[str, str] = {
    "open_invoices": "invoices still open",
    "overdue_invoices": "open invoices past their due date",
    "oldest_days_overdue": "days since the oldest open invoice fell due",
    "overdue_growth": "overdue invoices now minus sixty days ago",
    "overdue_vs_usual": "overdue amount as a multiple of the usual invoice",
    "partial_open": "open invoices already partly paid",
    "paid_invoices": "invoices paid in full",
    "paid_on_time": "invoices paid by their due date",
    "on_time_share": "share of paid invoices (with a known date) paid on time, 0-1",
    "avg_days_late": "average days late of invoices paid late",
    "late_trend_days": "average days late in the last 180 days minus before",
    "payments": "payments received",
    "paid_anything": "1 if the customer ever paid anything, else 0",
    "disputed_open": "open invoices in dispute",
    "disputed_overdue": "overdue invoices in dispute",
    "undisputed_overdue": "overdue invoices not in dispute",
    "contacts": "e-mail addresses and phone numbers on file",
    "bounced_contacts": "contacts found invalid (bounced, wrong number)",
    "account_age_days": "days since the customer's first invoice",
    "paid_with_date": "invoices paid whose payment date is known",
    "invoices": "invoices issued so far",
    "latest_vs_usual": "latest invoice as a multiple of the usual one",
    "promises_made": "promises to pay made",
    "promises_broken": "promises to pay broken",
    "promises_partly_kept": "promises to pay paid only in part by their date",
    "promises_kept": "promises to pay kept in full",
    "days_since_contact": "days since the last recorded interaction (999 if none)",
    "days_past_due": "days since the oldest open invoice fell due (negative: not yet)",
}


@dataclass
class Evidence:
    """The facts about one customer, and where they come from."""

    customer_id: int
    account: str
    name: str
    segment: str | None
    facts: dict[str, float]
    overdue: dict[str, int]  # currency -> overdue minor units
    finding: dict | None = None  # a collector's finding in force, if any
    extra_sentences: list[str] = field(default_factory=list)
    # Descriptions of facts plugins added, for their plain-words form.
    plugin_facts: dict[str, str] = field(default_factory=dict)
    # Due date of the oldest open invoice: strategies count days from it.
    oldest_open_due: str | None = None
    # The latest promise to pay: "none", "open", "kept", "partly_kept" or
    # "broken" (an instalment of a broken payment plan counts as broken);
    # and the date an open promise is due.
    promise_state: str = "none"
    open_promise_due: str | None = None

    def __getitem__(self, name: str) -> float:
        return self.facts[name]

    def sentence(self, name: str) -> str:
        """One fact in plain words."""
        f = self.facts
        value = f.get(name, 0)
        if name in ("paid_on_time", "on_time_share"):
            known = int(f["paid_with_date"])
            if not known:
                return "no payment history with dates yet"
            return f"paid {int(f['paid_on_time'])} of {known} invoices on time"
        if name in ("overdue_invoices", "oldest_days_overdue"):
            count = int(f["overdue_invoices"])
            if not count:
                return "nothing overdue"
            days = int(f["oldest_days_overdue"])
            what = "one invoice" if count == 1 else f"{count} invoices"
            return f"{what} overdue, the oldest by {days} day{'s' if days != 1 else ''}"
        if name == "avg_days_late":
            return f"pays late invoices {value:.0f} days late on average"
        if name == "late_trend_days":
            trend = "later" if value > 0 else "earlier"
            return f"lately pays {abs(value):.0f} days {trend} than before"
        if name in ("latest_vs_usual", "overdue_vs_usual"):
            what = (
                "latest bill is" if name == "latest_vs_usual" else "overdue amount is"
            )
            return f"{what} {value:.1f} times the usual invoice"
        if name in ("paid_anything", "payments", "paid_invoices"):
            if not f["paid_anything"]:
                return "has never paid anything"
            return f"{int(f['paid_invoices'])} invoices paid, {int(f['payments'])} payments"
        if name == "overdue_growth":
            if value > 0:
                plural = "s" if value != 1 else ""
                return f"{int(value)} more invoice{plural} overdue than sixty days ago"
            return "no more invoices overdue than sixty days ago"
        if name == "partial_open":
            return f"{int(value)} open invoice{'s' if value != 1 else ''} partly paid"
        if name in ("disputed_open", "disputed_overdue"):
            return f"{int(value)} invoice{'s' if value != 1 else ''} in dispute"
        if name == "undisputed_overdue":
            if not value:
                return "nothing overdue outside the dispute"
            return f"{int(value)} overdue invoice{'s' if value != 1 else ''} not in dispute"
        if name in (
            "promises_broken",
            "promises_made",
            "promises_kept",
            "promises_partly_kept",
        ):
            broken, partly = int(f["promises_broken"]), int(f["promises_partly_kept"])
            made = f"of {int(f['promises_made'])} promises to pay"
            if not partly:
                return f"{broken} {made} broken"
            if not broken:
                return f"{partly} {made} partly kept"
            return f"{broken} {made} broken, {partly} partly kept"
        if name == "paid_with_date":
            return f"{int(value)} invoices paid with a known date"
        if name == "days_since_contact":
            return (
                "never contacted"
                if value >= 999
                else f"last contacted {int(value)} days ago"
            )
        if name == "account_age_days":
            return f"customer for {int(value)} days"
        if name == "bounced_contacts":
            return f"{int(value)} of {int(f['contacts'])} contacts bounced or wrong"
        described = self.plugin_facts.get(name) or FACTS.get(name, name)
        return f"{described}: {value:g}"


def gather(
    store, as_of: date, customer_id: int | None = None, overdue_only: bool = False
) -> Iterator[Evidence]:
    """Evidence for every customer with an open balance (or just one).

    *overdue_only* leaves out customers with nothing overdue yet, sparing
    the work for the worklist, which does not show them.

    The figures come from the per-customer statistics (migration 0007)
    where they hold on *as_of*, and are computed by the same queries for
    the other customers; :func:`from_ledger` is the plain computation they
    must agree with (tests/test_prioritize.py compares the two).
    """
    from cobra.store import evidence as queries

    conn = store.conn
    params = queries.params(as_of)
    small = {
        name: queries.grouped(conn, name, params, customer_id)
        for name in ("promises", "interactions", "findings")
    }
    yield from _from_stats(
        queries.fresh_stats(conn, params, customer_id, overdue_only), as_of, small
    )


def _from_stats(rows, as_of: date, small: dict) -> Iterator[Evidence]:
    promises_of = small["promises"].get
    interactions_of = small["interactions"].get
    findings_of = small["findings"].get
    for row in rows:
        cid = row["customer_id"]
        promises = promises_of(cid)
        finding = findings_of(cid)
        overdue = _overdue(row["overdue"])
        latest_amount, count = row["latest_amount"], row["billed_invoices"]
        usual = (
            (row["billed"] - latest_amount) / (count - 1)
            if count and count > 1
            else None
        )
        facts = _facts(
            row,
            as_of,
            row["payments"],
            row["contacts"],
            row["bounced_contacts"],
            promises,
            interactions_of(cid),
            overdue,
            (row["latest_currency"], latest_amount, usual, (count or 1) - 1),
        )
        yield _evidence(
            row, cid, facts, overdue, finding, promises, row["oldest_open_due"]
        )


def _overdue(text: str | None) -> dict[str, int]:
    """The statistics' JSON object of overdue amounts, as a dict."""
    return json.loads(text) if text else {}


def from_ledger(
    store, as_of: date, customer_ids: list[int], overdue_only: bool = False
) -> Iterator[Evidence]:
    """Evidence of these customers computed from the ledger alone.

    The reference :func:`gather` is checked against: every figure grouped
    from the invoices, payments and contacts as of *as_of*, nothing read
    from the statistics.
    """
    from cobra.store import evidence as queries

    conn = store.conn
    params = queries.params(as_of)
    small = {
        name: queries.grouped(conn, name, params, customer_ids)
        for name in ("promises", "interactions", "findings")
    }
    return _from_ledger(conn, params, as_of, customer_ids, overdue_only, small)


def _from_ledger(
    conn, params: dict, as_of: date, only, overdue_only: bool, small: dict
) -> Iterator[Evidence]:
    """Evidence computed from the invoices themselves (the reference)."""
    from cobra.store import evidence as queries

    customers = queries.customers(conn, only)
    billing = queries.usual_billing(conn, params, only)
    overdue = queries.overdue_by_currency(conn, params, only)
    payments_of = queries.grouped(conn, "payments", params, only)
    contacts_of = queries.grouped(conn, "contacts", params, only)

    for row in queries.invoice_facts(conn, params, only):
        if overdue_only and not row["overdue_invoices"]:
            continue
        cid = row["customer_id"]
        payments = payments_of.get(cid)
        contacts = contacts_of.get(cid)
        promises = small["promises"].get(cid)
        facts = _facts(
            row,
            as_of,
            payments["payments"] if payments else 0,
            contacts["contacts"] if contacts else 0,
            (contacts["bounced_contacts"] or 0) if contacts else 0,
            promises,
            small["interactions"].get(cid),
            overdue.get(cid, {}),
            billing.get(cid, (None, 0, None, 0)),
        )
        yield _evidence(
            customers[cid],
            cid,
            facts,
            overdue.get(cid, {}),
            small["findings"].get(cid),
            promises,
            row["oldest_open_due"],
        )


def _evidence(
    customer, cid: int, facts: dict, overdue: dict, finding, promises, oldest
) -> Evidence:
    return Evidence(
        customer_id=cid,
        account=customer["account"],
        name=customer["name"],
        segment=customer["segment"],
        facts=facts,
        overdue=overdue,
        finding=dict(finding) if finding else None,
        oldest_open_due=oldest,
        promise_state=(promises["latest_promise_status"] or "none")
        if promises
        else "none",
        open_promise_due=promises["open_promise_due"] if promises else None,
    )


def _days(later: date, earlier: str | None) -> int:
    return (later - date.fromisoformat(earlier[:10])).days if earlier else 0


def _facts(
    row,
    as_of: date,
    payments: int,
    contacts: int,
    bounced: int,
    promises,
    last_contact,
    overdue: dict[str, int],
    billing: tuple,
) -> dict[str, float]:
    latest_currency, latest_amount, usual, usual_count = billing
    closed_with_date = row["closed_with_date"] or 0
    recent, earlier = row["recent_days_late"], row["earlier_days_late"]
    # In the latest currency: ratios never mix currencies. Without earlier
    # invoices the latest one is the usual one (as for latest_vs_usual).
    overdue_total = overdue.get(latest_currency, 0)
    reference = usual or latest_amount
    facts = {
        "open_invoices": row["open_invoices"],
        "overdue_invoices": row["overdue_invoices"],
        "oldest_days_overdue": _days(as_of, row["oldest_due"]),
        "overdue_growth": row["overdue_invoices"]
        - (row["overdue_sixty_days_ago"] or 0),
        "partial_open": row["partial_open"] or 0,
        "paid_invoices": row["paid_invoices"] or 0,
        "paid_on_time": row["paid_on_time"] or 0,
        "paid_with_date": closed_with_date,
        "on_time_share": (row["paid_on_time"] or 0) / closed_with_date
        if closed_with_date
        else 0.0,
        "avg_days_late": row["avg_days_late"] or 0.0,
        "late_trend_days": (
            recent - earlier if recent is not None and earlier is not None else 0.0
        ),
        "payments": payments,
        "disputed_open": row["disputed_open"] or 0,
        "disputed_overdue": row["disputed_overdue"] or 0,
        "undisputed_overdue": row["overdue_invoices"] - (row["disputed_overdue"] or 0),
        "contacts": contacts,
        "bounced_contacts": bounced or 0,
        "account_age_days": _days(as_of, row["first_issue"]),
        "invoices": row["invoices"],
        "latest_vs_usual": (latest_amount / usual) if usual else 1.0,
        "overdue_vs_usual": (overdue_total / reference) if reference else 0.0,
        "usual_count": usual_count,
        "promises_made": promises["promises_made"] if promises else 0,
        "promises_broken": (promises["promises_broken"] or 0) if promises else 0,
        "promises_kept": (promises["promises_kept"] or 0) if promises else 0,
        "promises_partly_kept": (promises["promises_partly_kept"] or 0)
        if promises
        else 0,
        "days_since_contact": (
            (as_of - datetime.fromisoformat(last_contact["last_contact"]).date()).days
            if last_contact
            else 999
        ),
        "days_past_due": _days(as_of, row["oldest_open_due"]),
    }
    facts["paid_anything"] = 1 if facts["paid_invoices"] or facts["payments"] else 0
    return facts
