"""Realistic events of every type for sink tests and the ingestion benchmark.

``pipeline(problem, n)`` follows one problem through the factory the way the agents do: one
submission, one script per arm, a render and a publication per script, metrics snapshots per
short. Ids are derived deterministically, as the agents derive them, so producing a pipeline
twice repeats the same event ids (a replay).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from factory.samples import load_sample_problems
from schemas.contracts import load_schema
from streams import catalogue, events

Event = tuple[str, str, dict[str, Any]]  # (catalogue topic, event type, record)
BASE = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
ARMS = ("arm-a", "arm-b", "arm-c")
WINDOWS = ("1h", "6h", "24h")


def _event(topic: str, event_type: str, record: dict[str, Any]) -> Event:
    # Fields added to a contract later carry defaults: fill them, as a current producer would.
    for field in load_schema(event_type)["fields"]:
        if field["name"] not in record and "default" in field:
            record[field["name"]] = field["default"]
    return topic, event_type, record


def _meta(event_id: str, correlation: str, cause: str | None, at: datetime) -> dict[str, Any]:
    return events.meta(
        event_id=event_id, correlation_id=correlation, causation_id=cause, occurred_at=at
    )


def problem_submitted(problem: dict[str, Any], n: int) -> Event:
    pid = f"{problem['problem_id']}-{n}"
    event_id = events.derived_id("bench", pid)
    record = {
        "meta": _meta(event_id, event_id, None, BASE + timedelta(seconds=n)),
        **problem,
        "problem_id": pid,
        "submitted_by": "bench@munjero",
    }
    return _event("problems.submitted", "ProblemSubmitted", record)


def script_drafted(submitted: dict[str, Any], arm: str) -> Event:
    m = events.derived_meta(submitted, "draft", arm)
    m["occurred_at"] = submitted["meta"]["occurred_at"] + timedelta(seconds=2)
    record = {
        "meta": m,
        "script_id": m["event_id"],
        "problem_id": submitted["problem_id"],
        "language": submitted["language"],
        "experiment_id": "exp-hook-style",
        "arm_id": arm,
        "hook_style": "question" if arm == "arm-a" else "fact",
        "cta_style": "follow",
        "hook": f"{submitted['question'][:40]}?",
        "preface": "",
        "question": submitted["question"],
        "choices": list(submitted["choices"]),
        "countdown_seconds": 5,
        "answer_index": submitted["answer_index"],
        "answer_reveal": submitted["choices"][submitted["answer_index"]],
        "explanation": submitted.get("explanation", ""),
        "cta": "구독하고 더 풀어보세요" if submitted["language"] == "ko" else "Follow for more",
        "estimated_speech_seconds": 21.5,
        "writer": "template@1",
        "citations": [{"chunk_id": f"chunk-{arm}-1", "score": 0.82}],
        "fallback_reason": None,
        "duplicate_of": None,
    }
    return _event("scripts.drafted", "ScriptDrafted", record)


def render_completed(script: dict[str, Any]) -> Event:
    m = events.derived_meta(script, "render")
    m["occurred_at"] = script["meta"]["occurred_at"] + timedelta(seconds=70)
    record = {
        "meta": m,
        "render_id": m["event_id"],
        "script_id": script["script_id"],
        "problem_id": script["problem_id"],
        "experiment_id": script["experiment_id"],
        "arm_id": script["arm_id"],
        "uri": f"file:///renders/{script['script_id']}.mp4",
        "sha256": "0" * 64,
        "duration_seconds": 30.0,
        "width": 1080,
        "height": 1920,
        "size_bytes": 4_812_331,
        "render_ms": 70_412,
        "template_version": "quiz-v3",
        "cache_hit": False,
    }
    return _event("renders.completed", "RenderCompleted", record)


def short_published(render: dict[str, Any]) -> Event:
    m = events.derived_meta(render, "publish")
    m["occurred_at"] = render["meta"]["occurred_at"] + timedelta(seconds=30)
    record = {
        "meta": m,
        "short_id": m["event_id"],
        "render_id": render["render_id"],
        "script_id": render["script_id"],
        "problem_id": render["problem_id"],
        "experiment_id": render["experiment_id"],
        "arm_id": render["arm_id"],
        "platform": "simulator",
        "video_id": f"sim-{m['event_id'][:11]}",
        "url": f"https://sim.munjero.local/shorts/{m['event_id'][:11]}",
        "title": "오늘의 퀴즈",
        "published_at": m["occurred_at"],
        "simulated": True,
    }
    return _event("shorts.published", "ShortPublished", record)


def metrics_observed(short: dict[str, Any], window: str, k: int) -> Event:
    m = events.derived_meta(short, "metrics", window)
    m["occurred_at"] = short["meta"]["occurred_at"] + timedelta(hours=k + 1)
    views = 100 * (k + 1)
    record = {
        "meta": m,
        "short_id": short["short_id"],
        "video_id": short["video_id"],
        "experiment_id": short["experiment_id"],
        "arm_id": short["arm_id"],
        "window": window,
        "observed_at": m["occurred_at"],
        "impressions": views * 10,
        "views": views,
        "impressions_ctr": 0.1,
        "average_view_percentage": 63.5,
        "average_view_duration_seconds": 19.1,
        "estimated_minutes_watched": views * 19.1 / 60,
        "likes": views // 20,
        "comments": views // 100,
        "subscribers_gained": views // 200,
        "simulated": True,
    }
    return _event("metrics.observed", "MetricsObserved", record)


def step_failed(event_topic: str, physical: str, key: str, value: bytes, offset: int) -> Event:
    """A dead letter of ``event_topic`` as ``streams.processor.dead_letter`` builds it
    (``original_topic`` is the physical, namespaced name)."""
    record = {
        "meta": events.meta(
            event_id=events.derived_id(physical, "0", str(offset), "dlq"),
            correlation_id=events.derived_id(physical, "0", "dlq"),
            occurred_at=BASE + timedelta(minutes=5),
        ),
        "agent": "render",
        "original_topic": physical,
        "source_topic": physical,
        "original_partition": 0,
        "original_offset": offset,
        "original_key": key.encode(),
        "original_value": value,
        "original_headers": [{"key": "traceparent", "value": b"\x00\xffraw"}],
        "error_class": "RenderError",
        "error_message": "ffmpeg exited 1",
        "attempts": 4,
        "fatal": False,
    }
    return _event(f"{event_topic}.dlq", "StepFailed", record)


def knowledge_ingested(n: int) -> Event:
    event_id = events.derived_id("knowledge", str(n))
    content = "세종대왕은 1443년에 훈민정음을 창제했다. " * 8
    record = {
        "meta": _meta(event_id, event_id, None, BASE + timedelta(seconds=n)),
        "document_id": f"doc-{n}",
        "title": f"한국사 노트 {n}",
        "subject": "history",
        "language": "ko",
        "content_type": "text/markdown",
        "content": content,
        "content_sha256": "f" * 64,
        "tags": ["한국사"],
        "deleted": False,
        "submitted_by": "bench@munjero",
    }
    return _event("knowledge.ingested", "KnowledgeDocumentIngested", record)


def experiment_updated(n: int) -> Event:
    event_id = events.derived_id("experiment", str(n))
    record = {
        "meta": _meta(event_id, event_id, None, BASE + timedelta(minutes=n)),
        "experiment_id": "exp-hook-style",
        "metric": "impressions_ctr",
        "arms": [
            {"arm_id": arm, "weight": 1 / 3, "shorts": 10 + n, "successes": 3.0 + i,
             "trials": 30.0, "chance_to_win": None if n == 0 else 0.3}
            for i, arm in enumerate(ARMS)
        ],
        "decision": None,
        "reason": "",
    }  # fmt: skip
    return _event("experiments.updated", "ExperimentUpdated", record)


def pipeline(problem: dict[str, Any], n: int, *, arms: int = 3, windows: int = 3) -> list[Event]:
    """Every event one problem produces: 1 + arms * (3 + windows) events."""
    out = [problem_submitted(problem, n)]
    submitted = out[0][2]
    for arm in ARMS[:arms]:
        script = script_drafted(submitted, arm)
        render = render_completed(script[2])
        short = short_published(render[2])
        out += [script, render, short]
        out += [metrics_observed(short[2], w, k) for k, w in enumerate(WINDOWS[:windows])]
    return out


def key_of(topic: str, record: dict[str, Any]) -> bytes:
    """The record key the agents would use (a dead letter keeps the failed record's key)."""
    if "original_key" in record:
        return bytes(record["original_key"] or b"")
    return str(record[catalogue.topic(topic).key]).encode()


PROBLEMS = load_sample_problems()
