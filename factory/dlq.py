"""Dead-letter replay: re-publish StepFailed records to the topic they failed on.

Replay is for after a fix: the original bytes, key and headers go back to the event topic (retry
state stripped), and the dead letter's offset is committed in the ``dlq-replay`` group so a
second replay does not repeat the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.kafka import KafkaEventProducer
from schemas.serializer import AvroSerde
from streams.catalogue import EVENT_TOPICS, topic
from streams.kafka_auth import client_config
from streams.routing import clean_headers
from streams.settings import Settings


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    original_topic: str
    original_partition: int
    original_offset: int
    error_class: str
    error_message: str
    attempts: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def summary(self) -> dict[str, object]:
        """What ``munjero dlq list --json`` prints: where it failed and why (no payload)."""
        return {
            "dlq_offset": self.offset,
            "original_topic": self.original_topic,
            "original_partition": self.original_partition,
            "original_offset": self.original_offset,
            "attempts": self.attempts,
            "error_class": self.error_class,
            "error_message": self.error_message,
            "key": None if self.key is None else self.key.decode("utf-8", "replace"),
        }


async def read_dead_letters(
    settings: Settings, event_topic: str, serde: AvroSerde, *, group: str | None = None
) -> tuple[AIOKafkaConsumer, list[DeadLetter]]:
    """All dead letters of ``event_topic`` not yet replayed by ``group`` (None: all of them).
    Returns the consumer too, so the caller can commit after acting."""
    spec = topic(event_topic)
    if spec not in EVENT_TOPICS:
        raise ValueError(f"{event_topic!r} is not an event topic")
    physical = settings.topic(spec.dlq_topic)
    consumer = AIOKafkaConsumer(
        group_id=settings.group(group) if group else None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **client_config(settings).kwargs(),
    )
    await consumer.start()
    partitions = [
        TopicPartition(physical, p) for p in consumer.partitions_for_topic(physical) or ()
    ]
    if not partitions:
        await consumer.stop()
        raise ValueError(f"dead-letter topic {physical} does not exist")
    consumer.assign(partitions)
    end = await consumer.end_offsets(partitions)
    letters: list[DeadLetter] = []
    for tp in partitions:
        if group is None:
            await consumer.seek_to_beginning(tp)
        while await consumer.position(tp) < end[tp]:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.offset >= end[tp]:
                    break
                failed = (await serde.decode(record.value, expected="StepFailed")).record
                letters.append(
                    DeadLetter(
                        offset=record.offset,
                        original_topic=failed["original_topic"],
                        original_partition=failed["original_partition"],
                        original_offset=failed["original_offset"],
                        error_class=failed["error_class"],
                        error_message=failed["error_message"],
                        attempts=failed["attempts"],
                        key=failed["original_key"],
                        value=failed["original_value"],
                        headers=[(h["key"], h["value"] or b"") for h in failed["original_headers"]],
                    )
                )
    return consumer, letters


async def replay(
    settings: Settings, event_topic: str, serde: AvroSerde, *, limit: int | None = None
) -> int:
    """Re-publish dead letters of ``event_topic`` to it; returns how many were replayed."""
    consumer, letters = await read_dead_letters(settings, event_topic, serde, group="dlq-replay")
    try:
        chosen = letters[:limit] if limit is not None else letters
        if not chosen:
            return 0
        producer = KafkaEventProducer(client_config(settings), client_id="munjero-dlq-replay")
        try:
            await producer.publish_many(
                [
                    (
                        settings.topic(event_topic),
                        dl.key,
                        dl.value or b"",
                        clean_headers(dl.headers),
                    )
                    for dl in chosen
                ]
            )
        finally:
            await producer.stop()
        physical = settings.topic(topic(event_topic).dlq_topic)
        last = chosen[-1].offset
        # Dead-letter topics have one partition (catalogue), so one offset marks progress.
        await consumer.commit({TopicPartition(physical, 0): last + 1})
        return len(chosen)
    finally:
        await consumer.stop()
