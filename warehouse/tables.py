"""ClickHouse DDL generated from the topic catalogue and the Avro contracts (pure: no I/O).

One raw table per event type (``TopicSpec.table``); every dead-letter topic shares
``dead_letters``. A table's columns are the event's ``meta`` fields flattened, then its payload
fields mapped from Avro, then the Kafka coordinates the row came from.

Deduplication. Redelivery (a consumer restart before its commit) and replay (a step run again;
derived ids are deterministic, but ``occurred_at`` is stamped anew) both repeat an ``event_id``.
The tables are ``ReplacingMergeTree`` ordered by ``(<topic key>, event_id)``: the topic key
(``problem_id``, ``script_id``, ...) is part of the event's identity, so copies of one event share
the whole sorting key, and lookups by the key every analyst filters on read a narrow range.
``occurred_at`` must stay out of the sorting key (a replay would not collapse). Partitions are by
month of ``occurred_at`` for cheap retention; a replay straddling a month boundary leaves two
physical copies in two partitions, which ``FINAL`` still collapses (it merges across partitions
unless the partition key is part of the sorting key) and which the views below never double
count (they count distinct ids). Insert dedup tokens (``non_replicated_deduplication_window``)
make a retried sink batch a no-op before any merge happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from schemas.contracts import load_schema
from streams.catalogue import TopicRole, TopicSpec, ingested_topics

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DATABASE = "munjero"
DEDUP_WINDOW = 10_000  # insert tokens remembered per table (~minutes of sink batches)
DEAD_LETTERS = "dead_letters"
INGEST_ERRORS = "ingest_errors"
UTC_MS = "DateTime64(3, 'UTC')"

_PRIMITIVES = {
    "string": "String",
    "bytes": "String",
    "int": "Int32",
    "long": "Int64",
    "float": "Float32",
    "double": "Float64",
    "boolean": "Bool",
}
_LOGICAL = {
    ("long", "timestamp-millis"): UTC_MS,
    ("long", "timestamp-micros"): "DateTime64(6, 'UTC')",
    ("int", "date"): "Date32",
}
# Top-level string fields with a few distinct values: dictionary-encoded, much smaller and faster
# to group by. Names, not types, because Avro cannot say "few distinct values".
LOW_CARDINALITY = frozenset(
    {
        "producer",
        "language",
        "subject",
        "difficulty",
        "hook_style",
        "cta_style",
        "writer",
        "template_version",
        "voice",
        "platform",
        "window",
        "metric",
        "content_type",
        "agent",
        "original_topic",
        "source_topic",
        "error_class",
        "submitted_by",
    }
)
COORDINATES = (
    ("_topic", "LowCardinality(String)"),
    ("_partition", "Int32"),
    ("_offset", "Int64"),
    ("_ingested_at", UTC_MS),
)


class UnsupportedAvroType(ValueError):
    """An Avro construct with no faithful ClickHouse column type."""


@dataclass(frozen=True)
class Column:
    """A raw-table column and where its value sits in the decoded record (``()``: a Kafka
    coordinate filled by the ingester)."""

    name: str
    type: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class RawTable:
    name: str
    event_type: str
    topics: tuple[TopicSpec, ...]
    order_by: tuple[str, ...]
    columns: tuple[Column, ...]
    version: str = "_ingested_at"  # ReplacingMergeTree keeps the row with the highest version


def ident(name: str) -> str:
    """Back-quoted identifier (payload names such as ``window`` are ClickHouse keywords).

    Every name in the DDL comes from the catalogue, the Avro contracts or the settings' database
    name; validating them here is what makes the f-string SQL of this package safe."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f"`{name}`"


def clickhouse_type(avro: Any, named: dict[str, Any] | None = None) -> str:
    """The ClickHouse type holding values of Avro type ``avro``.

    ``named`` collects record/enum/fixed definitions so later references by name resolve.
    """
    named = {} if named is None else named
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        if avro in named:
            return clickhouse_type(named[avro], named)
        raise UnsupportedAvroType(f"unknown Avro type {avro!r}")
    if isinstance(avro, list):
        return _union(avro, named)
    if not isinstance(avro, dict):
        raise UnsupportedAvroType(f"not an Avro schema: {avro!r}")
    kind = avro.get("type")
    logical = _LOGICAL.get((kind, avro.get("logicalType", "")))  # type: ignore[arg-type]
    if logical:
        return logical
    if kind == "array":
        return f"Array({clickhouse_type(avro['items'], named)})"
    if kind == "map":
        return f"Map(String, {clickhouse_type(avro['values'], named)})"
    if kind in ("record", "enum", "fixed"):
        _register(avro, named)
        if kind == "enum":
            return "LowCardinality(String)"
        if kind == "fixed":
            return f"FixedString({int(avro['size'])})"
        elements = ", ".join(
            f"{ident(f['name'])} {clickhouse_type(f['type'], named)}" for f in avro["fields"]
        )
        return f"Tuple({elements})"
    return clickhouse_type(kind, named)  # {"type": "string"} and friends


def _union(branches: list[Any], named: dict[str, Any]) -> str:
    others = [b for b in branches if b != "null"]
    if len(others) != 1:
        raise UnsupportedAvroType(f"only [null, T] unions map to ClickHouse, not {branches!r}")
    inner = clickhouse_type(others[0], named)
    if len(branches) == 1:
        return inner
    if inner.startswith(("Array(", "Map(", "Tuple(", "LowCardinality(")):
        # ClickHouse has no Nullable(Array/Map/Tuple): give the field an empty default instead.
        raise UnsupportedAvroType(f"Nullable({inner}) is not a ClickHouse type")
    return f"Nullable({inner})"


