"""From a dashboard snapshot to what the templates draw: charts and display formats (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.api.svg import Interval, bar_chart, interval_chart, line_chart

TEMPLATES = Path(__file__).resolve().parent / "templates"
STEPS = ("submitted", "drafted", "rendered", "published", "failed")


def charts(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """SVG charts of a snapshot: ``daily_output``, ``funnel``, ``failure_rate`` and one
    interval chart per experiment id (``experiments``)."""
    daily = snapshot["daily_output"]
    days = sorted({str(r["day"]) for r in daily})
    counts = {(str(r["day"]), str(r["step"])): float(r["n"]) for r in daily}
    steps = [s for s in STEPS if any(step == s for _, step in counts)]
    steps += sorted({step for _, step in counts} - set(steps))  # steps added later still show
    funnel = snapshot["funnel"]
    return {
        "daily_output": line_chart(
            days,
            {s: [counts.get((d, s), 0.0) for d in days] for s in steps},
            title="Items per step per day",
        ),
        "funnel": bar_chart(
            [(s, float(funnel.get(s, 0))) for s in STEPS], title="Items per step over the period"
        ),
        "failure_rate": bar_chart(
            [(str(r["day"]), float(r["failure_rate"])) for r in snapshot["failure_rate"]],
            title="Dead letters per attempted item, per day",
        ),
        "experiments": {
            e["experiment_id"]: interval_chart(
                [Interval(a["arm_id"], a["ctr"], a["ctr_low"], a["ctr_high"]) for a in e["arms"]],
                title=f"CTR by arm of {e['experiment_id']} at {e['window']} (95% interval)",
            )
            for e in snapshot["experiments"]
        },
    }


def display(value: Any, kind: str = "int") -> str:
    """How a number reads on the page; the exact value also goes in ``data-value``."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if kind == "pct":
        return f"{float(value) * 100:.2f}%"
    if kind == "prob":
        return f"{float(value):.3f}"
    if kind == "float":
        return f"{float(value):,.2f}"
    return f"{int(value):,}"


def environment() -> Environment:
    """Templates with autoescape on for every file: all labels are producer data."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt field fails the render, not shows nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["display"] = display
    return env
