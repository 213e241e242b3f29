"""Writing rows for people (table) and for scripts (json, jsonl, csv).

Every listing command takes ``--format`` through :func:`format_option` and
hands its rows to :func:`emit` as dicts with stable snake_case keys. JSON is
written as one array, row by row, so a large listing streams instead of
being built in memory first; only the table, which needs every width,
buffers.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import IO

import click

FORMATS = ("table", "json", "jsonl", "csv")


def format_option(command: Callable) -> Callable:
    """The one ``--format`` option every listing command shares."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; json (one array), jsonl or csv for scripts.",
    )(command)


def _plain(value: object) -> object:
    """A value JSON and CSV can carry without losing precision."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # never through float: these are amounts of money
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def emit(
    rows: Iterable[dict],
    fmt: str,
    *,
    out: IO[str] | None = None,
    empty_message: str | None = None,
) -> int:
    """Write *rows* in *fmt*; return how many were written."""
    out = out or sys.stdout
    writer = {"json": _json, "jsonl": _jsonl, "csv": _csv, "table": _table}[fmt]
    count = writer((({k: _plain(v) for k, v in row.items()}) for row in rows), out)
    if count == 0 and empty_message and fmt == "table":
        click.echo(empty_message, err=True)
    return count


def _json(rows: Iterable[dict], out: IO[str]) -> int:
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _jsonl(rows: Iterable[dict], out: IO[str]) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def _csv(rows: Iterable[dict], out: IO[str]) -> int:
    writer = None
    count = 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
        count += 1
    return count


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _table(rows: Iterable[dict], out: IO[str]) -> int:
    from tabulate import tabulate

    materialized = [
        {
            k: ", ".join(map(str, v)) if isinstance(v, list) else v
            for k, v in row.items()
        }
        for row in rows
    ]
    if materialized:
        out.write(tabulate(materialized, headers="keys", disable_numparse=True) + "\n")
    return len(materialized)
