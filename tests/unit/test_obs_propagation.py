"""Trace context through Kafka headers and the messaging spans around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer

from streams.telemetry.propagation import extract, inject, process_span, publish_span, trace_headers


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    # A private provider: the global one is set once per process and would leak across tests.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test")
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


def test_traceparent_round_trips_through_headers(tracer: Tracer) -> None:
    with tracer.start_as_current_span("work") as span:
        headers = inject([("x-other", b"1")])
    sent = span.get_span_context()

    assert ("x-other", b"1") in headers
    (traceparent,) = [v for k, v in headers if k == "traceparent"]
    assert (
        traceparent
        == f"00-{sent.trace_id:032x}-{sent.span_id:016x}-{sent.trace_flags:02x}".encode()
    )

    received = trace.get_current_span(extract(headers)).get_span_context()
    assert (received.trace_id, received.span_id) == (sent.trace_id, sent.span_id)
    assert received.is_remote


def test_inject_replaces_a_stale_traceparent(tracer: Tracer) -> None:
    stale = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    with tracer.start_as_current_span("work") as span:
        headers = inject(stale)
    assert len([k for k, _ in headers if k == "traceparent"]) == 1
    received = trace.get_current_span(extract(headers)).get_span_context()
    assert received.span_id == span.get_span_context().span_id


def test_tracestate_travels_too() -> None:
    headers = [
        ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("tracestate", b"vendor=abc"),
        ("x-attempts", b"2"),
    ]
    ctx = trace.get_current_span(extract(headers)).get_span_context()
    assert ctx.trace_state.get("vendor") == "abc"
    assert trace_headers(headers) == headers[:2]


def test_process_span_is_a_child_of_the_publish_span_and_links_to_it(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with publish_span(tracer, "problems.submitted", key="p-1", message_count=3):
        headers = inject()
    with process_span(
        tracer,
        "problems.submitted",
        headers,
        agent="content",
        partition=2,
        offset=41,
        group="munjero-content",
        key="p-1",
    ):
        pass

    publish = by_name(exporter, "publish problems.submitted")
    process = by_name(exporter, "process problems.submitted")
    assert publish.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert process.context is not None
    assert publish.context is not None
    assert process.context.trace_id == publish.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    (link,) = process.links
    assert link.context.span_id == publish.context.span_id

    assert dict(publish.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "problems.submitted",
        "messaging.operation.type": "publish",
        "messaging.operation.name": "send",
        "messaging.kafka.message.key": "p-1",
        "messaging.batch.message_count": 3,
    }
    assert dict(process.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.destination.name": "problems.submitted",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.consumer.group.name": "munjero-content",
        "messaging.kafka.message.key": "p-1",
        "munjero.agent": "content",
    }


def test_single_message_publish_has_no_batch_count(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with publish_span(tracer, "scripts.drafted", key="s-1"):
        pass
    attributes = by_name(exporter, "publish scripts.drafted").attributes or {}
    assert "messaging.batch.message_count" not in attributes


def test_no_headers_start_a_new_root_even_inside_another_span(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    with (
        tracer.start_as_current_span("consumer loop") as loop_span,
        process_span(
            tracer, "t", [("x-attempts", b"1")], agent="a", partition=0, offset=0, group="g"
        ),
    ):
        pass
    process = by_name(exporter, "process t")
    assert process.parent is None
    assert process.links == ()
    assert process.context is not None
    assert process.context.trace_id != loop_span.get_span_context().trace_id


def test_garbage_traceparent_is_ignored(tracer: Tracer, exporter: InMemorySpanExporter) -> None:
    headers = [("traceparent", b"\xff\xfenot-a-trace")]
    with process_span(tracer, "t", headers, agent="a", partition=0, offset=0, group="g"):
        pass
    assert by_name(exporter, "process t").parent is None


def test_new_trace_publish_span_roots_its_own_trace_linked_to_the_request(
    tracer: Tracer, exporter: InMemorySpanExporter
) -> None:
    # A batch request publishes each problem under a trace of its own: the journey of one
    # problem must not include its batch mates.
    with tracer.start_as_current_span("POST /v1/problems:batch") as request:
        for key in ("p-1", "p-2"):
            with publish_span(tracer, "problems.submitted", key=key, new_trace=True):
                inject()
    publishes = [s for s in exporter.get_finished_spans() if s.name.startswith("publish")]
    request_ctx = request.get_span_context()
    assert len(publishes) == 2
    trace_ids = {s.context.trace_id for s in publishes if s.context is not None}
    assert len(trace_ids) == 2
    assert request_ctx.trace_id not in trace_ids
    for span in publishes:
        assert span.parent is None
        (link,) = span.links
        assert (link.context.trace_id, link.context.span_id) == (
            request_ctx.trace_id,
            request_ctx.span_id,
        )
