"""Spans (and logs) as ClickHouse rows, laid out like the OpenTelemetry Collector's ClickHouse
exporter (pure: SQL text and row mapping, no I/O).

Same tables, column names and value spellings as the exporter (``SPAN_KIND_PRODUCER``,
``STATUS_CODE_ERROR``, hex ids, string-valued attribute maps), so the ClickHouse data source of
Grafana and queries written for the collector work unchanged, and a production deployment can
swap this path for a collector without migrating data.

Spans travel as compact JSON (``span_json``) on a Kafka topic because on the embedded default
only one process may open chdb; the process owning the warehouse turns them into rows
(``span_row``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import Attributes

from streams.telemetry.context import PROBLEM_ATTRIBUTE

TRACES_TABLE = "otel_traces"
LOGS_TABLE = "otel_logs"
DEFAULT_TTL_DAYS = 30

# Spellings of the collector's traceutil.SpanKindStr / StatusCodeStr (the proto enum names).
_KINDS = {
    SpanKind.INTERNAL: "SPAN_KIND_INTERNAL",
    SpanKind.SERVER: "SPAN_KIND_SERVER",
    SpanKind.CLIENT: "SPAN_KIND_CLIENT",
    SpanKind.PRODUCER: "SPAN_KIND_PRODUCER",
    SpanKind.CONSUMER: "SPAN_KIND_CONSUMER",
}
_STATUSES = {
    StatusCode.UNSET: "STATUS_CODE_UNSET",
    StatusCode.OK: "STATUS_CODE_OK",
    StatusCode.ERROR: "STATUS_CODE_ERROR",
}
_STRING_MAP = "Map(LowCardinality(String), String)"
# Table names are formatted into SQL text (DDL and FROM take no parameters): identifiers only.
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def _table(name: str) -> str:
    if not _TABLE.fullmatch(name):
        raise ValueError(f"not a table name: {name!r}")
    return name


def traces_ddl(table: str = TRACES_TABLE, *, ttl_days: int = DEFAULT_TTL_DAYS) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for spans; ``table`` may be ``database.name``.

    ``Events``/``Links`` are ``Nested``: with the default ``flatten_nested = 1`` they become the
    ``Events.Timestamp``... array columns, and ClickHouse checks that a row's arrays of one
    group have equal lengths. Daily partitions plus ``ttl_only_drop_parts`` make retention drop
    whole parts instead of rewriting them.
    """
    _check_days(ttl_days)
    return f"""CREATE TABLE IF NOT EXISTS {_table(table)} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes {_STRING_MAP} CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes {_STRING_MAP} CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes {_STRING_MAP}
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes {_STRING_MAP}
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
TTL toDateTime(Timestamp) + INTERVAL {ttl_days} DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""


def traces_ingest_ddl(table: str = TRACES_TABLE) -> list[str]:
    """The statements (run them in order, after ``traces_ddl``) that let rows be inserted
    through the ``Warehouse`` port: a ``Null``-engine table ``<table>_ingest`` whose columns are
    ``INGEST_COLUMNS`` and a materialized view copying each insert into ``table``.

    Why: the port only accepts plain identifiers as column names (it quotes them itself), and
    the collector layout's ``Events.Timestamp``... are not. The ``Null`` table stores nothing;
    the view renames the columns on the way in, inside the same insert.
    """
    table = _table(table)
    ingest, view = f"{table}_ingest", f"{table}_mv"
    columns = ",\n    ".join(
        f"{plain} {_TRACE_TYPES[real]}"
        for real, plain in zip(TRACE_COLUMNS, INGEST_COLUMNS, strict=True)
    )
    renames = ",\n    ".join(
        f"{plain} AS `{real}`" for real, plain in zip(TRACE_COLUMNS, INGEST_COLUMNS, strict=True)
    )
    return [
        f"CREATE TABLE IF NOT EXISTS {ingest} (\n    {columns}\n) ENGINE = Null",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} TO {table} AS\n"
        f"SELECT\n    {renames}\nFROM {ingest}",
    ]


def logs_ddl(table: str = LOGS_TABLE, *, ttl_days: int = DEFAULT_TTL_DAYS) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for log records correlated with spans by ``TraceId``."""
    _check_days(ttl_days)
    return f"""CREATE TABLE IF NOT EXISTS {_table(table)} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceAttributes {_STRING_MAP} CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    LogAttributes {_STRING_MAP} CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SeverityText, toUnixTimestamp(Timestamp), TraceId)
TTL toDateTime(Timestamp) + INTERVAL {ttl_days} DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"""


def _check_days(ttl_days: int) -> None:
    # Formatted into DDL text (TTL takes no query parameters): accept integers only.
    if not isinstance(ttl_days, int) or isinstance(ttl_days, bool) or ttl_days < 1:
        raise ValueError(f"ttl_days must be a positive integer, not {ttl_days!r}")


def journey_sql(table: str = TRACES_TABLE) -> str:
    """Every span of the trace(s) that carry ``munjero.problem_id = {problem:String}``.

    The attribute is set on one span (the API request); the rest of the journey is found by
    trace id, which is what propagation through Kafka headers guarantees to share.
    """
    table = _table(table)
    return f"""SELECT Timestamp, TraceId, SpanId, ParentSpanId, ServiceName, SpanName, SpanKind,
       Duration, StatusCode
FROM {table}
WHERE TraceId IN (
    SELECT DISTINCT TraceId FROM {table}
    WHERE SpanAttributes['{PROBLEM_ATTRIBUTE}'] = {{problem:String}}
)
ORDER BY Timestamp, SpanId"""  # noqa: S608 (table checked by _table, problem is a parameter)


