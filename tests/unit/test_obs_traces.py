"""Spans of the SDK as rows of the collector-compatible ``otel_traces`` table, and the journey
query over them, on in-memory chdb."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from observability.clickhouse_traces import (
    INGEST_COLUMNS,
    TRACE_COLUMNS,
    journey_sql,
    logs_ddl,
    span_json,
    span_row,
    traces_ddl,
    traces_ingest_ddl,
)
from streams.telemetry.propagation import inject, process_span, publish_span


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracers(exporter: InMemorySpanExporter) -> Iterator[dict[str, Tracer]]:
    """One provider per service, as in the factory: each process has its own resource."""
    providers = {}
    for service in ("api", "content", "render"):
        provider = TracerProvider(
            resource=Resource.create({"service.name": service, "service.version": "1.2.3"})
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers[service] = provider
    yield {name: p.get_tracer("munjero.test", "0.1") for name, p in providers.items()}
    for provider in providers.values():
        provider.shutdown()


@pytest.fixture
async def warehouse() -> AsyncIterator[tuple[ChdbWarehouse, str]]:
    wh = ChdbWarehouse(None)
    db = f"obs_{uuid.uuid4().hex[:8]}"
    await wh.execute(f"CREATE DATABASE {db}")
    await wh.execute(traces_ddl(f"{db}.otel_traces", ttl_days=7))
    for statement in traces_ingest_ddl(f"{db}.otel_traces"):
        await wh.execute(statement)
    await wh.execute(logs_ddl(f"{db}.otel_logs", ttl_days=7))
    try:
        yield wh, db
    finally:
        await wh.execute(f"DROP DATABASE {db}")
        await wh.close()


def journey(tracers: dict[str, Tracer], problem_id: str) -> None:
    """API request -> publish -> process -> publish -> process, hopping through headers only."""
    with (
        tracers["api"].start_as_current_span(
            "POST /v1/problems", kind=SpanKind.SERVER, attributes={"munjero.problem_id": problem_id}
        ),
        publish_span(tracers["api"], "problems.submitted", key=problem_id, message_count=1),
    ):
        headers = inject()
    with (
        process_span(
            tracers["content"],
            "problems.submitted",
            headers,
            agent="drafting",
            partition=0,
            offset=7,
            group="munjero-drafting",
        ),
        publish_span(tracers["content"], "scripts.drafted", key=problem_id, message_count=2),
    ):
        headers = inject()
    with process_span(
        tracers["render"],
        "scripts.drafted",
        headers,
        agent="render",
        partition=1,
        offset=3,
        group="munjero-render",
    ) as span:
        span.add_event("encoded", {"seconds": 8.5, "ok": True, "tags": ["a", "b"]})
        span.set_status(Status(StatusCode.ERROR, "quality gate"))


def spans_named(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.name == name]
    return span


def test_span_json_is_json_and_keeps_the_identity(
    tracers: dict[str, Tracer], exporter: InMemorySpanExporter
) -> None:
    journey(tracers, "p-1")
    spans = exporter.get_finished_spans()
    process = spans_named(spans, "process scripts.drafted")
    doc = orjson.loads(orjson.dumps(span_json(process)))

    ctx = process.get_span_context()
    assert ctx is not None
    assert process.parent is not None
    assert doc["trace_id"] == f"{ctx.trace_id:032x}"
    assert doc["span_id"] == f"{ctx.span_id:016x}"
    assert doc["parent_span_id"] == f"{process.parent.span_id:016x}"
    assert doc["kind"] == "SPAN_KIND_CONSUMER"
    assert doc["status"] == "STATUS_CODE_ERROR"
    assert doc["status_message"] == "quality gate"
    assert doc["start"] == process.start_time
    assert doc["end"] == process.end_time
    assert doc["resource"]["service.name"] == "render"
    assert doc["scope"] == ["munjero.test", "0.1"]
    assert doc["events"][0]["attributes"] == {"seconds": 8.5, "ok": True, "tags": ["a", "b"]}
    assert doc["links"][0]["span_id"] == doc["parent_span_id"]


def test_span_row_follows_the_collector_spelling(
    tracers: dict[str, Tracer], exporter: InMemorySpanExporter
) -> None:
    journey(tracers, "p-1")
    process = spans_named(exporter.get_finished_spans(), "process scripts.drafted")
    row = span_row(span_json(process))

    assert tuple(row) == TRACE_COLUMNS
    assert row["ServiceName"] == "render"
    assert row["SpanKind"] == "SPAN_KIND_CONSUMER"
    assert row["Duration"] == (process.end_time or 0) - (process.start_time or 0)
    assert row["SpanAttributes"]["messaging.kafka.offset"] == "3"
    assert row["Events.Name"] == ["encoded"]
    assert row["Events.Attributes"] == [{"seconds": "8.5", "ok": "true", "tags": '["a","b"]'}]
    assert len(row["Links.SpanId"]) == 1
    assert row["Links.SpanId"][0] == row["ParentSpanId"]


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", "a.b.c", ""])
def test_table_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="table name"):
        traces_ddl(bad)
    with pytest.raises(ValueError, match="table name"):
        journey_sql(bad)


def test_ttl_must_be_a_positive_integer() -> None:
    with pytest.raises(ValueError, match="ttl_days"):
        traces_ddl(ttl_days=0)


async def insert_spans(wh: ChdbWarehouse, table: str, spans: tuple[ReadableSpan, ...]) -> None:
    # Through JSON, as the spans travel on Kafka.
    rows = [span_row(orjson.loads(orjson.dumps(span_json(s)))) for s in spans]
    await wh.insert(f"{table}_ingest", INGEST_COLUMNS, [list(r.values()) for r in rows])


async def test_tables_have_the_collector_layout(warehouse: tuple[ChdbWarehouse, str]) -> None:
    wh, db = warehouse
    rows = await wh.query(
        "SELECT table, name, type FROM system.columns WHERE database = {db:String}",
        {"db": db},
    )
    types: dict[str, dict[str, Any]] = {}
    for r in rows:
        types.setdefault(r["table"], {})[r["name"]] = r["type"]
    traces = types["otel_traces"]
    assert tuple(traces) == TRACE_COLUMNS
    # The ingest table mirrors the types exactly: the view must not convert anything.
    assert list(types["otel_traces_ingest"].values()) == list(traces.values())
    assert traces["Timestamp"] == "DateTime64(9)"
    assert traces["Events.Timestamp"] == "Array(DateTime64(9))"
    assert traces["Links.Attributes"] == "Array(Map(LowCardinality(String), String))"
    assert traces["Duration"] == "UInt64"
    assert types["otel_logs"]["TraceFlags"] == "UInt8"
    assert types["otel_logs"]["LogAttributes"] == "Map(LowCardinality(String), String)"


async def test_journey_query_lists_the_whole_chain_in_order(
    tracers: dict[str, Tracer],
    exporter: InMemorySpanExporter,
    warehouse: tuple[ChdbWarehouse, str],
) -> None:
    wh, db = warehouse
    journey(tracers, "p-wanted")
    journey(tracers, "p-other")  # another trace in the table: must not show
    spans = exporter.get_finished_spans()
    await insert_spans(wh, f"{db}.otel_traces", spans)

    got = await wh.query(journey_sql(f"{db}.otel_traces"), {"problem": "p-wanted"})

    assert [(r["ServiceName"], r["SpanName"]) for r in got] == [
        ("api", "POST /v1/problems"),
        ("api", "publish problems.submitted"),
        ("content", "process problems.submitted"),
        ("content", "publish scripts.drafted"),
        ("render", "process scripts.drafted"),
    ]
    assert len({r["TraceId"] for r in got}) == 1
    assert got[0]["ParentSpanId"] == ""
    for parent, child in itertools.pairwise(got):
        assert child["ParentSpanId"] == parent["SpanId"]
    wanted = {
        f"{s.context.span_id:016x}": s for s in spans if s.context is not None
    }  # the SDK's own view of the same spans
    for r in got:
        span = wanted[r["SpanId"]]
        assert r["Duration"] == (span.end_time or 0) - (span.start_time or 0)
    assert [r["StatusCode"] for r in got][-1] == "STATUS_CODE_ERROR"


async def test_nanoseconds_maps_and_nested_columns_survive(
    tracers: dict[str, Tracer],
    exporter: InMemorySpanExporter,
    warehouse: tuple[ChdbWarehouse, str],
) -> None:
    wh, db = warehouse
    journey(tracers, "p-1")
    process = spans_named(exporter.get_finished_spans(), "process scripts.drafted")
    await insert_spans(wh, f"{db}.otel_traces", (process,))

    (row,) = await wh.query(
        "SELECT toUnixTimestamp64Nano(Timestamp) AS ns, ResourceAttributes['service.version'] AS v,"
        " SpanAttributes['messaging.consumer.group.name'] AS g, ScopeName, ScopeVersion,"
        " arrayMap(t -> toUnixTimestamp64Nano(t), Events.Timestamp) AS ev_ns, Events.Name AS ev,"
        " Links.SpanId AS links, StatusMessage"
        f" FROM {db}.otel_traces"
    )
    assert row["ns"] == process.start_time
    assert row["v"] == "1.2.3"
    assert row["g"] == "munjero-render"
    assert (row["ScopeName"], row["ScopeVersion"]) == ("munjero.test", "0.1")
    assert row["ev_ns"] == [process.events[0].timestamp]
    assert row["ev"] == ["encoded"]
    assert row["links"] == [f"{process.links[0].context.span_id:016x}"]
    assert row["StatusMessage"] == "quality gate"
