"""Consumer lag per group, topic and partition, read from the broker (committed offsets vs
log-end offsets): what the dashboard shows and what lag alerts are computed from."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

LagRow = tuple[str, str, int, int]  # group, topic, partition, lag


async def consumer_lag(bootstrap: str, groups: Sequence[str]) -> list[LagRow]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
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
