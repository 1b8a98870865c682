"""AvroSerde in the Confluent wire format, against the in-memory registry."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from schemas.contracts import EVENT_TYPES, load_schema, schema_text
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from streams.errors import SerializationError, UnknownSchemaError

# Avro timestamp-millis keeps milliseconds only; a microsecond would not survive the trip.
T0 = datetime(2025, 3, 14, 9, 26, 53, 589_000, tzinfo=UTC)


def meta(event_id: str, causation_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "occurred_at": T0,
        "correlation_id": "5b0c7c1e-1f0e-4d5e-9a51-0c7c2b1f8e11",
        "causation_id": causation_id,
        "producer": "munjero-api@0.1.0",
    }


RECORDS: dict[str, dict[str, Any]] = {
    "ProblemSubmitted": {
        "meta": meta("0f9a1f4e-8b4c-4c59-a8f5-3f8f0b3c9d10"),
        "problem_id": "prob-kor-0001",
        "language": "ko",
        "subject": "한국사",
        "question": "조선을 건국한 왕은 누구인가?",
        "choices": ["태조 이성계", "세종대왕", "광개토대왕", "왕건"],
        "answer_index": 0,
        "explanation": "1392년 이성계가 조선을 건국했다.",
        "difficulty": "easy",
        "tags": ["조선", "건국"],
        "submitted_by": "producer:quiz-bank",
    },
    "KnowledgeDocumentIngested": {
        "meta": meta("1c2d3e4f-0000-4000-8000-000000000001"),
        "document_id": "doc-joseon-founding",
        "title": "조선의 건국",
        "subject": "한국사",
        "language": "ko",
        "content_type": "text/markdown",
        "content": "# 조선의 건국\n\n1392년, 이성계는 고려를 무너뜨리고 조선을 세웠다.",
        "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "tags": ["조선"],
        "deleted": False,
        "submitted_by": "producer:kb-sync",
    },
    "KnowledgeIndexed": {
        "meta": meta(
            "1c2d3e4f-0000-5000-8000-000000000009", "1c2d3e4f-0000-4000-8000-000000000001"
        ),
        "document_id": "doc-joseon-founding",
        "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "subject": "한국사",
        "language": "ko",
        "deleted": False,
        "chunk_count": 2,
        "chunk_ids": [
            "5b1f0c2e-0000-5000-8000-000000000001",
            "5b1f0c2e-0000-5000-8000-000000000002",
        ],
        "removed_chunks": 3,
        "embedder": "e5-small-q4@0.3.0",
        "collection": "knowledge",
    },
    "ScriptDrafted": {
        "meta": meta(
            "2a3b4c5d-0000-5000-8000-000000000002", "0f9a1f4e-8b4c-4c59-a8f5-3f8f0b3c9d10"
        ),
        "script_id": "2a3b4c5d-0000-5000-8000-000000000002",
        "problem_id": "prob-kor-0001",
        "language": "ko",
        "experiment_id": "hook-style-2025-03",
        "arm_id": "question-first",
        "hook_style": "question",
        "cta_style": "subscribe",
        "hook": "이 문제, 3초 안에 맞힐 수 있나요?",
        "preface": "",
        "question": "조선을 건국한 왕은 누구인가?",
        "choices": ["태조 이성계", "세종대왕", "광개토대왕", "왕건"],
        "countdown_seconds": 5,
        "answer_index": 0,
        "answer_reveal": "정답은 태조 이성계!",
        "explanation": "1392년 이성계가 조선을 건국했다.",
        "cta": "더 많은 문제는 구독!",
        "estimated_speech_seconds": 21.5,
        "writer": "template@1",
        "citations": [{"chunk_id": "doc-joseon-founding#0", "score": 0.83}],
        "fallback_reason": None,
        "duplicate_of": None,
    },
    "StoryboardReady": {
        "meta": meta(
            "3b4c5d6e-0000-5000-8000-00000000000b", "2a3b4c5d-0000-5000-8000-000000000002"
        ),
        "render_id": "render-3b4c5d6e",
        "script_id": "2a3b4c5d-0000-5000-8000-000000000002",
        "problem_id": "prob-kor-0001",
        "experiment_id": "hook-style-2025-03",
        "arm_id": "question-first",
        "uri": "file:///var/lib/munjero/storyboards/3b/3b4c/storyboard.jpg",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "scene_count": 6,
        "template_version": "t1-0123456789ab",
    },
    "RenderCompleted": {
        "meta": meta(
            "3b4c5d6e-0000-5000-8000-000000000003", "2a3b4c5d-0000-5000-8000-000000000002"
        ),
        "render_id": "render-3b4c5d6e",
        "script_id": "2a3b4c5d-0000-5000-8000-000000000002",
        "problem_id": "prob-kor-0001",
        "experiment_id": "hook-style-2025-03",
        "arm_id": "question-first",
        "uri": "file:///var/lib/munjero/renders/render-3b4c5d6e.mp4",
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "duration_seconds": 29.97,
        "width": 1080,
        "height": 1920,
        "size_bytes": 4_812_331,
        "render_ms": 68_250,
        "template_version": "quiz-v3",
        "cache_hit": False,
        "artifact_key": "renders/3b/3b4c5d6e/short.mp4",
        "language": "ko",
        "title": "이 문제 맞히면 천재!",
        "description": "대한민국의 수도는?",
        "voice": "offline",
        "voice_fallback_reason": "google-cloud-tts: Google TTS answered HTTP 503: unavailable",
        "caption_srt_key": "renders/3b/3b4c5d6e/short.srt",
        "caption_vtt_key": "renders/3b/3b4c5d6e/short.vtt",
    },
    "ShortPublished": {
        "meta": meta(
            "4c5d6e7f-0000-5000-8000-000000000004", "3b4c5d6e-0000-5000-8000-000000000003"
        ),
        "short_id": "short-4c5d6e7f",
        "render_id": "render-3b4c5d6e",
        "script_id": "2a3b4c5d-0000-5000-8000-000000000002",
        "problem_id": "prob-kor-0001",
        "experiment_id": "hook-style-2025-03",
        "arm_id": "question-first",
        "platform": "simulator",
        "video_id": "sim_dQw4w9WgXcQ",
        "url": "https://simulator.local/shorts/sim_dQw4w9WgXcQ",
        "title": "조선을 건국한 왕은? #한국사 #shorts",
        "published_at": T0,
        "simulated": True,
    },
    "MetricsObserved": {
        "meta": meta(
            "5d6e7f80-0000-5000-8000-000000000005", "4c5d6e7f-0000-5000-8000-000000000004"
        ),
        "short_id": "short-4c5d6e7f",
        "video_id": "sim_dQw4w9WgXcQ",
        "experiment_id": "hook-style-2025-03",
        "arm_id": "question-first",
        "window": "24h",
        "observed_at": T0,
        "impressions": 12_840,
        "views": 3_911,
        "impressions_ctr": 0.0731,
        "average_view_percentage": 78.4,
        "average_view_duration_seconds": 23.5,
        "estimated_minutes_watched": 1531.8,
        "likes": 214,
        "comments": 17,
        "subscribers_gained": 9,
        "simulated": True,
        "simulated_age_seconds": 86_400,
    },
    "ExperimentUpdated": {
        "meta": meta("6e7f8091-0000-5000-8000-000000000006"),
        "experiment_id": "hook-style-2025-03",
        "metric": "average_view_percentage",
        "arms": [
            {
                "arm_id": "question-first",
                "weight": 0.64,
                "shorts": 31,
                "successes": 24.3,
                "trials": 31.0,
                "chance_to_win": 0.91,
            },
            {
                "arm_id": "fact-first",
                "weight": 0.36,
                "shorts": 29,
                "successes": 17.1,
                "trials": 29.0,
                "chance_to_win": None,
            },
        ],
        "decision": None,
        "reason": "thompson sampling update",
    },
    "StepFailed": {
        "meta": meta(
            "7f809102-0000-5000-8000-000000000007", "0f9a1f4e-8b4c-4c59-a8f5-3f8f0b3c9d10"
        ),
        "agent": "draft",
        "original_topic": "problems.submitted",
        "source_topic": "problems.submitted.retry.2",
        "original_partition": 3,
        "original_offset": 1_234_567,
        "original_key": b"prob-kor-0001",
        "original_value": b"\x00\x00\x00\x00\x01\x02garbage",
        "original_headers": [
            {"key": "traceparent", "value": b"00-4bf92f3577b34da6-00f067aa0ba902b7-01"},
            {"key": "empty", "value": None},
        ],
        "error_class": "streams.errors.ValidationError",
        "error_message": "answer_index 7 is outside the 4 choices",
        "attempts": 3,
        "fatal": True,
    },
}

TOPIC = "problems.submitted"
SUBJECT = subject_for(TOPIC)


@pytest.fixture
async def serde() -> AvroSerde:
    codec = AvroSerde(InMemorySchemaRegistry())
    await codec.prepare([(subject_for(f"topic.{name}"), name) for name in EVENT_TYPES])
    return codec


def test_every_event_type_has_a_record() -> None:
    assert set(RECORDS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
async def test_round_trip(serde: AvroSerde, event_type: str) -> None:
    subject = subject_for(f"topic.{event_type}")
    data = serde.encode(subject, event_type, RECORDS[event_type])
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert (magic, schema_id) == (0, serde.schema_id(subject, event_type))
    decoded = await serde.decode(data, expected=event_type)
    assert (decoded.event_type, decoded.schema_id) == (event_type, schema_id)
    assert decoded.record == RECORDS[event_type]


async def test_a_fresh_serde_decodes_through_the_registry() -> None:
    registry = InMemorySchemaRegistry()
    writer = AvroSerde(registry)
    data = await writer.encode_async(SUBJECT, "ProblemSubmitted", RECORDS["ProblemSubmitted"])
    decoded = await AvroSerde(registry).decode(data)
    assert decoded.record == RECORDS["ProblemSubmitted"]


async def test_bad_magic_byte(serde: AvroSerde) -> None:
    data = serde.encode(subject_for("topic.StepFailed"), "StepFailed", RECORDS["StepFailed"])
    with pytest.raises(SerializationError, match="magic"):
        await serde.decode(b"\x01" + data[1:])


@pytest.mark.parametrize("size", [0, 1, 4])
async def test_missing_header(serde: AvroSerde, size: int) -> None:
    data = serde.encode(subject_for("topic.StepFailed"), "StepFailed", RECORDS["StepFailed"])
    with pytest.raises(SerializationError, match="truncated"):
        await serde.decode(data[:size])


async def test_truncated_body(serde: AvroSerde) -> None:
    data = serde.encode(subject_for("topic.StepFailed"), "StepFailed", RECORDS["StepFailed"])
    with pytest.raises(SerializationError, match="corrupt"):
        await serde.decode(data[: len(data) // 2])


async def test_unknown_schema_id(serde: AvroSerde) -> None:
    data = serde.encode(subject_for("topic.StepFailed"), "StepFailed", RECORDS["StepFailed"])
    with pytest.raises(UnknownSchemaError):
        await serde.decode(struct.pack(">bI", 0, 40_000) + data[5:])


async def test_expected_type_mismatch(serde: AvroSerde) -> None:
    data = serde.encode(subject_for("topic.StepFailed"), "StepFailed", RECORDS["StepFailed"])
    with pytest.raises(SerializationError, match="expected ProblemSubmitted, got StepFailed"):
        await serde.decode(data, expected="ProblemSubmitted")


async def test_missing_required_field_is_named(serde: AvroSerde) -> None:
    incomplete = {k: v for k, v in RECORDS["ProblemSubmitted"].items() if k != "question"}
    with pytest.raises(SerializationError, match="question"):
        serde.encode(subject_for("topic.ProblemSubmitted"), "ProblemSubmitted", incomplete)


async def test_wrong_type_is_refused(serde: AvroSerde) -> None:
    wrong = {**RECORDS["RenderCompleted"], "width": "1080"}
    with pytest.raises(SerializationError):
        serde.encode(subject_for("topic.RenderCompleted"), "RenderCompleted", wrong)


async def test_unprepared_subject_is_refused(serde: AvroSerde) -> None:
    with pytest.raises(SerializationError, match="prepare"):
        serde.encode("never-prepared-value", "ProblemSubmitted", RECORDS["ProblemSubmitted"])


async def test_bytes_from_an_older_writer_decode_with_the_current_reader() -> None:
    """v1 of ProblemSubmitted had no difficulty, tags or explanation: a consumer on today's
    schema reads old bytes (e.g. a DLQ replay) and gets the declared defaults."""
    current = load_schema("ProblemSubmitted")
    added = {"explanation", "difficulty", "tags"}
    older = {**current, "fields": [f for f in current["fields"] if f["name"] not in added]}
    registry = InMemorySchemaRegistry()
    old_id = await registry.register(SUBJECT, json.dumps(older))
    old_record = {k: v for k, v in RECORDS["ProblemSubmitted"].items() if k not in added}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(older), old_record)
    data = struct.pack(">bI", 0, old_id) + body.getvalue()

    decoded = await AvroSerde(registry).decode(data, expected="ProblemSubmitted")

    assert decoded.schema_id == old_id
    assert decoded.record == {**old_record, "explanation": "", "difficulty": None, "tags": []}


async def test_only_the_current_contract_is_current() -> None:
    """What lets the sink hand a payload to ClickHouse undecoded: its writer schema is exactly
    today's contract of the expected type. An older version (which needs defaults filled by
    resolution) or another type is not, whether the id was registered here or looked up."""
    registry = InMemorySchemaRegistry()
    writer = AvroSerde(registry)
    data = await writer.encode_async(SUBJECT, "ProblemSubmitted", RECORDS["ProblemSubmitted"])
    current = struct.unpack(">bI", data[:5])[1]
    older = json.loads(schema_text("ProblemSubmitted"))
    older["fields"] = [f for f in older["fields"] if "default" not in f]  # before the defaults
    older_id = await registry.register(SUBJECT, json.dumps(older))
    for reader in (writer, AvroSerde(registry)):  # registered by it, or only looked up
        assert await reader.is_current(current, "ProblemSubmitted")
        assert not await reader.is_current(current, "ScriptDrafted")
        assert not await reader.is_current(older_id, "ProblemSubmitted")
    with pytest.raises(UnknownSchemaError):
        await AvroSerde(registry).is_current(999_999, "ProblemSubmitted")
