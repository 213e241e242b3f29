"""`cobra report html`: one self-contained page, rendered in headless Chromium.

The page is built from the two portfolios of test_reports.py, then opened by
a real Chromium (installed by the fixture when missing and possible): the
DOM it parsed must hold each chart with one mark per figure, carrying the
figures the JSON reports give, and its screenshot must show the bars.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from services import debian
from test_reports import contacts_portfolio, portfolio

AS_OF = "2026-09-25"
PERIOD = ("--from", "2026-09-01", "--to", AS_OF)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
BAR_COLOUR = (0x3D, 0x7C, 0xC9)  # .chart .bar in cobra/reports/html.py


def _installed() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    """A headless Chromium, installed with apt-get when missing and possible."""
    try:
        debian.ensure(("chromium",), lambda: _installed() is not None, "Chromium")
    except debian.Unavailable as exc:
        pytest.skip(str(exc))
    return _installed()


def browse(chromium: str, page: Path, profile: Path, *extra: str) -> str:
    """Run headless Chromium on the file; its stdout. Killed as a whole group
    on timeout, so no renderer outlives the test."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *extra,
        page.as_uri(),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, err[-2000:]
    return out


class Marks(HTMLParser):
    """The elements of a DOM with their attributes and enclosing chart/table."""

    def __init__(self):
        super().__init__()
        self.marks: list[tuple[str, str | None, dict]] = []
        self.tags: set[str] = set()
        self.cells: dict[str, list[list[str]]] = {}
        self._chart: str | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "svg":
            self._chart = attrs.get("data-chart")
        elif tag == "table":
            self._table = attrs.get("data-table")
            self.cells[self._table] = []
        elif tag == "tr" and self._table:
            self.cells[self._table].append([])
        elif tag == "td" and self._table:
            self._cell = []
        self.marks.append((tag, self._chart, attrs))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._chart = None
        elif tag == "table":
            self._table = None
        elif tag == "tr" and self._table and not self.cells[self._table][-1]:
            self.cells[self._table].pop()  # the header row: no data cells
        elif tag == "td" and self._cell is not None:
            self.cells[self._table][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def find(self, tag: str, chart: str, attribute: str) -> list[dict]:
        return [
            a for t, c, a in self.marks if t == tag and c == chart and attribute in a
        ]


def pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows) of an 8-bit RGB or RGBA PNG, unfiltered."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, data, header = 8, b"", None
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        chunk = png[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            data += chunk
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    size = 3 if colour == 2 else 4
    raw, stride, rows, previous = (
        zlib.decompress(data),
        width * size,
        [],
        bytes(width * size),
    )
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            left = line[x - size] if x >= size else 0
            up, corner = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                near = min(
                    (abs(p - left), 0, left),
                    (abs(p - up), 1, up),
                    (abs(p - corner), 2, corner),
                )[2]
                line[x] = (line[x] + near) & 0xFF
        rows.append(bytes(line))
        previous = rows[-1]
    return width, height, rows


def coloured(rows: list[bytes], size: int, colour: tuple[int, int, int]) -> int:
    """How many pixels have exactly this colour."""
    target = bytes(colour)
    return sum(
        1 for row in rows for i in range(0, len(row), size) if row[i : i + 3] == target
    )


def json_report(run, *args: str) -> list[dict]:
    result = run("report", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_the_page_renders_its_charts_in_headless_chromium(run, tmp_path, chromium):
    # The messages first: the other portfolio's plan queues messages that a
    # later `cobra send` would send too.
    contacts_portfolio(run, tmp_path)
    portfolio(run, tmp_path)
    page = tmp_path / "report.html"
    result = run(
        "report", "html", "--out", str(page), "--as-of", AS_OF, *PERIOD, "--top", "5"
    )
    assert result.exit_code == 0, result.stderr
    assert f"Wrote {page}" in result.stderr

    # Self-contained: nothing to fetch, nothing to run; only its owner reads it.
    text = page.read_text(encoding="utf-8")
    for outside in (
        "http:",
        "https:",
        "//",
        "<script",
        "<link",
        "<img",
        "src=",
        "url(",
    ):
        assert outside not in text.replace("<!DOCTYPE", ""), outside
    assert stat.S_IMODE(page.stat().st_mode) == 0o600

    dom = Marks()
    dom.feed(browse(chromium, page, tmp_path / "profile", "--dump-dom"))
    assert "svg" in dom.tags and "rect" in dom.tags and "circle" in dom.tags

    # Aging: one bar per bucket and currency, with the aging report's amounts.
    for row in json_report(run, "aging", "--as-of", AS_OF):
        currency = row["currency"]
        bars = dom.find("rect", f"aging-{currency}", "data-bucket")
        assert [(b["data-bucket"], b["data-amount"]) for b in bars] == [
            ("current", row["current"]),
            ("1-30", row["days_1_30"]),
            ("31-60", row["days_31_60"]),
            ("61-90", row["days_61_90"]),
            ("91-120", row["days_91_120"]),
            ("120+", row["days_over_120"]),
        ]
        assert {b["data-currency"] for b in bars} == {currency}
    assert {
        c for t, c, _ in dom.marks if t == "svg" and (c or "").startswith("aging-")
    } == {"aging-EUR", "aging-USD"}

    # DSO: a point per month with figures, the countback DSO of `dso --by month`
    # over the twelve months to the as-of date, and a line through them.
    monthly = json_report(
        run, "dso", "--from", "2025-10-01", "--to", AS_OF, "--by", "month"
    )
    for currency in ("USD", "EUR"):
        points = dom.find("circle", f"dso-{currency}", "data-value")
        expected = [
            (r["month"], r["dso_countback"])
            for r in monthly
            if r["currency"] == currency
        ]
        assert [(p["data-x"], float(p["data-value"])) for p in points] == expected
        assert len(expected) >= 6
        assert dom.find("path", f"dso-{currency}", "d")

    # Promises kept, by the month they were made (all resolved by 09-25):
    # June: ALDER 200 kept, ALDER 300 partly, BIRCH 800 broken, CEDAR 700
    # kept -> 2 of 4 = 0.5; September: C000002's promise kept -> 1 of 1.
    kept = dom.find("circle", "promises-kept", "data-value")
    assert [(p["data-x"], p["data-value"]) for p in kept] == [
        ("2026-06", "0.5"),
        ("2026-09", "1"),
    ]

    # Tactics: a bar and an interval per tactic, with the tactics report's
    # figures (2 of 4, 2 of 3 and 1 of 1 in test_reports.py).
    tactics = {
        r["tactic"]: r for r in json_report(run, "tactics", *PERIOD, "--by", "tactic")
    }
    bars = dom.find("rect", "tactics", "data-tactic")
    assert {b["data-tactic"]: float(b["data-rate"]) for b in bars} == {
        "legitimating": 1.0,
        "personal_appeal": 0.5,
        "pressure": 0.6667,
    }
    whiskers = dom.find("line", "tactics", "data-low")
    assert {
        w["data-tactic"]: (float(w["data-low"]), float(w["data-high"]))
        for w in whiskers
    } == {name: (r["rate_low"], r["rate_high"]) for name, r in tactics.items()}
    # The allocation over the 14 days to 09-25: C000006 alone, step 2 variant 0.
    assert dom.cells["allocation"] == [
        ["friendly-reminder", "2", "0", "1", "100%", "50% of 4"]
    ]

    # The worklist's top rows (--top 5 of the 9 customers overdue) are
    # `cobra prioritize`'s.
    ranked = run("prioritize", "--as-of", AS_OF, "--top", "5", "--format", "json")
    expected = [(str(r["rank"]), r["account"]) for r in json.loads(ranked.stdout)]
    assert [(row[0], row[1]) for row in dom.cells["worklist"]] == expected
    assert len(expected) == 5

    # Painted, not only parsed: the screenshot shows the bars' colour.
    shot = tmp_path / "report.png"
    browse(
        chromium,
        page,
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=800,700",
        "--hide-scrollbars",
    )
    width, height, rows = pixels(shot.read_bytes())
    assert (width, height) == (800, 700)
    size = len(rows[0]) // width
    assert coloured(rows, size, BAR_COLOUR) > 2000


def test_the_page_is_the_same_for_the_same_data(run, tmp_path):
    portfolio(run, tmp_path)
    first, second = tmp_path / "a.html", tmp_path / "b.html"
    for path in (first, second):
        assert (
            run("report", "html", "--as-of", "2026-06-30", "--out", str(path)).exit_code
            == 0
        )
    assert first.read_bytes() == second.read_bytes()
    # Without --out the page goes to stdout.
    printed = run("report", "html", "--as-of", "2026-06-30")
    assert printed.stdout.encode() == first.read_bytes()


def test_an_empty_store_gives_a_page_that_says_so(run, tmp_path):
    result = run("report", "html", "--as-of", "2026-06-30")
    assert result.exit_code == 0, result.stderr
    assert "Nothing open on 2026-06-30." in result.stdout
    assert "No promise made in these months has a result yet." in result.stdout
    assert "<svg" not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "json"), "the html report is a page: --format does not apply"),
        (("--by", "segment"), "the html report takes no --by"),
        (
            ("--out", "no/such/folder/report.html"),
            "the folder no/such/folder does not exist",
        ),
    ],
)
def test_bad_html_options_are_bad_input(run, args, message):
    result = run("report", "html", *args)
    assert result.exit_code == 2
    assert message in result.stderr
