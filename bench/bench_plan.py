"""How long ``cobra plan`` takes to plan one day for 100,000 customers.

The targets, from the issue, measured on stores built from ``generate.py``
(about ten invoices and ten payments per customer):

- ``plan_ratio`` <= 1.0: ``cobra --db DB plan --for 2026-06-30 --dry-run
  --format jsonl > /dev/null`` on a store of 100,000 customers (about
  1,000,000 invoices and 970,000 payments), a subprocess (start-up included),
  median of the rounds, divided by 60 s. The issue states an absolute
  target, "under 60 s on this machine class"; the runner only accepts
  targets on ratios, so the figure is ``plan_100k_s / 60``. It is the one
  target here that depends on the machine: on a slower one it can fail while
  cobra is as fast as ever (``startup_s``, ``cobra --version``, is reported
  beside it to tell a slow machine from a slow planner).
- ``growth_ratio`` <= 1.0: the issue wants planning to grow linearly, "the
  time for 100,000 at most 12x the time for 10,000". ``growth_factor`` is
  ``plan_100k_s / plan_10k_s`` (the same command on a store of 10,000
  customers built the same way, measured in the same rounds) and
  ``growth_ratio`` is that factor over 12. This one is machine-independent.

With ``--quick`` the two stores have 1,000 and 10,000 customers instead, the
figures are named after them (``plan_10k_s``, ``plan_1k_s``) and the ratios
use the same formulas; that checks the machinery, not the issue's target.

Storing is part of planning, so the benchmark also runs a real plan of the
same day (no ``--dry-run``) into the working copy of each store,
``stored_<size>_s``, and then the same command again, ``replan_<size>_s``,
which must add nothing: its "(0 new)" on stderr is checked, and so are the
rows in ``outbox`` (a second plan that adds rows is an error, not
a slow figure). ``stored_ratio`` is the larger store's real plan over the
same 60 s, reported without a target. The counts of contacts planned and
held back come from cobra's own summary on stderr ("Would plan N contacts;
held back M."), checked to be the same in every run of a store.

The stores are built once by cobra itself (``generate.py --format jsonl``,
then ``cobra import records.jsonl``: about 1.5 minutes for 100,000 customers
on the development machine) and cached by ``stores.py`` in
``bench/out/plan-c<customers>-s1/``, keyed like ``bench_prioritize.py``'s: the
customer count, seed, as-of date, ``generate.py``'s source and cobra's schema
migrations. When
``bench/out/prioritize-c<customers>-s1/`` holds a store with the same key,
that one is used instead of building another (only ever read: it is
copied). Every run works on copies in a private folder under ``bench/out/``,
deleted afterwards, so planning never touches a cached store.

cobra runs from the repository root with the same clean environment as the
other benchmarks: no ``COBRA_*`` from outside, ``COBRA_HOME`` in a temporary
folder, ``COBRA_CONFIG`` naming an empty file (cobra's starter strategies,
templates and contact rules), ``COBRA_LOAD_PLUGINS=""``; where
``PYTHONDONTWRITEBYTECODE`` is set, bytecode caches go to
``bench/out/pycache`` through ``PYTHONPYCACHEPREFIX``.

Order: an untimed dry run on the smaller store (compiles bytecode, checks
that the JSON Lines output has one line per contact); the timed dry runs,
alternating small and large store, with ``cobra --version`` before each
pair; an untimed breakdown of one dry run of the larger store in a child
process (``python bench/bench_plan.py --breakdown DB DAY``): the same
command in-process with timers around the planner's steps, so the notes show
where the time goes without a profiler's distortion; then the real plans.
For a profile, ``python bench/bench_plan.py --profile DB [DAY]`` prints
cProfile's top functions by cumulative and by own time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/ is on sys.path when run.py loads this module
from stores import (
    AS_OF,
    OUT,
    ROOT,
    _shown,
    child_json,
    cobra,
    cobra_env,
    reporter,
    sample_store,
    timed,
    timed_with_stderr,
)

NAME = "plan"
DESCRIPTION = (
    "cobra plan of one day for 100k customers / 1M invoices against the "
    "issue's 60 s, and its growth from 10k customers against 12x"
)
# plan_ratio: plan_100k_s / 60 s, the absolute target on this machine
# class (the one bound here that depends on the machine). growth_ratio:
# (plan_100k_s / plan_10k_s) / 12, the bound on growth.
TARGETS = {"plan_ratio": 1.0, "growth_ratio": 1.0}

SIZES, QUICK_SIZES = (10_000, 100_000), (1_000, 10_000)
DAY = AS_OF  # the day planned: the one the store's history ends on
ROUNDS, QUICK_ROUNDS = 3, 3  # timed dry runs of each store, alternating
BUDGET_S = 60.0  # the issue: a day for 100,000 customers in under 60 s
GROWTH_ALLOWED = 12.0  # the issue: 100,000 at most 12x the time of 10,000

# cobra plan's last line on stderr: "Would plan 3102 contacts; held back 579."
# or, storing, "Planned 3102 contacts (3681 new); held back 579."
SUMMARY = re.compile(
    r"(?P<verb>Would plan|Planned|Previewed) (?P<planned>\d+) contacts"
    r"(?: \((?P<new>\d+) new\))?; held back (?P<held>\d+)\."
)


progress = reporter(NAME)


# --- running things -----------------------------------------------------------


def label(customers: int) -> str:
    """100000 -> '100k', for figure names."""
    return f"{customers // 1000}k" if customers % 1000 == 0 else str(customers)


def plan_argv(db: Path, *, dry_run: bool) -> list[str]:
    extra = ("--dry-run",) if dry_run else ()
    return cobra(db, "plan", "--for", DAY, *extra, "--format", "jsonl")


def summary(stderr: str, what: str) -> dict[str, int | str | None]:
    """The counts from cobra plan's last summary line on stderr."""
    found = SUMMARY.findall(stderr)
    if not found:
        lines = stderr.strip().splitlines()
        raise RuntimeError(
            f"{what} printed no summary ('... N contacts ...; held back M.'); "
            f"stderr ended with {lines[-1] if lines else 'nothing'!r}"
        )
    verb, planned, new, held = found[-1]
    return {
        "verb": verb,
        "planned": int(planned),
        "held": int(held),
        "new": int(new) if new else None,
    }