TRACE_JOURNEY_SQL = journey_sql()

TRACE_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "ParentSpanId",
    "TraceState",
    "SpanName",
    "SpanKind",
    "ServiceName",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "SpanAttributes",
    "Duration",
    "StatusCode",
    "StatusMessage",
    "Events.Timestamp",
    "Events.Name",
    "Events.Attributes",
    "Links.TraceId",
    "Links.SpanId",
    "Links.TraceState",
    "Links.Attributes",
)


# Column -> type of the ingest table (same types as the traces table, flattened Nested).
_TRACE_TYPES = {
    "Timestamp": "DateTime64(9)",
    "TraceId": "String",
    "SpanId": "String",
    "ParentSpanId": "String",
    "TraceState": "String",
    "SpanName": "LowCardinality(String)",
    "SpanKind": "LowCardinality(String)",
    "ServiceName": "LowCardinality(String)",
    "ResourceAttributes": _STRING_MAP,
    "ScopeName": "String",
    "ScopeVersion": "String",
    "SpanAttributes": _STRING_MAP,
    "Duration": "UInt64",
    "StatusCode": "LowCardinality(String)",
    "StatusMessage": "String",
    "Events.Timestamp": "Array(DateTime64(9))",
    "Events.Name": "Array(LowCardinality(String))",
    "Events.Attributes": f"Array({_STRING_MAP})",
    "Links.TraceId": "Array(String)",
    "Links.SpanId": "Array(String)",
    "Links.TraceState": "Array(String)",
    "Links.Attributes": f"Array({_STRING_MAP})",
}
# The same columns as plain identifiers, for inserts through the Warehouse port.
INGEST_COLUMNS = tuple(c.replace(".", "_") for c in TRACE_COLUMNS)


def span_json(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as a JSON-able dict: ids in hex, times in epoch nanoseconds, attribute
    values as JSON scalars/lists (their types survive until the row mapping stringifies them).
    """
    ctx = span.get_span_context()
    if ctx is None:
        raise ValueError(f"span {span.name!r} has no context")
    scope = span.instrumentation_scope
    start = span.start_time or 0
    doc: dict[str, Any] = {
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else "",
        "trace_state": ctx.trace_state.to_header(),
        "name": span.name,
        "kind": _KINDS.get(span.kind, "SPAN_KIND_UNSPECIFIED"),
        "start": start,
        "end": span.end_time or start,
        "resource": _json_attributes(span.resource.attributes),
        "scope": [scope.name, scope.version or ""] if scope else ["", ""],
        "attributes": _json_attributes(span.attributes),
        "status": _STATUSES[span.status.status_code],
        "status_message": span.status.description or "",
        "events": [
            {"t": e.timestamp, "name": e.name, "attributes": _json_attributes(e.attributes)}
            for e in span.events
        ],
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "trace_state": link.context.trace_state.to_header(),
                "attributes": _json_attributes(link.attributes),
            }
            for link in span.links
        ],
    }
    return doc


def span_row(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a ``span_json`` document keyed by column, in ``TRACE_COLUMNS`` order.

    Through the ``Warehouse`` port insert ``[list(row.values()) for row in rows]`` into
    ``<table>_ingest`` under ``INGEST_COLUMNS`` (see ``traces_ingest_ddl``); a client that
    accepts dotted names may insert into the table itself under ``TRACE_COLUMNS``.

    Timestamps stay integer epoch nanoseconds: ``DateTime64(9)`` keeps nanoseconds and a
    Python ``datetime`` would truncate them to microseconds (the Arrow path accepts integer
    ticks). ``KeyError``/``TypeError``/``ValueError`` mean a malformed document.
    """
    resource = string_map(doc["resource"])
    scope_name, scope_version = doc["scope"]
    events: Sequence[Mapping[str, Any]] = doc["events"]
    links: Sequence[Mapping[str, Any]] = doc["links"]
    start, end = int(doc["start"]), int(doc["end"])
    values = (
        start,
        str(doc["trace_id"]),
        str(doc["span_id"]),
        str(doc["parent_span_id"]),
        str(doc["trace_state"]),
        str(doc["name"]),
        str(doc["kind"]),
        resource.get("service.name", ""),
        resource,
        str(scope_name),
        str(scope_version),
        string_map(doc["attributes"]),
        max(end - start, 0),
        str(doc["status"]),
        str(doc["status_message"]),
        [int(e["t"]) for e in events],
        [str(e["name"]) for e in events],
        [string_map(e["attributes"]) for e in events],
        [str(link["trace_id"]) for link in links],
        [str(link["span_id"]) for link in links],
        [str(link["trace_state"]) for link in links],
        [string_map(link["attributes"]) for link in links],
    )
    return dict(zip(TRACE_COLUMNS, values, strict=True))


def _json_attributes(attributes: Attributes) -> dict[str, Any]:
    # Attribute sequences arrive as tuples (immutable in the SDK); JSON wants lists.
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (attributes or {}).items()}


def string_map(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The collector's ``AsString``: strings as is, booleans lowercase, numbers as written,
    arrays as JSON."""
    return {str(k): _as_string(v) for k, v in attributes.items()}


def _as_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
