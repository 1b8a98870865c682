"""Polling windows of a published short and the MetricsObserved records they produce."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest
from fastavro.validation import validate

from agents.metrics_schedule import (
    WINDOW_NAMES,
    WINDOWS,
    due_windows,
    metrics_record,
    next_due,
)
from schemas.contracts import load_schema
from streams import events
from streams.errors import FatalError
from streams.ports.analytics import VideoMetrics

PUBLISHED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def short(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "meta": events.meta(correlation_id="corr-1", event_id="published-1"),
        "short_id": "short-1",
        "render_id": "render-1",
        "script_id": "script-1",
        "problem_id": "problem-1",
        "experiment_id": "exp-1",
        "arm_id": "arm-b",
        "platform": "youtube",
        "video_id": "vid-1",
        "url": "https://youtube.com/shorts/vid-1",
        "title": "Quiz",
        "published_at": PUBLISHED,
        "simulated": False,
    }
    record.update(overrides)
    return record


def metrics(**overrides: Any) -> VideoMetrics:
    values: dict[str, Any] = {
        "video_id": "vid-1",
        "impressions": 1200,
        "views": 300,
        "impressions_ctr": 0.0625,
        "average_view_percentage": 81.5,
        "average_view_duration_seconds": 24.4,
        "estimated_minutes_watched": 122.0,
        "likes": 17,
        "comments": 3,
        "subscribers_gained": 2,
        "simulated": False,
    }
    values.update(overrides)
    return VideoMetrics(**values)


def test_windows_are_in_order_and_named_as_the_schema_documents() -> None:
    assert WINDOW_NAMES == ("1h", "6h", "24h", "72h", "7d")
    offsets = [offset for _, offset in WINDOWS]
    assert offsets == sorted(offsets)
    assert offsets[-1] == timedelta(days=7)


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(minutes=59, seconds=59), []),
        (timedelta(hours=1), ["1h"]),
        (timedelta(hours=5, minutes=59), ["1h"]),
        (timedelta(hours=6), ["1h", "6h"]),
        (timedelta(hours=71), ["1h", "6h", "24h"]),
        (timedelta(days=7), ["1h", "6h", "24h", "72h", "7d"]),
        (timedelta(days=30), ["1h", "6h", "24h", "72h", "7d"]),
    ],
)
def test_a_window_is_due_from_its_offset_on(elapsed: timedelta, expected: list[str]) -> None:
    assert due_windows(PUBLISHED, PUBLISHED + elapsed, set()) == expected


def test_observed_windows_are_not_due_again() -> None:
    now = PUBLISHED + timedelta(hours=80)
    assert due_windows(PUBLISHED, now, {"1h", "24h"}) == ["6h", "72h"]
    assert due_windows(PUBLISHED, now, {"1h", "6h", "24h", "72h"}) == []


def test_a_late_poller_gets_every_missed_window_at_once() -> None:
    # Down from +30 min to +4 days: four windows are due together, none is skipped.
    assert due_windows(PUBLISHED, PUBLISHED + timedelta(days=4), set()) == [
        "1h",
        "6h",
        "24h",
        "72h",
    ]


def test_next_due_is_the_first_unobserved_window() -> None:
    assert next_due(PUBLISHED, set()) == PUBLISHED + timedelta(hours=1)
    assert next_due(PUBLISHED, {"1h", "6h"}) == PUBLISHED + timedelta(hours=24)
    # An unobserved early window comes first even when later ones were observed.
    assert next_due(PUBLISHED, {"6h", "24h"}) == PUBLISHED + timedelta(hours=1)
    assert next_due(PUBLISHED, set(WINDOW_NAMES)) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_windows(PUBLISHED.replace(tzinfo=None), PUBLISHED, set())
    with pytest.raises(ValueError, match="timezone-aware"):
        next_due(PUBLISHED.replace(tzinfo=None), set())


def test_record_validates_against_the_avro_contract() -> None:
    observed = PUBLISHED + timedelta(hours=24, minutes=3)
    record = metrics_record(short(), "24h", metrics(), observed)

    schema = fastavro.parse_schema(load_schema("MetricsObserved"))
    assert validate(record, schema, raise_errors=True)
    assert record["window"] == "24h"
    assert record["observed_at"] == observed
    assert (record["short_id"], record["experiment_id"], record["arm_id"]) == (
        "short-1",
        "exp-1",
        "arm-b",
    )
    assert record["impressions_ctr"] == 0.0625
    assert record["meta"]["causation_id"] == "published-1"
    assert record["meta"]["correlation_id"] == "corr-1"


def test_a_later_snapshot_of_a_window_shares_its_identity() -> None:
    # The warehouse collapses rows by (short_id, event_id); sharing the id per window is what
    # makes the later snapshot supersede the earlier one there.
    early = metrics_record(short(), "1h", metrics(views=0), PUBLISHED + timedelta(hours=1))
    late = metrics_record(short(), "1h", metrics(views=40), PUBLISHED + timedelta(hours=50))
    assert early["meta"]["event_id"] == late["meta"]["event_id"]
    assert late["views"] == 40

    other_window = metrics_record(short(), "6h", metrics(), PUBLISHED + timedelta(hours=6))
    assert other_window["meta"]["event_id"] != early["meta"]["event_id"]
    other_short = metrics_record(
        short(meta=events.meta(correlation_id="corr-2", event_id="published-2")),
        "1h",
        metrics(),
        PUBLISHED + timedelta(hours=1),
    )
    assert other_short["meta"]["event_id"] != early["meta"]["event_id"]


def test_simulated_metrics_or_shorts_mark_the_record() -> None:
    observed = PUBLISHED + timedelta(hours=1)
    assert metrics_record(short(), "1h", metrics(simulated=True), observed)["simulated"] is True
    assert metrics_record(short(simulated=True), "1h", metrics(), observed)["simulated"] is True
    assert metrics_record(short(), "1h", metrics(), observed)["simulated"] is False


def test_unknown_window_or_foreign_video_is_fatal() -> None:
    observed = PUBLISHED + timedelta(hours=2)
    with pytest.raises(FatalError, match="unknown window"):
        metrics_record(short(), "2h", metrics(), observed)
    with pytest.raises(FatalError, match="vid-2"):
        metrics_record(short(), "1h", metrics(video_id="vid-2"), observed)
