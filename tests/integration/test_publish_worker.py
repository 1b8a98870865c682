"""The publish group as a real worker on the simulator: a rendered short is published once
(even when its event is delivered twice) and observed at every window on the simulated clock."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.artifacts.local import LocalArtifactStore
from connectors.kafka import KafkaEventProducer
from schemas.serializer import AvroSerde, subject_for
from streams.events import derived_meta
from streams.ports.artifact_keys import content_key
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event
from tests.integration.kafka_helpers import committed_consumer, consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import running_worker
from tests.media import tiny_mp4

pytestmark = pytest.mark.integration
Factory = tuple[Settings, AvroSerde, KafkaEventProducer]
WINDOWS = ["1h", "6h", "24h", "72h", "7d"]


@pytest.fixture
async def factory(settings: Settings, registry_url: str, tmp_path: Path) -> AsyncIterator[Factory]:
    # A simulated week passes in about a second of real time.
    async with running_worker(
        settings, registry_url, "publish", tmp_path / "worker.log", sim_speed=700_000.0
    ) as running:
        yield running


async def _render_event(settings: Settings, tmp_path: Path) -> dict[str, Any]:
    script = drafted(problem_event(0), k=1)[0]
    video = tiny_mp4(tmp_path / "short.mp4")
    store = LocalArtifactStore(settings.data_dir / "artifacts")
    stored = await store.put_file(content_key("renders", "ab" * 32, "short.mp4"), video,
                                  content_type="video/mp4")  # fmt: skip
    meta = derived_meta(script, "render")
    return {
        "meta": meta, "render_id": meta["event_id"], "script_id": script["script_id"],
        "problem_id": script["problem_id"], "experiment_id": script["experiment_id"],
        "arm_id": script["arm_id"], "uri": stored.uri, "sha256": stored.sha256,
        "duration_seconds": 1.0, "width": 108, "height": 192, "size_bytes": stored.size_bytes,
        "render_ms": 10, "template_version": "t", "cache_hit": False, "artifact_key": stored.key,
        "language": "ko", "title": "오늘의 퀴즈 <b>", "description": "질문",
        "voice": "offline", "voice_fallback_reason": None, "caption_srt_key": "",
        "caption_vtt_key": "",
    }  # fmt: skip


async def test_published_once_and_observed_at_every_window(
    factory: Factory, tmp_path: Path
) -> None:
    settings, serde, producer = factory
    render = await _render_event(settings, tmp_path)
    topic = settings.topic("renders.completed")
    value = await serde.encode_async(subject_for(topic), "RenderCompleted", render)
    # The same event twice: a redelivery after a crash between upload and commit.
    await producer.publish_many([(topic, b"k", value, ()), (topic, b"k", value, ())])

    shorts_consumer = await committed_consumer(settings, "shorts.published")
    metrics_consumer = await committed_consumer(settings, "metrics.observed")
    try:
        shorts = await consume_until(shorts_consumer, lambda rs: len(rs) >= 2, timeout=60)
        metrics = await consume_until(metrics_consumer, lambda rs: len(rs) >= 5, timeout=60)
    finally:
        await shorts_consumer.stop()
        await metrics_consumer.stop()

    published = [(await serde.decode(r.value, expected="ShortPublished")).record for r in shorts]
    assert len({p["video_id"] for p in published}) == 1  # one video, however many deliveries
    assert len({p["short_id"] for p in published}) == 1
    short = published[0]
    assert short["simulated"] is True
    assert short["platform"] == "simulator"
    assert short["render_id"] == render["render_id"]

    snaps = [(await serde.decode(r.value, expected="MetricsObserved")).record for r in metrics]
    by_window = {s["window"]: s for s in snaps}
    assert sorted(by_window, key=WINDOWS.index) == WINDOWS
    views = [by_window[w]["views"] for w in WINDOWS]
    impressions = [by_window[w]["impressions"] for w in WINDOWS]
    assert views == sorted(views)  # cumulative: never decreasing
    assert impressions == sorted(impressions)
    assert impressions[-1] > 0
    assert all(s["simulated"] for s in snaps)
    assert all(s["arm_id"] == render["arm_id"] for s in snaps)
    # Wall-clock times only: a simulated week passed, but nothing lands in the future.
    now = datetime.now(UTC)
    assert short["published_at"] <= now
    assert all(short["published_at"] <= s["observed_at"] <= now for s in snaps)
    assert [by_window[w]["simulated_age_seconds"] for w in WINDOWS] == [
        3600, 6 * 3600, 24 * 3600, 72 * 3600, 7 * 24 * 3600,
    ]  # fmt: skip
