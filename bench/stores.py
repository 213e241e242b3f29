"""Helpers shared by the benchmarks: running cobra, and cached sample stores.

Not a benchmark itself (``run.py`` loads only ``bench_*.py``). Benchmarks
import it as a top-level module, like ``generate``.

``sample_store(name, customers, env)`` returns a store of that many customers
built by cobra itself (``generate.py --format jsonl``, then ``cobra import
records.jsonl``) and cached in ``bench/out/<name>-c<customers>-s<seed>/``
with a ``stamp.txt`` of what decides it (customer count, seed, as-of date,
``generate.py``'s source, cobra's schema migrations) and a ``built.json`` of
how it was built. A store cached by another benchmark under the same stamp
can be reused instead of building another (``reuse``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import generate  # bench/ is on sys.path, for run.py and for a benchmark run as a script

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SEED = 1
AS_OF = generate.DEFAULT_AS_OF.isoformat()  # the history's last day


# --- running things -----------------------------------------------------------


def reporter(name: str) -> Callable[[str], None]:
    """A progress(message) that writes "NAME: message" to stderr."""

    def progress(message: str) -> None:
        print(f"{name}: {message}", file=sys.stderr, flush=True)

    return progress


def cobra_env(home: Path) -> dict[str, str]:
    """The environment for cobra: no COBRA_* from outside, no config, no plugins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBRA_")}
    config = home / "empty.toml"
    config.write_text("")
    env.update(COBRA_HOME=str(home), COBRA_LOAD_PLUGINS="", COBRA_CONFIG=str(config))
    if env.pop("PYTHONDONTWRITEBYTECODE", None) and "PYTHONPYCACHEPREFIX" not in env:
        # Without bytecode caches every run compiles cobra's modules again,
        # which an installed cobra never does (about 50 ms of `cobra show`).
        # Keep them out of the source tree, as the variable wanted.
        env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def cobra(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cobra", "--db", str(db), *args]


def timed_with_stderr(
    argv: list[str], env: dict[str, str] | None, what: str, stdout=None
) -> tuple[float, str]:
    """Run argv from the repository root: its wall time and its stderr.

    stdout goes to /dev/null unless a file is given; a non-zero exit is an
    error naming the command and its last line.
    """
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=err,
            check=False,
        )
        took = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if done.returncode != 0:
        lines = text.strip().splitlines()
        raise RuntimeError(
            f"{what} exited {done.returncode}: {lines[-1] if lines else 'no output'}"
        )
    return took, text


def timed(argv: list[str], env: dict[str, str] | None, what: str, stdout=None) -> float:
    """Run argv from the repository root; its wall time, or an error if it fails."""
    return timed_with_stderr(argv, env, what, stdout)[0]


def sqlite3_shell() -> str:
    shell = shutil.which("sqlite3")
    if shell is None:
        raise RuntimeError(
            "the sqlite3 command-line shell is not installed; it is this "
            "benchmark's baseline (Debian/Ubuntu: apt-get install sqlite3; "
            "macOS: brew install sqlite)"
        )
    return shell


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


# --- the stores -------------------------------------------------------------------


def _stamp(customers: int) -> str:
    """What decides a store: the generator, its arguments and cobra's schema."""
    digest = hashlib.sha256(Path(generate.__file__).read_bytes())
    for migration in sorted((ROOT / "cobra" / "store" / "migrations").glob("*.sql")):
        digest.update(migration.name.encode() + migration.read_bytes())
    return (
        f"customers={customers} seed={SEED} as_of={AS_OF} {digest.hexdigest()[:16]}\n"
    )


def _cached(folder: Path, stamp: str) -> tuple[Path, dict] | None:
    db, stamp_path, info_path = (
        folder / "store.sqlite",
        folder / "stamp.txt",
        folder / "built.json",
    )
    try:
        if db.is_file() and stamp_path.read_text() == stamp:
            info = json.loads(info_path.read_text())
            info["cached"] = True
            info["folder"] = _shown(folder)
            return db, info
    except (OSError, ValueError):
        pass
    return None


def sample_store(
    name: str, customers: int, env: dict[str, str], reuse: Iterable[str] = ()
) -> tuple[Path, dict]:
    """A cached store of this many customers (built if need be), and its story.

    Cached in ``bench/out/<name>-c<customers>-s<seed>/``; a store with the same
    stamp in the folder of a benchmark named in ``reuse`` is used as it is
    (callers only read it, or copy it).
    """
    stamp = _stamp(customers)
    ours = OUT / f"{name}-c{customers}-s{SEED}"
    for folder in (ours, *(OUT / f"{other}-c{customers}-s{SEED}" for other in reuse)):
        found = _cached(folder, stamp)
        if found:
            return found

    OUT.mkdir(parents=True, exist_ok=True)
    # Built in a private folder and moved into place, so two runs at once
    # never share a half-built store, and a cached one is always whole.
    scratch = Path(tempfile.mkdtemp(dir=OUT, prefix=f".{name}-build-"))
    try:
        info = _build(scratch, customers, env, reporter(name))
        ours.mkdir(parents=True, exist_ok=True)
        (ours / "stamp.txt").unlink(missing_ok=True)
        for leftover in ("store.sqlite-wal", "store.sqlite-shm"):
            (ours / leftover).unlink(missing_ok=True)
        os.replace(scratch / "store.sqlite", ours / "store.sqlite")
        (ours / "built.json").write_text(json.dumps(info, indent=1) + "\n")
        (ours / "stamp.txt").write_text(stamp)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info["cached"] = False
    info["folder"] = _shown(ours)
    return ours / "store.sqlite", info


def _build(
    scratch: Path, customers: int, env: dict[str, str], progress: Callable[[str], None]
) -> dict:
    db = scratch / "store.sqlite"
    progress(f"generating {customers:,} customers as JSON Lines...")
    started = time.perf_counter()
    counts = generate.write(scratch, customers, SEED, fmt="jsonl")
    generate_s = time.perf_counter() - started
    records = scratch / generate.JSONL_FILE
    progress(
        f"cobra import of {records.stat().st_size / 2**20:.0f} MB of JSON Lines "
        f"({counts['payments']:,} payments, allocated one by one; about 1.5 "
        "minutes for 100,000 customers on the development machine)..."
    )
    started = time.perf_counter()
    done = subprocess.run(
        cobra(db, "-q", "import", str(records), "--format", "json"),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    import_s = time.perf_counter() - started
    records.unlink()  # hundreds of MB, not needed once imported
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise RuntimeError(
            f"cobra import exited {done.returncode}: "
            f"{lines[-1] if lines else 'no output'}"
        )
    try:
        summary = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(
            f"cobra import printed no JSON summary: {done.stdout[:200]!r}"
        ) from None
    if summary.get("rejected"):
        raise RuntimeError(f"cobra import rejected {summary['rejected']} records")
    # Fold the write-ahead log into the file, so every run starts from the
    # same single file (and a copy needs only the one).
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return {
        "customers": counts["customers"],
        "invoices": counts["invoices"],
        "payments": counts["payments"],
        "credit_notes": counts["credit_notes"],
        "generate_s": round(generate_s, 1),
        "import_s": round(import_s, 1),
        "built_on": time.strftime("%Y-%m-%d %H:%M"),
        "summary": summary,
    }


def child_json(script: str, args: list[str], env: dict[str, str]) -> dict:
    """Run *script* with *args* in a child Python and read the JSON it prints.

    Breakdowns run in a child so their imports and caches cannot touch the
    timed runs; a failure comes back as {"error": its last line}.
    """
    done = subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exited {done.returncode}"}
    return json.loads(done.stdout)
