"""Every analyst query in dashboards/ runs on real ClickHouse (chdb) over the events the sink
would write, and its numbers equal what the events say (computed here independently)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from observability.error_groups import error_groups_statements
from tests import sample_events as samples
from tests.warehouse_loader import Event, load_events
from warehouse import dashboards

pytestmark = pytest.mark.integration
DB = "munjero"


def _events() -> list[Event]:
    out: list[Event] = []
    for n, problem in enumerate(samples.PROBLEMS[:6]):
        out += samples.pipeline(problem, n, arms=3, windows=1 + n % 3)
    out.append(samples.step_failed("scripts.drafted", "scripts.drafted", "k1", b"\xff", 1))
    out.append(samples.step_failed("scripts.drafted", "scripts.drafted", "k2", b"\xfe", 2))
    return out


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return _events()


@pytest.fixture
async def warehouse(tmp_path: Path, events: list[Event]) -> AsyncIterator[ChdbWarehouse]:
    wh = ChdbWarehouse(str(tmp_path / "chdb"))
    await ensure_schema(wh, DB)
    await load_events(wh, events, DB)
    # A redelivered batch (same events again) must not change any number below.
    await load_events(wh, events[: len(events) // 2], DB)
    try:
        yield wh
    finally:
        await wh.close()


def _records(events: list[Event], topic: str) -> list[dict[str, Any]]:
    return [record for t, _, record in events if t == topic]


def test_every_dashboard_is_tested() -> None:
    tested = {"daily_output", "pipeline_funnel", "failure_rate", "dead_letters", "top_shorts",
              "experiment_arms", "error_groups"}  # fmt: skip
    assert set(dashboards.names()) == tested


async def test_daily_output_and_funnel(warehouse: ChdbWarehouse, events: list[Event]) -> None:
    expected: dict[tuple[date, str], set[str]] = defaultdict(set)
    for topic, step, key in (
        ("problems.submitted", "submitted", "problem_id"),
        ("scripts.drafted", "drafted", "script_id"),
        ("renders.completed", "rendered", "render_id"),
        ("shorts.published", "published", "short_id"),
        ("scripts.drafted.dlq", "failed", None),
    ):
        for r in _records(events, topic):
            item = r["meta"]["event_id"] if key is None else r[key]
            expected[(r["meta"]["occurred_at"].date(), step)].add(item)
    rows = await dashboards.run(warehouse, "daily_output", DB, since="2000-01-01")
    assert {(r["day"], r["step"]): r["n"] for r in rows} == {k: len(v) for k, v in expected.items()}

    (funnel,) = await dashboards.run(warehouse, "pipeline_funnel", DB, since="2000-01-01")
    totals = defaultdict(int)
    for (_, step), items in expected.items():
        totals[step] += len(items)
    assert funnel["submitted"] == totals["submitted"] == 6
    assert funnel["published"] == totals["published"] == 18
    assert funnel["failed"] == 2
    assert funnel["render_rate"] == pytest.approx(totals["rendered"] / totals["drafted"])


async def test_failure_rate(warehouse: ChdbWarehouse, events: list[Event]) -> None:
    rows = await dashboards.run(warehouse, "failure_rate", DB, since="2000-01-01")
    failed_days = {r["meta"]["occurred_at"].date() for r in _records(events, "scripts.drafted.dlq")}
    assert sum(r["failed"] for r in rows) == 2
    for row in rows:
        if row["day"] in failed_days:
            assert row["failure_rate"] == pytest.approx(row["failed"] / row["attempted"])


async def test_dead_letters(warehouse: ChdbWarehouse) -> None:
    (row,) = await dashboards.run(warehouse, "dead_letters", DB)
    assert (row["original_topic"], row["error_class"], row["letters"]) == (
        "scripts.drafted", "RenderError", 2,
    )  # fmt: skip
    assert row["first_seen"] <= row["last_seen"]


async def test_top_shorts_use_the_latest_window(
    warehouse: ChdbWarehouse, events: list[Event]
) -> None:
    order = ["1h", "6h", "24h", "72h", "7d"]
    latest: dict[str, dict[str, Any]] = {}
    for m in _records(events, "metrics.observed"):
        seen = latest.get(m["short_id"])
        if seen is None or order.index(m["window"]) > order.index(seen["window"]):
            latest[m["short_id"]] = m
    best = sorted(latest.values(), key=lambda m: (-m["views"], m["short_id"]))[:5]
    rows = await dashboards.run(warehouse, "top_shorts", DB, limit=5)
    assert [(r["short_id"], r["views"], r["latest_window"]) for r in rows] == [
        (m["short_id"], m["views"], m["window"]) for m in best
    ]


async def test_experiment_arms_are_sufficient_statistics(
    warehouse: ChdbWarehouse, events: list[Event]
) -> None:
    metrics = [m for m in _records(events, "metrics.observed") if m["window"] == "1h"]
    experiment = metrics[0]["experiment_id"]
    rows = await dashboards.run(
        warehouse, "experiment_arms", DB, experiment=experiment, window="1h"
    )
    by_arm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in metrics:
        by_arm[m["arm_id"]].append(m)
    assert [r["arm_id"] for r in rows] == sorted(by_arm)
    for row in rows:
        mine = by_arm[row["arm_id"]]
        assert row["shorts"] == len(mine)
        assert row["impressions"] == sum(m["impressions"] for m in mine)
        assert row["views"] == sum(m["views"] for m in mine)
        assert row["ctr_sum"] == pytest.approx(sum(m["impressions_ctr"] for m in mine))
        assert row["ctr_sq"] == pytest.approx(sum(m["impressions_ctr"] ** 2 for m in mine))
        assert row["retention_sq"] == pytest.approx(
            sum(m["average_view_percentage"] ** 2 for m in mine)
        )
        assert row["clicks"] == sum(round(m["impressions"] * m["impressions_ctr"]) for m in mine)


async def test_a_later_snapshot_of_a_window_supersedes(
    warehouse: ChdbWarehouse, events: list[Event]
) -> None:
    first = _records(events, "metrics.observed")[0]
    later = {**first, "views": first["views"] + 999, "observed_at": first["observed_at"].replace(
        year=first["observed_at"].year + 1)}  # fmt: skip
    await load_events(warehouse, [("metrics.observed", "MetricsObserved", later)], DB)
    rows = await warehouse.query(
        f"SELECT views FROM {DB}.metrics_latest WHERE short_id = {{s:String}} "
        "AND window = {w:String}",
        {"s": first["short_id"], "w": first["window"]},
    )
    assert rows == [{"views": first["views"] + 999}]


async def test_error_groups_run_next_to_the_event_tables(warehouse: ChdbWarehouse) -> None:
    # Its numbers are checked in test_error_groups.py (it reads otel_logs, not events).
    for statement in error_groups_statements(DB):
        await warehouse.execute(statement)
    assert await dashboards.run(warehouse, "error_groups", DB, limit=5) == []