# --- the stores -------------------------------------------------------------------


def working_copy(source: Path, target: Path) -> float:
    """Copy a cached store (and a write-ahead log left beside it); the seconds."""
    started = time.perf_counter()
    shutil.copyfile(source, target)
    wal = source.with_name(source.name + "-wal")
    if wal.is_file() and wal.stat().st_size:
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
    return time.perf_counter() - started


def stored_rows(db: Path) -> dict[str, int]:
    """outbox rows for DAY, by state."""
    conn = sqlite3.connect(db)
    try:
        return dict(
            conn.execute(
                "SELECT state, COUNT(*) FROM outbox WHERE planned_for = ?"
                " GROUP BY state",
                (DAY,),
            ).fetchall()
        )
    finally:
        conn.close()


# --- the benchmark ----------------------------------------------------------------


def run(quick: bool) -> dict[str, float]:
    small, large = QUICK_SIZES if quick else SIZES
    rounds = QUICK_ROUNDS if quick else ROUNDS
    S, L = label(small), label(large)

    with tempfile.TemporaryDirectory(prefix="cobra-bench-plan-") as home:
        env = cobra_env(Path(home))
        if "PYTHONPYCACHEPREFIX" in env and "PYTHONPYCACHEPREFIX" not in os.environ:
            print(
                "PYTHONDONTWRITEBYTECODE is set here: cobra ran with bytecode "
                f"caches in {_shown(Path(env['PYTHONPYCACHEPREFIX']))} instead"
            )
        sources = {
            size: sample_store(NAME, size, env, reuse=("prioritize",))
            for size in (small, large)
        }
        OUT.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=OUT, prefix=".plan-run-"))
        try:
            return _measure(env, work, sources, small, large, S, L, rounds, quick)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _measure(env, work, sources, small, large, S, L, rounds, quick) -> dict[str, float]:
    dbs, copy_s = {}, {}
    for size in (small, large):
        dbs[size] = work / f"store-{label(size)}.sqlite"
        copy_s[size] = working_copy(sources[size][0], dbs[size])

    # Untimed: bytecode compiled, the output checked against the summary.
    progress(f"checking a dry run of {small:,} customers once...")
    output = work / "plan.jsonl"
    with open(output, "wb") as sink:
        argv = plan_argv(dbs[small], dry_run=True)
        _, err = timed_with_stderr(argv, env, "cobra plan --dry-run", sink)
    check = summary(err, "cobra plan --dry-run")
    with open(output, encoding="utf-8") as lines:
        states: dict[str, int] = {}
        for line in lines:
            state = json.loads(line)["state"]
            states[state] = states.get(state, 0) + 1
    output.unlink()
    written = (states.get("planned", 0), states.get("held", 0))
    if written != (check["planned"], check["held"]):
        raise RuntimeError(
            f"cobra plan --dry-run said {check['planned']} planned and {check['held']} "
            f"held, but wrote {states} rows"
        )
    if check["planned"] == 0:
        raise RuntimeError(f"cobra plan planned no contacts for {small:,} customers")

    dry: dict[int, list[float]] = {small: [], large: []}
    counts: dict[int, set[tuple[int, int]]] = {small: set(), large: set()}
    startup: list[float] = []
    version = [sys.executable, "-m", "cobra", "--version"]
    for number in range(1, rounds + 1):
        progress(
            f"cobra plan --dry-run of {small:,} and {large:,} customers, "
            f"round {number} of {rounds}..."
        )
        startup.append(timed(version, env, "cobra --version"))
        for size in (small, large):
            argv = plan_argv(dbs[size], dry_run=True)
            took, err = timed_with_stderr(argv, env, "cobra plan --dry-run")
            found = summary(err, f"cobra plan --dry-run ({size:,} customers)")
            dry[size].append(took)
            counts[size].add((found["planned"], found["held"]))

    # Before the real plans: on the store they fill, a dry run plans nothing.
    progress(f"breakdown of a dry run of {large:,} customers (untimed)...")
    breakdown = _run_breakdown(dbs[large], env)

    stored: dict[int, dict] = {}
    for size in (small, large):
        progress(f"cobra plan of {size:,} customers, stored, then again...")
        argv = plan_argv(dbs[size], dry_run=False)
        took, err = timed_with_stderr(argv, env, "cobra plan")
        first = summary(err, f"cobra plan ({size:,} customers)")
        rows = stored_rows(dbs[size])
        again_s, err = timed_with_stderr(argv, env, "cobra plan (again)")
        again = summary(err, f"cobra plan again ({size:,} customers)")
        rows_after = stored_rows(dbs[size])
        if again["new"] != 0 or rows_after != rows:
            raise RuntimeError(
                f"planning {DAY} a second time ({size:,} customers) added "
                f"{again['new']} contacts (rows by state before {rows}, after "
                f"{rows_after}); planning a day twice must add nothing"
            )
        stored[size] = {
            "s": took,
            "first": first,
            "rows": rows,
            "again_s": again_s,
            "again": again,
        }

    plan_small = statistics.median(dry[small])
    plan_large = statistics.median(dry[large])
    startup_s = statistics.median(startup)
    growth = plan_large / plan_small
    _notes(quick, sources, copy_s, small, large, dry, counts, stored, startup_s,
           breakdown)

    figures: dict[str, float] = {
        f"plan_{L}_s": plan_large,
        f"plan_{S}_s": plan_small,
        "plan_ratio": plan_large / BUDGET_S,
        "growth_factor": growth,
        "growth_ratio": growth / GROWTH_ALLOWED,
        f"stored_{L}_s": stored[large]["s"],
        "stored_ratio": stored[large]["s"] / BUDGET_S,
        f"replan_{L}_s": stored[large]["again_s"],
        f"stored_{S}_s": stored[small]["s"],
        f"replan_{S}_s": stored[small]["again_s"],
        "startup_s": startup_s,
    }
    for size in (large, small):
        planned, held = sorted(counts[size])[0]
        figures[f"planned_{label(size)}"] = planned
        figures[f"held_{label(size)}"] = held
    figures[f"stored_new_{L}"] = stored[large]["first"]["new"] or 0
    for key in ("init_s", "build_s", "decide_s", "render_s", "command_s"):
        if key in breakdown:
            figures[f"breakdown_{key}"] = breakdown[key]
    return figures


