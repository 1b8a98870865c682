"""The producer HTTP API (FastAPI): problems and knowledge documents in, Kafka events out.

The names below load on first use (PEP 562): ``munjero`` and every worker import
``services.api.auth`` for keys, and loading the whole app with it (FastAPI, the dashboard,
scipy for its statistics) cost every CLI command and every worker start ~4 s of CPU.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from observability.readiness import ReadinessCheck, broker_canary_check, health_topic_spec
    from services.api.app import create_app
    from services.api.auth import ApiKeyStore, Principal
    from services.api.deps import ApiDeps, api_subjects, build_default_deps
    from services.api.idempotency import (
        IdempotencyStore,
        InMemoryIdempotencyStore,
        SqliteIdempotencyStore,
    )
    from services.api.status import InMemoryStatusReader, StatusReader
    from streams.ports.producer import Publisher

_HOME = {
    "ReadinessCheck": "observability.readiness",
    "broker_canary_check": "observability.readiness",
    "health_topic_spec": "observability.readiness",
    "create_app": "services.api.app",
    "ApiKeyStore": "services.api.auth",
    "Principal": "services.api.auth",
    "ApiDeps": "services.api.deps",
    "api_subjects": "services.api.deps",
    "build_default_deps": "services.api.deps",
    "IdempotencyStore": "services.api.idempotency",
    "InMemoryIdempotencyStore": "services.api.idempotency",
    "SqliteIdempotencyStore": "services.api.idempotency",
    "InMemoryStatusReader": "services.api.status",
    "StatusReader": "services.api.status",
    "Publisher": "streams.ports.producer",
}

__all__ = [
    "ApiDeps",
    "ApiKeyStore",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "InMemoryStatusReader",
    "Principal",
    "Publisher",
    "ReadinessCheck",
    "SqliteIdempotencyStore",
    "StatusReader",
    "api_subjects",
    "broker_canary_check",
    "build_default_deps",
    "create_app",
    "health_topic_spec",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
