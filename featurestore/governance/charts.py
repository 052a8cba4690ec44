"""Charts for the feature site as plain SVG, drawn from the data: a histogram, a bar chart of
the most frequent values, and a check's value over runs. No script and nothing fetched: a
page with them opens from disk in any browser.

Every data mark (a bar, a point) has the class `mark` and a <title> that a browser shows
on hover, so the figure behind each mark can be read without a legend.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from featurestore.sql.check_history import HistoryRow
    from featurestore.governance.profile import Histogram, TopValues

STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#ed8c00", "fail": "#c62828"}
BAR_COLOUR = "#3f6fb5"
AXIS_COLOUR = "#8a8f98"


def number(value: float | None) -> str:
    """A figure as people read it: whole numbers with separators, others to 3-4 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.4g}"
    return f"{value:.3g}"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", css: str = "tick") -> str:
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def histogram_svg(histogram: "Histogram", label: str, width: int = 420, height: int = 140) -> str:
    """Bars of equal width, one per bin, heights relative to the fullest bin; the axis
    shows the lowest and highest value."""
    left, right, top, bottom = 8, 8, 14, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    counts = histogram.counts
    tallest = max(counts) or 1
    step = plot_w / len(counts)
    body = [f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS_COLOUR}"/>']
    edges = histogram.edges
    for i, count in enumerate(counts):
        if count == 0:
            continue
        # At least a pixel: a bin holding a few values among millions must stay visible.
        bar_h = max(1.0, plot_h * count / tallest)
        low, high = edges[i], edges[i + 1]
        span = _integer_span(low, high) if histogram.integer else f"{number(low)} to {number(high)}"
        body.append(
            f'<rect class="mark" x="{left + i * step + 0.5:.1f}" y="{top + plot_h - bar_h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{bar_h:.1f}" fill="{BAR_COLOUR}">'
            f"<title>{escape(span)}: {count:,} rows</title></rect>"
        )
    low_label = number(edges[0])
    high_label = number(edges[-1] - 1 if histogram.integer else edges[-1])
    body.append(_text(left, height - 6, low_label))
    body.append(_text(left + plot_w, height - 6, high_label, anchor="end"))
    body.append(_text(left, top - 3, f"max {tallest:,} rows per bin", css="note"))
    return _svg(width, height, label, body)


def _integer_span(low: float, high: float) -> str:
    first, last = math.ceil(low), math.ceil(high) - 1
    return f"{first:,}" if first >= last else f"{first:,} to {last:,}"


def top_values_svg(top: "TopValues", non_null: int, label: str, width: int = 420) -> str:
    """Horizontal bars, one per frequent value (and one for all others), as shares of the
    non-null values."""
    rows = [*top.values, *([("(all others)", top.other)] if top.other else [])]
    row_h, label_w, left = 18, 190, 4
    height = row_h * len(rows) + 4
    bar_w = width - label_w - left - 60
    body = []
    for i, (value, count) in enumerate(rows):
        share = count / non_null if non_null else 0
        y = 2 + i * row_h
        shown = value if len(value) <= 28 else value[:27] + "…"
        body.append(_text(left, y + 13, shown, css="tick"))
        body.append(
            f'<rect class="mark" x="{left + label_w}" y="{y + 3}" width="{max(1.0, bar_w * share):.1f}" '
            f'height="{row_h - 6}" fill="{BAR_COLOUR}"><title>{escape(value)}: {count:,} rows ({share:.1%})</title></rect>'
        )
        body.append(_text(left + label_w + max(1.0, bar_w * share) + 4, y + 13, f"{share:.1%}", css="note"))
    return _svg(width, height, label, body)


def history_svg(results: Sequence["HistoryRow"], label: str, width: int = 560, height: int = 150) -> str:
    """A check's value over runs: a line through the values, each run a point in its
    status's colour, and the latest threshold (dashed) and baseline (dotted) as lines."""
    points = [r for r in results if r.value is not None]
    left, right, top, bottom = 52, 12, 10, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    if not points:
        return _svg(width, 40, label, [_text(4, 24, "no values recorded", css="note")])
    latest = points[-1]
    guides = [v for v in (latest.threshold, latest.baseline) if v is not None]
    values = [p.value for p in points] + guides  # type: ignore[misc]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    times = [p.run_at.timestamp() for p in points]
    first, last = min(times), max(times)

    def x_of(t: float) -> float:
        return left + (plot_w / 2 if last == first else plot_w * (t - first) / (last - first))

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    body = [
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS_COLOUR}"/>',
        _text(left - 4, top + 8, number(high), anchor="end"),
        _text(left - 4, top + plot_h, number(low), anchor="end"),
        _text(left, height - 6, _when(points[0].run_at)),
    ]
    if last != first:
        body.append(_text(left + plot_w, height - 6, _when(latest.run_at), anchor="end"))
    for name, value, dash in (("threshold", latest.threshold, "5 3"), ("baseline", latest.baseline, "2 3")):
        if value is not None:
            y = y_of(value)
            body.append(
                f'<line class="{name}" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                f'stroke="{AXIS_COLOUR}" stroke-dasharray="{dash}"><title>{name} {number(value)}</title></line>'
            )
    path = " ".join(f"{x_of(t):.1f},{y_of(p.value):.1f}" for t, p in zip(times, points))  # type: ignore[arg-type]
    body.append(f'<polyline class="line" points="{path}" fill="none" stroke="{BAR_COLOUR}" stroke-width="1.5"/>')
    for t, point in zip(times, points):
        colour = STATUS_COLOURS.get(point.status, AXIS_COLOUR)
        tip = f"{_when(point.run_at)}: {point.status} {number(point.value)}"
        if point.detail:
            tip += f" ({point.detail})"
        body.append(
            f'<circle class="mark status-{escape(point.status)}" cx="{x_of(t):.1f}" cy="{y_of(point.value):.1f}" '  # type: ignore[arg-type]
            f'r="4" fill="{colour}"><title>{escape(tip)}</title></circle>'
        )
    return _svg(width, height, label, body)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
