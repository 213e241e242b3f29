"""How fast, and in how much memory, ``cobra import`` loads a large CSV.

The targets, from the issue, all measured in one run on the same file:

- ``first_import_ratio`` <= 2.0: ``cobra --db FILE import invoices.csv`` of a
  1,000,000-row file (100,000 customers from ``generate.py``; 10,000 with
  ``--quick``) into a new, empty store, divided by the time the ``sqlite3``
  command-line shell takes to ``.import`` the same file into a bare table of
  a new database. The shell does no checking, no upserting and no indexing,
  so it is the floor for "get this CSV into SQLite".
- ``reimport_ratio`` <= 1.0: importing the same, unchanged file again into
  that store (every row "unchanged"), divided by the first import's time.
  Re-running a nightly import should never cost more than the first one.
- ``memory_ratio`` <= 1.0: the first import's peak resident memory in MB
  divided by a budget of 200 MB (the runner takes targets on ratios only;
  ``peak_memory_mb`` is the figure itself).

cobra runs as a subprocess from the repository root (so ``-m cobra`` finds
this working tree), with ``COBRA_HOME`` pointed at a temporary folder,
``COBRA_LOAD_PLUGINS=""`` so no third-party plugin loads, and
``COBRA_CONFIG`` naming an empty file there, so a ``cobra.toml`` lying in the
repository, its parents or /etc cannot change what is measured. The sqlite3
shell gets ``-init /dev/null`` for the same reason (no ~/.sqliterc).

The sqlite3 baseline is cheap, so it runs three times, interleaved with the
two cobra imports (baseline, first import, baseline, re-import, baseline),
and its median is used. At full size the cobra imports run once each (tens
of seconds apiece); with ``--quick`` the whole sequence is cheap, so it runs
three rounds, each into a new store, and medians are compared. The peak
memory reported is the largest of the rounds.

The CSV is generated once and cached under ``bench/out/`` (ignored by git),
keyed by customer count, seed and as-of date, with a stamp of
``generate.py``'s source so that a change to the generator regenerates it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import generate  # bench/ is on sys.path when run.py loads this module
from stores import _shown, sqlite3_shell

NAME = "import"
DESCRIPTION = (
    "cobra import of a 1M-row CSV (new store, then again unchanged) against "
    "the sqlite3 shell's .import of the same file"
)
TARGETS = {"first_import_ratio": 2.0, "reimport_ratio": 1.0, "memory_ratio": 1.0}

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
CUSTOMERS, QUICK_CUSTOMERS = 100_000, 10_000  # about 10 invoice rows each
SEED = 1
# Rounds of (baseline, first import, baseline, re-import), plus a last
# baseline: the full size runs cobra once each (tens of seconds apiece) and
# the sqlite3 baseline three times; --quick is cheap enough for three rounds.
ROUNDS, QUICK_ROUNDS = 1, 3
MEMORY_BUDGET_MB = 200.0


@dataclass
class Child:
    """One finished command: wall time, its own peak RSS and its output."""

    argv: list[str]
    seconds: float
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Child:
        if self.returncode != 0:
            lines = (self.stderr or self.stdout).strip().splitlines()
            reason = lines[-1] if lines else "no output"
            raise RuntimeError(f"{what} exited {self.returncode}: {reason}")
        return self


def _peak_mb(max_rss: int) -> float:
    # ru_maxrss is in kilobytes on Linux and the BSDs, in bytes on macOS.
    return max_rss / (1024 * 1024) if sys.platform == "darwin" else max_rss / 1024


def measure(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Child:
    """Run argv to completion; return its wall time and its own peak memory.

    The peak comes from os.wait4(), which reaps exactly this child and returns
    the kernel's resource usage for it alone: ru_maxrss is the high-water mark
    of its resident set, kept by the kernel, so no peak is missed. The other
    ways are less robust: getrusage(RUSAGE_CHILDREN) reports the maximum over
    every child this process ever waited for (earlier sqlite3 runs, the other
    benchmarks the runner ran before this one), so a small peak would hide
    behind an earlier large one; /usr/bin/time -f %M is GNU time, missing on
    macOS and minimal images; polling /proc/PID/status for VmHWM is Linux only
    and races with the process exiting. The import starts no processes of its
    own, so its peak is the peak of the whole command.

    Output goes to temporary files rather than pipes: with pipes, a child
    that filled one while we sat in wait4() would never finish.
    """
    if not hasattr(os, "wait4"):
        raise RuntimeError("this benchmark needs os.wait4 (Linux, macOS or a BSD)")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C: do not leave a 30-second import behind
            process.kill()
            process.wait()
            raise
        took = time.perf_counter() - started
        # Tell Popen the child is reaped, so it never waits for it again.
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(
            argv,
            took,
            _peak_mb(usage.ru_maxrss),
            process.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


# --- the sample file --------------------------------------------------------


def _stamp(customers: int) -> str:
    """What decides the file's bytes: the generator's source and its arguments."""
    source = Path(generate.__file__).read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    as_of = generate.DEFAULT_AS_OF
    return f"customers={customers} seed={SEED} as_of={as_of} {digest}\n"


def sample_csv(customers: int) -> Path:
    """The cached invoices.csv for this many customers, generated if need be."""
    folder = OUT / f"import-c{customers}-s{SEED}"
    csv_path = folder / generate.CSV_FILE
    stamp_path = folder / "generated.txt"
    stamp = _stamp(customers)
    if csv_path.is_file() and stamp_path.is_file() and stamp_path.read_text() == stamp:
        print(f"sample: {_shown(csv_path)} (cached; delete it to regenerate)")
        return csv_path

    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"import: generating {customers:,} customers into {_shown(csv_path)}...",
        file=sys.stderr,
        flush=True,
    )
    # Written in a private folder and moved into place, so two runs at once
    # never write the same temporary file, and a cached file is always whole.
    scratch = Path(tempfile.mkdtemp(dir=OUT, prefix=".generate-"))
    try:
        started = time.perf_counter()
        counts = generate.write(scratch, customers, SEED, fmt="csv")
        took = time.perf_counter() - started
        stamp_path.unlink(missing_ok=True)
        os.replace(scratch / generate.CSV_FILE, csv_path)
        stamp_path.write_text(stamp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"sample: generated {_shown(csv_path)} ({counts['invoices']:,} rows) "
        f"in {took:.1f} s"
    )
    return csv_path


def _warm(path: Path) -> None:
    """Read the file once so that no timed run pays for reading it from disk."""
    with open(path, "rb") as handle:
        while handle.read(1 << 20):
            pass


# --- the two sides ----------------------------------------------------------


def baseline(shell: str, csv_path: Path, db: Path) -> Child:
    """sqlite3 DB ".mode csv" ".import FILE t" into a new database file."""
    for leftover in (db, db.with_name(db.name + "-journal")):
        leftover.unlink(missing_ok=True)
    # Run beside the CSV and name it bare, so no path needs quoting for the
    # shell's own argument parser.
    argv = [
        shell, "-init", os.devnull, str(db), ".mode csv", f".import {csv_path.name} t",
    ]  # fmt: skip
    done = measure(argv, cwd=csv_path.parent).check("sqlite3 .import")
    if done.stderr.strip():  # .import warns about ragged rows and goes on
        raise RuntimeError(f"sqlite3 .import complained: {done.stderr.strip()[:300]}")
    return done


# The least any CPython importer can do: csv.reader's rows, unchecked, into
# a bare table by executemany, in one transaction. Not a target: it shows
# how much of the sqlite3 shell's time pure Python spends before checking,
# deduplicating customers or keeping an index.
PYTHON_FLOOR = """
import csv, sqlite3, sys
conn = sqlite3.connect(sys.argv[2])
with open(sys.argv[1], newline="", encoding="utf-8") as handle:
    rows = csv.reader(handle)
    width = len(next(rows))
    columns = ", ".join(f"c{i}" for i in range(width))
    conn.execute(f"CREATE TABLE t ({columns})")
    marks = ", ".join("?" * width)
    with conn:
        conn.executemany(f"INSERT INTO t VALUES ({marks})", rows)
