"""Runs one pipeline step on one consumed message: decode, step, publish outputs, or route the
failure to a retry tier / the dead-letter topic. Library-neutral: Faust agents (and tests) hand
it a ``Message``; it never blocks a partition on a poison event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, Protocol, TypeVar

from opentelemetry.trace import Span

from schemas.serializer import AvroSerde, subject_for
from streams import events
from streams.catalogue import TopicSpec, topic
from streams.errors import BrokerUnavailableError, FatalError, RegistryUnavailableError
from streams.routing import (
    Message,
    Route,
    RouteKind,
    dead_letter_headers,
    describe,
    retry_headers,
    route_failure,
)
from streams.step import Emit, EmitNow, Record, Step
from streams.telemetry import metrics, tracing
from streams.telemetry.context import PROBLEM_ATTRIBUTE, correlation_id
from streams.telemetry.errors import capture_step_error
from streams.telemetry.propagation import inject, process_span, publish_span, trace_headers

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Emit", "EmitNow", "ProcessorConfig", "Publisher", "Record", "Step", "StepProcessor"]


Outgoing = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]


@dataclass(frozen=True)
class ProcessorConfig:
    """What a processor takes from the settings: the topic namespace (physical names) and the
    factor on the retry tiers' delays (tests shrink it; production keeps 1.0)."""

    topic_namespace: str = ""
    retry_delay_factor: float = 1.0

    def topic(self, name: str) -> str:
        """The physical topic name for a catalogue name, with the namespace applied."""
        return f"{self.topic_namespace}{name}"


class Publisher(Protocol):
    """What the processor needs from a producer (``connectors.kafka.KafkaEventProducer``)."""

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Send all messages and wait for the broker's acknowledgement of every one."""
        ...


@dataclass
class Outcome:
    kind: str  # "ok" | "retry" | "dlq"
    emitted: int = 0
    route: Route | None = None


def dead_letter(msg: Message, exc: BaseException, *, agent: str, attempts: int) -> Record:
    """The StepFailed record for ``msg``: original bytes and where they came from."""
    origin_topic, origin_partition, origin_offset = msg.origin
    return {
        "meta": events.meta(
            # Deterministic: the same failure dead-lettered twice (a redelivery) dedups.
            event_id=events.derived_id(
                origin_topic, str(origin_partition), str(origin_offset), "dlq"
            ),
            correlation_id=events.derived_id(origin_topic, str(origin_partition), "dlq"),
        ),
        "agent": agent,
        "original_topic": origin_topic,
        "source_topic": msg.topic,
        "original_partition": origin_partition,
        "original_offset": origin_offset,
        "original_key": msg.key,
        "original_value": msg.value,
        "original_headers": [{"key": k, "value": v} for k, v in msg.headers],
        "error_class": type(exc).__name__,
        "error_message": (str(exc) or repr(exc))[:4000],
        "attempts": attempts,
        "fatal": isinstance(exc, FatalError),
    }