def _notes(quick, sources, copy_s, small, large, dry, counts, stored, startup_s,
           breakdown) -> None:
    for size in (small, large):
        db, info = sources[size]
        built = "cached" if info["cached"] else "built now"
        print(
            f"store of {size:,} customers: {info['folder']} ({built}, "
            f"{info['built_on']}; generate {info['generate_s']:.0f} s, cobra import "
            f"{info['import_s']:.0f} s), {db.stat().st_size / 2**20:.0f} MB: "
            f"{info['invoices']:,} invoices, {info['payments']:,} payments, "
            f"{info['credit_notes']:,} credit notes; copied in {copy_s[size]:.1f} s"
        )
    if quick:
        print(
            f"--quick: {small:,} and {large:,} customers instead of 10,000 and "
            "100,000; plan_ratio then only checks the machinery, not the issue's target"
        )
    for size in (small, large):
        seen = sorted(counts[size])
        planned, held = seen[0]
        print(
            f"cobra plan --for {DAY} --dry-run --format jsonl > /dev/null, "
            f"{size:,} customers: {_times(dry[size])}; {planned:,} contacts planned, "
            f"{held:,} held back"
        )
        if len(seen) > 1:
            print(f"note: the runs disagreed on the counts (planned, held): {seen}")
    plan_large = statistics.median(dry[large])
    print(
        f"plan_ratio = {plan_large:.2f} s / {BUDGET_S:.0f} s, the issue's absolute "
        "target on this machine class; growth_factor = "
        f"{plan_large:.2f} s / {statistics.median(dry[small]):.2f} s for "
        f"{large // small}x the customers; growth_ratio = growth_factor / "
        f"{GROWTH_ALLOWED:g}"
    )
    print(f"cobra --version (start-up alone): median {startup_s * 1000:.0f} ms")
    for size in (small, large):
        done = stored[size]
        first, again = done["first"], done["again"]
        rows = ", ".join(f"{state} {n:,}" for state, n in sorted(done["rows"].items()))
        print(
            f"cobra plan (stored), {size:,} customers: {done['s']:.2f} s, "
            f"{first['planned']:,} planned ({first['new']:,} new), {first['held']:,} "
            f"held back; outbox: {rows}. The same plan again: "
            f"{done['again_s']:.2f} s, {again['planned']:,} planned "
            f"({again['new']:,} new), {again['held']:,} held back"
        )
        dry_counts = sorted(counts[size])[0]
        if (first["planned"], first["held"]) != dry_counts:
            print(
                f"note: the stored plan's counts ({first['planned']}, {first['held']}) "
                f"differ from the dry run's {dry_counts}"
            )
        if first["new"] != first["planned"] + first["held"]:
            print(
                f"note: {first['new']:,} rows stored for {first['planned']:,} planned "
                f"and {first['held']:,} held contacts"
            )
    over = stored[large]["s"] - plan_large
    spread = max(dry[large]) - min(dry[large])
    print(
        f"stored_ratio = {stored[large]['s']:.2f} s / {BUDGET_S:.0f} s (no target: "
        f"the issue's 60 s is checked on the dry run); the stored plan took "
        f"{over:+.2f} s against the dry runs' median"
        + (f", within their spread of {spread:.2f} s" if abs(over) <= spread else "")
    )
    if "error" in breakdown:
        print(f"breakdown failed: {breakdown['error']}")
        return
    command = breakdown["command_s"]
    parts = breakdown["parts"]

    def share(seconds: float) -> str:
        return f"{seconds:.2f} s ({100 * seconds / command:.0f}%)"

    print(
        f"breakdown of one dry run of {large:,} customers in-process, untimed above "
        f"(timers around the planner's steps), whole command {command:.2f} s:"
    )
    print(
        "  Planner() (strategies, guard, customer tables): "
        f"{share(breakdown['init_s'])}"
    )
    print(
        "  worklist.build() (gather evidence, diagnose, score, sort every "
        f"customer): {share(breakdown['build_s'])}"
    )
    print(
        f"  strategy and step (_contact, {parts['_contact']['calls']:,} customers) and "
        f"holds and contact rules (_hold_or_schedule, "
        f"{parts['_hold_or_schedule']['calls']:,} contacts): "
        f"{share(breakdown['decide_s'])}"
    )
    render = parts["_render"]
    print(
        f"  messages (_render, {render['calls']:,} contacts): "
        f"{share(breakdown['render_s'])}, of which messages.render() "
        f"{parts['messages.render']['s']:.2f} s, plan options (_plan_options) "
        f"{parts['_plan_options']['s']:.2f} s, open invoices (one query a contact) "
        f"{parts['open_invoices']['s']:.2f} s"
    )
    print(
        "  the rest (config, the store, the plan loop, JSON Lines output): "
        f"{share(breakdown['rest_s'])}"
    )


