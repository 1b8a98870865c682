"""The render agent as a real worker process: scripts in, storyboard then video out, a script
that can never render dead-lettered without blocking the next one."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka import KafkaEventProducer
from connectors.media.ffmpeg import probe
from schemas.serializer import AvroSerde, subject_for
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event
from tests.integration.kafka_helpers import committed_consumer, consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import running_worker

pytestmark = pytest.mark.integration

Factory = tuple[Settings, AvroSerde, KafkaEventProducer]


@pytest.fixture
async def factory(settings: Settings, registry_url: str, tmp_path: Path) -> AsyncIterator[Factory]:
    async with running_worker(settings, registry_url, "render", tmp_path / "worker.log") as running:
        yield running


async def _decode(serde: AvroSerde, records: list[Any], event_type: str) -> list[dict[str, Any]]:
    return [(await serde.decode(r.value, expected=event_type)).record for r in records]


async def test_scripts_become_videos_and_an_unrenderable_one_is_dead_lettered(
    factory: Factory,
) -> None:
    settings, serde, producer = factory
    topic = settings.topic("scripts.drafted")
    good = drafted(problem_event(0), k=1)[0]
    too_long = drafted(problem_event(2), k=1)[0]
    too_long["explanation"] = " ".join([good["explanation"]] * 12)  # > 60 s of narration
    duplicate = drafted(problem_event(4), k=1)[0]
    duplicate["duplicate_of"] = good["problem_id"]
    key = b"one-partition"  # the poison sits between good events on one partition
    encode = serde.encode_async
    await producer.publish_many(
        [
            (topic, key, await encode(subject_for(topic), "ScriptDrafted", too_long), ()),
            (topic, key, await encode(subject_for(topic), "ScriptDrafted", duplicate), ()),
            (topic, key, await encode(subject_for(topic), "ScriptDrafted", good), ()),
        ]
    )

    boards = await committed_consumer(settings, "renders.storyboarded")
    done = await committed_consumer(settings, "renders.completed")
    dlq = await committed_consumer(settings, "scripts.drafted.dlq")
    try:
        (completed,) = await _decode(
            serde,
            await consume_until(done, lambda rs: len(rs) >= 1, timeout=120),
            "RenderCompleted",
        )
        (board,) = await _decode(
            serde,
            await consume_until(boards, lambda rs: len(rs) >= 1, timeout=10),
            "StoryboardReady",
        )
        (letter,) = await _decode(
            serde, await consume_until(dlq, lambda rs: len(rs) >= 1, timeout=10), "StepFailed"
        )
    finally:
        for consumer in (boards, done, dlq):
            await consumer.stop()

    assert completed["script_id"] == good["script_id"]
    assert completed["meta"]["causation_id"] == good["meta"]["event_id"]
    assert completed["meta"]["correlation_id"] == good["meta"]["correlation_id"]
    assert board["render_id"] == completed["render_id"]
    assert board["meta"]["occurred_at"] <= completed["meta"]["occurred_at"]
    assert completed["uri"].startswith("file://")
    video = Path(completed["uri"].removeprefix("file://"))
    assert video.stat().st_size == completed["size_bytes"]
    info = await probe(str(video))
    assert float(info["format"]["duration"]) == pytest.approx(
        completed["duration_seconds"], abs=0.1
    )
    assert (completed["width"], completed["height"]) == (1080, 1920)
    assert Path(board["uri"].removeprefix("file://")).is_file()

    assert letter["fatal"] is True
    assert letter["error_class"] == "ValidationError"
    assert "Short must stay under" in letter["error_message"]
    assert letter["original_key"] == key
