"""Arm weights for drafting, from the compacted ``experiments.updated`` topic.

Not a consumer-group agent: every worker must know the *latest* weights of every experiment at
all times, including right after a restart, so the reader assigns itself every partition, reads
from the beginning (compaction keeps one record per experiment) and then follows new records.
Until an experiment has an update, its weights are unknown and drafting samples uniformly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.serializer import AvroSerde
from streams.errors import MunjeroError
from streams.idle_fetch import CONSUMER_TIMEOUT_MS
from streams.kafka_auth import KafkaClientConfig

log = logging.getLogger(__name__)


def weights_from(record: Mapping[str, object]) -> dict[str, float]:
    """Arm id -> weight of one ExperimentUpdated record (pure)."""
    arms = record.get("arms") or []
    assert isinstance(arms, list)
    return {str(arm["arm_id"]): float(arm["weight"]) for arm in arms}


@dataclass(frozen=True)
class ArmWeightsConfig:
    """Where the weights come from: the Kafka identity and the physical
    ``experiments.updated`` topic."""

    kafka: KafkaClientConfig
    topic: str


class ArmWeights:
    """The latest weights per experiment, kept current by ``run``."""

    def __init__(self, config: ArmWeightsConfig, serde: AvroSerde) -> None:
        self._config = config
        self._serde = serde
        self._weights: dict[str, dict[str, float]] = {}
        self.updates = 0
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    def get(self, experiment_id: str) -> dict[str, float] | None:
        """The experiment's arm weights, or None (uniform) before its first update."""
        return self._weights.get(experiment_id)

    def apply(self, record: Mapping[str, object]) -> None:
        self._weights[str(record["experiment_id"])] = weights_from(record)
        self.updates += 1

    async def wait_loaded(self, timeout: float = 30.0) -> None:
        """Until every update present at start-up has been read, so the first drafts after a
        restart already use the current weights. Bounded: if the reader cannot load, drafting
        goes on with uniform weights rather than stalling (logged)."""
        if self._loaded.is_set():
            return
        self.start()
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout)
        except TimeoutError:
            log.warning("arm weights not loaded within %.0fs; drafting uniformly", timeout)
            self._loaded.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="arm-weights")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        topic = self._config.topic
        consumer = AIOKafkaConsumer(
            enable_auto_commit=False,
            isolation_level="read_committed",
            consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
            **self._config.kafka.kwargs(),
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or {0}
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            while True:
                if not self._loaded.is_set():
                    positions = [await consumer.position(tp) for tp in partitions]
                    if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                        self._loaded.set()
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        try:
                            decoded = await self._serde.decode(
                                record.value, expected="ExperimentUpdated"
                            )
                        except MunjeroError as exc:  # a bad update must not stop drafting
                            log.warning("skipping undecodable experiment update: %s", exc)
                            continue
                        self.apply(decoded.record)
        except KafkaError as exc:
            log.error("arm-weights reader stopped: %s", exc)
            raise
        finally:
            await consumer.stop()
