"""An idle consumer does not spin on the embedded broker (docs/broker.md, defect 5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams import idle_fetch
from tests.integration.kafka_helpers import consume_until

pytestmark = pytest.mark.integration


@pytest.fixture
def fetch_counter(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts fetch round trips (the library's own method, under our wait)."""
    calls = [0]
    original = idle_fetch._ORIGINAL

    async def counting(*args: Any) -> bool:
        calls[0] += 1
        result: bool = await original(*args)
        return result

    monkeypatch.setattr(idle_fetch, "_ORIGINAL", counting)
    return calls


async def test_idle_consumer_fetches_a_few_times_per_second_and_still_gets_data(
    broker_bootstrap: str, namespace: str, fetch_counter: list[int]
) -> None:
    topic = f"{namespace}idle"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=broker_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=100)  # assignment done, fetching has begun
        before = fetch_counter[0]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(consumer.getone(), timeout=2.0)
        idle_fetches = fetch_counter[0] - before
        # 2 s at one fetch per 0.25 s is 8; without the wait the broker answers ~3,700/s.
        assert idle_fetches <= 2.0 / idle_fetch.idle_wait_s() + 3, idle_fetches
        producer = AIOKafkaProducer(bootstrap_servers=broker_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"after-idle", key=b"k")
        finally:
            await producer.stop()
        records = await consume_until(consumer, lambda got: len(got) >= 1, timeout=5.0)
        assert records[0].value == b"after-idle"
    finally:
        await consumer.stop()
