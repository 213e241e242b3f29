"""Run cobra's benchmarks and check their ratios against the targets.

    python bench/run.py [NAME...] [--quick] [--json] [--list]

Every ``bench/bench_*.py`` is a benchmark. It defines ``NAME``, ``DESCRIPTION``,
optionally ``TARGETS`` ({figure: largest ratio allowed}), and ``run(quick)``,
which returns {figure: number}. What a benchmark prints to stdout while it
runs is kept as its notes; stderr is left to its progress messages.

Exit status: 0 when every targeted ratio is within its target, 1 when one is
over or a benchmark failed to run, 2 for bad usage (such as an unknown name).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parent
# Targets bound ratios against a baseline measured in the same run; a bound on
# seconds or megabytes would depend on the machine, which the project forbids.
RATIO_SUFFIX = "_ratio"


@dataclass
class Result:
    name: str
    description: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    notes: str = ""
    error: str | None = None
    seconds: float = 0.0

    @property
    def over(self) -> list[str]:
        return [
            figure
            for figure, target in self.targets.items()
            if figure in self.figures and self.figures[figure] > target
        ]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.over


class BenchmarkError(Exception):
    """A benchmark module that breaks the contract described in README.md."""


def discover() -> list[tuple[str, ModuleType | None, str | None]]:
    """Load every bench_*.py: (name, module, error) in file-name order."""
    # Benchmarks import their helpers (generate.py) as top-level modules.
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    found = []
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        try:
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses look themselves up here
            spec.loader.exec_module(module)
            if isinstance(getattr(module, "NAME", None), str):
                name = module.NAME
            _check_module(module)
            if any(name == other for other, _, _ in found):
                raise BenchmarkError(f"NAME {name!r} is already taken")
        except Exception as error:  # one broken file must not hide the others
            found.append((name, None, f"{path.name}: {_describe(error)}"))
            continue
        found.append((name, module, None))
    return found


def _check_module(module: ModuleType) -> None:
    for attribute in ("NAME", "DESCRIPTION"):
        if not isinstance(getattr(module, attribute, None), str):
            raise BenchmarkError(f"needs a string {attribute}")
    if not callable(getattr(module, "run", None)):
        raise BenchmarkError("needs a function run(quick: bool) -> dict")
    targets = getattr(module, "TARGETS", {})
    if not isinstance(targets, dict):
        raise BenchmarkError("TARGETS must be a dict of figure -> number")
    for figure, target in targets.items():
        if not figure.endswith(RATIO_SUFFIX):
            raise BenchmarkError(
                f"target on {figure!r}: only ratios (names ending in "
                f"{RATIO_SUFFIX!r}) may have targets"
            )
        if not _is_number(target):
            raise BenchmarkError(f"target for {figure!r} is not a number")


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def run_one(module: ModuleType, quick: bool) -> Result:
    result = Result(
        module.NAME, module.DESCRIPTION, targets=dict(getattr(module, "TARGETS", {}))
    )
    notes = io.StringIO()
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(notes):
            figures = module.run(quick)
        if not isinstance(figures, dict):
            raise BenchmarkError("run() must return a dict of figure -> number")
        for figure, value in figures.items():
            if not _is_number(value):
                raise BenchmarkError(f"figure {figure!r} is {value!r}, not a number")
        result.figures = {figure: float(value) for figure, value in figures.items()}
        missing = [figure for figure in result.targets if figure not in figures]
        if missing:
            raise BenchmarkError(f"no figure reported for target(s) {missing}")
    except KeyboardInterrupt:
        raise
    except Exception as error:
        result.error = _describe(error)
        if not isinstance(error, BenchmarkError):
            # The traceback is for whoever fixes it; stdout stays parseable.
            traceback.print_exc(file=sys.stderr)
    result.seconds = time.perf_counter() - started
    result.notes = notes.getvalue().strip()
    return result


def _value(figure: str, value: float) -> str:
    """Show a figure with the unit its name ends with."""
    if figure.endswith(RATIO_SUFFIX):
        return f"{value:.2f}x"
    if figure.endswith("_s"):
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    if figure.endswith("_mb"):
        return f"{value:.1f} MB"
    return f"{value:g}"


def table(result: Result) -> str:
    lines = [
        f"{result.name}: {result.description}" if result.description else result.name
    ]
    if result.error:
        lines.append(f"  error: {result.error}")
    rows = [("figure", "value", "target", "status")]
    for figure, value in result.figures.items():
        target = result.targets.get(figure)
        if target is None:
            rows.append((figure, _value(figure, value), "", ""))
        else:
            status = "over" if value > target else "ok"
            rows.append((figure, _value(figure, value), f"<= {target:.2f}x", status))
    if len(rows) > 1:
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            text = (
                f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}"
            )
            lines.append(f"  {text}  {row[3]}".rstrip())
    if result.notes:
        lines.extend("  " + line for line in result.notes.splitlines())
    lines.append(f"  ({result.seconds:.1f} s)")
    return "\n".join(lines)


def as_json(results: list[Result], quick: bool) -> str:
    return json.dumps(
        {
            "ok": all(result.ok for result in results),
            "quick": quick,
            "benchmarks": [
                {
                    "name": result.name,
                    "description": result.description,
                    "ok": result.ok,
                    "figures": result.figures,
                    "targets": result.targets,
                    "over": result.over,
                    "error": result.error,
                    "notes": result.notes,
                    "seconds": round(result.seconds, 3),
                }
                for result in results
            ],
        },
        indent=2,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run cobra's benchmarks (bench/bench_*.py); exit 1 if a "
        "ratio is over its target or a benchmark fails.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--list", action="store_true", help="list and exit")
    args = parser.parse_args(argv)

    found = discover()
    known = {name for name, _, _ in found}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(
            f"unknown benchmark {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known)) or 'none'}"
        )
    chosen = [entry for entry in found if not args.names or entry[0] in args.names]

    if args.list:
        for name, module, error in chosen:
            print(f"{name:<16} {error or module.DESCRIPTION}")
        return 0

    results = []
    for name, module, error in chosen:
        if module is None:
            result = Result(name, error=error)
        else:
            if not args.json:
                print(f"running {name}...", file=sys.stderr, flush=True)
            result = run_one(module, args.quick)
        results.append(result)
        if not args.json:
            print(table(result), end="\n\n", flush=True)

    failed = [result.name for result in results if not result.ok]
    if args.json:
        print(as_json(results, args.quick))
    elif not results:
        print("no benchmarks found in", BENCH_DIR)
    else:
        verdict = f"FAILED: {', '.join(failed)}" if failed else "all within targets"
        print(verdict)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
