"""Event envelopes and deterministic ids.

Derived events get uuid5 ids from their cause, the step and a discriminator (e.g. the variant),
so a replayed step produces byte-identical ids and every sink can deduplicate on ``event_id``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.records import EventMeta
from streams import PRODUCER

# Fixed namespace for uuid5: changing it would change every derived id ever produced.
ID_NAMESPACE = uuid.UUID("6f1d3a52-7c0e-4f7b-9d62-4e0b5b7a1c11")

Record = dict[str, Any]


def derived_id(*parts: str) -> str:
    """A deterministic UUID from the parts (cause id, step, discriminator...)."""
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts)))


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


def meta(
    *,
    event_id: str | None = None,
    correlation_id: str,
    causation_id: str | None = None,
    occurred_at: datetime | None = None,
    producer: str = PRODUCER,
) -> EventMeta:
    """An EventMeta record."""
    return {
        "event_id": event_id or new_id(),
        "occurred_at": occurred_at or now(),
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "producer": producer,
    }


def derived_meta(cause: Mapping[str, Any], step: str, discriminator: str = "") -> EventMeta:
    """Meta of an event derived from ``cause`` by ``step``: a deterministic id (a replay
    repeats it, so sinks deduplicate) and the cause's correlation id."""
    cause_meta = cause["meta"]
    return meta(
        event_id=derived_id(cause_meta["event_id"], step, discriminator),
        correlation_id=cause_meta["correlation_id"],
        causation_id=cause_meta["event_id"],
    )
