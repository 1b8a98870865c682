"""The producer API on the real Kafka producer and the embedded broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from connectors.broker import EmbeddedBroker
from connectors.kafka import KafkaEventProducer, ensure_topics
from observability.readiness import HEALTH_TOPIC, broker_canary_check, health_topic_spec
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.deps import ApiDeps, build_default_deps
from services.api.records import API_PRODUCER
from services.api.status import InMemoryStatusReader
from streams.catalogue import topic
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.integration.kafka_helpers import consume_until

pytestmark = pytest.mark.integration

PROBLEM = {
    "problem_id": "int-ko-1",
    "language": "ko",
    "subject": "한국사",
    "question": "훈민정음을 반포한 왕은?",
    "choices": ["세종", "태조", "정조", "영조"],
    "answer_index": 0,
    "explanation": "세종이 1446년에 반포했다.",
    "difficulty": "easy",
    "tags": ["조선", "한글"],
}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@contextlib.asynccontextmanager
async def running_api(
    settings: Settings, producer: KafkaEventProducer
) -> AsyncIterator[tuple[httpx.AsyncClient, ApiDeps, str]]:
    """An API over ``producer`` (started by the caller), with the broker canary as readiness."""
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers or ""),
        [topic("problems.submitted"), topic("knowledge.ingested"), health_topic_spec()],
        namespace=settings.topic_namespace,
    )
    serde = AvroSerde(InMemorySchemaRegistry())
    canary = broker_canary_check(
        producer, settings.topic(HEALTH_TOPIC), source=API_PRODUCER, timeout_s=0.8
    )
    deps = await build_default_deps(settings, producer, serde, InMemoryStatusReader(), [canary])
    key = deps.keys.create_key("integration", ["problems:write", "problems:read"])
    transport = httpx.ASGITransport(create_app(deps))
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://api",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            yield client, deps, key
    finally:
        await deps.aclose()


async def test_posted_problem_arrives_on_kafka_as_avro(settings: Settings) -> None:
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers or ""))
    await producer.start()
    try:
        async with running_api(settings, producer) as (client, deps, _):
            r = await client.post(
                "/v1/problems", json=PROBLEM, headers={"traceparent": TRACEPARENT}
            )
            assert r.status_code == 202, r.text
            accepted = r.json()
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            serde = deps.serde
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        settings.topic("problems.submitted"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=settings.group("api-test"),
    )
    await consumer.start()
    try:
        [message] = await consume_until(consumer, lambda rs: len(rs) >= 1)
    finally:
        await consumer.stop()
    assert message.key == b"int-ko-1"
    assert ("traceparent", TRACEPARENT.encode()) in message.headers
    decoded = await serde.decode(message.value, expected="ProblemSubmitted")
    record = decoded.record
    assert record["meta"]["event_id"] == accepted["event_id"]
    assert record["meta"]["producer"].startswith("munjero-api@")
    assert record["submitted_by"] == "integration"
    assert {k: record[k] for k in PROBLEM} == PROBLEM


@pytest.mark.alone  # bounds a time: not beside the parallel phase
async def test_dead_broker_answers_503_within_a_second(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "doomed-broker")
    broker.start()
    producer = KafkaEventProducer(KafkaClientConfig(broker.bootstrap_servers), send_timeout_s=1.0)
    try:
        settings = Settings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            data_dir=tmp_path / "data",
            topic_namespace="doomed.",
            api_broker_timeout_s=0.8,
        )
        await producer.start()
        async with running_api(settings, producer) as (client, _, _):
            # Warm up: metadata is cached, as in a running API before an outage.
            assert (await client.post("/v1/problems", json=PROBLEM)).status_code == 202
            broker.kill()

            started = time.monotonic()
            r = await client.post("/v1/problems", json={**PROBLEM, "problem_id": "int-ko-2"})
            elapsed = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
            assert elapsed < 1.2, f"503 took {elapsed:.2f}s"

            r = await client.post(
                "/v1/problems:batch", json={"problems": [{**PROBLEM, "problem_id": "int-ko-3"}]}
            )
            assert r.status_code == 503

            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["broker"]["status"] == "fail"
    finally:
        broker.kill()
        # The producer still holds the unacknowledged records; don't let its flush hang the test.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 2)
