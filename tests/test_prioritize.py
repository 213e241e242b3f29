"""The worklist: `cobra prioritize` ranks customers with overdue invoices.

The portfolio is a handful of realistic histories (monthly invoices over a
year or two, payments on time, late, partial, or missing) imported through
the jsonl importer; every command runs with a fixed --as-of.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from histories import History, database, good_payer, load, pay, struggling

AS_OF = "2026-06-05"


def prioritize(run, *args: str, as_of: str = AS_OF) -> list[dict]:
    result = run("prioritize", "--as-of", as_of, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# The columns of a row without --explain, in their order.
COLUMNS = (
    "rank",
    "account",
    "name",
    "overdue",
    "days_overdue",
    "reason",
    "confidence",
    "score",
    "next_action",
)


def accounts(rows: list[dict]) -> list[str]:
    return [row["account"] for row in rows]


# -- The portfolio ------------------------------------------------------------------


def new_with_spike() -> History:
    """Since December 2025; its May bill of 1100.00 is 4.4 times the usual."""
    nova = History("NOVA", "Nova Coworking", segment="smb")
    nova.monthly(date(2025, 12, 1), 5, "250.00")
    nova.invoice(date(2026, 5, 1), "1100.00")
    return nova


def two_currencies() -> History:
    """Bills in euros, with a US dollar freight surcharge, all late since March."""
    euro = History("EURO", "Euro Freight GmbH", segment="enterprise", currency="EUR")
    bills = euro.monthly(date(2025, 6, 1), 12, "1450.75", unpaid={9, 10})
    euro.invoice(date(2026, 4, 10), "310.00", currency="USD")
    euro.pay(date(2026, 4, 28), "1450.75", bills[11])
    return euro


def not_yet_due() -> History:
    """Always on time; its latest bill, issued 2026-05-20, falls due on 2026-06-19."""
    punct = History("PUNCT", "Punctual Partners", segment="smb")
    punct.monthly(date(2025, 5, 20), 13, "700.00", unpaid={12})
    return punct


def portfolio(run, tmp_path: Path) -> None:
    load(
        run,
        tmp_path,
        good_payer(),
        struggling(),
        new_with_spike(),
        two_currencies(),
        not_yet_due(),
    )


# -- Ranking --------------------------------------------------------------------------


def test_a_large_old_debt_ranks_above_a_small_new_one_in_the_same_currency(
    run, tmp_path
):
    big = History("BIGBOX", "Big Box Retail")
    big.monthly(date(2026, 1, 1), 5, "9000.00", unpaid={2, 3, 4})
    small = History("DELI", "Corner Deli")
    small.invoice(date(2026, 5, 1), "150.00")
    load(run, tmp_path, small, big)
    rows = prioritize(run)
    assert [(r["rank"], r["account"], r["score"]) for r in rows] == [
        (1, "BIGBOX", 72.32),
        (2, "DELI", 40.42),
    ]
    assert [(r["overdue"], r["days_overdue"]) for r in rows] == [
        ([{"currency": "USD", "amount": "27000.00"}], 66),
        ([{"currency": "USD", "amount": "150.00"}], 5),
    ]


def test_the_worklist_is_ordered_by_score(run, tmp_path):
    portfolio(run, tmp_path)
    rows = prioritize(run)
    assert accounts(rows) == ["BRICK", "EURO", "ACME", "NOVA"]
    assert [row["rank"] for row in rows] == [1, 2, 3, 4]
    scores = [row["score"] for row in rows]
    assert scores == sorted(scores, reverse=True)


def test_each_row_carries_its_diagnosis_and_next_action(run, tmp_path):
    portfolio(run, tmp_path)
    rows = {row["account"]: row for row in prioritize(run)}
    assert {
        a: (r["reason"], r["confidence"], r["next_action"]) for a, r in rows.items()
    } == {
        "BRICK": ("cannot_pay", 0.75, "Offer a payment plan"),
        "EURO": ("unknown", 0.3, "Call to find out why"),
        "ACME": ("forgot", 0.8, "Send a friendly reminder"),
        "NOVA": ("unaware", 0.7, "Explain the bill"),
    }


def test_ties_are_broken_by_account(run, tmp_path):
    twins = []
    for account in ("ZETA", "ALPHA", "MIDDLE"):
        history = History(account, f"{account.title()} Bakery")
        history.monthly(date(2026, 2, 1), 4, "480.00", unpaid={3})
        twins.append(history)
    load(run, tmp_path, *twins)
    rows = prioritize(run)
    assert accounts(rows) == ["ALPHA", "MIDDLE", "ZETA"]
    assert len({row["score"] for row in rows}) == 1


# -- Not yet due -----------------------------------------------------------------------


def test_a_customer_whose_invoices_are_open_but_not_yet_due_is_not_listed(
    run, tmp_path
):
    portfolio(run, tmp_path)
    assert "PUNCT" not in accounts(prioritize(run))


def test_ranks_have_no_gaps_where_a_not_yet_due_customer_was_left_out(run, tmp_path):
    # The punctual customer would score about 29 (sure to pay, never
    # contacted), above this new consumer's 27.67; it must not take a rank.
    deli = History("DELI", "Corner Deli", segment="consumer")
    deli.invoice(date(2026, 5, 1), "150.00")
    load(run, tmp_path, good_payer(), struggling(), not_yet_due(), deli)
    rows = prioritize(run)
    assert [(row["rank"], row["account"]) for row in rows] == [
        (1, "BRICK"),
        (2, "ACME"),
        (3, "DELI"),
    ]


def test_the_same_customer_enters_the_worklist_once_its_bill_falls_due(run, tmp_path):
    load(run, tmp_path, not_yet_due())
    assert prioritize(run) == []
    [row] = prioritize(run, as_of="2026-06-22")
    assert (row["account"], row["days_overdue"], row["reason"]) == (
        "PUNCT",
        3,
        "forgot",
    )


# -- Currencies ------------------------------------------------------------------------


def test_overdue_amounts_are_listed_per_currency_and_never_summed(run, tmp_path):
    portfolio(run, tmp_path)
    rows = {row["account"]: row for row in prioritize(run)}
    assert rows["EURO"]["overdue"] == [
        {"currency": "EUR", "amount": "2901.50"},
        {"currency": "USD", "amount": "310.00"},
    ]


def test_amounts_are_exact_decimal_strings_in_the_currencys_minor_unit(run, tmp_path):
    tokyo = History("TOKYO", "Tokyo Trading KK", currency="JPY")
    tokyo.monthly(date(2025, 11, 1), 7, "150000", unpaid={5, 6})
    kuwait = History("KUWAIT", "Gulf Supplies", currency="KWD")
    kuwait.invoice(date(2026, 4, 15), "1234.567")
    load(run, tmp_path, tokyo, kuwait)
    rows = {row["account"]: row["overdue"] for row in prioritize(run)}
    assert rows == {
        "TOKYO": [{"currency": "JPY", "amount": "300000"}],
        "KUWAIT": [{"currency": "KWD", "amount": "1234.567"}],
    }


def test_a_customer_ranks_by_its_best_percentile_across_currencies(run, tmp_path):
    # Four customers owe USD: 310.00 (EURO), 1100.00, 1200.00 and 3300.00.
    # EURO owes the least of them, but is alone in EUR: its percentile is 1.
    portfolio(run, tmp_path)
    rows = {row["account"]: row for row in prioritize(run, "--explain")}
    assert rows["EURO"]["score_amount"] == 35.0
    assert rows["NOVA"]["score_amount"] == 35 * 2 / 4


def test_the_table_lists_each_currency_separately(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("prioritize", "--as-of", AS_OF)
    [line] = [line for line in result.stdout.splitlines() if "EURO" in line]
    assert "2901.50 EUR; 310.00 USD" in line


# -- Filters ---------------------------------------------------------------------------


def test_top_keeps_the_first_n(run, tmp_path):
    portfolio(run, tmp_path)
    assert accounts(prioritize(run, "--top", "2")) == ["BRICK", "EURO"]


def test_reason_keeps_only_that_diagnosis_with_its_worklist_rank(run, tmp_path):
    portfolio(run, tmp_path)
    rows = prioritize(run, "--reason", "forgot")
    assert [(row["rank"], row["account"]) for row in rows] == [(3, "ACME")]


def test_segment_keeps_only_that_segment(run, tmp_path):
    portfolio(run, tmp_path)
    assert accounts(prioritize(run, "--segment", "enterprise")) == ["BRICK", "EURO"]
    assert accounts(prioritize(run, "--segment", "smb")) == ["ACME", "NOVA"]


def test_top_applies_after_the_other_filters(run, tmp_path):
    portfolio(run, tmp_path)
    assert accounts(prioritize(run, "--segment", "smb", "--top", "1")) == ["ACME"]


def test_an_unknown_reason_is_refused(run, tmp_path):
    result = run("prioritize", "--as-of", AS_OF, "--reason", "lazy")
    assert result.exit_code == 2
    assert "'lazy' is not one of" in result.stderr


# -- Explain ---------------------------------------------------------------------------

COMPONENTS = (
    "score_amount",
    "score_age",
    "score_likelihood",
    "score_broken_promises",
    "score_staleness",
)


def test_explain_shows_the_weighted_components_of_the_score(run, tmp_path):
    portfolio(run, tmp_path)
    rows = {row["account"]: row for row in prioritize(run, "--explain")}
    brick = rows["BRICK"]
    # 3300.00 is the largest of 3 USD debts; 125 days is 90+; 12 paid and 5
    # overdue give 13/19; no promises; never contacted.
    assert {name: brick[name] for name in COMPONENTS} == {
        "score_amount": 35.0,
        "score_age": 25.0,
        "score_likelihood": 13.68,
        "score_broken_promises": 0.0,
        "score_staleness": 10.0,
    }
    assert brick["segment_weight"] == 1.3
    assert brick["score"] == round((35 + 25 + 20 * 13 / 19 + 10) * 1.3, 2)


def test_explained_components_sum_to_the_score_over_the_segment_weight(run, tmp_path):
    portfolio(run, tmp_path)
    for row in prioritize(run, "--explain"):
        total = sum(row[name] for name in COMPONENTS)
        assert total == pytest.approx(row["score"] / row["segment_weight"], abs=0.03), (
            row
        )


def test_explain_gives_the_evidence_behind_the_diagnosis(run, tmp_path):
    portfolio(run, tmp_path)
    rows = {row["account"]: row for row in prioritize(run, "--explain")}
    assert rows["ACME"]["evidence"] == [
        "24 invoices paid with a known date",
        "paid 23 of 24 invoices on time",
        "one invoice overdue, the oldest by 5 days",
    ]


def test_without_explain_there_are_no_components(run, tmp_path):
    portfolio(run, tmp_path)
    row = prioritize(run)[0]
    assert set(row) == set(COLUMNS)


def broken_promise_and_a_call(conn, customer: int) -> None:
    """A promise broken in April and an unanswered call on 2026-05-30."""
    conn.execute(
        "INSERT INTO promises (customer_id, made_on, due_on, currency, amount,"
        " status, resolved_on) VALUES (?, '2026-04-02', '2026-04-15', 'USD',"
        " 80000, 'broken', '2026-04-16')",
        (customer,),
    )
    conn.execute(
        "INSERT INTO interactions (customer_id, at, channel, outcome, collector)"
        " VALUES (?, '2026-05-30T14:00:00+00:00', 'phone', 'no_answer', 'ana')",
        (customer,),
    )


def test_broken_promises_and_a_recent_call_move_the_score(run, tmp_path):
    load(run, tmp_path, struggling())
    conn = database(run)
    with conn:
        brick = conn.execute(
            "SELECT id FROM customers WHERE account = 'BRICK'"
        ).fetchone()[0]
        broken_promise_and_a_call(conn, brick)
    [row] = prioritize(run, "--explain")
    assert (row["score_broken_promises"], row["score_staleness"]) == (3.33, 2.0)


# -- A promise kept only in part ---------------------------------------------------------

# ACME owes its May bill, 1200.00, due 2026-05-31.
PROMISED = "2026-06-03T15:00:00+00:00"


def promise_kept_in_part(run, tmp_path) -> None:
    """ACME promises on 06-03 to pay the 1200.00 by 06-08 and pays 500.00 on
    06-09, within the two days of grace: the promise is partly kept."""
    load(run, tmp_path, good_payer())
    promised = run(
        "log",
        "ACME",
        "--outcome",
        "promise",
        "--amount",
        "1200",
        "--on",
        "2026-06-08",
        "--channel",
        "call",
        "--at",
        PROMISED,
    )
    assert promised.exit_code == 0, promised.stderr
    said = pay(run, tmp_path, "2026-06-09", "500.00", "ACME-P1", account="ACME")
    assert "promises: 0 kept, 1 partly kept, 0 broken" in said


def explained(run, as_of: str) -> dict:
    [row] = prioritize(run, "--explain", as_of=as_of)
    return row


def test_a_partly_kept_promise_weighs_half_a_broken_one(run, tmp_path, isolated):
    # Two broken promises is the starter's threshold for cannot_pay; this
    # collector's config says one.
    (isolated / "cobra.toml").write_text(
        "[diagnosis.thresholds]\nbroken_promises = 1\n"
    )
    promise_kept_in_part(run, tmp_path)
    plan = run("plan", "--for", "2026-06-11")
    assert plan.exit_code == 0, plan.stderr
    conn = database(run)
    assert tuple(
        conn.execute("SELECT status, paid, resolved_on FROM promises").fetchone()
    ) == ("partly_kept", 50000, "2026-06-10")
    assert conn.execute(
        "SELECT title FROM tasks WHERE kind = 'broken_promise'"
    ).fetchone()[0] == (
        "Acme Tools Inc. (ACME) paid only part of 1200.00 USD promised by 2026-06-08:"
        " 700.00 USD still owed"
    )
    # Not kept in full, so not ignored: half of a broken promise's 10 / 3.
    assert explained(run, "2026-06-11")["score_broken_promises"] == 1.67
    # The day before it was decided it weighs nothing yet.
    assert explained(run, "2026-06-09")["score_broken_promises"] == 0.0

    # A second promise, for the 700.00 left, is broken: 1.5 promises of 3.
    again = run(
        "log",
        "ACME",
        "--outcome",
        "promise",
        "--amount",
        "700",
        "--on",
        "2026-06-15",
        "--at",
        "2026-06-11T15:00:00+00:00",
    )
    assert again.exit_code == 0, again.stderr
    checked = run("plan", "--for", "2026-06-18")
    assert "promises: 0 kept, 0 partly kept, 1 broken" in checked.stderr
    assert explained(run, "2026-06-18")["score_broken_promises"] == 5.0
    # Past the few days a good payer is given, the broken promise decides
    # the reason, and the evidence names the partly kept one too.
    row = explained(run, "2026-06-25")
    assert (row["reason"], row["confidence"]) == ("cannot_pay", 0.7)
    assert row["evidence"] == [
        "1 of 2 promises to pay broken, 1 partly kept",
        "1 overdue invoice not in dispute",
    ]
    assert row["score_broken_promises"] == 5.0
    # The worklist's one query says the same as the evidence built one by one.
    for day in ("2026-06-09", "2026-06-11", "2026-06-18", "2026-06-25"):
        [fast] = prioritize(run, as_of=day)
        assert fast == {k: v for k, v in explained(run, day).items() if k in fast}, day


def test_a_rule_may_read_the_partly_kept_promises(run, tmp_path, isolated, monkeypatch):
    (isolated / "cobra.toml").write_text(
        '[[diagnosis.rules]]\nreason = "cannot_pay"\nconfidence = 0.6\n'
        'when = ["promises_partly_kept >= 1"]\n'
    )
    promise_kept_in_part(run, tmp_path)
    assert explained(run, "2026-06-09")["reason"] == "unknown"
    row = explained(run, "2026-06-11")
    assert (row["reason"], row["evidence"]) == (
        "cannot_pay",
        ["1 of 1 promises to pay partly kept"],
    )
    # Compiled into the worklist's query, the rule reads the same count.
    fast, reference = both(
        run, monkeypatch, "prioritize", "--as-of", "2026-06-11", "--format", "jsonl"
    )
    assert fast == reference
    assert json.loads(fast)["reason"] == "cannot_pay"


# -- Formats ---------------------------------------------------------------------------


def test_jsonl_gives_one_object_a_line(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("prioritize", "--as-of", AS_OF, "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert accounts(rows) == ["BRICK", "EURO", "ACME", "NOVA"]
    assert rows[1]["overdue"][0] == {"currency": "EUR", "amount": "2901.50"}


def test_csv_has_a_header_and_the_overdue_amounts_as_json(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("prioritize", "--as-of", AS_OF, "--format", "csv", "--explain")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["account"] for row in rows] == ["BRICK", "EURO", "ACME", "NOVA"]
    assert json.loads(rows[1]["overdue"]) == [
        {"currency": "EUR", "amount": "2901.50"},
        {"currency": "USD", "amount": "310.00"},
    ]
    assert json.loads(rows[2]["evidence"])[1] == "paid 23 of 24 invoices on time"


def test_the_table_has_a_header_and_one_line_per_customer(run, tmp_path):
    portfolio(run, tmp_path)
    lines = run("prioritize", "--as-of", AS_OF).stdout.splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert [line.split()[1] for line in lines[2:]] == ["BRICK", "EURO", "ACME", "NOVA"]


def test_the_explained_table_joins_the_evidence_in_one_cell(run, tmp_path):
    load(run, tmp_path, good_payer())
    result = run("prioritize", "--as-of", AS_OF, "--explain")
    assert (
        "24 invoices paid with a known date; paid 23 of 24 invoices on time; "
        "one invoice overdue, the oldest by 5 days"
    ) in result.stdout


# -- Bad input and the empty store -------------------------------------------------------


def test_an_as_of_that_is_not_a_date_is_refused(run):
    result = run("prioritize", "--as-of", "last friday")
    assert result.exit_code == 2
    assert "'last friday' is not a date; write it as YYYY-MM-DD" in result.stderr
    assert result.stdout == ""


def test_an_empty_store_gives_an_empty_array(run):
    result = run("prioritize", "--as-of", AS_OF, "--format", "json")
    assert (result.exit_code, result.stdout) == (0, "[]\n")


def test_an_empty_store_says_so_in_the_table(run):
    result = run("prioritize", "--as-of", AS_OF)
    assert (result.exit_code, result.stdout) == (0, "")
    assert "Nothing overdue: no one to chase." in result.stderr


# -- cobra customers ---------------------------------------------------------------------


def customers(run, *args: str) -> list[dict]:
    result = run("customers", "--as-of", AS_OF, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_customers_reason_keeps_the_customers_with_that_diagnosis(run, tmp_path):
    portfolio(run, tmp_path)
    rows = customers(run, "--reason", "cannot_pay")
    assert [
        (r["account"], r["currency"], r["balance"], r["overdue"], r["reason"])
        for r in rows
    ] == [("BRICK", "USD", "3300.00", "3300.00", "cannot_pay")]


def test_customers_carry_their_diagnosis(run, tmp_path):
    portfolio(run, tmp_path)
    rows = customers(run, "--with-balance")
    assert [(r["account"], r["currency"], r["reason"]) for r in rows] == [
        ("ACME", "USD", "forgot"),
        ("BRICK", "USD", "cannot_pay"),
        ("EURO", "EUR", "unknown"),
        ("EURO", "USD", "unknown"),
        ("NOVA", "USD", "unaware"),
        ("PUNCT", "USD", "unknown"),
    ]


def test_customers_min_balance_compares_each_row_in_its_own_currency(run, tmp_path):
    portfolio(run, tmp_path)
    rows = customers(run, "--min-balance", "1200")
    assert [(r["account"], r["currency"], r["balance"]) for r in rows] == [
        ("ACME", "USD", "1200.00"),
        ("BRICK", "USD", "3300.00"),
        ("EURO", "EUR", "2901.50"),
    ]


def test_customers_min_balance_with_cents(run, tmp_path):
    portfolio(run, tmp_path)
    rows = customers(run, "--min-balance", "2901.51")
    assert [(r["account"], r["currency"]) for r in rows] == [("BRICK", "USD")]


def test_customers_min_balance_that_is_not_an_amount_is_refused(run, tmp_path):
    portfolio(run, tmp_path)
    result = run("customers", "--as-of", AS_OF, "--min-balance", "abc")
    assert result.exit_code == 2
    assert "'abc' is not an amount; write it like 1500 or 1500.50" in result.stderr
    assert result.stdout == ""


# -- The statistics: the same answers, read from one row per customer --------------------
#
# `cobra import` keeps a row of statistics per customer (migration 0007), and the
# worklist reads them where they hold on the day asked; elsewhere it computes from
# the ledger, as it always did. Each test below compares the two.


def _reference_gather(store, as_of, customer_id=None, overdue_only=False):
    """evidence.gather() as it was before the statistics: the ledger alone."""
    from cobra import evidence

    ids = (
        [customer_id]
        if customer_id is not None
        else [row[0] for row in store.conn.execute("SELECT id FROM customers")]
    )
    return evidence.from_ledger(store, as_of, ids, overdue_only)


def both(run, monkeypatch, *args: str) -> tuple[str, str]:
    """A command's output through the statistics, and computed from the ledger."""
    from cobra import worklist

    fast = run(*args)
    assert fast.exit_code == 0, fast.stderr
    with monkeypatch.context() as patch:
        patch.setattr(worklist, "gather", _reference_gather)
        patch.setattr(worklist, "ranked", lambda *args: None)
        reference = run(*args)
    assert reference.exit_code == 0, reference.stderr
    return fast.stdout, reference.stdout