"""


def python_floor(csv_path: Path, db: Path) -> Child:
    """PYTHON_FLOOR over the file into a new database file."""
    for leftover in (db, db.with_name(db.name + "-journal")):
        leftover.unlink(missing_ok=True)
    argv = [sys.executable, "-c", PYTHON_FLOOR, str(csv_path), str(db)]
    return measure(argv, cwd=csv_path.parent).check("the Python floor")


def cobra_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBRA_")}
    config = home / "empty.toml"
    config.write_text("")  # cobra's embedded defaults, whatever lies around
    env.update(COBRA_HOME=str(home), COBRA_LOAD_PLUGINS="", COBRA_CONFIG=str(config))
    return env


def cobra_import(db: Path, csv_path: Path, env: dict[str, str], what: str):
    """cobra -q --db DB import FILE; return the run and its JSON summary.

    ``--format json`` only adds one line of counts on stdout, which is how the
    benchmark checks that the import did what it is supposed to have timed.
    """
    argv = [
        sys.executable, "-m", "cobra", "-q", "--db", str(db),
        "import", str(csv_path), "--format", "json",
    ]  # fmt: skip
    done = measure(argv, cwd=ROOT, env=env).check(f"cobra import ({what})")
    lines = done.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RuntimeError(
            f"cobra import ({what}) printed no JSON summary: {done.stdout[:200]!r}"
        ) from None
    return done, summary


def _count_rows(shell: str, db: Path) -> int:
    done = subprocess.run(
        [shell, "-init", os.devnull, str(db), "SELECT count(*) FROM t"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"sqlite3 count(*) exited {done.returncode}: {done.stderr}")
    return int(done.stdout.strip())


def _store_mb(db: Path) -> float:
    """The store with its WAL and shared-memory files, as the import left it."""
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / (1024 * 1024)


def _expect(summary: dict, kind: str, state: str, wanted: int, what: str) -> None:
    got = summary.get(kind, {}).get(state)
    if got != wanted:
        raise RuntimeError(
            f"cobra import ({what}) reported {kind} {state}={got}, expected {wanted}: "
            f"{json.dumps(summary)}"
        )


# --- the benchmark ----------------------------------------------------------


def run(quick: bool) -> dict[str, float]:
    shell = sqlite3_shell()
    version = subprocess.run(
        [shell, "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    customers = QUICK_CUSTOMERS if quick else CUSTOMERS
    rounds = QUICK_ROUNDS if quick else ROUNDS
    csv_path = sample_csv(customers)
    csv_mb = csv_path.stat().st_size / (1024 * 1024)
    _warm(csv_path)

    OUT.mkdir(parents=True, exist_ok=True)
    baselines: list[Child] = []
    firsts: list[Child] = []
    agains: list[Child] = []
    floors: list[Child] = []
    with tempfile.TemporaryDirectory(dir=OUT, prefix="import-run-") as work:
        work = Path(work)
        home = work / "home"
        home.mkdir()
        env = cobra_env(home)
        bare = work / "bare.sqlite"
        total = 2 * rounds + 1

        def sqlite_round() -> None:
            progress(f"sqlite3 .import ({len(baselines) + 1} of {total})...")
            baselines.append(baseline(shell, csv_path, bare))
            progress(f"Python floor ({len(floors) + 1} of {total})...")
            floors.append(python_floor(csv_path, work / "floor.sqlite"))

        # Interleaved: a burst of load on the machine lands on both sides.
        # Each round: baseline, first import, baseline, re-import; then one
        # more baseline, so the cobra runs sit between baseline runs.
        sqlite_round()
        rows = _count_rows(shell, bare)
        for number in range(1, rounds + 1):
            store = work / f"cobra-{number}.sqlite"  # a new, empty store
            progress(f"cobra import of {rows:,} rows into a new store ({number})...")
            first, summary = cobra_import(store, csv_path, env, "first")
            _expect(summary, "invoices", "inserted", rows, "first")
            _expect(summary, "invoices", "updated", 0, "first")
            if summary.get("rejected"):
                raise RuntimeError(f"cobra rejected {summary['rejected']} records")
            firsts.append(first)
            store_mb = _store_mb(store)
            sqlite_round()

            progress(f"cobra import of the same file again ({number})...")
            again, summary = cobra_import(store, csv_path, env, "re-import")
            _expect(summary, "invoices", "unchanged", rows, "re-import")
            _expect(summary, "invoices", "inserted", 0, "re-import")
            _expect(summary, "invoices", "updated", 0, "re-import")
            agains.append(again)
            if number < rounds:
                for leftover in work.glob(f"{store.name}*"):
                    leftover.unlink()  # hundreds of MB at full size
            sqlite_round()

    base = statistics.median(child.seconds for child in baselines)
    first_s = statistics.median(child.seconds for child in firsts)
    again_s = statistics.median(child.seconds for child in agains)
    floor_s = statistics.median(child.seconds for child in floors)
    # The peak is a limit, not a typical value: the worst round counts.
    first_peak = max(child.peak_mb for child in firsts)
    again_peak = max(child.peak_mb for child in agains)

    print(
        f"file: {rows:,} rows, {csv_mb:.0f} MB, {customers:,} customers"
        + (" (--quick: a tenth of the issue's 1,000,000 rows)" if quick else "")
    )
    print(
        f"baseline: sqlite3 {version[0] if version else '?'} .import into a bare "
        f"table: {_times(baselines)}"
    )
    print(
        "Python floor (csv.reader rows, unchecked, executemany into a bare table): "
        f"{_times(floors)}"
    )
    print(f"cobra first import into a new store: {_times(firsts)}")
    print(f"cobra re-import of the unchanged file: {_times(agains)}")
    print(
        f"peak memory (ru_maxrss of the cobra process alone, from os.wait4): "
        f"first import {first_peak:.0f} MB, re-import {again_peak:.0f} MB, "
        f"against a budget of {MEMORY_BUDGET_MB:.0f} MB; "
        f"the store takes {store_mb:.0f} MB on disk"
    )

    return {
        "rows": float(rows),
        "csv_mb": csv_mb,
        "baseline_s": base,
        "first_import_s": first_s,
        "reimport_s": again_s,
        "first_import_ratio": first_s / base,
        "reimport_ratio": again_s / first_s,
        "python_floor_s": floor_s,
        "python_floor_ratio": floor_s / base,
        "baseline_rows_per_sec": round(rows / base),
        "first_import_rows_per_sec": round(rows / first_s),
        "reimport_rows_per_sec": round(rows / again_s),
        "peak_memory_mb": first_peak,
        "reimport_peak_memory_mb": again_peak,
        "baseline_peak_memory_mb": max(child.peak_mb for child in baselines),
        "memory_ratio": first_peak / MEMORY_BUDGET_MB,
        "store_mb": store_mb,
    }


def progress(message: str) -> None:
    print(f"import: {message}", file=sys.stderr, flush=True)


def _times(children: list[Child]) -> str:
    shown = ", ".join(f"{child.seconds:.2f} s" for child in children)
    if len(children) == 1:
        return shown
    median = statistics.median(child.seconds for child in children)
    return f"{shown}; median {median:.2f} s"
