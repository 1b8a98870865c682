"""The dashboard's SVG charts: geometry follows the numbers, and no label can inject markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from services.api import svg

HOSTILE = '<script>alert("x")</script>&"\'><img src=x onerror=alert(1)>'
NS = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    # A well-formed document proves no label broke out of its text node or attribute.
    return ET.fromstring(markup)


def test_linear_scale_maps_endpoints_and_midpoints() -> None:
    y = svg.linear_scale((0.0, 10.0), (200.0, 0.0))
    assert (y(0), y(5), y(10)) == (200.0, 100.0, 0.0)
    assert svg.linear_scale((3.0, 3.0), (7.0, 9.0))(3.0) == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1.0), (-3, 1.0), (0.07, 0.1), (1, 1.0), (3, 5.0), (18, 20.0), (51, 100.0), (0.3, 0.5)],
)
def test_nice_max_rounds_up_to_1_2_5(value: float, expected: float) -> None:
    assert svg.nice_max(value) == pytest.approx(expected)


def test_bar_heights_are_proportional_to_values() -> None:
    root = _parse(svg.bar_chart([("a", 10), ("b", 5), ("c", 0)], title="t"))
    bars = root.findall(f"{NS}rect[@class='bar']")
    heights = [float(b.get("height", "nan")) for b in bars]
    plot = svg.HEIGHT - svg.MARGIN_TOP - svg.MARGIN_BOTTOM
    assert heights == pytest.approx([plot, plot / 2, 0.0])
    bottoms = [float(b.get("y", "0")) + float(b.get("height", "0")) for b in bars]
    assert bottoms == pytest.approx([svg.HEIGHT - svg.MARGIN_BOTTOM] * 3)
    xs = [float(b.get("x", "0")) for b in bars]
    assert xs == sorted(xs)


def test_line_chart_draws_one_polyline_per_series_with_matching_points() -> None:
    root = _parse(
        svg.line_chart(["d1", "d2", "d3"], {"s": [0, 10, 5], "t": [10, 10, 10]}, title="t")
    )
    lines = root.findall(f"{NS}polyline")
    assert len(lines) == 2
    s_points = [tuple(map(float, p.split(","))) for p in lines[0].get("points", "").split()]
    ys = [p[1] for p in s_points]
    assert ys[0] == pytest.approx(svg.HEIGHT - svg.MARGIN_BOTTOM)  # 0 sits on the baseline
    assert ys[1] == pytest.approx(svg.MARGIN_TOP)  # the maximum (10 = nice_max) at the top
    assert ys[2] == pytest.approx((ys[0] + ys[1]) / 2)
    assert [p[0] for p in s_points] == sorted(p[0] for p in s_points)


def test_line_chart_refuses_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        svg.line_chart(["a", "b", "c"], {"s": [1, 2]}, title="t")


def test_interval_chart_places_low_estimate_high_in_order() -> None:
    rows = [svg.Interval("a", 0.1, 0.05, 0.15), svg.Interval("b", 0.3, 0.2, 0.4)]
    root = _parse(svg.interval_chart(rows, title="t"))
    lines = root.findall(f"{NS}line[@class='interval']")
    dots = root.findall(f"{NS}circle[@class='estimate']")
    for line, dot in zip(lines, dots, strict=True):
        assert float(line.get("x1", "0")) < float(dot.get("cx", "0")) < float(line.get("x2", "0"))
    # Same scale for every row: b's estimate is three times a's distance from the axis origin.
    origin = float(root.findall(f"{NS}line")[0].get("x1", "0"))
    a, b = (float(d.get("cx", "0")) - origin for d in dots)
    assert b == pytest.approx(3 * a)


def test_empty_inputs_still_draw() -> None:
    for markup in (
        svg.bar_chart([], title="t"),
        svg.line_chart([], {}, title="t"),
        svg.interval_chart([], title="t"),
    ):
        assert _parse(markup).tag == f"{NS}svg"


@pytest.mark.parametrize(
    "markup",
    [
        svg.bar_chart([(HOSTILE, 1)], title=HOSTILE),
        svg.line_chart([HOSTILE], {HOSTILE: [1.0]}, title=HOSTILE),
        svg.interval_chart([svg.Interval(HOSTILE, 0.1, 0.0, 0.2)], title=HOSTILE),
    ],
)
def test_hostile_labels_are_escaped(markup: str) -> None:
    assert "<script" not in markup
    assert "<img" not in markup
    assert re.search(r"onerror=alert\(1\)&gt;", markup)
    root = _parse(markup)
    assert {el.tag for el in root.iter()} <= {
        f"{NS}{t}" for t in ("svg", "title", "rect", "text", "line", "polyline", "circle")
    }
    texts = [el.text for el in root.iter() if el.text]
    assert HOSTILE in texts  # shown verbatim to the reader, as text