def open_store(run):
    from cobra.store import Store

    return Store.open(Path(run("db", "path").stdout.strip()))


def generated(run, tmp_path: Path, customers: int = 300, seed: int = 5) -> None:
    """Histories of every payment personality, from the benchmarks' generator."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        from generate import main as generate_main
    finally:
        sys.path.pop(0)
    out = tmp_path / "generated"
    generate_main(
        [
            "--customers",
            str(customers),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--format",
            "jsonl",
        ]
    )
    result = run("import", str(out / "records.jsonl"))
    assert result.exit_code == 0, result.stderr


# The generator's history ends on 2026-06-30: that day and a few after it are read
# from the statistics (fewer customers each day, as invoices fall due), days long
# after or before it from the ledger.
DAYS = (
    "2026-06-30",
    "2026-07-01",
    "2026-07-20",
    "2026-08-31",
    "2027-02-01",
    "2026-05-15",
    "2025-09-30",
)


def test_the_evidence_from_the_statistics_is_the_evidence_from_the_ledger(
    run, tmp_path
):
    from cobra import evidence
    from cobra.store import evidence as queries

    generated(run, tmp_path)
    store = open_store(run)
    everyone = [row[0] for row in store.conn.execute("SELECT id FROM customers")]
    held = {}
    for day in map(date.fromisoformat, DAYS):
        fast = list(evidence.gather(store, day))
        reference = list(evidence.from_ledger(store, day, everyone))
        assert len(fast) > 100
        assert sorted(fast, key=lambda e: e.customer_id) == reference, day
        for mine, theirs in zip(sorted(fast, key=lambda e: e.customer_id), reference):
            assert [type(v) for v in mine.facts.values()] == [
                type(v) for v in theirs.facts.values()
            ]
        held[day.isoformat()] = len(everyone) - len(
            queries.stale_customers(store.conn, queries.params(day))
        )
    store.close()
    # The comparison is worth something only where the statistics were used.
    assert held["2026-06-30"] == len(everyone)
    assert 0 < held["2026-08-31"] < held["2026-07-01"] <= held["2026-06-30"]
    assert held["2026-05-15"] == held["2025-09-30"] == 0


@pytest.mark.parametrize("day", DAYS)
def test_the_worklist_from_the_statistics_is_the_one_from_the_ledger(
    run, tmp_path, monkeypatch, day
):
    generated(run, tmp_path, customers=150, seed=9)
    for args in (
        ("--format", "jsonl"),
        ("--explain", "--format", "json"),
        ("--format", "table"),
        ("--reason", "unknown", "--top", "5"),
        ("--segment", "smb", "--format", "json"),
    ):
        fast, reference = both(run, monkeypatch, "prioritize", "--as-of", day, *args)
        assert fast == reference, args
        assert fast.count("\n") > 5
    fast, reference = both(
        run, monkeypatch, "customers", "--as-of", day, "--format", "json"
    )
    assert fast == reference


@pytest.mark.parametrize("day", ["2026-06-30", "2026-07-20", "2025-09-30"])
def test_the_worklist_query_ranks_as_the_evidence_does(run, tmp_path, day):
    from cobra import config, worklist

    generated(run, tmp_path, customers=80)
    store = open_store(run)
    settings = config.load()
    as_of = date.fromisoformat(day)
    ranked = worklist.ranked(store, settings, as_of)
    built = worklist.build(store, settings, as_of, overdue_only=True)
    assert len(ranked) > 10
    assert [
        (
            r.account,
            r.rank,
            r.reason,
            r.confidence,
            r.score,
            r.overdue,
            r.days_overdue,
            r.action,
        )
        for r in ranked
    ] == [
        (
            e.evidence.account,
            e.rank,
            e.diagnosis.reason,
            round(e.diagnosis.confidence, 2),
            e.score.total,
            e.evidence.overdue,
            int(e.evidence["oldest_days_overdue"]),
            e.action,
        )
        for e in built
        if e.rank
    ]
    store.close()


def test_the_import_computes_statistics_for_every_customer(run, tmp_path):
    portfolio(run, tmp_path)
    conn = database(run)
    rows = conn.execute(
        "SELECT c.account, s.anchor FROM customers c "
        "LEFT JOIN customer_stats s ON s.customer_id = c.id"
    ).fetchall()
    latest = conn.execute(
        "SELECT MAX(MAX(issue_date), MAX(closed_on)) FROM invoices"
    ).fetchone()[0]
    assert sorted(tuple(row) for row in rows) == [
        (account, latest) for account in ("ACME", "BRICK", "EURO", "NOVA", "PUNCT")
    ]
    # Computing again what is there does nothing; a missing row is computed.
    from cobra.store.evidence import refresh_customer_stats

    with conn:
        assert refresh_customer_stats(conn) == 0
        before = conn.execute("SELECT * FROM customer_stats ORDER BY 1").fetchall()
        conn.execute("DELETE FROM customer_stats WHERE customer_id = 2")
        assert refresh_customer_stats(conn) == 1
        assert (
            conn.execute("SELECT * FROM customer_stats ORDER BY 1").fetchall() == before
        )
    conn.close()


@pytest.mark.parametrize(
    ("change", "sql"),
    [
        (
            "a dispute",
            (
                "UPDATE invoices SET disputed_since = '2026-05-20' WHERE id = "
                "(SELECT MAX(id) FROM invoices WHERE customer_id = :customer)"
            ),
        ),
        (
            "a bounced address",
            (
                "UPDATE contacts SET invalid_since = "
                "'2026-05-02T10:00:00+00:00' WHERE customer_id = :customer"
            ),
        ),
        (
            "a payment",
            (
                "INSERT INTO payments (customer_id, reference, paid_on, currency,"
                " amount, created_at) VALUES (:customer, 'P-NEW', '2026-06-01', 'USD',"
                " 5000, '2026-06-01T00:00:00+00:00')"
            ),
        ),
        (
            "a new bill",
            (
                "INSERT INTO invoices (customer_id, number, issue_date, due_date,"
                " currency, amount, balance, created_at, updated_at) VALUES"
                " (:customer, 'NEW-1', '2026-06-01', '2026-06-02', 'USD', 990000,"
                " 990000, 'x', 'x')"
            ),
        ),
        (
            "a write-off",
            (
                "UPDATE invoices SET status = 'written_off', balance = 0 WHERE id = "
                "(SELECT MAX(id) FROM invoices WHERE customer_id = :customer)"
            ),
        ),
        ("a contact removed", "DELETE FROM contacts WHERE customer_id = :customer"),
    ],
)
def test_what_changes_outside_an_import_is_never_read_from_stale_statistics(
    run, tmp_path, monkeypatch, change, sql
):
    portfolio(run, tmp_path)
    conn = database(run)
    before = {tuple(row) for row in conn.execute("SELECT * FROM customer_stats")}
    with conn:
        customer = conn.execute(
            "SELECT id FROM customers WHERE account = 'ACME'"
        ).fetchone()[0]
        conn.execute(sql, {"customer": customer})
    # That customer's row is gone, the others are as they were...
    after = {tuple(row) for row in conn.execute("SELECT * FROM customer_stats")}
    assert {row[0] for row in before - after} == {customer}
    assert after < before
    # ...and every command says what the ledger says.
    for args in (
        ("prioritize", "--as-of", AS_OF, "--format", "jsonl"),
        ("prioritize", "--as-of", AS_OF, "--explain", "--format", "json"),
        ("show", "ACME", "--as-of", AS_OF, "--format", "json"),
    ):
        fast, reference = both(run, monkeypatch, *args)
        assert fast == reference, change
    # The next import, even of nothing new, computes the row again.
    result = run("import", str(tmp_path / "ledger.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert (
        conn.execute(
            "SELECT COUNT(*) FROM customer_stats WHERE customer_id = ?", (customer,)
        ).fetchone()[0]
        == 1
    )
    conn.close()


def test_promises_interactions_and_findings_are_read_live(run, tmp_path, monkeypatch):
    portfolio(run, tmp_path)
    conn = database(run)
    with conn:
        brick = conn.execute(
            "SELECT id FROM customers WHERE account = 'BRICK'"
        ).fetchone()[0]
        acme = conn.execute(
            "SELECT id FROM customers WHERE account = 'ACME'"
        ).fetchone()[0]
        broken_promise_and_a_call(conn, brick)
        conn.execute(
            "INSERT INTO findings (customer_id, reason, noted_at, collector)"
            " VALUES (?, 'cannot_pay', '2026-05-01T09:00:00+00:00', 'ana')",
            (acme,),
        )
    stats = conn.execute("SELECT COUNT(*) FROM customer_stats").fetchone()[0]
    conn.close()
    assert stats == 5  # none of that touches the statistics
    fast, reference = both(
        run, monkeypatch, "prioritize", "--as-of", AS_OF, "--format", "jsonl"
    )
    assert fast == reference
    rows = {row["account"]: row for row in map(json.loads, fast.splitlines())}
    assert (rows["ACME"]["reason"], rows["ACME"]["confidence"]) == ("cannot_pay", 1.0)


def test_amounts_in_major_units_read_as_money_writes_them():
    from cobra.cli.cmd_prioritize import major_units
    from cobra.money import Money

    for currency in ("USD", "CLP", "JOD", "EUR", "COP", "UYW"):
        for amount in (0, 1, 5, 10, 99, 100, 101, 12345, 10**15 + 7, -1, -250, -100000):
            assert (
                major_units(amount, currency)
                == f"{Money(amount, currency).to_decimal():f}"
            )


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_the_worklists_json_is_what_emit_writes(fmt, capsys):
    from cobra.cli.cmd_prioritize import _row, _write_json
    from cobra.output import emit
    from cobra.worklist import Ranked, Ranking

    entries = [
        (
            1,
            7,
            "C1",
            'Rojas "El Toro" Ltda.\\',
            {"CLP": 125000},
            45,
            "unknown",
            0.3,
            61.23,
            "Call to find out why",
        ),
        (
            2,
            8,
            "Ñ-2",
            "Müller, Straße & Søn\u2028\x00\t",
            {},
            -3,
            "forgot",
            1.0,
            0.0,
            "",
        ),
        (
            3,
            9,
            "C3",
            "日本商事",
            {"USD": 120000, "EUR": 5, "MXN": 0},
            0,
            "fraud",
            0.85,
            1e-05,
            "Offer a payment plan",
        ),
        (
            4,
            1,
            "C4",
            "x" * 300,
            {"JOD": -1250},
            10**6,
            "unaware",
            0.1,
            123456789.125,
            "é",
        ),
        (5, 2, "C5", "Cero", {"USD": 0}, 1, "unknown", 0.3, -0.0, "\\n"),
    ]
    entries = [Ranked(e[0], e[1], e[2], e[3], "smb", *e[4:]) for e in entries]
    _write_json(Ranking(*map(list, zip(*entries))), fmt)
    mine = capsys.readouterr().out
    emit((_row(entry, fmt) for entry in entries), fmt)
    assert mine == capsys.readouterr().out
    _write_json(Ranking(*([] for _ in Ranked._fields)), fmt)
    mine = capsys.readouterr().out
    emit(iter([]), fmt)
    assert mine == capsys.readouterr().out
