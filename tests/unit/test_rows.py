"""Decoded events -> rows aligned with the generated tables, for every event type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.serializer import Decoded
from tests import sample_events as samples
from warehouse.rows import error_row, event_row, mapper_for_topic
from warehouse.tables import INGEST_ERROR_COLUMNS, table_for_topic

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def all_samples() -> list[samples.Event]:
    events = samples.pipeline(samples.PROBLEMS[1], 0, arms=1, windows=1)
    events.append(samples.step_failed("renders.completed", "ns.renders.completed", "s", b"x", 3))
    events += [samples.knowledge_ingested(0), samples.experiment_updated(0)]
    return events


@pytest.mark.parametrize("event", all_samples(), ids=lambda e: e[1])
def test_every_event_type_maps_to_a_full_row(event: samples.Event) -> None:
    topic, event_type, record = event
    table, row = event_row(Decoded(event_type, 1, record), topic, f"ns.{topic}", 2, 40, NOW)
    expected = table_for_topic(topic)
    assert table == expected.name
    assert len(row) == len(expected.columns)
    by_name = dict(zip((c.name for c in expected.columns), row, strict=True))
    assert by_name["event_id"] == record["meta"]["event_id"]
    assert by_name["occurred_at"] == record["meta"]["occurred_at"]
    assert (by_name["_topic"], by_name["_partition"], by_name["_offset"]) == (f"ns.{topic}", 2, 40)
    assert by_name["_ingested_at"] == NOW
    for name, value in record.items():
        if name != "meta":
            assert by_name[name] == value


def test_a_record_missing_fields_gets_schema_defaults() -> None:
    _, _, record = samples.problem_submitted(samples.PROBLEMS[0], 0)
    del record["tags"], record["difficulty"]
    mapper = mapper_for_topic("problems.submitted")
    row = dict(zip(mapper.columns, mapper.row(record, "t", 0, 1, NOW), strict=True))
    assert row["tags"] == []
    assert row["difficulty"] is None
    assert row["problem_id"] == record["problem_id"]


def test_error_rows_match_the_ingest_errors_table() -> None:
    table, row = error_row("t", 1, 9, 1_700_000_000_123, b"\x00garbage", "bad magic", NOW)
    assert table == "ingest_errors"
    assert len(row) == len(INGEST_ERROR_COLUMNS)
    assert row[3] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert row[4] == b"\x00garbage"
    assert error_row("t", 1, 9, None, None, "e", NOW)[1][3:5] == (None, b"")
