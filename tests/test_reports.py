"""`cobra report`: each report against a portfolio worked out by hand.

The portfolios go in through the command line, as a user's would: `cobra
import` of JSON Lines records, `cobra log` for promises and interactions,
`cobra plan` (which checks promises), and `cobra send` of queued messages
through the file and task backends. Every expected figure is derived in the
comments next to it, from the records built here.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from histories import History, database
from outbox_seed import seed

# -- Portfolio 1: the ledger, promises and collectors (USD and EUR) -------------
#
# Reports as of 2026-06-30 over the second quarter (2026-04-01 to 06-30,
# 91 days). Invoices (number: issued, due, amount, what happened):
#
#   ALDER (smb, USD)
#     ALDER-0001  01-15  02-14  1000.00  credit note 100.00 on 06-15
#     ALDER-0002  05-01  05-31   500.00  paid 200.00 on 06-16, 100.00 on 06-27
#     ALDER-0003  06-20  07-20   400.00
#   BIRCH (enterprise, USD, in Canada)
#     BIRCH-0001  03-01  03-31  2000.00  paid on 07-05, after the quarter
#     BIRCH-0002  04-10  05-10  1500.00  paid on 05-08
#     BIRCH-0003  04-20  05-20   800.00
#   CEDAR (smb, EUR, in Germany; the others are in the US)
#     CEDAR-0001  04-01  05-01   700.00  paid on 07-02
#     CEDAR-0002  03-15  04-14   300.00
#   DOGWOOD (no segment, USD)
#     DOGWOOD-0001 06-01 07-01   250.00
#
# Open on 06-30 (an invoice closed later was open then, a payment dated
# later had not happened yet): ALDER-0001 900 (1000 - the credit note),
# ALDER-0002 200, ALDER-0003 400, BIRCH-0001 2000, BIRCH-0003 800,
# DOGWOOD-0001 250: 4550.00 USD; CEDAR-0001 700 + CEDAR-0002 300: 1000.00 EUR.
#
# Interactions (cobra log; each at 15:00 UTC, the company's zone is UTC):
#   06-12 ALDER   ana   promise 200.00 by 06-15 -> kept 06-16 (paid 200 on 06-16)
#   06-20 ALDER   ben   promise 300.00 by 06-26 -> partly kept: 100 paid on
#                       06-27, within the 2 days of grace; resolved 06-28
#   06-25 BIRCH   ana   promise 800.00 by 06-28 -> broken; resolved 06-30
#   06-29 CEDAR   dan   promise 700.00 EUR by 07-03 -> kept 07-02
#   07-02 BIRCH   carl  no answer

Q2 = ("--period", "2026-Q2")


def import_records(run, tmp_path, name: str, records: list[dict]) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 0, result.stderr


def payment(account: str, on: str, amount: str, *invoices: str, currency="USD"):
    return {
        "type": "payment",
        "customer_id": account,
        "date": on,
        "currency": currency,
        "payment_id": f"{account}-{on}",
        "amount": amount,
        "invoice_ids": list(invoices),
    }


def log(run, account: str, outcome: str, at: str, collector: str, *args: str):
    """`cobra log` of a call at 15:00 UTC on the day *at*."""
    moment = f"{at}T15:00:00+00:00"
    options = ["--channel", "call", "--collector", collector, "--at", moment]
    result = run("log", account, "--outcome", outcome, *options, *args)
    assert result.exit_code == 0, result.stderr


def promise(
    run, account: str, at: str, collector: str, amount: str, on: str, kind="promise"
):
    """A promise (or a partial_promise, *kind*) logged with `cobra log`."""
    log(run, account, kind, at, collector, "--amount", amount, "--on", on)


def portfolio(run, tmp_path) -> None:
    alder = History("ALDER", "Alder Supply", segment="smb")
    a1 = alder.invoice(date(2026, 1, 15), "1000.00")
    a2 = alder.invoice(date(2026, 5, 1), "500.00")
    alder.invoice(date(2026, 6, 20), "400.00")
    alder.records.append(
        {
            "type": "credit_note",
            "credit_note_id": "NC-1",
            "customer_id": "ALDER",
            "invoice_id": a1,
            "issue_date": "2026-06-15",
            "currency": "USD",
            "amount": "100.00",
        }
    )
    birch = History("BIRCH", "Birch Works", segment="enterprise")
    birch.records[0]["country"] = "CA"
    b1 = birch.invoice(date(2026, 3, 1), "2000.00")
    b2 = birch.invoice(date(2026, 4, 10), "1500.00")
    birch.invoice(date(2026, 4, 20), "800.00")
    cedar = History("CEDAR", "Cedar GmbH", segment="smb", currency="EUR")
    cedar.records[0]["country"] = "DE"
    c1 = cedar.invoice(date(2026, 4, 1), "700.00")
    cedar.invoice(date(2026, 3, 15), "300.00")
    dogwood = History("DOGWOOD", "Dogwood Ltd")
    dogwood.invoice(date(2026, 6, 1), "250.00")
    ledger = [r for h in (alder, birch, cedar, dogwood) for r in h.records]
    ledger += [
        payment("BIRCH", "2026-05-08", "1500.00", b2),
        payment("ALDER", "2026-06-16", "200.00", a2),
        payment("ALDER", "2026-06-27", "100.00", a2),
    ]
    import_records(run, tmp_path, "ledger", ledger)

    promise(run, "ALDER", "2026-06-12", "ana", "200", "2026-06-15")
    promise(run, "ALDER", "2026-06-20", "ben", "300", "2026-06-26")
    promise(run, "BIRCH", "2026-06-25", "ana", "800", "2026-06-28")
    promise(run, "CEDAR", "2026-06-29", "dan", "700", "2026-07-03")
    log(run, "BIRCH", "no_answer", "2026-07-02", "carl")

    # Payments after the promises were made, then the promise check.
    import_records(
        run,
        tmp_path,
        "july",
        [
            payment("CEDAR", "2026-07-02", "700.00", c1, currency="EUR"),
            payment("BIRCH", "2026-07-05", "2000.00", b1),
        ],
    )
    checked = run("plan", "--for", "2026-07-10")
    assert checked.exit_code == 0, checked.stderr
    statuses = (
        database(run)
        .execute(
            "SELECT status, resolved_on, paid FROM promises JOIN customers c"
            " ON c.id = customer_id WHERE c.account IN ('ALDER', 'BIRCH', 'CEDAR')"
            " ORDER BY promises.id"
        )
        .fetchall()
    )
    assert [tuple(s) for s in statuses] == [
        ("kept", "2026-06-16", 20000),
        ("partly_kept", "2026-06-28", 10000),
        ("broken", "2026-06-30", 0),
        ("kept", "2026-07-02", 70000),
    ]


def report(run, *args: str) -> list[dict]:
    result = run("report", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def buckets(row: dict) -> tuple:
    return tuple(
        row[k]
        for k in (
            "current",
            "days_1_30",
            "days_31_60",
            "days_61_90",
            "days_91_120",
            "days_over_120",
        )
    )


def test_aging_by_currency_segment_and_collector(run, tmp_path):
    portfolio(run, tmp_path)

    # Days past due on 06-30: ALDER-0001 136 (120+), ALDER-0002 30 (1-30),
    # ALDER-0003 -20 and DOGWOOD-0001 -1 (current), BIRCH-0001 91 (91-120),
    # BIRCH-0003 41 (31-60); CEDAR-0001 60 (31-60), CEDAR-0002 77 (61-90).
    # One row per currency: 4550.00 USD and 1000.00 EUR are never added.
    usd, eur = sorted(
        report(run, "aging", "--as-of", "2026-06-30"),
        key=lambda r: r["currency"] != "USD",
    )
    assert usd["currency"] == "USD"
    assert buckets(usd) == ("650.00", "200.00", "800.00", "0.00", "2000.00", "900.00")
    assert (usd["invoices"], usd["total"], usd["overdue"]) == (6, "4550.00", "3900.00")
    assert buckets(eur) == ("0.00", "0.00", "700.00", "300.00", "0.00", "0.00")
    assert (eur["invoices"], eur["total"], eur["overdue"]) == (2, "1000.00", "1000.00")

    by_segment = report(run, "aging", "--as-of", "2026-06-30", "--by", "segment")
    assert [(r["segment"], r["currency"], r["total"]) for r in by_segment] == [
        ("(none)", "USD", "250.00"),  # DOGWOOD
        ("enterprise", "USD", "2800.00"),  # BIRCH 2000 + 800
        ("smb", "EUR", "1000.00"),  # CEDAR
        ("smb", "USD", "1500.00"),  # ALDER 900 + 200 + 400
    ]

    # The collector is whoever logged the customer's latest interaction by
    # the end of the as-of day: ALDER ben (06-20), BIRCH ana (06-25; carl's
    # call came on 07-02), CEDAR dan, DOGWOOD nobody.
    by_collector = report(run, "aging", "--as-of", "2026-06-30", "--by", "collector")
    assert [(r["collector"], r["currency"], r["total"]) for r in by_collector] == [
        ("(none)", "USD", "250.00"),
        ("ana", "USD", "2800.00"),
        ("ben", "USD", "1500.00"),
        ("dan", "EUR", "1000.00"),
    ]

    # As of 07-31 the July payments count (CEDAR-0001, BIRCH-0001 paid) and
    # carl is BIRCH's collector. Days past due then: ALDER-0001 167,
    # ALDER-0002 61, ALDER-0003 11, BIRCH-0003 72, DOGWOOD-0001 30,
    # CEDAR-0002 108.
    july = report(run, "aging", "--as-of", "2026-07-31", "--by", "customer,collector")
    assert [
        (r["account"], r["collector"], r["currency"], buckets(r)) for r in july
    ] == [
        ("ALDER", "ben", "USD", ("0.00", "400.00", "0.00", "200.00", "0.00", "900.00")),
        ("BIRCH", "carl", "USD", ("0.00", "0.00", "0.00", "800.00", "0.00", "0.00")),
        ("CEDAR", "dan", "EUR", ("0.00", "0.00", "0.00", "0.00", "300.00", "0.00")),
        (
            "DOGWOOD",
            "(none)",
            "USD",
            ("0.00", "250.00", "0.00", "0.00", "0.00", "0.00"),
        ),
    ]
    assert july[0]["name"] == "Alder Supply"

    # By country on 06-30, from the days past due above: CA is BIRCH (2000
    # in 91-120, 800 in 31-60), DE is CEDAR (EUR), US is ALDER (900 in 120+,
    # 200 in 1-30, 400 current) and DOGWOOD (250 current): 650 current,
    # 1750 in all, 1100 overdue. USD: 2800 + 1750 = 4550, as above.
    by_country = report(run, "aging", "--as-of", "2026-06-30", "--by", "country")
    assert [
        (
            r["country"],
            r["currency"],
            r["invoices"],
            buckets(r),
            r["total"],
            r["overdue"],
        )
        for r in by_country
    ] == [
        (
            "CA",
            "USD",
            2,
            ("0.00", "0.00", "800.00", "0.00", "2000.00", "0.00"),
            "2800.00",
            "2800.00",
        ),
        (
            "DE",
            "EUR",
            2,
            ("0.00", "0.00", "700.00", "300.00", "0.00", "0.00"),
            "1000.00",
            "1000.00",
        ),
        (
            "US",
            "USD",
            4,
            ("650.00", "200.00", "0.00", "0.00", "0.00", "900.00"),
            "1750.00",
            "1100.00",
        ),
    ]

    # The table and CSV carry the same figures for people and spreadsheets.
    table = run("report", "aging", "--as-of", "2026-06-30")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["currency", "invoices", "current"]
    assert lines[2].split() == [
        "EUR",
        "2",
        "0.00",
        "0.00",
        "700.00",
        "300.00",
        "0.00",
        "0.00",
        "1000.00",
        "1000.00",
    ]
    csv = run("report", "aging", "--as-of", "2026-06-30", "--format", "csv")
    assert csv.stdout.splitlines()[2] == (
        "USD,6,650.00,200.00,800.00,0.00,2000.00,900.00,4550.00,3900.00"
    )


def test_dso_countback_and_simple(run, tmp_path):
    portfolio(run, tmp_path)
    rows = {r["currency"]: r for r in report(run, "dso", *Q2)}

    # USD, 2026-04-01 to 06-30 (91 days), receivables on 06-30: 4550.00.
    # Sales in the quarter: BIRCH-0002 1500 + BIRCH-0003 800 (April),
    # ALDER-0002 500 (May), DOGWOOD-0001 250 + ALDER-0003 400 (June) = 3450.
    # Simple: 4550 / 3450 x 91 = 120.01 -> 120.0 days.
    # Countback from 06-30:
    #   June (30 days) sold 650:  4550 - 650  = 3900 left, 30 days
    #   May (31) sold 500:        3900 - 500  = 3400 left, 61 days
    #   April (30) sold 2300:     3400 - 2300 = 1100 left, 91 days
    #   March (31) sold 2000 (BIRCH-0001) > 1100: 1100 / 2000 x 31 = 17.05
    #   DSO = 91 + 17.05 = 108.05 -> 108.1 (half up)
    usd = rows["USD"]
    assert (usd["from"], usd["to"], usd["days"]) == ("2026-04-01", "2026-06-30", 91)
    assert (usd["receivables"], usd["sales"]) == ("4550.00", "3450.00")
    assert (usd["dso_simple"], usd["dso_countback"]) == (120.0, 108.1)

    # EUR: receivables 1000.00; sold 700 (CEDAR-0001, April).
    # Simple: 1000 / 700 x 91 = 130.0.
    # Countback: June 0 (30 days), May 0 (61), April 700 -> 300 left (91),
    # March sold 300 (CEDAR-0002): 300 / 300 x 31 = 31 -> 122.0.
    eur = rows["EUR"]
    assert (eur["receivables"], eur["sales"]) == ("1000.00", "700.00")
    assert (eur["dso_simple"], eur["dso_countback"]) == (130.0, 122.0)

    # Per segment, from each segment's own sales. enterprise (BIRCH), USD:
    # receivables 2000 + 800 = 2800; sold 1500 + 800 = 2300 in April.
    # Simple: 2800 / 2300 x 91 = 110.78 -> 110.8. Countback: June and May
    # nothing (61 days), April 2300 -> 500 left (91), March 2000 (BIRCH-0001):
    # 500 / 2000 x 31 = 7.75 -> 98.75 -> 98.8.
    by_segment = report(run, "dso", *Q2, "--by", "segment")
    enterprise = next(r for r in by_segment if r["segment"] == "enterprise")
    assert (enterprise["currency"], enterprise["receivables"], enterprise["sales"]) == (
        "USD",
        "2800.00",
        "2300.00",
    )
    assert (enterprise["dso_simple"], enterprise["dso_countback"]) == (110.8, 98.8)
    assert [(r["segment"], r["currency"]) for r in by_segment] == [
        ("(none)", "USD"),
        ("enterprise", "USD"),
        ("smb", "EUR"),
        ("smb", "USD"),
    ]

    # Month by month, each at the month's end:
    # April (30 days), receivables 04-30: ALDER-0001 1000, BIRCH-0001 2000,
    #   BIRCH-0002 1500 (paid on 05-08), BIRCH-0003 800 = 5300; sold 2300.
    #   Simple 5300 / 2300 x 30 = 69.13 -> 69.1. Countback: April 2300 ->
    #   3000 left (30 days), March 2000 -> 1000 (61), February nothing (89),
    #   January 1000 (ALDER-0001) -> 1000 / 1000 x 31 -> 120.0.
    # May (31 days), receivables 05-31: 1000 + 500 (ALDER-0002, paid in
    #   June) + 2000 + 800 = 4300; sold 500. Simple 4300 / 500 x 31 = 266.6.
    #   Countback: May 500 -> 3800 (31), April 2300 -> 1500 (61), March:
    #   1500 / 2000 x 31 = 23.25 -> 84.25 -> 84.3.
    # June (30 days), receivables 4550, sold 650: simple 4550 / 650 x 30 =
    #   210.0; countback as for the quarter, 108.1.
    monthly = report(run, "dso", *Q2, "--by", "month")
    assert [
        (r["month"], r["receivables"], r["sales"], r["dso_simple"], r["dso_countback"])
        for r in monthly
        if r["currency"] == "USD"
    ] == [
        ("2026-04", "5300.00", "2300.00", 69.1, 120.0),
        ("2026-05", "4300.00", "500.00", 266.6, 84.3),
        ("2026-06", "4550.00", "650.00", 210.0, 108.1),
    ]
    # Nothing sold in EUR in May: no simple DSO (not a division by zero);
    # countback still counts: May 0 (31 days), April 700 of the 1000 open on
    # 05-31 (300 left, 61 days), March 300 -> 31 days: 92.0.
    may_eur = next(
        r for r in monthly if (r["month"], r["currency"]) == ("2026-05", "EUR")
    )
    assert (may_eur["sales"], may_eur["dso_simple"], may_eur["dso_countback"]) == (
        "0.00",
        None,
        92.0,
    )


def test_cei_for_the_quarter(run, tmp_path):
    portfolio(run, tmp_path)
    rows = {r["currency"]: r for r in report(run, "cei", *Q2)}

    # USD. Beginning (open on 03-31): ALDER-0001 1000 + BIRCH-0001 2000 = 3000.
    # Sales 3450. Ending (06-30) 4550, of which current (due on or after
    # 06-30): ALDER-0003 400 + DOGWOOD-0001 250 = 650.
    # CEI = (3000 + 3450 - 4550) / (3000 + 3450 - 650) x 100
    #     = 1900 / 5800 x 100 = 32.76 -> 32.8
    usd = rows["USD"]
    assert (usd["beginning"], usd["sales"], usd["ending"], usd["ending_current"]) == (
        "3000.00",
        "3450.00",
        "4550.00",
        "650.00",
    )
    assert (usd["collected"], usd["cei"]) == ("1900.00", 32.8)

    # EUR. Beginning: CEDAR-0002 300; sales 700; ending 1000, none current.
    # CEI = (300 + 700 - 1000) / (300 + 700 - 0) x 100 = 0 / 1000 = 0.0
    eur = rows["EUR"]
    assert (eur["beginning"], eur["sales"], eur["ending"], eur["collected"]) == (
        "300.00",
        "700.00",
        "1000.00",
        "0.00",
    )
    assert eur["cei"] == 0.0

    # July: beginning 4550 USD; nothing sold; ending 06-30's less BIRCH-0001
    # (paid 07-05): 2550, of which nothing current on 07-31 (ALDER-0003 is due
    # 07-20, DOGWOOD-0001 07-01). CEI = 2000 / 4550 x 100 = 43.96 -> 44.0.
    july = {r["currency"]: r for r in report(run, "cei", "--period", "2026-07")}
    assert (july["USD"]["ending"], july["USD"]["cei"]) == ("2550.00", 44.0)

    # May: ALDER-0002 falls due on 05-31, the period's last day, and counts as
    # current. Beginning (04-30): ALDER-0001 1000 + BIRCH-0001 2000 +
    # BIRCH-0002 1500 + BIRCH-0003 800 = 5300; sales ALDER-0002 500; ending
    # 5300 + 500 - BIRCH-0002 (paid 05-08) = 4300, of which current ALDER-0002
    # 500. CEI = (5300 + 500 - 4300) / (5300 + 500 - 500) x 100 = 1500 / 5300
    # x 100 = 28.30 -> 28.3 (with it past due: 1500 / 5800 = 25.9).
    may = {r["currency"]: r for r in report(run, "cei", "--period", "2026-05")}
    assert (
        may["USD"]["beginning"],
        may["USD"]["sales"],
        may["USD"]["ending"],
        may["USD"]["ending_current"],
        may["USD"]["cei"],
    ) == ("5300.00", "500.00", "4300.00", "500.00", 28.3)


def cei_figures(row: dict) -> tuple:
    return tuple(
        row[k]
        for k in ("currency", "beginning", "sales", "ending", "ending_current", "cei")
    )


def test_cei_by_month_and_by_segment(run, tmp_path):
    portfolio(run, tmp_path)

    # Each month of the quarter on its own, at its end:
    # April, USD: beginning (03-31) ALDER-0001 1000 + BIRCH-0001 2000 = 3000;
    #   sales BIRCH-0002 1500 + BIRCH-0003 800 = 2300; ending (04-30) 5300, of
    #   which current BIRCH-0002 (due 05-10) + BIRCH-0003 (05-20) = 2300.
    #   CEI = (3000 + 2300 - 5300) / (3000 + 2300 - 2300) x 100 = 0 / 3000 = 0.0
    # April, EUR: beginning CEDAR-0002 300; sales CEDAR-0001 700, due 05-01,
    #   current on 04-30; ending 1000. CEI = 0 / (300 + 700 - 700) = 0.0
    # May: USD as in test_cei_for_the_quarter, 28.3; EUR 1000 to 1000, none
    #   current (CEDAR-0001 fell due 05-01): 0 / 1000 = 0.0
    # June, USD: beginning 4300; sales DOGWOOD-0001 250 + ALDER-0003 400 = 650;
    #   ending 4550 (the ALDER payments 200 + 100 and the credit note 100 took
    #   400 off), current 650. CEI = 400 / (4300 + 650 - 650) x 100 = 400 /
    #   4300 x 100 = 9.30 -> 9.3
    # June, EUR: 1000 to 1000 (CEDAR-0001 paid in July): 0.0
    monthly = report(run, "cei", *Q2, "--by", "month")
    assert [(r["month"], *cei_figures(r)) for r in monthly] == [
        ("2026-04", "EUR", "300.00", "700.00", "1000.00", "700.00", 0.0),
        ("2026-04", "USD", "3000.00", "2300.00", "5300.00", "2300.00", 0.0),
        ("2026-05", "EUR", "1000.00", "0.00", "1000.00", "0.00", 0.0),
        ("2026-05", "USD", "5300.00", "500.00", "4300.00", "500.00", 28.3),
        ("2026-06", "EUR", "1000.00", "0.00", "1000.00", "0.00", 0.0),
        ("2026-06", "USD", "4300.00", "650.00", "4550.00", "650.00", 9.3),
    ]
    assert sorted({(r["month"], r["from"], r["to"]) for r in monthly}) == [
        ("2026-04", "2026-04-01", "2026-04-30"),
        ("2026-05", "2026-05-01", "2026-05-31"),
        ("2026-06", "2026-06-01", "2026-06-30"),
    ]

    # Per segment over the quarter, each from its own invoices:
    # (none), USD, DOGWOOD: nothing at the start, 250 sold on 06-01 and still
    #   open and current on 06-30: nothing was collectible, 0 / 0: no CEI
    #   (JSON null), and the row is there with its figures.
    # enterprise, USD, BIRCH: beginning BIRCH-0001 2000; sales 1500 + 800 =
    #   2300; ending 2000 + 800 = 2800, none current.
    #   CEI = (2000 + 2300 - 2800) / 4300 x 100 = 1500 / 4300 x 100 = 34.88 -> 34.9
    # smb, EUR, CEDAR: 300 + 700 - 1000 = 0 collected of 1000: 0.0
    # smb, USD, ALDER: beginning ALDER-0001 1000; sales 500 + 400 = 900;
    #   ending 900 + 200 + 400 = 1500, of which ALDER-0003 400 current.
    #   CEI = (1000 + 900 - 1500) / (1000 + 900 - 400) x 100 = 400 / 1500 x 100
    #   = 26.67 -> 26.7
    # Collected in USD: 0 + 1500 + 400 = 1900, the quarter's total.
    by_segment = report(run, "cei", *Q2, "--by", "segment")
    assert [(r["segment"], *cei_figures(r), r["collected"]) for r in by_segment] == [
        ("(none)", "USD", "0.00", "250.00", "250.00", "250.00", None, "0.00"),
        ("enterprise", "USD", "2000.00", "2300.00", "2800.00", "0.00", 34.9, "1500.00"),
        ("smb", "EUR", "300.00", "700.00", "1000.00", "0.00", 0.0, "0.00"),
        ("smb", "USD", "1000.00", "900.00", "1500.00", "400.00", 26.7, "400.00"),
    ]
    # The table leaves the figure that would divide by zero empty.
    table = run("report", "cei", *Q2, "--by", "segment")
    assert table.exit_code == 0, table.stderr
    none_row = next(line for line in table.stdout.splitlines() if "(none)" in line)
    assert none_row.split() == [
        "(none)",
        "USD",
        "2026-04-01",
        "2026-06-30",
        "0.00",
        "250.00",
        "250.00",
        "250.00",
        "0.00",
    ]


def test_cei_when_nothing_was_collectible(run, tmp_path):
    portfolio(run, tmp_path)

    # 01-15 to 01-20: nothing open at the start, ALDER-0001 (1000.00, issued
    # 01-15, due 02-14) sold, and still open and not yet due on 01-20.
    # collected = 0 + 1000 - 1000 = 0; collectible = 0 + 1000 - 1000 = 0:
    # no CEI, not a division by zero, and exit 0.
    period = ("--from", "2026-01-15", "--to", "2026-01-20")
    [row] = report(run, "cei", *period)
    assert cei_figures(row) == ("USD", "0.00", "1000.00", "1000.00", "1000.00", None)
    assert row["collected"] == "0.00"
    csv = run("report", "cei", *period, "--format", "csv")
    assert csv.exit_code == 0, csv.stderr
    assert csv.stdout.splitlines()[1].endswith(",0.00,")

    # Before any invoice: no receivables, no sales, nothing to show. An empty
    # report, exit 0, and a line on stderr saying so.
    empty = run("report", "cei", "--from", "2026-01-01", "--to", "2026-01-14")
    assert (empty.exit_code, empty.stdout) == (0, "")
    assert "No data for the cei report" in empty.stderr
    assert report(run, "cei", "--from", "2026-01-01", "--to", "2026-01-14") == []


def test_promises_made_kept_and_broken(run, tmp_path):
    portfolio(run, tmp_path)

    # Made in the quarter: ALDER 200 (kept 06-16), ALDER 300 (partly kept,
    # 100 paid, resolved 06-28), BIRCH 800 (broken, resolved 06-30), CEDAR
    # 700 EUR (kept, but only on 07-02: still open on 06-30).
    # USD: kept rate = 1 kept / (1 + 1 partly + 1 broken) = 0.3333.
    rows = {r["currency"]: r for r in report(run, "promises", *Q2)}
    usd = rows["USD"]
    assert (
        usd["made"],
        usd["kept"],
        usd["partly_kept"],
        usd["broken"],
        usd["open"],
    ) == (3, 1, 1, 1, 0)
    # promised 200 + 300 + 800; kept 200; paid: 200 (kept) + 100 (partly).
    assert (usd["promised"], usd["kept_amount"], usd["paid"]) == (
        "1300.00",
        "200.00",
        "300.00",
    )
    assert usd["kept_rate"] == 0.3333
    # EUR: nothing resolved by 06-30, so no rate (not a division by zero).
    eur = rows["EUR"]
    assert (eur["made"], eur["open"], eur["promised"], eur["kept_rate"]) == (
        1,
        1,
        "700.00",
        None,
    )

    # Read as of 07-31, the same promises: CEDAR's is kept now.
    later = {
        r["currency"]: r
        for r in report(
            run,
            "promises",
            "--from",
            "2026-04-01",
            "--to",
            "2026-06-30",
            "--as-of",
            "2026-07-31",
        )
    }
    assert (
        later["EUR"]["kept"],
        later["EUR"]["kept_amount"],
        later["EUR"]["kept_rate"],
    ) == (1, "700.00", 1.0)
    assert later["USD"] == usd

    # As of 06-27 only ALDER's first promise had a result; CEDAR's was not made.
    early = report(run, "promises", "--from", "2026-04-01", "--to", "2026-06-27")
    assert [
        (r["currency"], r["made"], r["kept"], r["open"], r["kept_rate"]) for r in early
    ] == [("USD", 3, 1, 2, 1.0)]

    # The collector of a promise is who logged it: ana the kept 200 and the
    # broken 800 (1 of 2), ben the partly kept 300 (0 of 1).
    by_collector = report(run, "promises", *Q2, "--by", "collector")
    assert [
        (r["collector"], r["currency"], r["made"], r["kept_rate"]) for r in by_collector
    ] == [("ana", "USD", 2, 0.5), ("ben", "USD", 1, 0.0), ("dan", "EUR", 1, None)]
    # The year to 07-31 (a period is cut at the as-of date), by month made.
    by_month = report(
        run, "promises", "--period", "2026", "--as-of", "2026-07-31", "--by", "month"
    )
    assert [
        (r["month"], r["currency"], r["made"], r["kept_rate"]) for r in by_month
    ] == [("2026-06", "EUR", 1, 1.0), ("2026-06", "USD", 3, 0.3333)]


def promise_statuses(run) -> list[tuple]:
    """(status, resolved_on, paid in cents) of each promise, in logging order."""
    return [
        tuple(r)
        for r in database(run).execute(
            "SELECT status, resolved_on, paid FROM promises ORDER BY id"
        )
    ]


def plan_portfolio(run, tmp_path) -> None:
    """Partial promises and a payment plan broken at its third instalment.

    FIR (USD) owes FIR-0001, 1000.00 (issued 05-01); GUM (USD) owes
    GUM-0001, 1800.00 (issued 04-01). Payments: FIR 400.00 on 06-05 and
    100.00 on 06-13, GUM 300.00 on 06-09 and on 06-15. They are imported
    first: `cobra import` checks promises as of the real today, when every
    deadline here is past, and would break each instalment itself; `cobra
    plan --for 06-23` checks them as of that day instead, as a plan run then
    would have. Logged (15:00 UTC, the company's zone is UTC):

      06-02 FIR  ana  partial_promise 400.00 by 06-05
      06-03 GUM  ben  plan_agreed: 300.00 on 06-10, 06-15, 06-20 and 06-30
                      (the 1200.00 GUM owes after its payments)
      06-10 FIR  ana  partial_promise 300.00 by 06-12

    The check on 06-23 (2 days of grace): FIR's 400 on 06-05 keeps the first
    (kept 06-05); its 100 on 06-13 is within the second's grace (06-14):
    partly kept, resolved 06-14. GUM's 06-09 and 06-15 payments keep
    instalments 1 and 2; instalment 3 (due 06-20, grace to 06-22) gets
    nothing: broken, resolved 06-22, and its plan with it on 06-23, which
    cancels instalment 4 that day.
    """
    fir = History("FIR", "Fir Traders")
    fir.invoice(date(2026, 5, 1), "1000.00")
    fir.pay(date(2026, 6, 5), "400.00")
    fir.pay(date(2026, 6, 13), "100.00")
    gum = History("GUM", "Gum Tree Co")
    gum.invoice(date(2026, 4, 1), "1800.00")
    gum.pay(date(2026, 6, 9), "300.00")
    gum.pay(date(2026, 6, 15), "300.00")
    import_records(run, tmp_path, "ledger", fir.records + gum.records)
    promise(run, "FIR", "2026-06-02", "ana", "400", "2026-06-05", "partial_promise")
    instalments = [
        arg
        for due in ("2026-06-10", "2026-06-15", "2026-06-20", "2026-06-30")
        for arg in ("--instalment", f"{due}=300.00")
    ]
    log(run, "GUM", "plan_agreed", "2026-06-03", "ben", *instalments)
    promise(run, "FIR", "2026-06-10", "ana", "300", "2026-06-12", "partial_promise")
    checked = run("plan", "--for", "2026-06-23")
    assert checked.exit_code == 0, checked.stderr
    assert promise_statuses(run) == [
        ("kept", "2026-06-05", 40000),  # FIR 400
        ("kept", "2026-06-09", 30000),  # GUM instalment 1
        ("kept", "2026-06-15", 30000),  # instalment 2
        ("broken", "2026-06-22", 0),  # instalment 3
        ("cancelled", "2026-06-23", 0),  # instalment 4
        ("partly_kept", "2026-06-14", 10000),  # FIR 300
    ]


PROMISE_FIGURES = (
    "made",
    "kept",
    "partly_kept",
    "broken",
    "open",
    "promised",
    "kept_amount",
    "paid",
    "kept_rate",
)


def promise_figures(row: dict) -> dict:
    return {k: row[k] for k in PROMISE_FIGURES}


def test_promises_count_partial_promises_and_instalments(run, tmp_path):
    plan_portfolio(run, tmp_path)

    # June, as of 06-30. Made: FIR's two partial promises and GUM's
    # instalments 1-3; instalment 4 was cancelled on 06-23 with its plan and
    # is left out: the missed instalment 3 is the broken promise.
    #   made 5: kept 3 (FIR 400, instalments 1 and 2), partly kept 1 (FIR
    #   300), broken 1 (instalment 3), open 0.
    #   promised 400 + 300 + 300 + 300 + 300 = 1600.00
    #   kept_amount 400 + 300 + 300 = 1000.00
    #   paid: the kept ones' 1000 + the 100 paid on the partly kept = 1100.00
    #   kept_rate = 3 / (3 + 1 + 1) = 0.6
    [june] = report(run, "promises", "--period", "2026-06")
    assert june["currency"] == "USD"
    june_figures = {
        "made": 5,
        "kept": 3,
        "partly_kept": 1,
        "broken": 1,
        "open": 0,
        "promised": "1600.00",
        "kept_amount": "1000.00",
        "paid": "1100.00",
        "kept_rate": 0.6,
    }
    assert promise_figures(june) == june_figures

    # As of 06-22 the plan was not yet broken: instalment 4 was an open
    # promise then (made 6, open 1, promised 1900.00); instalment 3 was
    # resolved on 06-22 itself, broken. The rate is the same 3 of 5.
    [broken_day] = report(run, "promises", "--from", "2026-06-01", "--to", "2026-06-22")
    assert promise_figures(broken_day) == {
        **june_figures,
        "made": 6,
        "open": 1,
        "promised": "1900.00",
    }
    # As of 06-21 instalment 3 had not missed its grace yet: open too, and
    # the rate is 3 kept of the 4 resolved, 3 / (3 + 1 + 0) = 0.75.
    [before] = report(run, "promises", "--from", "2026-06-01", "--to", "2026-06-21")
    assert promise_figures(before) == {
        **june_figures,
        "made": 6,
        "broken": 0,
        "open": 2,
        "promised": "1900.00",
        "kept_rate": 0.75,
    }

    # The collector of an instalment is who logged the plan: ana the two
    # partial promises, 1 kept of 2 resolved (0.5); ben instalments 1-3,
    # 2 kept of 3 (0.6667).
    by_collector = report(run, "promises", "--period", "2026-06", "--by", "collector")
    assert [
        (
            r["collector"],
            r["made"],
            r["kept"],
            r["partly_kept"],
            r["broken"],
            r["kept_rate"],
        )
        for r in by_collector
    ] == [("ana", 2, 1, 1, 0, 0.5), ("ben", 3, 2, 0, 1, 0.6667)]
    # By customer: FIR paid 400 + 100 = 500.00 of 400 + 300 = 700.00 promised;
    # GUM 300 + 300 = 600.00 of instalments 1-3, 3 x 300 = 900.00.
    by_customer = report(run, "promises", "--period", "2026-06", "--by", "customer")
    assert [(r["account"], r["promised"], r["paid"]) for r in by_customer] == [
        ("FIR", "700.00", "500.00"),
        ("GUM", "900.00", "600.00"),
    ]


# -- Portfolio 2: messages sent, payments after them, a promise ---------------------
#
# Eight customers C000000-C000007 owe 1200.00 USD each (outbox_seed). Contacts
# sent through `cobra send` (file backend; the call becomes a task), day in
# UTC, the company's zone:
#
#   contact  day    friendly-reminder  tactic           method      template
#   C0-C2    09-01  step 2 variant 0   personal_appeal  suggestion  reminder-friendly
#   C3-C5    09-01  step 2 variant 1   pressure         persuasion  reminder-firm
#   C5b      09-04  step 5 variant 0   legitimating     authority   final-notice
#   C7       09-02  step 2 variant 0   personal_appeal  suggestion  (a call: task)
#   C6       09-21  step 2 variant 0   personal_appeal  suggestion  reminder-friendly
#
# All e-mail but C7; every reason "forgot". Then: C0 pays 1200 on 09-03; C1
# 500 on 09-12; C2 promises on 09-04 (ana, by phone) to pay 1200 on 09-10 and
# does; C3 pays 1200 on 09-08; C5 pays 600 on 09-06; C6 300 on 09-22. ana
# calls C4 on 09-03 (no answer), ben on 09-10 (leaves a message).

SEPT = ("--from", "2026-09-01", "--to", "2026-09-25")


def send(run, day: str) -> None:
    result = run("send", "--for", day, "--at", f"{day}T11:00:00-04:00")
    assert result.exit_code == 0, result.stderr


def contacts_portfolio(run, tmp_path) -> None:
    db = run("db", "path").stdout.strip()
    seed(db, 6, day="2026-09-01")
    conn = database(run)
    with conn:
        conn.execute(
            "UPDATE outbox SET tactic = 'pressure', method = 'persuasion',"
            " template = 'reminder-firm', variant = 1 WHERE customer_id IN ("
            " SELECT id FROM customers WHERE account IN"
            " ('C000003', 'C000004', 'C000005'))"
        )
    send(run, "2026-09-01")
    seed(db, 1, day="2026-09-02", channel="call", first=7)
    send(run, "2026-09-02")
    with conn:
        conn.execute(
            "INSERT INTO outbox (customer_id, planned_for, strategy, step, cycle,"
            " variant, channel, template, tone, method, tactic, objective, reason,"
            " language, subject, body, state, idempotency_key, created_at)"
            " SELECT customer_id, '2026-09-04', strategy, 4, cycle, 0, 'email',"
            " 'final-notice', 'formal', 'authority', 'legitimating', 'pay', reason,"
            " language, subject, body, 'queued',"
            " 'C000005|friendly-reminder#4|2026-09-04|email', created_at"
            " FROM outbox WHERE idempotency_key LIKE 'C000005|%'"
        )
    send(run, "2026-09-04")
    seed(db, 1, day="2026-09-21", first=6)
    send(run, "2026-09-21")
    sent = conn.execute(
        "SELECT state, backend, COUNT(*) FROM outbox GROUP BY state, backend"
    ).fetchall()
    assert sorted(tuple(r) for r in sent) == [("sent", "file", 8), ("sent", "task", 1)]

    log(run, "C000004", "no_answer", "2026-09-03", "ana")
    promise(run, "C000002", "2026-09-04", "ana", "1200", "2026-09-10")
    log(run, "C000004", "left_message", "2026-09-10", "ben")
    import_records(
        run,
        tmp_path,
        "payments",
        [
            payment("C000000", "2026-09-03", "1200.00"),
            payment("C000001", "2026-09-12", "500.00"),
            payment("C000002", "2026-09-10", "1200.00"),
            payment("C000003", "2026-09-08", "1200.00"),
            payment("C000005", "2026-09-06", "600.00"),
            payment("C000006", "2026-09-22", "300.00"),
        ],
    )
    assert run("plan", "--for", "2026-09-30").exit_code == 0  # checks the promise
    assert database(run).execute("SELECT status, resolved_on FROM promises").fetchone()[
        :
    ] == ("kept", "2026-09-10")


def test_activity_counts_interactions_and_messages(run, tmp_path):
    contacts_portfolio(run, tmp_path)

    # From 09-01 to 09-25: three calls logged, eight messages sent. The call
    # to C7 was handed to a person as a task: not a contact until logged.
    rows = report(run, "activity", *SEPT)
    assert [
        (
            r["kind"],
            r["channel"],
            r["collector"],
            r["outcome"],
            r["contacts"],
            r["customers"],
        )
        for r in rows
    ] == [
        ("interaction", "call", "ana", "no_answer", 1, 1),
        ("interaction", "call", "ana", "promise", 1, 1),
        ("interaction", "call", "ben", "left_message", 1, 1),
        # C0-C5 and C6, and C5 twice: 8 messages to 7 customers.
        ("message", "email", "cobra", "sent", 8, 7),
    ]
    by_channel = report(run, "activity", *SEPT, "--by", "channel")
    assert [(r["channel"], r["contacts"], r["customers"]) for r in by_channel] == [
        ("call", 3, 2),
        ("email", 8, 7),
    ]
    # Up to 09-03 only: the 09-01 messages and ana's first call.
    early = report(
        run, "activity", "--from", "2026-09-01", "--to", "2026-09-03", "--by", "kind"
    )
    assert [(r["kind"], r["contacts"]) for r in early] == [
        ("interaction", 1),
        ("message", 6),
    ]


def test_activity_counts_a_bounced_message_as_failed(run, tmp_path):
    from cobra.channels import Receipt
    from cobra.receipts import apply_receipt
    from cobra.store import Store

    contacts_portfolio(run, tmp_path)
    # Delivery reports after sending: C0's e-mail delivered, C1's bounced.
    with Store.open(run("db", "path").stdout.strip()) as store:
        for account, state in (("C000000", "delivered"), ("C000001", "failed")):
            key = f"{account}|friendly-reminder#1|2026-09-01|email"
            applied = apply_receipt(
                store,
                Receipt(state, key=key, detail="mailbox unknown"),
                at="2026-09-01T16:00:00+00:00",
            )
            assert applied.updated == 1

    # Each message keeps counting as a contact, with its state as outcome: the
    # 8 e-mails are 1 delivered (C0), 1 failed (C1), and 6 still sent to 5
    # customers (C2-C5, C5 twice, and C6).
    rows = report(run, "activity", *SEPT, "--by", "kind,outcome")
    assert [(r["kind"], r["outcome"], r["contacts"], r["customers"]) for r in rows] == [
        ("interaction", "left_message", 1, 1),
        ("interaction", "no_answer", 1, 1),
        ("interaction", "promise", 1, 1),
        ("message", "delivered", 1, 1),
        ("message", "failed", 1, 1),
        ("message", "sent", 6, 5),
    ]
    # A bounce reached no one: not a contact for the tactics. personal_appeal
    # is C0, C2, C7 and C6 now: 4 contacts, 3 evaluated, 2 succeeded (C0, C2).
    appeal = next(
        r
        for r in report(run, "tactics", *SEPT, "--by", "tactic")
        if r["tactic"] == "personal_appeal"
    )
    assert (appeal["contacts"], appeal["evaluated"], appeal["succeeded"]) == (4, 3, 2)


# Wilson 95% intervals (z = 1.96, z² = 3.8416) used below:
#   1 of 1: centre (1 + 1.9208) / 4.8416 = 0.6033,
#           half 1.96 x sqrt(0 + 3.8416/4) / 4.8416 = 0.3967 -> 0.2065 .. 1.0
#   2 of 4: centre (0.5 + 0.4802) / 1.9604 = 0.5,
#           half 1.96 x sqrt(0.0625 + 0.0600) / 1.9604 = 0.3500 -> 0.15 .. 0.85
#   2 of 3: centre (0.6667 + 0.6403) / 2.2805 = 0.5731,
#           half 1.96 x sqrt(0.0741 + 0.1067) / 2.2805 = 0.3654 -> 0.2077 .. 0.9385
#           (to more places 0.207655 .. 0.938510: the table's 20.8% .. 93.9%)
#   0 of 1: centre 1.9208 / 4.8416 = 0.3967, half 0.3967 -> 0.0 .. 0.7935
#   5 of 7: centre (0.7143 + 0.2744) / 1.5488 = 0.6384,
#           half 1.96 x sqrt(0.0292 + 0.0196) / 1.5488 = 0.2794 -> 0.3589 .. 0.9178


def test_tactics_success_within_the_window_and_amount_recovered(run, tmp_path):
    contacts_portfolio(run, tmp_path)
    rows = report(run, "tactics", *SEPT)  # as of 09-25, N = learn.window_days = 7
    each = {(r["dimension"], r["value"]): r for r in rows}

    # Evaluated: contacts whose 7 days are over by 09-25 (day + 7 <= 09-25):
    # all but C6 (09-21). Succeeded: the customer paid, or promised and kept
    # it, within [day, day + 7]:
    #   C0 paid 09-03 yes; C1 paid 09-12, 11 days: no; C2 promised 09-04 and
    #   kept: yes; C3 paid 09-08, day 7: yes; C4 no; C5 (09-01) paid 09-06:
    #   yes; C5b (09-04) paid 09-06: yes; C7 no.
    # Recovered: each payment once, for the latest contact before it within 7
    # days: C0 1200 (C0), C3 1200 (C3), C5's 600 goes to C5b (09-04), not to
    # C5's 09-01 message; C1's and C2's came too late; C6's is not evaluated.
    def figures(key):
        r = each[key]
        return (
            r["contacts"],
            r["customers"],
            r["evaluated"],
            r["succeeded"],
            r["success_rate"],
            r["rate_low"],
            r["rate_high"],
            [(m["amount"], m["currency"]) for m in r["recovered"]],
        )

    # personal_appeal: C0, C1, C2, C7, C6 -> 2 of 4 evaluated.
    assert figures(("tactic", "personal_appeal")) == (
        5,
        5,
        4,
        2,
        0.5,
        0.15,
        0.85,
        [("1200.00", "USD")],
    )
    # pressure: C3, C4, C5 -> 2 of 3, but only C3's payment is theirs.
    assert figures(("tactic", "pressure")) == (
        3,
        3,
        3,
        2,
        0.6667,
        0.2077,
        0.9385,
        [("1200.00", "USD")],
    )
    # legitimating: C5b -> 1 of 1, 600.00.
    assert figures(("tactic", "legitimating")) == (
        1,
        1,
        1,
        1,
        1.0,
        0.2065,
        1.0,
        [("600.00", "USD")],
    )
    assert [v for d, v in each if d == "tactic"] == [
        "legitimating",
        "personal_appeal",
        "pressure",
    ]
    # Methods and templates follow their tactics here.
    assert figures(("method", "suggestion")) == figures(("tactic", "personal_appeal"))
    assert figures(("template", "final-notice")) == figures(("tactic", "legitimating"))
    # Channels: the call to C7 (0 of 1); e-mail: the other 8 contacts to 7
    # customers, 5 of 7 evaluated, 1200 + 1200 + 600.
    assert figures(("channel", "call")) == (1, 1, 1, 0, 0.0, 0.0, 0.7935, [])
    assert figures(("channel", "email")) == (
        8,
        7,
        7,
        5,
        0.7143,
        0.3589,
        0.9178,
        [("3000.00", "USD")],
    )
    assert figures(("reason", "forgot"))[:5] == (9, 8, 8, 5, 0.625)

    # Variants, with the allocation of the last 14 days (09-12 to 09-25):
    # only C6 was planned then, step 2 variant 0: 1 of 1; variant 1 none of
    # that step's 1; step 5 had nothing planned: no share.
    variants = {r["value"]: r for r in rows if r["dimension"] == "variant"}
    assert {
        k: (r["contacts"], r["succeeded"], r["planned"], r["allocation"])
        for k, r in variants.items()
    } == {
        "friendly-reminder step 2 variant 0": (5, 2, 1, 1.0),
        "friendly-reminder step 2 variant 1": (3, 2, 0, 0.0),
        "friendly-reminder step 5 variant 0": (1, 1, 0, None),
    }


def test_tactics_allocation_by_variant_and_reason(run, tmp_path, isolated):
    contacts_portfolio(run, tmp_path)
    (isolated / "cobra.toml").write_text("[report]\nallocation_days = 30\n")

    # Planned from 08-27 to 09-25: step 2 variant 0 for C0, C1, C2, C7, C6 (5)
    # and variant 1 for C3, C4, C5 (3): 5/8 = 0.625 and 3/8 = 0.375; step 5
    # variant 0 for C5 (1 of 1). The plan of 09-30 is after the as-of date.
    rows = report(run, "tactics", *SEPT, "--by", "variant", "--by", "reason")
    assert [
        (
            r["strategy"],
            r["step"],
            r["variant"],
            r["reason"],
            r["contacts"],
            r["evaluated"],
            r["succeeded"],
            r["planned"],
            r["allocation"],
        )
        for r in rows
    ] == [
        ("friendly-reminder", 2, 0, "forgot", 5, 4, 2, 5, 0.625),
        ("friendly-reminder", 2, 1, "forgot", 3, 3, 2, 3, 0.375),
        ("friendly-reminder", 5, 0, "forgot", 1, 1, 1, 1, 1.0),
    ]
    # The shipped strategies learn nothing: no share learning would give.
    assert {r["would_allocate"] for r in rows} == {None}
    # --within 10: C2's own payment on 09-10 (9 days after) now counts for
    # its contact: personal_appeal recovers 1200 (C0) + 1200 (C2). Evaluated:
    # day + 10 <= 09-25, the same contacts.
    wider = report(run, "tactics", *SEPT, "--by", "tactic", "--within", "10")
    appeal = next(r for r in wider if r["tactic"] == "personal_appeal")
    assert (appeal["evaluated"], appeal["succeeded"], appeal["recovered"]) == (
        4,
        2,
        [{"currency": "USD", "amount": "2400.00"}],
    )
    # As of 09-05 no contact has had its 7 days: counted, none evaluated,
    # no rate and no interval (no division by zero).
    early = report(
        run, "tactics", "--from", "2026-09-01", "--to", "2026-09-05", "--by", "tactic"
    )
    assert [
        (r["tactic"], r["contacts"], r["evaluated"], r["success_rate"], r["rate_low"])
        for r in early
    ] == [
        ("legitimating", 1, 0, None, None),
        ("personal_appeal", 4, 0, None, None),
        ("pressure", 3, 0, None, None),
    ]
    table = run("report", "tactics", *SEPT, "--by", "tactic")
    assert "66.7%" in table.stdout and "1200.00 USD" in table.stdout


def tactic_figures(rows: list[dict]) -> dict:
    """tactic -> (contacts, evaluated, succeeded, recovered USD amounts)."""
    return {
        r["tactic"]: (
            r["contacts"],
            r["evaluated"],
            r["succeeded"],
            [m["amount"] for m in r["recovered"] if m["currency"] == "USD"],
        )
        for r in rows
    }


def test_the_success_window_changes_what_is_evaluated_and_succeeded(
    run, tmp_path, isolated
):
    contacts_portfolio(run, tmp_path)
    # With the default N = 7 (test_tactics_success_within_the_window_and_
    # amount_recovered): personal_appeal 5 contacts, 4 evaluated, 2 succeeded
    # (C0, C2), 1200.00; pressure 3, 3, 2 (C3, C5), 1200.00; legitimating
    # 1, 1, 1, 600.00.
    seven = {
        "legitimating": (1, 1, 1, ["600.00"]),
        "personal_appeal": (5, 4, 2, ["1200.00"]),
        "pressure": (3, 3, 2, ["1200.00"]),
    }
    assert tactic_figures(report(run, "tactics", *SEPT, "--by", "tactic")) == seven

    # learn.window_days = 3, as of 09-25. Evaluated: day + 3 <= 09-25, so
    # C6's contact of 09-21 too. Succeeded within [day, day + 3]:
    #   personal_appeal: C0 (09-01) paid 09-03, yes; C1 paid 09-12, no; C2
    #     promised on 09-04, day 3, and kept it, yes; C7 (09-02) no; C6
    #     (09-21) paid 09-22, yes: 3 of 5.
    #   pressure: C3 (09-01) paid 09-08, 7 days, no; C4 no; C5's 09-06
    #     payment is 5 days after its 09-01 e-mail, no: 0 of 3.
    #   legitimating: C5b (09-04), paid 09-06, yes: 1 of 1.
    # Recovered, each payment to the latest contact at most 3 days before it:
    #   C0's 1200 (2 days) and C6's 300 (1 day) to personal_appeal: 1500.00;
    #   C5's 600 to C5b (2 days): 600.00; C3's (7 days), C1's (11) and C2's
    #   (9) to none, so pressure recovers nothing.
    three = {
        "legitimating": (1, 1, 1, ["600.00"]),
        "personal_appeal": (5, 5, 3, ["1500.00"]),
        "pressure": (3, 3, 0, []),
    }
    (isolated / "cobra.toml").write_text("[learn]\nwindow_days = 3\n")
    assert tactic_figures(report(run, "tactics", *SEPT, "--by", "tactic")) == three
    # --within on the command line wins over the config, both ways.
    within = report(run, "tactics", *SEPT, "--by", "tactic", "--within", "7")
    assert tactic_figures(within) == seven
    (isolated / "cobra.toml").unlink()
    within = report(run, "tactics", *SEPT, "--by", "tactic", "--within", "3")
    assert tactic_figures(within) == three
    # The rate follows: personal_appeal 3 / 5 = 60.0% in the table.
    table = run("report", "tactics", *SEPT, "--by", "tactic", "--within", "3")
    line = next(x for x in table.stdout.splitlines() if x.startswith("personal"))
    assert line.split()[1:6] == ["5", "5", "5", "3", "60.0%"]


def test_tactics_recovered_is_listed_per_currency(run, tmp_path):
    contacts_portfolio(run, tmp_path)
    # C4 (pressure, e-mailed 09-01) pays 50000 CLP on 09-05, 4 days later.
    clp = payment("C000004", "2026-09-05", "50000", currency="CLP")
    import_records(run, tmp_path, "clp", [clp])

    # pressure: C3's 1200.00 USD and now C4's 50000 CLP, each in its own
    # currency, never added; C4 paid, so 3 of 3 succeeded.
    rows = {r["tactic"]: r for r in report(run, "tactics", *SEPT, "--by", "tactic")}
    pressure = rows["pressure"]
    assert (pressure["evaluated"], pressure["succeeded"]) == (3, 3)
    assert pressure["recovered"] == [
        {"currency": "CLP", "amount": "50000"},
        {"currency": "USD", "amount": "1200.00"},
    ]
    # The other tactics' amounts are as they were: USD only.
    assert rows["legitimating"]["recovered"] == [
        {"currency": "USD", "amount": "600.00"}
    ]
    # By channel, e-mail: 1200 + 1200 + 600 USD and the 50000 CLP apart.
    email = next(
        r
        for r in report(run, "tactics", *SEPT, "--by", "channel")
        if r["channel"] == "email"
    )
    assert email["recovered"] == [
        {"currency": "CLP", "amount": "50000"},
        {"currency": "USD", "amount": "3000.00"},
    ]
    table = run("report", "tactics", *SEPT, "--by", "tactic").stdout.splitlines()
    line = next(line for line in table if line.startswith("pressure"))
    assert line.rstrip().endswith("50000 CLP; 1200.00 USD")
    csv = run("report", "tactics", *SEPT, "--by", "tactic", "--format", "csv").stdout
    assert '""currency"": ""CLP"", ""amount"": ""50000""' in csv


def test_the_tactics_table_rounds_each_ratio_once(run, tmp_path):
    contacts_portfolio(run, tmp_path)
    # pressure, 2 of 3: 66.7%, 20.8% to 93.9%. The upper bound is 0.938510;
    # rounded to 0.9385 for scripts first and then again, it would show 93.8%.
    # legitimating, 1 of 1: the lower bound is 0.206543, 20.7%; through
    # 0.2065 it would be 20.6%. personal_appeal, 2 of 4: 15.0% .. 85.0%.
    table = run("report", "tactics", *SEPT, "--by", "tactic").stdout.splitlines()
    header = table[0].split()
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert header[5:8] == ["success_rate", "rate_low", "rate_high"]
    assert rows["pressure"][5:8] == ["66.7%", "20.8%", "93.9%"]
    assert rows["legitimating"][5:8] == ["100.0%", "20.7%", "100.0%"]
    assert rows["personal_appeal"][5:8] == ["50.0%", "15.0%", "85.0%"]
    # Scripts get the numbers, rounded once to 4 places.
    pressure = next(
        r
        for r in report(run, "tactics", *SEPT, "--by", "tactic")
        if r["tactic"] == "pressure"
    )
    assert (pressure["rate_low"], pressure["rate_high"]) == (0.2077, 0.9385)
    # The HTML page's table too.
    page = run("report", "html", *SEPT).stdout
    assert ">20.8%-93.9%<" in page and ">20.7%-100.0%<" in page


# -- docs/reports.md: its worked examples and its --by lists ------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "reports.md"


def test_the_documented_dso_and_cei_examples(run, tmp_path):
    # The ledger behind the examples of docs/reports.md (USD, the second
    # quarter of 2026), invoices due 30 days after their issue:
    #   EXAMPLE-0001 01-20 1000.00  paid on 04-20
    #   EXAMPLE-0002 03-10 2000.00  800.00 paid on 05-15
    #   EXAMPLE-0003 04-05 2300.00
    #   EXAMPLE-0004 05-12  500.00
    #   EXAMPLE-0005 06-15  400.00  due 07-15
    # Sales: 2000 in March, 2300 in April, 500 in May, 400 in June; the
    # quarter's 3200. Open on 03-31: 1000 + 2000 = 3000 (the beginning); on
    # 06-30: 1200 + 2300 + 500 + 400 = 4400, of which 400 current.
    example = History("EXAMPLE", "Example Trading")
    first = example.invoice(date(2026, 1, 20), "1000.00")
    march = example.invoice(date(2026, 3, 10), "2000.00")
    example.invoice(date(2026, 4, 5), "2300.00")
    example.invoice(date(2026, 5, 12), "500.00")
    example.invoice(date(2026, 6, 15), "400.00")
    import_records(
        run,
        tmp_path,
        "example",
        [
            *example.records,
            payment("EXAMPLE", "2026-04-20", "1000.00", first),
            payment("EXAMPLE", "2026-05-15", "800.00", march),
        ],
    )
    text = " ".join(DOCS.read_text(encoding="utf-8").split())

    # DSO, as the page works it: simple 4400 / 3200 x 91 = 125.125 -> 125.1;
    # countback 91 days (June to April) + 1200 / 2000 x 31 = 18.6 -> 109.6.
    assert "receivables on 30 June 4400.00" in text
    assert "4400 / 3200 x 91 = 125.1 days" in text
    assert "DSO = 91 + 18.6 = 109.6 days" in text
    [dso] = report(run, "dso", *Q2)
    assert (dso["receivables"], dso["sales"], dso["days"]) == ("4400.00", "3200.00", 91)
    assert (dso["dso_simple"], dso["dso_countback"]) == (125.1, 109.6)

    # CEI: (3000 + 3200 - 4400) / (3000 + 3200 - 400) x 100 = 1800 / 5800 x
    # 100 = 31.03 -> 31.0.
    assert "1800 / 5800 x 100 = 31.0" in text
    [cei] = report(run, "cei", *Q2)
    assert cei_figures(cei) == ("USD", "3000.00", "3200.00", "4400.00", "400.00", 31.0)
    assert cei["collected"] == "1800.00"


def documented_by_fields() -> dict[str, tuple[str, ...]]:
    """Each report's `--by` cell of the table in docs/reports.md, as fields.

    "the same, and `month`" reads as the row above's fields and month.
    """
    found: dict[str, tuple[str, ...]] = {}
    previous: tuple[str, ...] = ()
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        fields = tuple(re.findall(r"`(\w+)`", cells[2]))
        if cells[2].startswith("the same"):
            fields = previous + fields
        else:
            previous = fields
        found[cells[0].strip("`")] = fields
    return found


def test_each_report_s_documented_by_fields_are_its_fields():
    from cobra.reports import REPORTS, module

    documented = documented_by_fields()
    assert set(documented) == set(REPORTS)
    for name in REPORTS:
        assert documented[name] == tuple(module(name).FIELDS), name
    # The parsing itself: dso's cell is "the same, and `month`".
    assert documented["dso"] == ("customer", "segment", "country", "collector", "month")


def test_the_page_rounds_the_kept_rate_half_up_once(run, tmp_path):
    # OAK owes 5000.00 (issued 01-05) and makes 32 promises in March, two a
    # day from 03-01 to 03-16 (10:00 and 16:00 UTC), 10.00 each due two days
    # later. It pays 10.00 on 03-03, 03-06, 03-09, 03-12 and 03-15: each
    # payment keeps one promise in full (one made on its day or up to 4 days
    # before, counting the 2 days of grace), and the import's check breaks
    # the 27 others. March's kept rate is 5 / 32 = 0.15625 exactly: half up
    # to four places 0.1563. (Python's round() gives 0.1562: 0.15625 is
    # exact in binary and round() sends a tie to the even digit.)
    oak = History("OAK", "Oak Partners")
    oak.invoice(date(2026, 1, 5), "5000.00")
    import_records(run, tmp_path, "oak", oak.records)
    calls = tmp_path / "calls.jsonl"
    calls.write_text(
        "".join(
            json.dumps(
                {
                    "account": "OAK",
                    "outcome": "promise",
                    "at": f"2026-03-{day:02d}T{hour}:00:00+00:00",
                    "channel": "call",
                    "collector": "ana",
                    "amount": "10.00",
                    "on": f"2026-03-{day + 2:02d}",
                }
            )
            + "\n"
            for day in range(1, 17)
            for hour in (10, 16)
        ),
        encoding="utf-8",
    )
    logged = run("log", "--from", str(calls))
    assert logged.exit_code == 0, logged.stderr
    paid_on = ("2026-03-03", "2026-03-06", "2026-03-09", "2026-03-12", "2026-03-15")
    import_records(
        run, tmp_path, "paid", [payment("OAK", on, "10.00") for on in paid_on]
    )
    [march] = report(run, "promises", "--period", "2026-03")
    assert (march["made"], march["kept"], march["broken"]) == (32, 5, 27)
    assert march["kept_rate"] == 0.1563

    page = run("report", "html", "--as-of", "2026-04-30")
    assert page.exit_code == 0, page.stderr
    points = re.findall(
        r'<circle class="point[^>]*data-measure="kept_rate"[^>]*>', page.stdout
    )
    assert len(points) == 1, points
    assert 'data-x="2026-03"' in points[0]
    assert 'data-value="0.1563"' in points[0]


# -- Bad input ---------------------------------------------------------------------


def test_a_period_with_no_data_is_an_empty_report(run, tmp_path):
    portfolio(run, tmp_path)  # data, but none in January 2020
    for name in ("aging", "dso", "cei", "promises", "activity", "tactics"):
        for fmt, empty in (("json", "[]\n"), ("csv", ""), ("table", "")):
            result = run("report", name, "--period", "2020-01", "--format", fmt)
            assert (result.exit_code, result.stdout) == (0, empty), (name, fmt)
        assert "2020-01-31" in result.stderr, name  # the table says why


def test_an_unknown_report_lists_the_valid_ones(run):
    result = run("report", "turnover")
    assert result.exit_code == 2
    assert (
        "unknown report 'turnover'; choose one of aging, dso, cei, promises, "
        "activity, tactics, html"
    ) in result.stderr


@pytest.mark.parametrize(
    ("name", "field", "valid"),
    [
        ("aging", "month", "customer, segment, country, collector"),
        ("dso", "tactic", "customer, segment, country, collector, month"),
        ("activity", "segmnet", "kind, channel, collector, outcome, customer, segment"),
        (
            "tactics",
            "collector",
            "tactic, method, channel, template, variant, reason, strategy, segment",
        ),
    ],
)
def test_an_unknown_by_field_lists_the_report_s_fields(run, name, field, valid):
    result = run("report", name, "--by", field)
    assert result.exit_code == 2
    assert f"--by: {field!r} is not a field of the {name} report" in result.stderr
    assert f"choose from {valid}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2026-13"), "'2026-13' is not a period"),
        (("--period", "2026-Q2", "--from", "2026-04-01"), "cannot be combined"),
        (
            ("--from", "2026-05-01", "--to", "2026-04-30"),
            "starts on 2026-05-01, after its end 2026-04-30",
        ),
        (
            ("--to", "2026-07-01", "--as-of", "2026-06-30"),
            "--to 2026-07-01 is after --as-of 2026-06-30",
        ),
        (("--period", "2026-Q3", "--as-of", "2026-06-30"), "after its end 2026-06-30"),
        (("--as-of", "2026-02-30"), "'2026-02-30' is not a date"),
    ],
)
def test_a_bad_period_is_bad_input(run, args, message):
    result = run("report", "dso", *args)
    assert result.exit_code == 2
    assert message in result.stderr
