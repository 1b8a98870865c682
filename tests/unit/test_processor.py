"""The shared retry / dead-letter mechanism, with an in-memory publisher and registry."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from factory.config import processor_config
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from streams.catalogue import topic
from streams.errors import RetriableError, ValidationError
from streams.processor import Emit, StepProcessor
from streams.routing import H_ATTEMPT, H_ORIGIN, Message, RouteKind, route_failure
from streams.settings import Settings
from tests.factories import problem_event

SPEC = topic("problems.submitted")
Sent = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.failures_left = 0

    async def publish_many(self, messages: Sequence[Sent]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise RetriableError("broker blip")
        self.sent.extend(messages)


class FlakyStep:
    """Fails ``failures`` times (with ``exc``), then emits one event."""

    def __init__(self, failures: int, exc: Exception) -> None:
        self.failures = failures
        self.exc = exc
        self.calls = 0

    async def __call__(self, record: dict[str, Any]) -> list[Emit]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return [Emit("problems.submitted", record["problem_id"], record)]


@pytest.fixture
def settings() -> Settings:
    return Settings(topic_namespace="ns.", kafka_bootstrap_servers="unused:9092")


async def _processor(
    settings: Settings, step: FlakyStep
) -> tuple[StepProcessor, RecordingPublisher, AvroSerde]:
    serde = AvroSerde(InMemorySchemaRegistry())
    publisher = RecordingPublisher()
    proc = StepProcessor(
        agent="test",
        spec=SPEC,
        step=step,
        serde=serde,
        publisher=publisher,
        config=processor_config(settings),
        clock=lambda: 1000.0,
    )
    return proc, publisher, serde


async def _message(serde: AvroSerde, settings: Settings, **kw: Any) -> Message:
    physical = settings.topic("problems.submitted")
    value = await serde.encode_async(subject_for(physical), "ProblemSubmitted", problem_event(0))
    defaults: dict[str, Any] = {
        "topic": physical,
        "partition": 2,
        "offset": 41,
        "key": b"k",
        "value": value,
        "headers": (("traceparent", b"00-abc-def-01"),),
    }
    defaults.update(kw)
    return Message(**defaults)


def test_route_failure_walks_the_tiers_then_dead_letters() -> None:
    exc = RetriableError("timeout")
    routes = [route_failure(SPEC, n, exc, now_ms=0) for n in range(len(SPEC.retry_tiers) + 1)]
    assert [r.kind for r in routes] == [RouteKind.RETRY] * 3 + [RouteKind.DLQ]
    assert [r.topic for r in routes[:3]] == list(SPEC.retry_topics)
    delays = [r.not_before_ms for r in routes[:3]]
    assert delays == sorted(delays)
    assert delays[0] > 0
    assert routes[-1].topic == "problems.submitted.dlq"


def test_fatal_errors_skip_the_tiers() -> None:
    route = route_failure(SPEC, 0, ValidationError("bad"), now_ms=0)
    assert route.kind is RouteKind.DLQ
    assert route.attempts == 1


async def test_transient_failure_goes_to_tier_one_with_state_in_headers(
    settings: Settings,
) -> None:
    proc, publisher, serde = await _processor(settings, FlakyStep(1, RetriableError("blip")))
    outcome = await proc.process(await _message(serde, settings))
    assert outcome.kind == "retry"
    ((topic_name, key, value, headers),) = publisher.sent
    assert topic_name == "ns.problems.submitted.retry.1"
    assert key == b"k"
    hdrs = dict(headers)
    assert hdrs[H_ATTEMPT] == b"1"
    assert hdrs[H_ORIGIN] == b"ns.problems.submitted/2/41"
    assert hdrs["traceparent"] == b"00-abc-def-01"

    # Tier 1 delivers it again; this time the step succeeds and the output is published.
    retried = Message("ns.problems.submitted.retry.1", 0, 7, key, value, tuple(headers))
    assert (await proc.process(retried)).kind == "ok"
    assert publisher.sent[-1][0] == "ns.problems.submitted"


async def test_exhausted_tiers_dead_letter_the_original_bytes(settings: Settings) -> None:
    proc, publisher, serde = await _processor(settings, FlakyStep(99, RetriableError("down")))
    msg = await _message(serde, settings)
    for _ in range(len(SPEC.retry_tiers) + 1):
        outcome = await proc.process(msg)
        _, key, value, headers = publisher.sent[-1]
        msg = Message(publisher.sent[-1][0], 0, 0, key, value, tuple(headers))
    assert outcome.kind == "dlq"
    dlq_topic, _, dlq_value, _ = publisher.sent[-1]
    assert dlq_topic == "ns.problems.submitted.dlq"
    failed = (await serde.decode(dlq_value, expected="StepFailed")).record
    assert failed["attempts"] == 4
    assert failed["fatal"] is False
    assert failed["original_partition"] == 2
    assert failed["original_offset"] == 41
    assert failed["original_topic"] == "ns.problems.submitted"
    assert failed["error_class"] == "RetriableError"
    original = (await serde.decode(failed["original_value"])).record
    assert original["problem_id"] == problem_event(0)["problem_id"]


async def test_undecodable_bytes_are_fatal(settings: Settings) -> None:
    proc, publisher, serde = await _processor(settings, FlakyStep(0, RetriableError("-")))
    outcome = await proc.process(await _message(serde, settings, value=b"not avro"))
    assert outcome.kind == "dlq"
    failed = (await serde.decode(publisher.sent[-1][2])).record
    assert failed["fatal"] is True
    assert failed["error_class"] == "SerializationError"
    assert failed["original_value"] == b"not avro"


async def test_a_broker_outage_while_routing_does_not_lose_the_event(settings: Settings) -> None:
    proc, publisher, serde = await _processor(settings, FlakyStep(0, RetriableError("-")))
    publisher.failures_left = 2  # the DLQ publish fails twice, then the broker is back
    outcome = await proc.process(await _message(serde, settings, value=b""))
    assert outcome.kind == "dlq"
    assert publisher.sent[-1][0] == "ns.problems.submitted.dlq"


def test_retry_waits_are_scaled_by_settings() -> None:
    fast = route_failure(SPEC, 0, RetriableError("x"), now_ms=0, delay_factor=0.01)
    slow = route_failure(SPEC, 0, RetriableError("x"), now_ms=0)
    assert fast.not_before_ms * 100 == slow.not_before_ms


class GatedStep:
    """Every call waits until ``expected`` calls are in flight at once (a barrier): completes
    only if the processor really runs steps concurrently."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.in_flight = 0
        self.peak = 0
        self.all_started = asyncio.Event()

    async def __call__(self, record: dict[str, Any]) -> list[Emit]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.expected:
            self.all_started.set()
        await self.all_started.wait()
        self.in_flight -= 1
        return [Emit("problems.submitted", record["problem_id"], record)]