def _times(times: list[float]) -> str:
    shown = ", ".join(f"{t:.2f} s" for t in times)
    return f"{shown}; median {statistics.median(times):.2f} s"


# --- the breakdown and the profile, in a child process -----------------------------


def _run_breakdown(db: Path, env: dict[str, str]) -> dict:
    return child_json(str(Path(__file__).resolve()), ["--breakdown", str(db), DAY], env)


def _command(db: str, day: str) -> list[str]:
    return ["--db", db, "plan", "--for", day, "--dry-run", "--format", "jsonl"]


def breakdown(db: str, day: str) -> dict:
    """One dry run in this process with timers around the planner's steps."""
    import contextlib
    import io

    sys.path.insert(0, str(ROOT))  # this working tree's cobra, as -m cobra finds it
    from cobra import messages, planning, worklist
    from cobra.cli import cli
    from cobra.store import plans

    parts: dict[str, dict[str, float]] = {}

    def wrap(owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        part = parts.setdefault(name, {"s": 0.0, "calls": 0})

        def timed_call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                part["s"] += time.perf_counter() - started
                part["calls"] += 1

        setattr(owner, attribute, timed_call)

    for attribute in ("__init__", "_contact", "_hold_or_schedule", "_render",
                      "_plan_options"):
        wrap(planning.Planner, attribute, attribute)
    wrap(worklist, "build", "worklist.build")
    wrap(messages, "render", "messages.render")
    wrap(plans, "open_invoices", "open_invoices")

    err = io.StringIO()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), \
            contextlib.redirect_stderr(err):
        started = time.perf_counter()
        cli.main(args=_command(db, day), prog_name="cobra", standalone_mode=False)
        command_s = time.perf_counter() - started
    decide_s = parts["_contact"]["s"] + parts["_hold_or_schedule"]["s"]
    init_s = parts["__init__"]["s"]
    build_s = parts["worklist.build"]["s"]
    render_s = parts["_render"]["s"]
    return {
        "command_s": command_s,
        "init_s": init_s,
        "build_s": build_s,
        "decide_s": decide_s,
        "render_s": render_s,
        "rest_s": command_s - init_s - build_s - decide_s - render_s,
        "parts": parts,
    }


def profile(db: str, day: str, top: int = 25) -> None:
    """Print cProfile's slowest functions for one dry run (a tool, not the runner's)."""
    import contextlib
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    from cobra.cli import cli

    profiler = cProfile.Profile()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        profiler.runcall(cli.main, args=_command(db, day), prog_name="cobra",
                         standalone_mode=False)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    for order in ("cumulative", "tottime"):
        stats.sort_stats(order).print_stats(top)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--breakdown":
        print(json.dumps(breakdown(sys.argv[2], sys.argv[3])))
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "--profile":
        profile(sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else DAY)
    else:
        sys.exit(
            f"usage: python bench/run.py {NAME}  (or {sys.argv[0]} --breakdown DB DAY,"
            f" or {sys.argv[0]} --profile DB [DAY]; DB is changed by neither, but"
            " use a copy: cobra upgrades an old schema when it opens a store)"
        )