class StepProcessor:
    """Applies ``step`` to messages of event topic ``spec`` (or its retry tiers)."""

    def __init__(
        self,
        *,
        agent: str,
        spec: TopicSpec,
        step: Step,
        serde: AvroSerde,
        publisher: Publisher,
        config: ProcessorConfig,
        clock: Callable[[], float] = time.time,
        concurrency: int = 1,
        batch_max: int | None = None,
    ) -> None:
        self.agent = agent
        # Steps of one batch may run at once (renders: each is seconds of subprocess work);
        # outputs are still published in the batch's order.
        self.concurrency = concurrency
        # Events per batch: a batch is acknowledged only after every step in it finished, so a
        # slow step wants small batches (a crash redoes at most one batch).
        self.batch_max = batch_max
        self.spec = spec
        self.step = step
        self.serde = serde
        self.publisher = publisher
        self.config = config
        self.clock = clock
        self.counts: dict[str, int] = {"ok": 0, "retry": 0, "dlq": 0}
        # The consumer group (span attribute); ``bind`` sets it from the Faust app.
        self.group = ""
        # Set when the worker begins to stop (before its resources close): from then on a
        # failure is the stop's doing, not the event's, and the batch is abandoned unacked.
        self.stopping = False
        self.abandoned = asyncio.Event()  # set once a batch was given up to the stop
        # Metric children resolved once: labels are this agent and its event topic.
        self._in = metrics.EVENTS_IN.labels(agent, spec.name)
        self._seconds = metrics.PROCESSING_SECONDS.labels(agent, spec.name)

    async def wait_until_due(self, msg: Message) -> None:
        """Retry tiers hold an event until its backoff has passed. Every event in one tier has
        the same delay, so the tier is ordered by due time and waiting on its head is right."""
        delay = msg.not_before_ms / 1000.0 - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def process(self, msg: Message) -> Outcome:
        """Process one message (see ``process_batch``)."""
        (outcome,) = await self.process_batch([msg])
        return outcome

    async def process_batch(
        self, msgs: Sequence[Message], *, hold_until_due: bool = False
    ) -> list[Outcome]:
        """Process messages in order, then publish every output and every failure route in one
        acknowledged send. The caller acks the batch's offsets only after this returns, so
        at-least-once holds while a batch costs one broker round trip instead of one per event.
        """
        results: list[tuple[list[Outgoing], Outcome]] = []
        if self.concurrency > 1 and not hold_until_due:
            gate = asyncio.Semaphore(self.concurrency)

            async def bounded(msg: Message) -> tuple[list[Outgoing], Outcome]:
                async with gate:
                    return await self._one(msg)

            results = list(await asyncio.gather(*(bounded(m) for m in msgs)))
        else:
            for msg in msgs:
                if hold_until_due:
                    await self.wait_until_due(msg)
                results.append(await self._one(msg))
        payload = [out for outgoing, _ in results for out in outgoing]
        outcomes = [outcome for _, outcome in results]
        await self._publish_until_done(payload)
        for outcome in outcomes:
            self.counts[outcome.kind] += 1
        return outcomes

    async def _one(self, msg: Message) -> tuple[list[Outgoing], Outcome]:
        """Decode, step, encode one message inside its ``process <topic>`` span."""
        self._in.inc()
        started = time.perf_counter()
        key = msg.key.decode(errors="replace") if msg.key else None
        with process_span(
            tracing.tracer(),
            msg.topic,
            msg.headers,
            agent=self.agent,
            partition=msg.partition,
            offset=msg.offset,
            group=self.group,
            key=key,
        ) as span:
            token = correlation_id.set("")
            record: Record | None = None
            try:
                decoded = await self._until_available(
                    "decode", lambda: self.serde.decode(msg.value, expected=self.spec.value_schema)
                )
                record = decoded.record
                _annotate(span, record)
                outputs = await self.step(record)
                encoded = await self._until_available(
                    "encode outputs", lambda: self._encode(outputs, msg.headers)
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.stopping:
                    # A closed vector store or producer mid-step: an interruption, not a
                    # verdict; the event is read again after the restart.
                    await self._abandon(describe(exc))
                tracing.mark_error(span, exc)
                route = route_failure(
                    self.spec,
                    msg.attempts,
                    exc,
                    now_ms=int(self.clock() * 1000),
                    delay_factor=self.config.retry_delay_factor,
                )
                metrics.EVENTS_FAILED.labels(self.agent, self.spec.name, route.kind.value).inc()
                routed = await self._route(msg, route, exc, record)
                return routed, Outcome(route.kind.value, route=route)
            finally:
                correlation_id.reset(token)
                self._seconds.observe(time.perf_counter() - started)
        for out in outputs:
            metrics.EVENTS_OUT.labels(self.agent, out.topic).inc()
        return encoded, Outcome("ok", emitted=len(encoded))

    async def publish_now(
        self, outputs: Sequence[Emit], headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Publish before the step returns: for progress a person should see early (a render's
        storyboard). At-least-once like any output: a redelivered step publishes it again with
        the same deterministic event id."""
        await self._publish_until_done(await self._encode(outputs, headers))

    async def _encode(
        self, outputs: Sequence[Emit], headers: Sequence[tuple[str, bytes]]
    ) -> list[Outgoing]:
        """Encode outputs; each gets a ``publish <topic>`` span (a child of the current process
        span) whose context travels in its headers. Without a tracer the cause's trace headers
        are forwarded unchanged, so a journey stays one trace either way."""
        forwarded = trace_headers(headers)
        tracer = tracing.tracer()
        encoded: list[Outgoing] = []
        for out in outputs:
            spec = topic(out.topic)
            physical = self.config.topic(spec.name)
            with publish_span(tracer, physical, key=out.key) as span:
                value = await self.serde.encode_async(
                    subject_for(physical), spec.value_schema, out.record
                )
                trace = inject(forwarded) if span.get_span_context().is_valid else forwarded
            encoded.append((physical, out.key.encode(), value, trace))
        return encoded

    async def _route(
        self, msg: Message, route: Route, exc: BaseException, record: Record | None
    ) -> list[Outgoing]:
        physical = self.config.topic(route.topic)
        if route.kind is RouteKind.RETRY:
            log.info("retrying %s@%s/%s: %s", msg.topic, msg.partition, msg.offset, describe(exc))
            return [(physical, msg.key, msg.value or b"", retry_headers(msg, route, exc))]
        # ERROR with the exception: the record reaches otel_logs with its fingerprint, which is
        # how dead letters are grouped (error_groups) and what Sentry receives.
        log.error(
            "dead-lettering %s@%s/%s after %d attempt(s): %s",
            msg.topic,
            msg.partition,
            msg.offset,
            route.attempts,
            describe(exc),
            exc_info=exc,
            extra={"munjero": _error_tags(self.agent, self.spec.name, record, exc)},
        )
        capture_step_error(
            exc,
            topic=self.spec.name,
            agent=self.agent,
            problem_id=_problem_id(record),
            fatal=isinstance(exc, FatalError),
        )
        dead = dead_letter(msg, exc, agent=self.agent, attempts=route.attempts)
        value = await self._until_available(
            "encode dead letter",
            lambda: self.serde.encode_async(subject_for(physical), "StepFailed", dead),
        )
        with publish_span(tracing.tracer(), physical, key=None):
            trace = inject(())
        errors = dead_letter_headers(msg, exc, agent=self.agent, attempts=route.attempts)
        return [(physical, msg.key, value, [*trace, *errors])]

    async def _publish_until_done(self, payload: Sequence[Outgoing]) -> None:
        """Outputs and failure routes must not be dropped: if the broker is down, keep trying
        (the partition waits, which is right: nothing after it can be committed safely)."""
        if not payload:
            return
        delay = 0.2
        while True:
            try:
                await self.publisher.publish_many(payload)
                return
            except Exception as exc:
                if self.stopping:  # the producer is closing with the worker: give the batch up
                    await self._abandon(str(exc))
                log.warning("cannot publish %d record(s) yet (%s); retrying in %.1fs",
                            len(payload), exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _abandon(self, why: str) -> NoReturn:
        """Give the batch up to the stop: wait, unacked, for the worker to cancel this agent.
        Raising instead would read as an agent crash to Faust (an ERROR line and a restarted
        actor) before its stop reaches the agents."""
        log.info("%s stopping: batch abandoned unacked (%s); it is redelivered", self.agent, why)
        self.abandoned.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable: only a cancellation ends the wait")

    async def _until_available(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, repeated while the infrastructure it needs is unreachable (the schema
        registry or the broker). An outage is not a verdict on the event: it must neither be
        routed to a retry tier (whose tiers end in the dead letters) nor crash the agent into
        an ack. The partition waits; a stopping worker cancels the wait and commits nothing."""
        delay = 0.2
        while True:
            try:
                return await call()
            except (RegistryUnavailableError, BrokerUnavailableError) as exc:
                log.warning("%s: %s unavailable (%s); retrying in %.1fs",
                            self.agent, what, exc, delay)  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)


def _problem_id(record: Record | None) -> str | None:
    if not record:
        return None
    value = record.get("problem_id")
    return str(value) if value else None


def _annotate(span: Span, record: Record) -> None:
    """Ids that make a span findable: the problem (the journey query) and the correlation id
    (the log records of this step carry it too)."""
    meta = record.get("meta")
    if isinstance(meta, dict) and meta.get("correlation_id"):
        correlation_id.set(str(meta["correlation_id"]))
        span.set_attribute("munjero.correlation_id", str(meta["correlation_id"]))
    if problem := _problem_id(record):
        span.set_attribute(PROBLEM_ATTRIBUTE, problem)


def _error_tags(
    agent: str, topic_name: str, record: Record | None, exc: BaseException
) -> dict[str, str]:
    # Sentry keeps the first report of an exception (this log record), so its tags go here.
    tags = {"agent": agent, "topic": topic_name, "fatal": str(isinstance(exc, FatalError)).lower()}
    if problem := _problem_id(record):
        tags["problem_id"] = problem
    return tags
