"""Kafka I/O: topic creation from the catalogue and the event producer.

Everything Kafka-specific the rest of the code needs goes through here, so agents and the API
never hold an aiokafka object directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerIdMapping,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)

from streams.catalogue import ALL_TOPICS, TopicSpec
from streams.errors import BrokerUnavailableError
from streams.kafka_auth import KafkaClientConfig
from streams.ports.producer import Headers

log = logging.getLogger(__name__)

# Errors after which an idempotent producer can never send again: its id or sequence numbers
# are gone from the broker.
_LOST_PRODUCER_STATE = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerIdMapping)

TOPIC_ALREADY_EXISTS = 36


class EventPublisher(Protocol):
    """Sends already-encoded events. Implementations must be idempotent per (key, value)."""

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Headers = ()
    ) -> None:
        """Send and wait for the broker's acknowledgement (acks=all)."""
        ...


async def ensure_topics(
    kafka: KafkaClientConfig,
    specs: Iterable[TopicSpec] = ALL_TOPICS,
    *,
    namespace: str = "",
    replication_factor: int = 1,
) -> list[str]:
    """Create every catalogue topic that does not exist yet. Safe to call at every start.

    Returns the physical names created by this call (already existing ones are skipped).
    """
    admin = AIOKafkaAdminClient(request_timeout_ms=10_000, **kafka.kwargs())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                f"{namespace}{spec.name}",
                spec.partitions,
                replication_factor,
                topic_configs=spec.config(),
            )
            for spec in specs
            if f"{namespace}{spec.name}" not in existing
        ]
        if not wanted:
            return []
        response = await admin.create_topics(wanted)
        created = []
        for name, code, message in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TOPIC_ALREADY_EXISTS:  # a concurrent creator won the race: fine
                raise BrokerUnavailableError(f"creating topic {name} failed: {code} {message}")
        return created
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        where = kafka.bootstrap_servers
        raise BrokerUnavailableError(f"broker {where} unreachable: {exc}") from exc
    finally:
        await admin.close()


class KafkaEventProducer:
    """An idempotent aiokafka producer (acks=all) with a bounded wait per send."""

    def __init__(
        self,
        kafka: KafkaClientConfig,
        *,
        client_id: str = "munjero",
        send_timeout_s: float = 10.0,
        linger_ms: int = 2,
    ) -> None:
        # aiokafka binds to the running loop at construction, so the client is built in start():
        # a Faust worker creates this object before its loop runs.
        self._config = {
            **kafka.kwargs(),
            "client_id": client_id,
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": linger_ms,
            "request_timeout_ms": max(1000, int(send_timeout_s * 1000)),
        }
        self._producer: AIOKafkaProducer | None = None
        self._timeout = send_timeout_s
        self._started = False
        self._start_lock = asyncio.Lock()

    async def start(self) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(**self._config)
        try:
            await asyncio.wait_for(self._producer.start(), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._producer.stop()
            self._producer = None
            raise BrokerUnavailableError(f"cannot connect producer: {exc}") from exc
        self._started = True

    async def ensure_started(self) -> None:
        """Start on first use: agents create the producer before their event loop runs."""
        if not self._started:
            async with self._start_lock:
                if not self._started:
                    await self.start()

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        self._started = False
        if producer is not None:
            # With the broker gone, aiokafka's stop waits for undeliverable batches for good;
            # shutdown must still finish (those records were never acknowledged to anyone).
            try:
                await asyncio.wait_for(producer.stop(), self._timeout)
            except TimeoutError:
                log.warning("producer did not stop within %.1fs; abandoning it", self._timeout)

    async def publish(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Headers = (),
        *,
        timeout: float | None = None,
    ) -> None:
        await self.publish_many([(topic, key, value, headers)], timeout=timeout)

    async def publish_many(
        self,
        messages: Sequence[tuple[str, bytes | None, bytes, Headers]],
        *,
        timeout: float | None = None,
    ) -> None:
        """Send a batch and wait until the broker acknowledged all of it (or fail as a whole:
        the caller retries the batch; idempotent ids make a partial resend harmless)."""
        await self.ensure_started()

        producer = self._producer
        assert producer is not None  # ensure_started() built it

        async def send_all() -> None:
            futures = [
                await producer.send(topic, value, key=key, headers=list(headers))
                for topic, key, value, headers in messages
            ]
            await asyncio.gather(*futures)

        # The whole send, metadata wait included, is bounded: a dead broker must surface fast.
        try:
            await asyncio.wait_for(send_all(), timeout or self._timeout)
        except _LOST_PRODUCER_STATE as exc:
            # The broker no longer knows this producer's sequence numbers (a broker restart
            # that kept no producer state: docs/broker.md defect 3). Every further send of this
            # producer fails the same way, so start over with a new producer id; the caller's
            # retry resends and deterministic event ids collapse any duplicate downstream.
            log.warning("producer state lost on the broker (%r); starting a new producer", exc)
            await self._replace_producer(producer)
            raise BrokerUnavailableError(f"broker did not acknowledge: {exc!r}") from exc
        except (KafkaError, OSError, TimeoutError) as exc:
            raise BrokerUnavailableError(f"broker did not acknowledge: {exc!r}") from exc

    async def _replace_producer(self, broken: AIOKafkaProducer) -> None:
        async with self._start_lock:
            current = self._producer
            if current is None or current is not broken:
                return  # a concurrent send already replaced it
            self._producer, self._started = None, False
            with contextlib.suppress(Exception, TimeoutError):
                await asyncio.wait_for(current.stop(), self._timeout)
