"""W3C trace context carried in Kafka record headers, and the messaging spans around it.

Pure: no I/O. Spans follow the OpenTelemetry messaging semantic conventions: the producer side
opens ``publish <topic>`` (PRODUCER) and injects its context into the record headers; the
consumer side opens ``process <topic>`` (CONSUMER) as a child of that context *and* links to it.
The parent makes one trace of a problem's whole journey; the link survives when a consumer
processes a batch or a retry tier re-parents the work, which is what the conventions ask for.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableSequence, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

Headers = Sequence[tuple[str, bytes]]

TRACE_HEADERS = ("traceparent", "tracestate")
MESSAGING_SYSTEM = "kafka"

# One propagator instance: it is stateless, and the W3C format is what every other service
# (OTLP collectors, Kafka Connect, other languages) understands without configuration.
_PROPAGATOR = TraceContextTextMapPropagator()


class _HeaderGetter(Getter[Headers]):
    """Reads Kafka headers: byte values, keys possibly repeated (Kafka allows duplicates)."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = [v.decode("latin-1") for k, v in carrier if k.lower() == key]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [k for k, _ in carrier]


class _HeaderSetter(Setter[MutableSequence[tuple[str, bytes]]]):
    """Writes Kafka headers, replacing any stale trace header so a forwarded record never
    carries two ``traceparent`` values (readers would pick an arbitrary one)."""

    def set(self, carrier: MutableSequence[tuple[str, bytes]], key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k.lower() != key]
        # W3C trace context is ASCII by definition; encoding strictly surfaces a broken value.
        carrier.append((key, value.encode("ascii")))


_GETTER = _HeaderGetter()
_SETTER = _HeaderSetter()


def inject(headers: Headers = (), context: Context | None = None) -> list[tuple[str, bytes]]:
    """``headers`` plus ``traceparent``/``tracestate`` of ``context`` (default: the current one).

    Returns a new list; without a valid span in the context the headers come back unchanged
    (minus stale trace headers), so an untraced producer never forwards someone else's trace.
    """
    carrier = [(k, v) for k, v in headers if k.lower() not in TRACE_HEADERS]
    _PROPAGATOR.inject(carrier, context=context, setter=_SETTER)
    return carrier


def extract(headers: Headers) -> Context:
    """The context carried by ``headers``; an empty context when they carry none (or garbage)."""
    return _PROPAGATOR.extract(headers, context=Context(), getter=_GETTER)


def trace_headers(headers: Headers) -> list[tuple[str, bytes]]:
    """Only the trace headers of ``headers`` (what a step copies onto its outputs)."""
    return [(k, v) for k, v in headers if k.lower() in TRACE_HEADERS]


@contextmanager
def publish_span(
    tracer: Tracer,
    topic: str,
    *,
    key: str | None = None,
    message_count: int = 1,
    new_trace: bool = False,
) -> Iterator[Span]:
    """A PRODUCER span ``publish <topic>``, current while the body runs.

    Call ``inject()`` inside the body so the records carry this span as their parent.
    ``new_trace``: the span starts a trace of its own, linked to the current span (one
    problem of a batch request gets its own journey, still reachable from the request).
    """
    attributes: dict[str, str | int] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": topic,
        "messaging.operation.type": "publish",
        "messaging.operation.name": "send",
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key
    if message_count != 1:
        # The conventions set the batch count only for batches, never for single messages.
        attributes["messaging.batch.message_count"] = message_count
    context: Context | None = None
    links: list[Link] = []
    if new_trace:
        current = trace.get_current_span().get_span_context()
        context = Context()  # no parent: a new root
        links = [Link(current)] if current.is_valid else []
    with tracer.start_as_current_span(
        f"publish {topic}",
        context=context,
        kind=SpanKind.PRODUCER,
        attributes=attributes,
        links=links,
    ) as span:
        yield span


@contextmanager
def process_span(
    tracer: Tracer,
    topic: str,
    headers: Headers,
    *,
    agent: str,
    partition: int,
    offset: int,
    group: str,
    key: str | None = None,
) -> Iterator[Span]:
    """A CONSUMER span ``process <topic>`` for one consumed record, current while the body runs.

    Parent and link both point at the producer's context from ``headers``; without trace
    headers the span starts a new trace (and has no link) instead of attaching to whatever
    span happens to be current in the consumer loop.
    """
    parent = extract(headers)
    producer = trace.get_current_span(parent).get_span_context()
    links = [Link(producer)] if producer.is_valid else []
    attributes: dict[str, str | int] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.destination.name": topic,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
        "messaging.consumer.group.name": group,
        "munjero.agent": agent,
    }
    if key is not None:
        attributes["messaging.kafka.message.key"] = key
    with tracer.start_as_current_span(
        f"process {topic}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        links=links,
    ) as span:
        yield span
