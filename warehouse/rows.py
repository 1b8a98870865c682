"""Decoded events -> warehouse rows (pure). Column order and value paths come from
``warehouse.tables``, so the rows always match the tables the DDL creates.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

from schemas.contracts import load_schema
from schemas.serializer import Decoded
from warehouse.tables import INGEST_ERROR_COLUMNS, INGEST_ERRORS, RawTable, table_for_topic

Row = tuple[Any, ...]


class RowMapper:
    """Builds the rows of one raw table. ``row`` is the hot path of the sink: a record that has
    every field (the serde resolves records against the current schema, which fills defaults)
    costs two ``itemgetter`` calls; a record missing fields falls back to per-field defaults."""

    def __init__(self, table: RawTable) -> None:
        self.table = table.name
        self.event_type = table.event_type
        self.columns: tuple[str, ...] = tuple(c.name for c in table.columns)
        meta = [c.path[1] for c in table.columns if len(c.path) == 2]
        payload = [c.path[0] for c in table.columns if len(c.path) == 1]
        # One itemgetter call per record part; _getter keeps the result a tuple for one key.
        self._meta = _getter(meta)
        self._payload = _getter(payload)
        self._meta_names = meta
        self._payload_names = payload
        self._defaults = _field_defaults(table.event_type)

    def row(
        self,
        record: Mapping[str, Any],
        topic: str,
        partition: int,
        offset: int,
        ingested_at: datetime,
    ) -> Row:
        try:
            meta = self._meta(record["meta"])
            payload = self._payload(record)
        except (KeyError, TypeError):
            meta, payload = self._lenient(record)
        return (*meta, *payload, topic, partition, offset, ingested_at)

    def _lenient(self, record: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        meta_record = record.get("meta") or {}
        meta = tuple(meta_record.get(name) for name in self._meta_names)
        payload = tuple(record.get(name, self._defaults.get(name)) for name in self._payload_names)
        return meta, payload


def _getter(names: list[str]) -> Any:
    if len(names) == 1:
        single = itemgetter(names[0])
        return lambda record: (single(record),)
    if not names:
        return lambda record: ()
    return itemgetter(*names)


@cache
def _field_defaults(event_type: str) -> dict[str, Any]:
    fields = load_schema(event_type)["fields"]
    return {f["name"]: f["default"] for f in fields if "default" in f}


@cache
def mapper_for_topic(topic_name: str) -> RowMapper:
    """The mapper of a catalogue topic (un-namespaced name)."""
    return RowMapper(table_for_topic(topic_name))


def event_row(
    decoded: Decoded,
    topic_name: str,
    physical_topic: str,
    partition: int,
    offset: int,
    ingested_at: datetime,
) -> tuple[str, Row]:
    """``(table, row)`` for a decoded event consumed from ``physical_topic``."""
    mapper = mapper_for_topic(topic_name)
    return mapper.table, mapper.row(decoded.record, physical_topic, partition, offset, ingested_at)


INGEST_ERROR_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in INGEST_ERROR_COLUMNS)


def error_row(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    raw: bytes | None,
    error: str,
    ingested_at: datetime,
) -> tuple[str, Row]:
    """``(table, row)`` recording a message that could not be decoded."""
    stamp = datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms is not None else None
    return INGEST_ERRORS, (topic, partition, offset, stamp, raw or b"", error, ingested_at)
