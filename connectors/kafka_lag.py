"""Consumer lag per group, topic and partition, read from the broker (committed offsets vs
log-end offsets): what the dashboard shows and what lag alerts are computed from."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka_auth import KafkaClientConfig

LagRow = tuple[str, str, int, int]  # group, topic, partition, lag


async def consumer_lag(kafka: KafkaClientConfig, groups: Sequence[str]) -> list[LagRow]:
    admin = AIOKafkaAdminClient(request_timeout_ms=5000, **kafka.kwargs())
    consumer = AIOKafkaConsumer(request_timeout_ms=5000, **kafka.kwargs())
    await admin.start()
    await consumer.start()
    try:
        committed = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        partitions = {tp for offsets in committed.values() for tp in offsets}
        ends = await consumer.end_offsets(list(partitions)) if partitions else {}
        return sorted(
            (group, tp.topic, tp.partition, max(0, ends.get(tp, offset) - offset))
            for group, offsets in committed.items()
            for tp, offset in offsets.items()
        )
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()


async def topic_sizes(kafka: KafkaClientConfig, topics: Sequence[str]) -> dict[str, int]:
    """Records retained per topic (log-end minus log-start offsets, summed over partitions)."""
    consumer = AIOKafkaConsumer(request_timeout_ms=5000, **kafka.kwargs())
    await consumer.start()
    try:
        await consumer.topics()  # a full metadata fetch: partitions of every topic
        partitions = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()
        ]
        if not partitions:
            return {}
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        sizes: dict[str, int] = dict.fromkeys(topics, 0)
        for tp in partitions:
            sizes[tp.topic] += max(0, ends[tp] - starts[tp])
        return sizes
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
