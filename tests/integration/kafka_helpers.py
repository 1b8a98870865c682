"""Small aiokafka helpers for integration tests: consume until a condition, never sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord


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
