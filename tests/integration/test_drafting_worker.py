"""The drafting agent as a real Faust worker process on the embedded broker."""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from streams.settings import Settings
from tests.factories import problem_event
from tests.integration.kafka_helpers import consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import start_worker, stop_worker

pytestmark = pytest.mark.integration


@pytest.fixture
async def factory(
    settings: Settings, registry_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Settings, AvroSerde, KafkaEventProducer]]:
    settings = settings.model_copy(update={"schema_registry_url": registry_url})
    assert settings.kafka_bootstrap_servers
    await ensure_topics(settings.kafka_bootstrap_servers, namespace=settings.topic_namespace)
    serde = AvroSerde(HttpSchemaRegistry(registry_url))
    producer = KafkaEventProducer(settings.kafka_bootstrap_servers)
    await producer.start()
    proc = start_worker(settings, "drafting", tmp_path / "worker.log")
    try:
        yield settings, serde, producer
    finally:
        await producer.stop()
        stop_worker(proc)


async def _consumer(settings: Settings, *topics: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        *(settings.topic(t) for t in topics),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    return consumer


async def test_poison_goes_to_dlq_and_the_next_problem_is_drafted(
    factory: tuple[Settings, AvroSerde, KafkaEventProducer],
) -> None:
    settings, serde, producer = factory
    topic = settings.topic("problems.submitted")
    first, second = problem_event(0), problem_event(1)
    key = b"same-partition"  # poison sits between two good events on one partition
    await producer.publish_many(
        [
            (topic, key, await serde.encode_async(subject_for(topic), "ProblemSubmitted", first), ()),
            (topic, key, b"\x00\x00\x00\x00\x07garbage-bytes", ()),
            (topic, key, await serde.encode_async(subject_for(topic), "ProblemSubmitted", second), ()),
        ]
    )

    k = settings.draft_variants_per_problem
    scripts_consumer = await _consumer(settings, "scripts.drafted")
    dlq_consumer = await _consumer(settings, "problems.submitted.dlq")
    try:
        scripts = await consume_until(scripts_consumer, lambda rs: len(rs) >= 2 * k, timeout=60)
        (letter,) = await consume_until(dlq_consumer, lambda rs: len(rs) >= 1, timeout=30)
    finally:
        await scripts_consumer.stop()
        await dlq_consumer.stop()

    drafted = [(await serde.decode(r.value, expected="ScriptDrafted")).record for r in scripts]
    assert sorted({d["problem_id"] for d in drafted}) == sorted(
        [first["problem_id"], second["problem_id"]]
    )
    for problem in (first, second):
        mine = [d for d in drafted if d["problem_id"] == problem["problem_id"]]
        assert len(mine) == k
        assert len({d["arm_id"] for d in mine}) == k
        assert all(d["meta"]["causation_id"] == problem["meta"]["event_id"] for d in mine)
        assert all(d["meta"]["correlation_id"] == problem["meta"]["correlation_id"] for d in mine)
        answer = problem["choices"][problem["answer_index"]]
        assert all(answer in d["answer_reveal"] for d in mine)

    failed = (await serde.decode(letter.value, expected="StepFailed")).record
    assert failed["original_value"] == b"\x00\x00\x00\x00\x07garbage-bytes"
    assert failed["original_topic"] == topic
    assert failed["fatal"] is True
    assert failed["attempts"] == 1
    assert failed["error_class"] in ("UnknownSchemaError", "SerializationError")
    assert "7" in failed["error_message"]
