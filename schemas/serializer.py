"""Avro in the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body.

Encoding is synchronous and allocation-light (the API's hot path); the schema ids are resolved
once by ``prepare``. Decoding is async because an unseen schema id is fetched from the registry.
Every foreign error is re-raised as ``SerializationError`` so the retry router sees a fatal error.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError

from schemas.contracts import EVENT_TYPES, load_schema, parsed_schema, schema_text
from schemas.errors import SerializationError, UnknownSchemaError
from schemas.registry import SchemaRegistry

MAGIC = 0
_HEADER = struct.Struct(">bI")

Record = dict[str, Any]


@dataclass(frozen=True)
class Decoded:
    """A decoded event: its type (the Avro record name), the writer's schema id, the record."""

    event_type: str
    schema_id: int
    record: Record


def subject_for(topic: str) -> str:
    """Confluent TopicNameStrategy: the value subject of a topic."""
    return f"{topic}-value"


class AvroSerde:
    """Encode and decode the project's events through a schema registry."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry
        self._ids: dict[tuple[str, str], int] = {}  # (subject, event_type) -> id
        self._readers: dict[int, tuple[str, Any]] = {}  # id -> (event_type, parsed writer schema)
        self._current: dict[int, bool] = {}  # id -> is it the current contract of its type?

    async def prepare(self, pairs: list[tuple[str, str]]) -> None:
        """Register (subject, event_type) pairs so ``encode`` never waits on the network."""
        for subject, event_type in pairs:
            await self._ensure(subject, event_type)

    async def _ensure(self, subject: str, event_type: str) -> int:
        key = (subject, event_type)
        schema_id = self._ids.get(key)
        if schema_id is None:
            schema_id = await self._registry.register(subject, schema_text(event_type))
            self._ids[key] = schema_id
            self._readers.setdefault(schema_id, (event_type, parsed_schema(event_type)))
            self._current.setdefault(schema_id, True)
        return schema_id

    def schema_id(self, subject: str, event_type: str) -> int:
        try:
            return self._ids[(subject, event_type)]
        except KeyError:
            raise SerializationError(
                f"{event_type} for subject {subject} was not prepared; call prepare() first"
            ) from None

    def encode(self, subject: str, event_type: str, record: Mapping[str, Any]) -> bytes:
        """Wire bytes of ``record``; ``SerializationError`` names the offending field."""
        schema_id = self.schema_id(subject, event_type)
        buf = io.BytesIO()
        buf.write(_HEADER.pack(MAGIC, schema_id))
        try:
            fastavro.schemaless_writer(buf, parsed_schema(event_type), record, strict=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SerializationError(f"{event_type} does not match its schema: {exc}") from exc
        return buf.getvalue()

    async def encode_async(self, subject: str, event_type: str, record: Mapping[str, Any]) -> bytes:
        """Like ``encode`` but registers the schema first if needed."""
        await self._ensure(subject, event_type)
        return self.encode(subject, event_type, record)

    async def decode(self, data: bytes | None, expected: str | None = None) -> Decoded:
        """Decode wire bytes. ``expected`` (an event type) rejects a record of another type."""
        if not data or len(data) < _HEADER.size:
            raise SerializationError("empty or truncated message: no Confluent wire header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise SerializationError(f"unknown magic byte {magic}; not Confluent wire format")
        event_type, writer = await self._writer(schema_id)
        if expected is not None and event_type != expected:
            raise SerializationError(f"expected {expected}, got {event_type} (id {schema_id})")
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER.size :]),
                writer,
                parsed_schema(event_type) if event_type in EVENT_TYPES else None,
            )
        except (EOFError, ValueError, TypeError, IndexError, SchemaResolutionError) as exc:
            raise SerializationError(f"corrupt {event_type} body (id {schema_id}): {exc}") from exc
        if not isinstance(record, dict):
            raise SerializationError(f"schema id {schema_id} does not describe a record")
        return Decoded(event_type, schema_id, record)

    async def is_current(self, schema_id: int, event_type: str) -> bool:
        """Whether ``schema_id`` names exactly this repository's current ``event_type`` schema:
        then a record needs no resolution (no field to fill from a default, none to drop), and
        a decoder that maps fields by name, such as ClickHouse's, reads what ``decode`` would.
        Registry failures propagate (``MunjeroError``): unknown is not "no"."""
        writer_type, _ = await self._writer(schema_id)
        return writer_type == event_type and self._current.get(schema_id, False)

    async def _writer(self, schema_id: int) -> tuple[str, Any]:
        cached = self._readers.get(schema_id)
        if cached is not None:
            return cached
        text = await self._registry.schema_by_id(schema_id)
        try:
            raw = json.loads(text)
            writer = fastavro.parse_schema(raw)
        except (ValueError, fastavro.schema.SchemaParseException) as exc:
            raise UnknownSchemaError(f"schema id {schema_id} is not valid Avro: {exc}") from exc
        name = raw.get("name", "") if isinstance(raw, dict) else ""
        event_type = str(name).rsplit(".", 1)[-1]
        self._current[schema_id] = event_type in EVENT_TYPES and raw == load_schema(event_type)
        self._readers[schema_id] = (event_type, writer)
        return event_type, writer
