"""The Kafka span exporter against the embedded broker: spans come back as ``span_json``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability.clickhouse_traces import span_json
from observability.kafka_exporter import KafkaSpanExporter, KafkaSpanSink, configure_tracing
from streams.kafka_auth import KafkaClientConfig
from streams.telemetry.propagation import inject, process_span, publish_span
from tests.integration.kafka_helpers import consume_until

pytestmark = pytest.mark.integration


@pytest.fixture
async def span_topic(broker_bootstrap: str, namespace: str) -> str:
    name = f"{namespace}otel.spans"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker_bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, 2, 1)])
        assert all(code == 0 for _, code, _ in response.topic_errors), response
    finally:
        await admin.close()
    return name


@pytest.fixture
def spans() -> Iterator[tuple[ReadableSpan, ...]]:
    """A few real spans from two traces (publish -> process, and a lone span)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "test-api"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with publish_span(tracer, "problems.submitted", key="p-1", message_count=1):
        headers = inject()
    with process_span(
        tracer, "problems.submitted", headers, agent="a", partition=0, offset=1, group="g"
    ):
        pass
    with tracer.start_as_current_span("GET /healthz", attributes={"munjero.problem_id": "p-1"}):
        pass
    yield memory.get_finished_spans()
    provider.shutdown()


async def consume(
    bootstrap: str, topic: str, namespace: str, n: int
) -> list[tuple[bytes, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{namespace}reader",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        records = await consume_until(consumer, lambda got: len(got) >= n)
    finally:
        await consumer.stop()
    return [(r.key or b"", orjson.loads(r.value or b"")) for r in records]


async def test_exported_spans_come_back_as_span_json(
    broker_bootstrap: str, span_topic: str, namespace: str, spans: tuple[ReadableSpan, ...]
) -> None:
    sink = KafkaSpanSink(KafkaClientConfig(broker_bootstrap), span_topic)
    exporter = KafkaSpanExporter(sink)
    try:
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        # force_flush blocks until the broker acknowledged: run it off the test's loop.
        assert await asyncio.to_thread(exporter.force_flush, 20_000)
        assert (sink.sent, sink.failed, sink.dropped) == (len(spans), 0, 0)
    finally:
        await asyncio.to_thread(exporter.shutdown)

    got = await consume(broker_bootstrap, span_topic, namespace, len(spans))
    assert len(got) == len(spans)
    expected = {doc["span_id"]: doc for doc in map(span_json, spans)}
    for key, doc in got:
        assert doc == expected[doc["span_id"]]
        assert key == doc["trace_id"].encode()


async def test_shutdown_delivers_what_is_queued(
    broker_bootstrap: str, span_topic: str, namespace: str, spans: tuple[ReadableSpan, ...]
) -> None:
    """A process exiting right after its last span still ships it (no flush call first)."""
    provider = configure_tracing(
        "test-worker", kafka=KafkaClientConfig(broker_bootstrap), topic=span_topic
    )
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("last words"):
        pass
    await asyncio.to_thread(provider.shutdown)

    ((key, doc),) = await consume(broker_bootstrap, span_topic, namespace, 1)
    assert doc["name"] == "last words"
    assert doc["resource"]["service.name"] == "test-worker"
    assert key == doc["trace_id"].encode()


@pytest.mark.alone  # bounds a time: not beside the parallel phase
async def test_unreachable_broker_never_blocks_and_counts_drops(
    spans: tuple[ReadableSpan, ...],
) -> None:
    # Port 1: nothing listens there, the producer keeps failing to bootstrap.
    sink = KafkaSpanSink(KafkaClientConfig("127.0.0.1:1"), "nowhere", max_queue=4)
    exporter = KafkaSpanExporter(sink, shutdown_timeout=0.5)
    try:
        started = time.monotonic()
        results = [exporter.export(spans) for _ in range(3)]  # 9 spans into a queue of 4
        elapsed = time.monotonic() - started

        assert elapsed < 0.5, f"export blocked for {elapsed:.2f}s"
        assert results[0] is SpanExportResult.SUCCESS
        assert results[1:] == [SpanExportResult.FAILURE] * 2
        assert sink.queued == 4
        assert sink.dropped == 3 * len(spans) - 4
        assert not await asyncio.to_thread(exporter.force_flush, 200)
    finally:
        await asyncio.to_thread(exporter.shutdown)
    # Still queued at shutdown: dropped too, and nothing is accepted afterwards.
    assert (sink.dropped, sink.sent, sink.queued) == (3 * len(spans), 0, 0)
    assert sink.offer([(b"k", b"v")]) == 0
    assert sink.dropped == 3 * len(spans) + 1
