"""The producer HTTP API (FastAPI): problems and knowledge documents in, Kafka events out."""

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
