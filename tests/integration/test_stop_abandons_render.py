"""A stopping render worker (SIGTERM, as Kubernetes or `munjero up`'s Ctrl-C sends it) abandons
the render in flight without committing it, publishes no verdict on it (no retry tier, no dead
letter), exits by itself within the stop budget, and the script is rendered after restart."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from factory.children import WORKER_STOP_TIMEOUT_S, stop_processes
from schemas.serializer import AvroSerde, subject_for
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event
from tests.integration.kafka_helpers import committed_consumer, consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.alone]


async def _committed(settings: Settings, group: str) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group(group))
        return {f"{tp.topic}:{tp.partition}": meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


async def test_sigterm_mid_render_abandons_it_uncommitted_and_it_is_redone(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    # The default offline voices (Kokoro for this Korean script), through the real worker.
    settings = settings.model_copy(update={"schema_registry_url": registry_url, "tts": "offline"})
    assert settings.kafka_bootstrap_servers
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers), namespace=settings.topic_namespace
    )
    registry = HttpSchemaRegistry(registry_url)
    serde = AvroSerde(registry)
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers))
    await producer.start()
    topic = settings.topic("scripts.drafted")
    script = drafted(problem_event(0), k=1)[0]
    boards = await committed_consumer(settings, "renders.storyboarded")
    verdicts = await committed_consumer(
        settings,
        "renders.completed",
        "scripts.drafted.retry.1",
        "scripts.drafted.retry.2",
        "scripts.drafted.retry.3",
        "scripts.drafted.dlq",
    )
    worker = start_worker(settings, "render", tmp_path / "worker-1.log")
    try:
        value = await serde.encode_async(subject_for(topic), "ScriptDrafted", script)
        await producer.publish_many([(topic, b"k", value, ())])
        # The storyboard goes out before the encode: from here on the render is in flight.
        await consume_until(boards, lambda got: len(got) >= 1, timeout=180)
        started = time.monotonic()
        stop_processes([worker])
        stopped_in = time.monotonic() - started
        assert worker.returncode == 0, (worker.returncode, stopped_in)  # not killed
        assert stopped_in < WORKER_STOP_TIMEOUT_S

        # No verdict on the script, and its offset was not committed.
        assert await verdicts.getmany(timeout_ms=2000) == {}
        committed = await _committed(settings, "render")
        assert all(offset <= 0 for key, offset in committed.items() if key.startswith(topic))

        # After a restart the same script is rendered, once.
        worker = start_worker(settings, "render", tmp_path / "worker-2.log")
        (done,) = await consume_until(verdicts, lambda got: len(got) >= 1, timeout=180)
        decoded = await serde.decode(done.value)
        assert decoded.event_type == "RenderCompleted"
        assert decoded.record["script_id"] == script["script_id"]
    finally:
        stop_processes([worker])
        for consumer in (boards, verdicts):
            await consumer.stop()
        await producer.stop()
        await registry.close()
