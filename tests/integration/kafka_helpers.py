"""Small aiokafka helpers for integration tests: consume until a condition, never sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, ConsumerRecord

if TYPE_CHECKING:
    from streams.settings import Settings


async def committed_consumer(settings: Settings, *topics: str) -> AIOKafkaConsumer:
    """A started consumer of catalogue ``topics`` in ``settings``' namespace, from the start,
    seeing committed records only (what a downstream agent would see)."""
    consumer = AIOKafkaConsumer(
        *(settings.topic(t) for t in topics),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    return consumer


async def consume_until(
    consumer: AIOKafkaConsumer,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    *,
    timeout: float = 20.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Fetch records until ``done(records)`` holds; fail after ``timeout`` seconds."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while not done(records):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"condition not met within {timeout}s; got {len(records)}")
        batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
        for part in batch.values():
            records.extend(part)
    return records


async def wait_for(
    predicate: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.05
) -> None:
    """Poll a cheap predicate (e.g. a process state) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