async def test_concurrent_steps_publish_in_batch_order(settings: Settings) -> None:
    serde = AvroSerde(InMemorySchemaRegistry())
    publisher = RecordingPublisher()
    step = GatedStep(expected=2)
    proc = StepProcessor(
        agent="test", spec=SPEC, step=step, serde=serde, publisher=publisher,
        config=processor_config(settings), concurrency=2,
    )  # fmt: skip
    physical = settings.topic("problems.submitted")
    msgs = [
        await _message(
            serde,
            settings,
            offset=offset,
            value=await serde.encode_async(
                subject_for(physical), "ProblemSubmitted", problem_event(offset)
            ),
        )
        for offset in range(4)
    ]
    outcomes = await asyncio.wait_for(proc.process_batch(msgs), timeout=5)
    assert [o.kind for o in outcomes] == ["ok"] * 4
    assert step.peak == 2  # bounded by the setting, and really concurrent
    sent = [
        (await serde.decode(v, expected="ProblemSubmitted")).record for _, _, v, _ in publisher.sent
    ]
    assert [r["problem_id"] for r in sent] == [problem_event(i)["problem_id"] for i in range(4)]


async def test_publish_now_sends_before_the_step_returns(settings: Settings) -> None:
    serde = AvroSerde(InMemorySchemaRegistry())
    publisher = RecordingPublisher()
    seen_during_step: list[int] = []

    async def step(record: dict[str, Any]) -> list[Emit]:
        await proc.publish_now([Emit("problems.submitted", "early", record)])
        seen_during_step.append(len(publisher.sent))
        return [Emit("problems.submitted", "late", record)]

    proc = StepProcessor(
        agent="test",
        spec=SPEC,
        step=step,
        serde=serde,
        publisher=publisher,
        config=processor_config(settings),
    )
    await proc.process(await _message(serde, settings))
    assert seen_during_step == [1]
    assert [key for _, key, _, _ in publisher.sent] == [b"early", b"late"]
