"""The producer HTTP API (FastAPI): problems and knowledge documents in, Kafka events out."""

from connectors.api.app import create_app
from connectors.api.auth import ApiKeyStore, Principal
from connectors.api.deps import ApiDeps, api_subjects, build_default_deps
from connectors.api.health import ReadinessCheck, broker_canary_check, health_topic_spec
from connectors.api.idempotency import (
    IdempotencyStore,
    InMemoryIdempotencyStore,
    SqliteIdempotencyStore,
)
from connectors.api.ports import Publisher
from connectors.api.status import InMemoryStatusReader, StatusReader

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
