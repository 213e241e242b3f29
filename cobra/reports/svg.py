"""Charts as inline SVG text, drawn here so the report page needs nothing else.

Three shapes cover the report page: vertical bars (aging), lines over months
(DSO, kept rate) and horizontal bars with an interval (tactics). Every mark
carries ``data-*`` attributes with the figure it draws, so a script (or a
test) can read the numbers back from the page, and a ``<title>`` a browser
shows on hover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH = 640
FONT = 11


def _attrs(values: dict[str, object]) -> str:
    return "".join(
        f' {name}="{escape(str(value), quote=True)}"'
        for name, value in values.items()
        if value is not None
    )


def _num(value: float) -> str:
    """Coordinates with two decimals at most: smaller pages, same picture."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _figure(value: float) -> str:
    """A figure for a data-* attribute as the report gave it, already rounded
    (a kept rate 0.1563, a DSO 108.1): rounding it again to two places
    would turn 0.1563 into 0.16, and 0.125 into 0.12 (a tie to even)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def _nice_max(value: float) -> float:
    """A round number at least *value*, for the top of an axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _open(name: str, title: str, height: int) -> str:
    """The <svg> start tag and its title, which browsers and readers show."""
    label = escape(title, quote=True)
    return (
        f'<svg class="chart" data-chart="{escape(name, quote=True)}"'
        f' viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}"'
        f' role="img" aria-label="{label}"><title>{escape(title)}</title>'
    )


def _line(x1: float, y1: float, x2: float, y2: float, klass: str = "axis") -> str:
    return (
        f'<line class="{klass}" x1="{_num(x1)}" y1="{_num(y1)}"'
        f' x2="{_num(x2)}" y2="{_num(y2)}"/>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"'
        f' font-size="{FONT}">{escape(text)}</text>'
    )


@dataclass
class Bar:
    label: str
    value: float
    text: str  # the figure as people read it, shown above the bar
    data: dict[str, object] = field(default_factory=dict)


def bar_chart(name: str, title: str, bars: list[Bar], height: int = 220) -> str:
    """Vertical bars, one per label, scaled to the largest."""
    top, bottom, left, right = 24, 36, 12, 12
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    scale = _nice_max(max((bar.value for bar in bars), default=0))
    slot = inner_w / max(len(bars), 1)
    parts = [
        _open(name, title, height),
        _line(left, top + inner_h, WIDTH - right, top + inner_h),
    ]
    for index, bar in enumerate(bars):
        h = inner_h * bar.value / scale if scale else 0
        x = left + index * slot + slot * 0.15
        y = top + inner_h - h
        centre = left + index * slot + slot / 2
        parts.append(
            f'<rect class="bar" x="{_num(x)}" y="{_num(y)}" width="{_num(slot * 0.7)}"'
            f' height="{_num(h)}"{_attrs(bar.data)}>'
            f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
        )
        parts.append(_text(centre, y - 4, bar.text))
        parts.append(_text(centre, top + inner_h + 16, bar.label))
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class Series:
    name: str
    points: list[float | None]  # one per x label; None: no figure that month
    data: dict[str, object] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)


def line_chart(
    name: str,
    title: str,
    labels: list[str],
    series: list[Series],
    height: int = 220,
    unit: str = "",
) -> str:
    """Lines over the labels (months); a missing point breaks the line."""
    top, bottom, left, right = 20, 36, 64, 32
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    values = [v for s in series for v in s.points if v is not None]
    scale = _nice_max(max(values, default=0))
    step = inner_w / max(len(labels) - 1, 1)

    def xy(index: int, value: float) -> tuple[float, float]:
        return left + index * step, top + inner_h - inner_h * value / scale

    parts = [
        _open(name, title, height),
        _line(left, top + inner_h, WIDTH - right, top + inner_h),
        _text(left - 6, top + 4, f"{_num(scale)}{unit}", "end"),
        _text(left - 6, top + inner_h, "0", "end"),
    ]
    for index, label in enumerate(labels):
        if len(labels) <= 8 or index % 2 == 0:
            x, _ = xy(index, 0)
            parts.append(_text(x, top + inner_h + 16, label))
    for number, line in enumerate(series):
        commands, pen_down = [], False
        for index, value in enumerate(line.points):
            if value is None:
                pen_down = False
                continue
            x, y = xy(index, value)
            commands.append(f"{'L' if pen_down else 'M'}{_num(x)} {_num(y)}")
            pen_down = True
        if commands:
            parts.append(
                f'<path class="line line-{number}" d="{" ".join(commands)}"'
                f' fill="none"{_attrs({"data-series": line.name, **line.data})}/>'
            )
        for index, value in enumerate(line.points):
            if value is None:
                continue
            x, y = xy(index, value)
            text = line.texts[index] if index < len(line.texts) else _num(value)
            parts.append(
                f'<circle class="point line-{number}" cx="{_num(x)}" cy="{_num(y)}"'
                f' r="3.5"'
                + _attrs(
                    {
                        "data-series": line.name,
                        **line.data,
                        "data-x": labels[index],
                        "data-value": _figure(value),
                    }
                )
                + f"><title>{escape(line.name)} {escape(labels[index])}:"
                f" {escape(text)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


@dataclass
class Interval:
    label: str
    value: float | None  # 0-1; None: nothing evaluated yet
    low: float | None
    high: float | None
    text: str
    data: dict[str, object] = field(default_factory=dict)


def interval_chart(name: str, title: str, rows: list[Interval]) -> str:
    """Horizontal bars of a share (0-100%) with a whisker for its interval."""
    row_h, top, left, right = 26, 8, 170, 70
    height = top * 2 + row_h * max(len(rows), 1)
    inner_w = WIDTH - left - right
    parts = [
        _open(name, title, height),
        _line(left, top, left, height - top),
        _line(left + inner_w, top, left + inner_w, height - top, "axis end"),
    ]
    for index, row in enumerate(rows):
        y = top + index * row_h
        middle = y + row_h / 2
        parts.append(_text(left - 6, middle + 4, row.label, "end"))
        value = row.value or 0.0
        parts.append(
            f'<rect class="bar" x="{left}" y="{_num(y + 5)}"'
            f' width="{_num(inner_w * value)}" height="{row_h - 10}"'
            + _attrs({**row.data, "data-rate": row.value})
            + f"><title>{escape(row.label)}: {escape(row.text)}</title></rect>"
        )
        if row.low is not None and row.high is not None:
            x1, x2 = left + inner_w * row.low, left + inner_w * row.high
            whisker = _line(x1, middle, x2, middle, "interval")
            data = _attrs({**row.data, "data-low": row.low, "data-high": row.high})
            parts.append(whisker[:-2] + data + "/>")
        parts.append(_text(WIDTH - right + 6, middle + 4, row.text, "start"))
    parts.append("</svg>")
    return "".join(parts)
