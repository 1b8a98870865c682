"""What the factory needs from a Kafka broker. Runs against the embedded noida-db by default,
or any broker via MUNJERO_TEST_KAFKA_BOOTSTRAP (e.g. a real Apache Kafka)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from connectors.kafka import ensure_topics
from streams.catalogue import ALL_TOPICS
from streams.kafka_auth import KafkaClientConfig
from tests.integration.kafka_helpers import consume_until

pytestmark = pytest.mark.integration


async def _create(bootstrap: str, name: str, partitions: int = 1, **configs: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    finally:
        await admin.close()


def _consumer(bootstrap: str, *topics: str, **kw: object) -> AIOKafkaConsumer:
    defaults: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
    }
    defaults.update(kw)
    return AIOKafkaConsumer(*topics, **defaults)


async def test_produce_consume_keeps_per_key_order(broker_bootstrap: str, namespace: str) -> None:
    topic = f"{namespace}order"
    await _create(broker_bootstrap, topic, partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(300):
            await producer.send(topic, str(i).encode(), key=f"k{i % 7}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    consumer = _consumer(broker_bootstrap, topic)
    await consumer.start()
    try:
        records = await consume_until(consumer, lambda rs: len(rs) >= 300)
    finally:
        await consumer.stop()
    assert len(records) == 300
    per_key: dict[bytes, list[int]] = {}
    for r in records:
        assert r.key is not None
        assert r.value is not None
        per_key.setdefault(r.key, []).append(int(r.value))
    assert len(per_key) == 7
    for values in per_key.values():
        assert values == sorted(values)


async def test_group_commit_and_resume(broker_bootstrap: str, namespace: str) -> None:
    topic, group = f"{namespace}resume", f"{namespace}g"
    await _create(broker_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap)
    await producer.start()
    for i in range(10):
        await producer.send_and_wait(topic, str(i).encode())
    await producer.stop()

    first = _consumer(broker_bootstrap, topic, group_id=group)
    await first.start()
    records = await consume_until(first, lambda rs: len(rs) >= 4)
    tp = TopicPartition(topic, 0)
    await first.commit({tp: records[3].offset + 1})  # processed 0..3
    await first.stop()

    second = _consumer(broker_bootstrap, topic, group_id=group)
    await second.start()
    try:
        resumed = await consume_until(second, lambda rs: len(rs) >= 6)
        assert [int(r.value or b"") for r in resumed] == list(range(4, 10))
        assert await second.committed(tp) == 4
    finally:
        await second.stop()


async def test_idempotent_producer_writes_each_record_once(
    broker_bootstrap: str, namespace: str
) -> None:
    topic = f"{namespace}idem"
    await _create(broker_bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, f"{i}".encode()) for i in range(500)]
        metas = [await f for f in futures]
    finally:
        await producer.stop()
    offsets = sorted(m.offset for m in metas)
    assert offsets == list(range(offsets[0], offsets[0] + 500))
    consumer = _consumer(broker_bootstrap, topic)
    await consumer.start()
    try:
        records = await consume_until(consumer, lambda rs: len(rs) >= 500)
    finally:
        await consumer.stop()
    assert sorted(int(r.value or b"") for r in records) == list(range(500))


async def test_transactions_hide_aborted_records_from_read_committed(
    broker_bootstrap: str, namespace: str
) -> None:
    topic = f"{namespace}tx"
    await _create(broker_bootstrap, topic)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker_bootstrap, transactional_id=f"{namespace}tx-{uuid.uuid4()}"
    )
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()
    consumer = _consumer(broker_bootstrap, topic, isolation_level="read_committed")
    await consumer.start()
    try:
        records = await consume_until(consumer, lambda rs: len(rs) >= 3)
    finally:
        await consumer.stop()
    assert [r.value for r in records] == [b"committed-1", b"committed-2", b"committed-3"]


async def test_headers_round_trip(broker_bootstrap: str, namespace: str) -> None:
    topic = f"{namespace}headers"
    await _create(broker_bootstrap, topic)
    headers = [("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    headers.append(("x-munjero-attempt", b"2"))
    producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap)
    await producer.start()
    await producer.send_and_wait(topic, b"v", key=b"k", headers=headers)
    await producer.stop()
    consumer = _consumer(broker_bootstrap, topic)
    await consumer.start()
    try:
        (record,) = await consume_until(consumer, lambda rs: len(rs) >= 1)
    finally:
        await consumer.stop()
    assert list(record.headers) == headers


async def test_catalogue_topics_created_idempotently_with_their_configs(
    broker_bootstrap: str, namespace: str
) -> None:
    created = await ensure_topics(KafkaClientConfig(broker_bootstrap), namespace=namespace)
    assert sorted(created) == sorted(f"{namespace}{spec.name}" for spec in ALL_TOPICS)
    assert await ensure_topics(KafkaClientConfig(broker_bootstrap), namespace=namespace) == []

    admin = AIOKafkaAdminClient(bootstrap_servers=broker_bootstrap)
    await admin.start()
    try:
        compacted = f"{namespace}knowledge.ingested"
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, compacted)]
        )
        configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
        described = await admin.describe_topics([f"{namespace}problems.submitted"])
    finally:
        await admin.close()
    assert configs["cleanup.policy"] == "compact"
    assert len(described[0]["partitions"]) == 6
