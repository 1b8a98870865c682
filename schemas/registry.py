"""The schema-registry port, and an in-memory adapter for unit tests.

The HTTP adapter (Confluent REST API) lives in ``connectors/registry_client.py``; the server the
embedded default runs lives in ``services/registry/server.py``.
"""

from __future__ import annotations

import json
from typing import Protocol

from schemas.errors import SchemaRegistryError, UnknownSchemaError


class SchemaRegistry(Protocol):
    """What the serializer needs from a registry."""

    async def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` (Avro JSON text) under ``subject``; return its global id.

        Idempotent: registering an identical schema again returns the same id. Raises
        ``SchemaRegistryError`` when the subject's compatibility rule rejects it.
        """
        ...

    async def schema_by_id(self, schema_id: int) -> str:
        """The schema text with global id ``schema_id``; ``UnknownSchemaError`` if none."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def canonical(schema: str) -> str:
    """Whitespace-insensitive form used to recognise an already registered schema."""
    return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))


class InMemorySchemaRegistry:
    """A registry in a dict: for unit tests and single-process tools. No compatibility rules."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._texts: dict[int, str] = {}
        self._subjects: dict[str, list[int]] = {}

    async def register(self, subject: str, schema: str) -> int:
        if not subject:
            raise SchemaRegistryError("subject must not be empty", status=422, error_code=42201)
        key = canonical(schema)
        schema_id = self._ids.get(key)
        if schema_id is None:
            schema_id = len(self._ids) + 1
            self._ids[key] = schema_id
            self._texts[schema_id] = schema
        versions = self._subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return schema_id

    async def schema_by_id(self, schema_id: int) -> str:
        try:
            return self._texts[schema_id]
        except KeyError:
            raise UnknownSchemaError(f"schema id {schema_id} is not registered") from None

    async def close(self) -> None:
        return None
