"""Server-rendered SVG charts: pure functions from numbers to markup, no JavaScript.

Labels come from the warehouse (titles, arm ids, topic names) and so, ultimately, from
producers: every piece of text passes through ``markupsafe.escape`` before it reaches the
markup, and the result is returned as ``Markup`` so Jinja's autoescape leaves it alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colour-blind-safe (Okabe-Ito); series beyond eight reuse colours, which the legend resolves.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000")
WIDTH = 640
HEIGHT = 240
# Room for the axis labels: left for values, bottom for categories.
MARGIN_LEFT = 56
MARGIN_RIGHT = 16
MARGIN_TOP = 16
MARGIN_BOTTOM = 40


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: an estimate and its interval."""

    label: str
    estimate: float
    low: float
    high: float


def linear_scale(
    domain: tuple[float, float], range_: tuple[float, float]
) -> Callable[[float], float]:
    """Map ``domain`` linearly onto ``range_``; a zero-width domain maps to the range's start
    (one value, or all zeros, must still draw rather than divide by zero)."""
    d0, d1 = domain
    r0, r1 = range_
    if d1 == d0:
        return lambda _: r0
    k = (r1 - r0) / (d1 - d0)
    return lambda v: r0 + (v - d0) * k


def nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^k at or above ``value`` (1 for nothing to show), so the axis
    ends on a round number."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return float(candidate)
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def _fmt(v: float) -> str:
    """Coordinates with two decimals: sub-pixel precision without bloating the page."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _tick(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.3g}"


def _frame(title: str, body: list[str], width: int, height: int) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every part escaped above


def _y_axis(top: float, scale: Callable[[float], float], width: int) -> list[str]:
    out = []
    for k in range(5):
        v = top * k / 4
        y = _fmt(scale(v))
        out.append(
            f'<line x1="{MARGIN_LEFT}" x2="{width - MARGIN_RIGHT}" y1="{y}" y2="{y}" '
            'stroke="#ddd"/>'
            f'<text x="{MARGIN_LEFT - 4}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(_tick(v))}</text>"
        )
    return out


def bar_chart(
    bars: Sequence[tuple[str, float]], *, title: str, width: int = WIDTH, height: int = HEIGHT
) -> Markup:
    """One bar per ``(label, value)``, from a zero baseline; negative values draw as zero."""
    top = nice_max(max((v for _, v in bars), default=0.0))
    y = linear_scale((0.0, top), (height - MARGIN_BOTTOM, MARGIN_TOP))
    body = _y_axis(top, y, width)
    slot = (width - MARGIN_LEFT - MARGIN_RIGHT) / max(len(bars), 1)
    for i, (label, value) in enumerate(bars):
        x = MARGIN_LEFT + i * slot + slot * 0.15
        y_top = y(max(value, 0.0))
        body.append(
            f'<rect class="bar" x="{_fmt(x)}" y="{_fmt(y_top)}" width="{_fmt(slot * 0.7)}" '
            f'height="{_fmt(height - MARGIN_BOTTOM - y_top)}" fill="{PALETTE[0]}">'
            f"<title>{escape(label)}: {escape(_tick(value))}</title></rect>"
            f'<text x="{_fmt(x + slot * 0.35)}" y="{height - MARGIN_BOTTOM + 14}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return _frame(title, body, width, height)


def line_chart(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """One polyline (with a dot per point) per series over the shared ``x_labels``; every
    series has one value per label. A legend names the series."""
    for name, values in series.items():
        if len(values) != len(x_labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(x_labels)} labels")
    top = nice_max(max((v for vs in series.values() for v in vs), default=0.0))
    y = linear_scale((0.0, top), (height - MARGIN_BOTTOM, MARGIN_TOP))
    plot_right = width - MARGIN_RIGHT - 96  # the legend takes the right edge
    # One label draws in the middle instead of collapsing onto the y axis.
    if len(x_labels) == 1:
        x = linear_scale((0.0, 0.0), ((MARGIN_LEFT + plot_right) / 2, 0.0))
    else:
        x = linear_scale((0.0, len(x_labels) - 1.0), (MARGIN_LEFT + 8, plot_right - 8))
    body = _y_axis(top, y, width - 96)
    for i, label in enumerate(x_labels):
        body.append(
            f'<text x="{_fmt(x(i))}" y="{height - MARGIN_BOTTOM + 14}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    for k, (name, values) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{_fmt(x(i))},{_fmt(y(v))}" for i, v in enumerate(values))
        body.append(
            f'<polyline class="series" points="{points}" fill="none" stroke="{colour}" '
            'stroke-width="2"/>'
        )
        body.extend(
            f'<circle cx="{_fmt(x(i))}" cy="{_fmt(y(v))}" r="3" fill="{colour}">'
            f"<title>{escape(name)} {escape(x_labels[i])}: {escape(_tick(v))}</title></circle>"
            for i, v in enumerate(values)
        )
        ly = MARGIN_TOP + 14 * k
        body.append(
            f'<rect x="{plot_right + 12}" y="{ly}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{plot_right + 26}" y="{ly + 9}">{escape(name)}</text>'
        )
    return _frame(title, body, width, height)


def interval_chart(
    rows: Sequence[Interval], *, title: str, width: int = WIDTH, row_height: int = 28
) -> Markup:
    """One horizontal row per interval: a line from low to high and a dot at the estimate, on
    a shared axis from 0 to a round number above the largest ``high``."""
    height = MARGIN_TOP + MARGIN_BOTTOM + row_height * max(len(rows), 1)
    left = 120  # arm labels sit left of the axis
    top = nice_max(max((r.high for r in rows), default=0.0))
    x = linear_scale((0.0, top), (left, width - MARGIN_RIGHT))
    body = []
    for k in range(5):
        v = top * k / 4
        xv = _fmt(x(v))
        body.append(
            f'<line x1="{xv}" x2="{xv}" y1="{MARGIN_TOP}" y2="{height - MARGIN_BOTTOM}" '
            'stroke="#ddd"/>'
            f'<text x="{xv}" y="{height - MARGIN_BOTTOM + 14}" text-anchor="middle">'
            f"{escape(_tick(v))}</text>"
        )
    for i, row in enumerate(rows):
        cy = _fmt(MARGIN_TOP + row_height * (i + 0.5))
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<text x="{left - 8}" y="{cy}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(row.label)}</text>"
            f'<line class="interval" x1="{_fmt(x(max(row.low, 0.0)))}" '
            f'x2="{_fmt(x(max(row.high, 0.0)))}" y1="{cy}" y2="{cy}" stroke="{colour}" '
            'stroke-width="3"/>'
            f'<circle class="estimate" cx="{_fmt(x(max(row.estimate, 0.0)))}" cy="{cy}" r="5" '
            f'fill="{colour}"><title>{escape(row.label)}: {escape(_tick(row.estimate))} '
            f"[{escape(_tick(row.low))}, {escape(_tick(row.high))}]</title></circle>"
        )
    return _frame(title, body, width, height)
