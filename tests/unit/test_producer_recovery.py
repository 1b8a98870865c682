"""A producer whose state the broker lost (a restarted broker that forgot producer ids) is
replaced, instead of failing every send forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import OutOfOrderSequenceNumber

from connectors.kafka import KafkaEventProducer
from streams.errors import BrokerUnavailableError
from streams.kafka_auth import KafkaClientConfig


class _Producer:
    def __init__(self, fail_with: BaseException | None) -> None:
        self.fail_with = fail_with
        self.sent: list[bytes] = []
        self.stopped = False

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_with is not None:
            future.set_exception(self.fail_with)
        else:
            self.sent.append(value)
            future.set_result(None)
        return future

    async def stop(self) -> None:
        self.stopped = True


async def test_lost_sequence_state_replaces_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = KafkaEventProducer(KafkaClientConfig("127.0.0.1:1"))
    wedged = _Producer(OutOfOrderSequenceNumber())
    fresh = _Producer(None)
    made = iter([wedged, fresh])

    async def start() -> None:
        producer._producer = next(made)
        producer._started = True

    monkeypatch.setattr(producer, "start", start)
    with pytest.raises(BrokerUnavailableError, match="OutOfOrderSequenceNumber"):
        await producer.publish_many([("t", b"k", b"v1", ())])
    assert wedged.stopped
    await producer.publish_many([("t", b"k", b"v1", ())])  # the caller's retry
    assert fresh.sent == [b"v1"]


async def test_an_ordinary_outage_keeps_the_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = KafkaEventProducer(KafkaClientConfig("127.0.0.1:1"))
    flaky = _Producer(OSError("connection reset"))
    starts = []

    async def start() -> None:
        starts.append(1)
        producer._producer = flaky
        producer._started = True

    monkeypatch.setattr(producer, "start", start)
    for _ in range(2):
        with pytest.raises(BrokerUnavailableError):
            await producer.publish_many([("t", None, b"v", ())])
    assert starts == [1]
    assert not flaky.stopped