def _register(avro: dict[str, Any], named: dict[str, Any]) -> None:
    name = avro["name"]
    named.setdefault(name, avro)
    if "namespace" in avro:
        named.setdefault(f"{avro['namespace']}.{name}", avro)


def _low_cardinality(name: str, type_: str) -> str:
    if name in LOW_CARDINALITY and type_ in ("String", "Nullable(String)"):
        return f"LowCardinality({type_})"
    return type_


@cache
def event_columns(event_type: str) -> tuple[Column, ...]:
    """Columns of the raw table of ``event_type``: meta flattened, payload, coordinates."""
    schema = load_schema(event_type)
    named: dict[str, Any] = {}
    columns: list[Column] = []
    for field in schema["fields"]:
        if field["name"] == "meta":
            meta = field["type"]
            for sub in meta["fields"]:
                type_ = _low_cardinality(sub["name"], clickhouse_type(sub["type"], named))
                columns.append(Column(sub["name"], type_, ("meta", sub["name"])))
            _register(meta, named)
            continue
        type_ = _low_cardinality(field["name"], clickhouse_type(field["type"], named))
        columns.append(Column(field["name"], type_, (field["name"],)))
    columns.extend(Column(name, type_) for name, type_ in COORDINATES)
    names = [c.name for c in columns]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise UnsupportedAvroType(f"{event_type}: column names collide: {sorted(duplicates)}")
    return tuple(columns)


@cache
def raw_tables() -> tuple[RawTable, ...]:
    """One raw table per distinct ``TopicSpec.table`` of the ingested topics."""
    grouped: dict[str, list[TopicSpec]] = {}
    for spec in ingested_topics():
        grouped.setdefault(spec.table, []).append(spec)
    tables = []
    for name, specs in grouped.items():
        event_types = {s.value_schema for s in specs}
        if len(event_types) != 1:
            raise ValueError(f"table {name} would mix event types {sorted(event_types)}")
        event_type = specs[0].value_schema
        # Dead letters of every topic share a table; their stable key is the topic they failed on.
        key = "original_topic" if specs[0].role is TopicRole.DLQ else specs[0].key
        columns = event_columns(event_type)
        if key not in {c.name for c in columns}:
            raise ValueError(f"sorting key {key} is not a column of {event_type}")
        version = specs[0].version or "_ingested_at"
        tables.append(RawTable(name, event_type, tuple(specs), (key, "event_id"), columns, version))
    return tuple(tables)


def table_for_topic(topic_name: str) -> RawTable:
    """The raw table a catalogue topic (un-namespaced) is ingested into."""
    for table in raw_tables():
        if any(s.name == topic_name for s in table.topics):
            return table
    raise KeyError(f"{topic_name!r} is not ingested")


def create_raw_table(table: RawTable, database: str = DATABASE) -> str:
    columns = ",\n".join(f"    {ident(c.name)} {c.type}" for c in table.columns)
    order_by = ", ".join(ident(k) for k in table.order_by)
    topics = ", ".join(s.name for s in table.topics)
    return (
        f"CREATE TABLE IF NOT EXISTS {ident(database)}.{ident(table.name)}\n(\n{columns}\n)\n"
        f"ENGINE = ReplacingMergeTree({ident(table.version)})\n"
        f"PARTITION BY toYYYYMM({ident('occurred_at')})\n"
        f"ORDER BY ({order_by})\n"
        f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}\n"
        f"COMMENT '{table.event_type} events from {topics}'"
    )


def add_missing_columns(table: RawTable, database: str = DATABASE) -> str:
    """Schemas evolve by adding fields with defaults (``compat_check``); a table created by an
    older version gets the new columns here. Idempotent, so it runs at every start."""
    clauses = ",\n".join(
        f"    ADD COLUMN IF NOT EXISTS {ident(c.name)} {c.type}" for c in table.columns
    )
    return f"ALTER TABLE {ident(database)}.{ident(table.name)}\n{clauses}"


INGEST_ERROR_COLUMNS = (
    Column("_topic", "LowCardinality(String)"),
    Column("_partition", "Int32"),
    Column("_offset", "Int64"),
    Column("message_timestamp", f"Nullable({UTC_MS})"),
    Column("raw_message", "String"),
    Column("error", "String"),
    Column("_ingested_at", UTC_MS),
)


def create_ingest_errors(database: str = DATABASE) -> str:
    """Messages the ingester could not decode (production: Kafka engine ``_error`` rows)."""
    columns = ",\n".join(f"    {ident(c.name)} {c.type}" for c in INGEST_ERROR_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {ident(database)}.{ident(INGEST_ERRORS)}\n(\n{columns}\n)\n"
        f"ENGINE = ReplacingMergeTree({ident('_ingested_at')})\n"
        # Keyed by coordinates: a redelivered bad message is still one row.
        "ORDER BY (`_topic`, `_partition`, `_offset`)\n"
        "TTL toDateTime(`_ingested_at`) + INTERVAL 90 DAY\n"
        f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}\n"
        "COMMENT 'Kafka messages that could not be decoded into their raw table'"
    )
