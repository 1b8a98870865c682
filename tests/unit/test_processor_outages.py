"""No ack without a durable outcome: an outage of the schema registry or the broker while
decoding, encoding outputs, building the dead letter or publishing holds the event and retries
it in place. It never routes the event to a retry tier (whose tiers end in the dead letters),
never re-runs a step that already succeeded, and never escapes as a crash; a cancellation (a
stopping worker) propagates and publishes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from factory.config import processor_config
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from streams.catalogue import topic
from streams.errors import (
    BrokerUnavailableError,
    RegistryUnavailableError,
    ValidationError,
)
from streams.ports.vectors import VectorStoreUnavailableError
from streams.processor import Emit, StepProcessor
from streams.routing import Message
from streams.settings import Settings
from tests.factories import problem_event

SPEC = topic("problems.submitted")
Sent = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]


class FlakyRegistry(InMemorySchemaRegistry):
    """Unreachable for the next ``down`` calls (registering or looking up)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = 0

    def _maybe_down(self) -> None:
        if self.down:
            self.down -= 1
            raise RegistryUnavailableError("registry unreachable")

    async def register(self, subject: str, schema: str) -> int:
        self._maybe_down()
        return await super().register(subject, schema)

    async def schema_by_id(self, schema_id: int) -> str:
        self._maybe_down()
        return await super().schema_by_id(schema_id)


class Publisher:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.down = 0

    async def publish_many(self, messages: Sequence[Sent]) -> None:
        if self.down:
            self.down -= 1
            raise BrokerUnavailableError("broker unreachable")
        self.sent.extend(messages)


class Step:
    def __init__(self, exc: Exception | None = None) -> None:
        self.calls = 0
        self.exc = exc

    async def __call__(self, record: dict[str, Any]) -> list[Emit]:
        self.calls += 1
        if self.exc is not None:
            raise self.exc
        return [Emit("problems.submitted", record["problem_id"], record)]


@pytest.fixture
def settings() -> Settings:
    return Settings(topic_namespace="ns.", kafka_bootstrap_servers="unused:9092")


async def _setup(
    settings: Settings, step: Step
) -> tuple[StepProcessor, FlakyRegistry, Publisher, Message]:
    registry = FlakyRegistry()
    physical = settings.topic("problems.submitted")
    producer_serde = AvroSerde(registry)
    value = await producer_serde.encode_async(
        subject_for(physical), "ProblemSubmitted", problem_event(0)
    )
    publisher = Publisher()
    proc = StepProcessor(
        agent="test",
        spec=SPEC,
        step=step,
        serde=AvroSerde(registry),  # a cold cache: decoding asks the registry
        publisher=publisher,
        config=processor_config(settings),
        clock=lambda: 1000.0,
    )
    msg = Message(topic=physical, partition=0, offset=7, key=b"k", value=value, headers=())
    return proc, registry, publisher, msg


async def test_registry_outage_while_decoding_holds_and_then_processes(
    settings: Settings,
) -> None:
    step = Step()
    proc, registry, publisher, msg = await _setup(settings, step)
    registry.down = 2
    outcome = await proc.process(msg)
    assert outcome.kind == "ok"
    assert step.calls == 1
    assert [t for t, *_ in publisher.sent] == ["ns.problems.submitted"]
    assert registry.down == 0  # it really was asked while down


async def test_registry_outage_while_encoding_outputs_never_reruns_the_step(
    settings: Settings,
) -> None:
    step = Step()
    proc, registry, publisher, msg = await _setup(settings, step)
    await proc.serde.decode(msg.value)  # decoding works; the outage starts after the step
    proc.serde = AvroSerde(registry)
    await proc.serde.decode(msg.value)
    registry.down = 2
    outcome = await proc.process(msg)
    assert outcome.kind == "ok"
    assert step.calls == 1
    assert len(publisher.sent) == 1


async def test_registry_outage_while_building_the_dead_letter_still_dead_letters(
    settings: Settings,
) -> None:
    step = Step(ValidationError("bad problem"))
    proc, registry, publisher, msg = await _setup(settings, step)
    await proc.serde.decode(msg.value)  # warm: only the StepFailed schema is new
    registry.down = 2
    outcome = await proc.process(msg)
    assert outcome.kind == "dlq"
    assert [t for t, *_ in publisher.sent] == ["ns.problems.submitted.dlq"]
    assert registry.down == 0


async def test_broker_outage_while_publishing_retries_until_acknowledged(
    settings: Settings,
) -> None:
    step = Step()
    proc, _, publisher, msg = await _setup(settings, step)
    publisher.down = 2
    outcome = await proc.process(msg)
    assert outcome.kind == "ok"
    assert step.calls == 1
    assert len(publisher.sent) == 1


async def test_cancellation_propagates_and_publishes_nothing(settings: Settings) -> None:
    started = asyncio.Event()

    class Forever(Step):
        async def __call__(self, record: dict[str, Any]) -> list[Emit]:
            started.set()
            await asyncio.Event().wait()  # a render that never ends
            return []

    proc, _, publisher, msg = await _setup(settings, Forever())
    task = asyncio.create_task(proc.process_batch([msg]))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert publisher.sent == []
    assert proc.counts == {"ok": 0, "retry": 0, "dlq": 0}


async def _abandoned(proc: StepProcessor, msg: Message) -> None:
    """The batch waits, unacked, until the stopping worker cancels it; nothing is published."""
    task = asyncio.create_task(proc.process_batch([msg]))
    async with asyncio.timeout(5):
        await proc.abandoned.wait()
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_step_failing_while_the_worker_stops_is_abandoned_not_routed(
    settings: Settings,
) -> None:
    # The worker began to stop and closed the vector store under a running step: whatever
    # that step raises says nothing about the event.
    step = Step(VectorStoreUnavailableError("failed to open WAL: WouldBlock"))
    proc, _, publisher, msg = await _setup(settings, step)
    proc.stopping = True
    await _abandoned(proc, msg)
    assert publisher.sent == []  # no retry tier, no dead letter
    assert proc.counts == {"ok": 0, "retry": 0, "dlq": 0}


async def test_a_closed_producer_while_stopping_gives_the_batch_up(settings: Settings) -> None:
    proc, _, publisher, msg = await _setup(settings, Step())
    publisher.down = 10**9  # ProducerClosed: it never comes back in this process
    proc.stopping = True
    await _abandoned(proc, msg)  # not retried forever: the stop is not held up
    assert proc.counts == {"ok": 0, "retry": 0, "dlq": 0}
