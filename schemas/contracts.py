"""The event contracts: load the ``.avsc`` files and expand shared named types.

Each event's file refers to ``ai.munjero.events.EventMeta`` by name; registries and third-party
decoders want one self-contained schema per subject, so the reference is inlined once here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

AVRO_DIR = Path(__file__).parent / "avro"
NAMESPACE = "ai.munjero.events"

#: The shared envelope; not an event on its own.
SHARED_TYPES = ("EventMeta",)

#: Every event type, one ``.avsc`` each.
EVENT_TYPES = (
    "ProblemSubmitted",
    "KnowledgeDocumentIngested",
    "KnowledgeIndexed",
    "ScriptDrafted",
    "StoryboardReady",
    "RenderCompleted",
    "ShortPublished",
    "MetricsObserved",
    "ExperimentUpdated",
    "StepFailed",
)

Schema = dict[str, Any]


def _read(name: str, directory: Path) -> Schema:
    with (directory / f"{name}.avsc").open(encoding="utf-8") as fh:
        data: Schema = json.load(fh)
    return data


def _inline(node: Any, shared: dict[str, Schema], seen: set[str]) -> Any:
    """Replace the first use of each shared full name by its definition (Avro allows a named
    type to be defined only once per schema; later uses stay references)."""
    if isinstance(node, str):
        if node in shared and node not in seen:
            seen.add(node)
            return _inline(shared[node], shared, seen)
        return node
    if isinstance(node, list):
        return [_inline(item, shared, seen) for item in node]
    if isinstance(node, dict):
        return {key: _inline(value, shared, seen) for key, value in node.items()}
    return node


def expand(raw: Schema, directory: Path = AVRO_DIR) -> Schema:
    """A self-contained schema: shared named types inlined."""
    shared = {f"{NAMESPACE}.{name}": _read(name, directory) for name in SHARED_TYPES}
    expanded: Schema = _inline(raw, shared, set())
    return expanded


def load_schema(event_type: str, directory: Path = AVRO_DIR) -> Schema:
    """The self-contained schema of ``event_type`` as stored in ``directory``."""
    if event_type not in EVENT_TYPES:
        raise KeyError(f"unknown event type {event_type!r}")
    return expand(_read(event_type, directory), directory)


@cache
def schema_text(event_type: str) -> str:
    """Canonical JSON text of the schema, as registered with the registry."""
    return json.dumps(load_schema(event_type), ensure_ascii=False, separators=(",", ":"))


@cache
def parsed_schema(event_type: str) -> Any:
    """fastavro's parsed form, cached: parsing is the slow part of encoding."""
    return fastavro.parse_schema(load_schema(event_type))
