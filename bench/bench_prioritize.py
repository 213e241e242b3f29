"""How fast ``cobra prioritize`` ranks a portfolio, and ``cobra show`` one account.

The targets, from the issue, measured on one store built from ``generate.py``
(100,000 customers, about 1,000,000 invoices and 970,000 payments; 10,000
customers with ``--quick``):

- ``prioritize_ratio`` <= 3.0: ``cobra --db DB prioritize --as-of 2026-06-30
  --format jsonl > /dev/null`` (a subprocess: start-up included) divided by
  the time the ``sqlite3`` shell takes to run one aggregate query over the
  same file -- open overdue amount and oldest due date per customer and
  currency, largest first (``BASELINE_SQL``), output discarded. That query
  reads what a worklist needs at the least; cobra also diagnoses, scores and
  writes every row, and the target allows it three times as long.
- ``show_ratio`` <= 1.0: ``cobra --db DB show ACCOUNT --as-of 2026-06-30``
  (a subprocess, median of 5 runs) for a few different accounts, the slowest
  account's median divided by 0.3 s. The issue states an absolute target,
  "under 0.3 s on this machine class", for a command a collector runs by
  hand; the runner only accepts targets on ratios, so the figure is
  ``show_s / 0.3``. It is the one target here that depends on the machine:
  on a much slower one it can fail while cobra is as fast as ever, and
  ``show_s`` and ``startup_s`` (``cobra --version``) in the notes tell
  which.

The store is built once by cobra itself (``generate.py --format jsonl``, then
``cobra --db DB import records.jsonl``, so invoices carry the dates they
were paid and payments exist: the history facts have something to count)
and cached by ``stores.py`` in ``bench/out/prioritize-c<customers>-s<seed>/``,
keyed by the customer count, seed, as-of date, ``generate.py``'s source and
cobra's schema migrations (not by cobra's importer code: delete the folder to
rebuild it after changing how imports write); the JSON Lines file is deleted
once imported. The import allocates payments one by one, so it is slow: about 85 s
for 100,000 customers (970,000 payments) on the development machine, well
under the ten minutes past which the issue would rather have the store built
from the CSV (fast, but without payments or payment dates, which would leave
the history facts empty). Its time is printed when the store is built and
recalled from ``built.json`` afterwards.

cobra runs from the repository root (``-m cobra`` finds this working tree)
with every ``COBRA_*`` variable removed, ``COBRA_HOME`` in a temporary
folder, ``COBRA_CONFIG`` naming an empty file (cobra's embedded starter
rules and weights) and ``COBRA_LOAD_PLUGINS=""``, so neither plugins nor a
stray ``cobra.toml`` change what is measured. Where the environment sets
``PYTHONDONTWRITEBYTECODE``, cobra's children get ``PYTHONPYCACHEPREFIX`` in
``bench/out/pycache`` instead, so they do not compile every module again on
each run, as no installed cobra does. The sqlite3 shell gets ``-init
/dev/null`` (no ~/.sqliterc).

Each side runs once untimed (warming the page cache, checking that it works),
then baseline and cobra alternate, with one more baseline at the end, and
medians are compared. Afterwards, untimed, a breakdown runs in a child
process (``python bench/bench_prioritize.py --breakdown DB ACCOUNT``): the
steps of the command one by one (loading plugins, finding the customers
whose statistics do not hold on the day, the worklist query, the ranking,
the whole command in-process), the evidence of every customer from the
statistics and from the ledger alone, what computing every customer's
statistics costs an import (in a transaction rolled back), and the
functions that take longest under cProfile, so the notes show where the
time goes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# bench/ is on sys.path when run.py loads this module
from stores import (
    AS_OF,
    ROOT,
    _shown,
    child_json,
    cobra,
    cobra_env,
    reporter,
    sample_store,
    sqlite3_shell,
    timed,
)

NAME = "prioritize"
DESCRIPTION = (
    "cobra prioritize of 100k customers / 1M invoices against one sqlite3 "
    "aggregate query; cobra show of one account against 0.3 s"
)
TARGETS = {"prioritize_ratio": 3.0, "show_ratio": 1.0}

CUSTOMERS, QUICK_CUSTOMERS = 100_000, 10_000
# Timed rounds of (baseline, prioritize), then one more baseline.
ROUNDS, QUICK_ROUNDS = 5, 3
SHOW_RUNS = 5  # per account; the issue asks for the median of 5
# The target for `cobra show`, in seconds, on the machine class the
# project is developed on: an absolute bound, reported as a ratio to it.
SHOW_BUDGET_S = 0.3

progress = reporter(NAME)

BASELINE_SQL = (
    "SELECT customer_id, currency, SUM(balance) AS overdue, MIN(due_date) "
    f"FROM invoices WHERE status = 'open' AND due_date < '{AS_OF}' "
    "GROUP BY customer_id, currency ORDER BY overdue DESC;"
)


def _pick_accounts(db: Path, ranked_first: str) -> dict[str, str]:
    """A few accounts of different shapes for `cobra show`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        busiest = conn.execute(
            "SELECT c.account FROM customers c JOIN invoices i ON i.customer_id = c.id "
            "GROUP BY c.id ORDER BY COUNT(*) DESC, c.id LIMIT 1"
        ).fetchone()[0]
        settled = conn.execute(
            "SELECT account FROM customers c WHERE NOT EXISTS "
            "(SELECT 1 FROM invoices i "
            "WHERE i.customer_id = c.id AND i.status = 'open') ORDER BY id LIMIT 1"
        ).fetchone()
        last = conn.execute(
            "SELECT account FROM customers ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
    finally:
        conn.close()
    picked = {
        "top of the worklist": ranked_first,
        "most invoices": busiest,
        "last customer": last,
    }
    if settled:
        picked["nothing open"] = settled[0]
    return picked


# --- the benchmark ----------------------------------------------------------------


def run(quick: bool) -> dict[str, float]:
    shell = sqlite3_shell()
    version = subprocess.run(
        [shell, "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    customers = QUICK_CUSTOMERS if quick else CUSTOMERS
    rounds = QUICK_ROUNDS if quick else ROUNDS

    with tempfile.TemporaryDirectory(prefix="cobra-bench-prioritize-") as home:
        home = Path(home)
        env = cobra_env(home)
        if "PYTHONPYCACHEPREFIX" in env and "PYTHONPYCACHEPREFIX" not in os.environ:
            print(
                "PYTHONDONTWRITEBYTECODE is set here: cobra ran with bytecode "
                "caches in "
                f"{_shown(Path(env['PYTHONPYCACHEPREFIX']))} instead"
            )
        db, info = sample_store(NAME, customers, env)
        db_mb = db.stat().st_size / 2**20
        baseline_argv = [shell, "-init", os.devnull, str(db), BASELINE_SQL]
        prioritize_argv = cobra(db, "prioritize", "--as-of", AS_OF, "--format", "jsonl")

        # Untimed: warm the page cache and check both sides' output.
        progress("checking both sides once...")
        base_rows = subprocess.run(
            baseline_argv, cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
        overdue_customers = len({row.split("|", 1)[0] for row in base_rows})
        worklist = home / "worklist.jsonl"
        with open(worklist, "wb") as out:
            first_s = timed(prioritize_argv, env, "cobra prioritize", stdout=out)
        with open(worklist, encoding="utf-8") as lines:
            first_line = lines.readline()
            ranked = 1 + sum(1 for _ in lines) if first_line else 0
        if not ranked:
            raise RuntimeError("cobra prioritize ranked no one")
        top = json.loads(first_line)
        reasons: dict[str, int] = {}
        with open(worklist, encoding="utf-8") as lines:
            for line in lines:
                reason = json.loads(line)["reason"]
                reasons[reason] = reasons.get(reason, 0) + 1
        worklist.unlink()

        baselines, runs = [], []
        for number in range(1, rounds + 1):
            progress(
                f"sqlite3 query and cobra prioritize, round {number} of {rounds}..."
            )
            baselines.append(timed(baseline_argv, None, "sqlite3 baseline query"))
            runs.append(timed(prioritize_argv, env, "cobra prioritize"))
        baselines.append(timed(baseline_argv, None, "sqlite3 baseline query"))

        accounts = _pick_accounts(db, top["account"])
        progress(f"cobra show of {len(accounts)} accounts, {SHOW_RUNS} runs each...")
        startup = []
        shows: dict[str, list[float]] = {label: [] for label in accounts}
        timed([sys.executable, "-m", "cobra", "--version"], env, "cobra --version")
        for label, account in accounts.items():  # untimed first runs: warm
            timed(
                cobra(db, "show", account, "--as-of", AS_OF),
                env,
                f"cobra show {account}",
            )
        for _ in range(SHOW_RUNS):  # interleaved, like the rest
            startup.append(
                timed(
                    [sys.executable, "-m", "cobra", "--version"], env, "cobra --version"
                )
            )
            for label, account in accounts.items():
                shows[label].append(
                    timed(
                        cobra(db, "show", account, "--as-of", AS_OF),
                        env,
                        f"cobra show {account}",
                    )
                )

        progress("breakdown (untimed)...")
        breakdown = _run_breakdown(db, env, accounts["most invoices"])

    base = statistics.median(baselines)
    prioritize_s = statistics.median(runs)
    startup_s = statistics.median(startup)
    show_medians = {label: statistics.median(times) for label, times in shows.items()}
    show_s = max(show_medians.values())  # the target holds for every account

    _notes(
        quick,
        info,
        db,
        db_mb,
        version,
        baselines,
        runs,
        first_s,
        base_rows,
        overdue_customers,
        ranked,
        reasons,
        accounts,
        shows,
        show_medians,
        startup_s,
        breakdown,
    )

    figures = {
        "customers": float(info["customers"]),
        "invoices": float(info["invoices"]),
        "ranked": float(ranked),
        "baseline_s": base,
        "prioritize_s": prioritize_s,
        "prioritize_ratio": prioritize_s / base,
        "startup_s": startup_s,
        "show_s": show_s,
        "show_ratio": show_s / SHOW_BUDGET_S,
        "store_mb": db_mb,
        "import_s": float(info["import_s"]),
    }
    for key in ("query_s", "ranked_s", "command_s", "plugins_s", "refresh_s"):
        if key in breakdown:
            figures[f"breakdown_{key}"] = breakdown[key]
    return figures


def _notes(
    quick,
    info,
    db,
    db_mb,
    version,
    baselines,
    runs,
    first_s,
    base_rows,
    overdue_customers,
    ranked,
    reasons,
    accounts,
    shows,
    show_medians,
    startup_s,
    breakdown,
) -> None:
    built = "cached" if info["cached"] else "built now"
    print(
        f"store: {_shown(db)} ({built}, {info['built_on']}), {db_mb:.0f} MB: "
        f"{info['customers']:,} customers, {info['invoices']:,} invoices, "
        f"{info['payments']:,} payments, {info['credit_notes']:,} credit notes"
        + (" (--quick: a tenth of the issue's 100,000 customers)" if quick else "")
    )
    print(
        f"store built by cobra import of records.jsonl: generating took "
        f"{info['generate_s']:.0f} s, the import {info['import_s']:.0f} s "
        f"({info['import_s'] / 60:.1f} min)"
    )
    print(
        f"baseline: sqlite3 {version[0] if version else '?'} -init /dev/null DB "
        f'"{BASELINE_SQL}" > /dev/null: {_times(baselines)}; {len(base_rows):,} rows, '
        f"{overdue_customers:,} customers"
    )
    print(
        f"cobra prioritize --as-of {AS_OF} --format jsonl > /dev/null: {_times(runs)} "
        f"(first, untimed run: {first_s:.2f} s); {ranked:,} customers ranked; reasons: "
        + ", ".join(
            f"{k} {v:,}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])
        )
    )
    if ranked != overdue_customers:
        print(
            f"note: cobra ranked {ranked:,} customers, the baseline query found "
            f"{overdue_customers:,} with open overdue invoices"
        )
    print(f"cobra --version (start-up alone): median {startup_s * 1000:.0f} ms")
    for label, account in accounts.items():
        print(f"cobra show {account} ({label}): {_times(shows[label])}")
    print(
        f"show_s is the slowest account's median; show_ratio = show_s / "
        f"{SHOW_BUDGET_S} s, the issue's absolute target on this machine class"
    )
    if "error" in breakdown:
        print(f"breakdown failed: {breakdown['error']}")
        return
    command_s = breakdown["command_s"]
    print(
        "breakdown, in one process, untimed above "
        "(each step repeats the steps before it; best of 3):"
    )
    print(
        f"  loading plugins (to know whether one adds facts or diagnoses): "
        f"{breakdown['plugins_s']:.3f} s"
    )
    print(
        f"  which customers' statistics do not hold on {AS_OF}: "
        f"{breakdown['stale_s']:.3f} s ({breakdown['stale']:,} customers)"
    )
    print(
        f"  the worklist query (facts, rules, score parts; rows fetched): "
        f"{breakdown['query_s']:.3f} s"
    )
    print(
        f"  worklist.ranked() (that query, amounts ranked, totals, sorted): "
        f"{breakdown['ranked_s']:.3f} s"
    )
    print(
        f"  the whole prioritize command in-process, output to /dev/null: "
        f"{command_s:.3f} s; so about "
        f"{max(0.0, command_s - breakdown['ranked_s'] - breakdown['plugins_s']):.3f}"
        f" s writing rows and the rest (the subprocess adds start-up: "
        f"cobra --version takes {startup_s * 1000:.0f} ms)"
    )
    print(
        f"  evidence.gather() of every customer (what --explain, plan and show "
        f"build on): {breakdown['gather_s']:.2f} s; from the ledger alone "
        f"(the computation before the statistics): {breakdown['ledger_s']:.2f} s"
    )
    print(
        f"  computing every customer's statistics, as the import does "
        f"(rolled back): {breakdown['refresh_s']:.2f} s"
    )
    print(
        f"  show in-process ({breakdown['show_account']}, best of 3): "
        f"{breakdown['show_command_s'] * 1000:.0f} ms, of which "
        f"diagnose_one {breakdown['diagnose_one_s'] * 1000:.0f} ms"
    )
    print(
        "  slowest functions of the prioritize command under cProfile (own time; "
        "the profiler inflates Python-heavy ones):"
    )
    for line in breakdown["profile"]:
        print(f"    {line}")


def _times(times: list[float]) -> str:
    shown = ", ".join(f"{t:.3f} s" if t < 1 else f"{t:.2f} s" for t in times)
    median = statistics.median(times)
    return (
        f"{shown}; median {median:.3f} s"
        if median < 1
        else f"{shown}; median {median:.2f} s"
    )


# --- the breakdown, in a child process ------------------------------------------------


def _run_breakdown(db: Path, env: dict[str, str], account: str) -> dict:
    return child_json(
        str(Path(__file__).resolve()), ["--breakdown", str(db), account], env
    )


def breakdown(db: str, account: str) -> dict:
    """Time the pieces of prioritize and show in this process; print them as JSON."""
    import contextlib
    import cProfile
    import io
    import pstats
    from datetime import date

    sys.path.insert(0, str(ROOT))  # this working tree's cobra, as -m cobra finds it
    from cobra import config as config_module
    from cobra import evidence, worklist
    from cobra.cli import cli
    from cobra.diagnosis import Diagnoser
    from cobra.evidence import FACTS
    from cobra.scoring import sql_settings
    from cobra.store import Store
    from cobra.store import evidence as queries

    as_of = date.fromisoformat(AS_OF)
    result: dict = {}
    store = Store.open(Path(db))
    conn = store.conn
    params = queries.params(as_of)
    config = config_module.load()

    def clock(call, times: int = 1):
        best = float("inf")
        for _ in range(times):
            started = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - started)
        return best

    def plugins():
        from cobra import plugins as plugins_module

        plugins_module.reset()
        worklist._plugin_evidence()

    # The first load imports the plugins' modules, as a fresh process does.
    result["plugins_s"] = clock(plugins)
    result["stale"] = len(queries.stale_customers(conn, params))
    result["stale_s"] = clock(lambda: queries.stale_customers(conn, params), 3)
    diagnoser = Diagnoser(config, facts=FACTS)
    diagnosis, bound = diagnoser.sql_case(queries.FACT_SQL)
    score_bound, segment_sql = sql_settings(config)
    result["query_s"] = clock(
        lambda: queries.worklist(
            conn, params, diagnosis, {**bound, **score_bound}, segment_sql
        ).fetchall(),
        3,
    )
    result["ranked_s"] = clock(lambda: worklist.ranked(store, config, as_of), 3)
    result["gather_s"] = clock(lambda: list(evidence.gather(store, as_of)))
    everyone = [row[0] for row in conn.execute("SELECT id FROM customers")]
    result["ledger_s"] = clock(
        lambda: list(evidence.from_ledger(store, as_of, everyone))
    )

    def refresh():
        conn.execute("BEGIN")
        try:
            conn.execute("DELETE FROM customer_stats")
            queries.refresh_customer_stats(conn)
        finally:
            conn.execute("ROLLBACK")

    result["refresh_s"] = clock(refresh)
    customer_id = conn.execute(
        "SELECT id FROM customers WHERE account = ?", (account,)
    ).fetchone()[0]
    result["diagnose_one_s"] = min(
        clock(lambda: worklist.diagnose_one(store, config, as_of, customer_id))
        for _ in range(3)
    )
    store.close()

    def command(*args: str) -> float:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            return clock(
                lambda: cli.main(
                    args=["--db", db, *args], prog_name="cobra", standalone_mode=False
                )
            )

    result["command_s"] = min(
        command("prioritize", "--as-of", AS_OF, "--format", "jsonl") for _ in range(3)
    )
    result["show_command_s"] = min(
        command("show", account, "--as-of", AS_OF) for _ in range(3)
    )
    result["show_account"] = account

    profiler = cProfile.Profile()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        profiler.runcall(
            cli.main,
            args=["--db", db, "prioritize", "--as-of", AS_OF, "--format", "jsonl"],
            prog_name="cobra",
            standalone_mode=False,
        )
    stats = pstats.Stats(profiler, stream=io.StringIO())
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:10]
    result["profile"] = [
        f"{own:6.2f} s own, {total:6.2f} s total, {calls:>9,} calls  "
        f"{_where(path, line, function)}"
        for (path, line, function), (_, calls, own, total, _) in rows
    ]
    return result


def _where(path: str, line: int, function: str) -> str:
    if path == "~":  # built-in functions and methods
        return function
    try:
        path = str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        path = Path(path).name
    return f"{path}:{line}({function})"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--breakdown":
        print(json.dumps(breakdown(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(
            f"usage: python bench/run.py {NAME}"
            f"  (or {sys.argv[0]} --breakdown DB ACCOUNT)"
        )
