"""Schema compatibility decisions, free of I/O: the registry server and the build-time check
(``python -m schemas.compat_check``) both ask this module, so they can never disagree.

The reader/writer rules are the Apache ``avro`` reference implementation's
(``ReaderWriterCompatibilityChecker``); this module only decides which pairs to check for a
Confluent compatibility level and turns the verdicts into messages a human can act on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache
from typing import Any

import avro.errors
import avro.schema
import fastavro
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from fastavro.schema import SchemaParseException, UnknownType

from schemas.errors import SchemaRegistryError


class CompatibilityLevel(StrEnum):
    """Confluent's compatibility levels; BACKWARD is the registry default."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.value.endswith("_TRANSITIVE")

    @property
    def backward(self) -> bool:
        return self.value.startswith(("BACKWARD", "FULL"))

    @property
    def forward(self) -> bool:
        return self.value.startswith(("FORWARD", "FULL"))


DEFAULT_LEVEL = CompatibilityLevel.BACKWARD


class InvalidSchemaError(SchemaRegistryError):
    """Text that is not a valid Avro schema (Confluent error 42201)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=422, error_code=42201)


@lru_cache(maxsize=512)
def parse(text: str) -> avro.schema.Schema:
    """Parse and validate Avro schema text; ``InvalidSchemaError`` says why it is not one.

    fastavro validates first because the Apache parser accepts defaults that do not match their
    field's type, and a bad default would only blow up later, in a consumer.
    """
    try:
        raw = json.loads(text)
        fastavro.parse_schema(raw, _write_hint=False)
        return avro.schema.parse(text)
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        SchemaParseException,
        UnknownType,
        avro.errors.AvroException,
    ) as exc:
        raise InvalidSchemaError(f"invalid Avro schema: {exc}") from exc


def _describe(location: str, schema: Any) -> str:
    """Turn the checker's JSON-pointer-like location (``/fields/3/type/items``) into the
    dotted field path of ``schema`` (``arms[].weight``); the raw location if it cannot."""
    steps = [step for step in location.split("/") if step]
    node, path = schema, []
    try:
        while steps:
            step = steps.pop(0)
            if step == "fields" and isinstance(node, dict):
                node = node["fields"][int(steps.pop(0))]
                path.append(node["name"])
            elif step == "type" and isinstance(node, dict):
                node = node["type"]
            elif step in ("items", "values") and isinstance(node, dict):
                if path:
                    path[-1] += "[]" if step == "items" else "{}"
                node = node[step]
            elif step.isdigit() and isinstance(node, list):
                node = node[int(step)]
            else:
                break
    except (KeyError, IndexError, ValueError, TypeError):
        return location
    return ".".join(path) if path else location


def incompatibilities(reader: str, writer: str) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; empty when it can."""
    reader_schema, writer_schema = parse(reader), parse(writer)
    # A fresh checker per call: it memoizes by object identity and parse() results are shared.
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(reader_schema, writer_schema)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    reader_json = json.loads(reader)
    kinds = ", ".join(sorted({kind.name.upper() for kind in result.incompatibilities}))
    # The checker's merge keeps the root "/" next to the real locations; it says nothing.
    locations = sorted(result.locations - {"/"}) or ["/"]
    where = ", ".join(
        f"{_describe(loc, reader_json)} ({loc})" if _describe(loc, reader_json) != loc else loc
        for loc in locations
    )
    return [f"{kinds} at {where}: {'; '.join(sorted(result.messages))}"]


def check(
    candidate: str,
    previous: Sequence[tuple[int, str]],
    level: CompatibilityLevel = DEFAULT_LEVEL,
) -> list[str]:
    """Messages explaining why ``candidate`` may not follow ``previous`` under ``level``.

    ``previous`` holds ``(version, schema text)`` pairs, oldest first; non-transitive levels
    compare with the newest only. Empty result: compatible. ``InvalidSchemaError`` if any
    schema is not valid Avro.
    """
    parse(candidate)
    if level is CompatibilityLevel.NONE or not previous:
        return []
    targets = previous if level.transitive else previous[-1:]
    messages: list[str] = []
    for version, text in reversed(targets):
        if level.backward:
            messages += [
                f"the new schema cannot read data written with version {version}: {why}"
                for why in incompatibilities(reader=candidate, writer=text)
            ]
        if level.forward:
            messages += [
                f"version {version} cannot read data written with the new schema: {why}"
                for why in incompatibilities(reader=text, writer=candidate)
            ]
    return messages


def removed_defaults(old: Any, new: Any, path: str = "") -> list[str]:
    """Fields of record ``old`` that had a default which ``new`` dropped (recursing into
    nested records with the same field name).

    Avro itself allows this under every level; the build-time check forbids it because a
    consumer built on the default-less version can no longer read data once a later version
    removes the field, and blue-green deploys keep such consumers running next to new producers.
    """
    if not (isinstance(old, dict) and isinstance(new, dict)) or old.get("type") != new.get("type"):
        return []
    if old["type"] in ("array", "map"):
        key = "items" if old["type"] == "array" else "values"
        return removed_defaults(old[key], new[key], f"{path.rstrip('.')}[].")
    if old["type"] != "record":
        return []
    new_fields = {field["name"]: field for field in new.get("fields", [])}
    found: list[str] = []
    for field in old.get("fields", []):
        name, twin = field["name"], new_fields.get(field["name"])
        if twin is None:
            continue
        if "default" in field and "default" not in twin:
            found.append(f"{path}{name}")
        found += removed_defaults(field["type"], twin["type"], f"{path}{name}.")
    return found
