"""How long ``cobra --help`` and ``cobra --version`` take to start.

The target, from the issue: each takes at most 1.3 times as long as
``python -c "import click"`` in the same environment. Click is the floor any
click application pays, so the ratio shows what cobra adds on top of it.

Each command runs as a subprocess from the repository root, so ``-m cobra``
finds this working tree's package. The three commands are interleaved round
by round, so a burst of load on the machine hits all of them alike, and the
median of each is compared.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

NAME = "startup"
DESCRIPTION = "cobra --help and --version against python -c 'import click'"
TARGETS = {"help_ratio": 1.3, "version_ratio": 1.3}

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "baseline": [sys.executable, "-c", "import click"],
    "help": [sys.executable, "-m", "cobra", "--help"],
    "version": [sys.executable, "-m", "cobra", "--version"],
}
ROUNDS, QUICK_ROUNDS = 30, 8
# Modules that usually make a command-line tool slow to start when they are
# imported at the top of a module instead of inside the command that uses them.
HEAVY = (
    "babel",
    "requests",
    "jinja2",
    "lxml",
    "xml.etree",
    "sqlite3",
    "tabulate",
    "platformdirs",
)


def _run(argv: list[str], capture: bool = False) -> subprocess.CompletedProcess:
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.run(argv, cwd=ROOT, stdout=output, stderr=output, text=capture)


def _check(label: str) -> None:
    """Run a command once, failing with its own error message if it fails.

    This also warms the bytecode caches, so the timed rounds do not include
    the first run's compilation.
    """
    argv = COMMANDS[label]
    done = _run(argv, capture=True)
    if done.returncode != 0:
        shown = "python " + " ".join(argv[1:])
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else "no output"
        raise RuntimeError(f"`{shown}` exited {done.returncode} in {ROOT}: {reason}")


def _timed(label: str) -> float:
    started = time.perf_counter()
    done = _run(COMMANDS[label])
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{label} run exited {done.returncode} mid-benchmark")
    return took


def imports_of(code: list[str]) -> dict[str, int]:
    """{module: its own import time in microseconds} under -X importtime."""
    done = _run([sys.executable, "-X", "importtime", *code], capture=True)
    found = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        own, _, module = line.removeprefix("import time:").split("|")
        if own.strip().isdigit():  # skips the column headings
            found[module.strip()] = int(own)
    return found


def _heavy(modules: set[str]) -> list[str]:
    return [
        heavy
        for heavy in HEAVY
        if any(name == heavy or name.startswith(heavy + ".") for name in modules)
    ]


def run(quick: bool) -> dict[str, float]:
    for label in COMMANDS:
        _check(label)

    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for _ in range(QUICK_ROUNDS if quick else ROUNDS):
        for label in COMMANDS:
            times[label].append(_timed(label))
    median = {label: statistics.median(values) for label, values in times.items()}

    # What cobra imports beyond what the baseline already pays for.
    added = imports_of(["-m", "cobra", "--help"])
    for module in imports_of(COMMANDS["baseline"][1:]):
        added.pop(module, None)
    heavy = _heavy(set(added))
    if heavy:
        print(f"cobra --help imports heavy modules: {', '.join(heavy)}")
    else:
        print(f"cobra --help imports none of: {', '.join(HEAVY)}")
    slowest = sorted(added.items(), key=lambda item: -item[1])[:5]
    print(
        f"cobra --help imports {len(added)} modules beyond click, "
        f"{sum(added.values()) / 1000:.1f} ms in all; slowest: "
        + ", ".join(f"{module} {micros / 1000:.1f} ms" for module, micros in slowest)
    )

    return {
        "baseline_s": median["baseline"],
        "help_s": median["help"],
        "version_s": median["version"],
        "help_ratio": median["help"] / median["baseline"],
        "version_ratio": median["version"] / median["baseline"],
        "heavy_imports": float(len(heavy)),
        "added_modules": float(len(added)),
    }
