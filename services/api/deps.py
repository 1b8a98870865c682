"""What the API needs from the rest of the system, gathered in one object.

``create_app`` takes an ``ApiDeps`` and starts nothing: the CLI owns the lifecycle (start the
producer, build the deps, serve, then close them in reverse order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from observability.readiness import ReadinessCheck
from schemas.serializer import AvroSerde, subject_for
from services.api.auth import ApiKeyStore
from services.api.idempotency import IdempotencyStore, SqliteIdempotencyStore
from services.api.records import KNOWLEDGE_EVENT, PROBLEM_EVENT
from services.api.status import StatusReader
from streams.ports.artifacts import ArtifactStore
from streams.ports.producer import Publisher
from streams.settings import Settings

if TYPE_CHECKING:  # the dashboard (FastAPI routes, scipy) loads only where an app is built
    from services.api.dashboard import DashboardDeps


@dataclass(frozen=True)
class ApiConfig:
    """What the API's routes read of the settings (its config slice)."""

    topic_namespace: str = ""
    max_body_bytes: int = 1_000_000
    max_batch: int = 500
    broker_timeout_s: float = 5.0
    expected_variants: int = 3

    def topic(self, name: str) -> str:
        """The physical topic of a catalogue name (``Settings.topic``)."""
        return f"{self.topic_namespace}{name}"


def api_config(settings: Settings) -> ApiConfig:
    return ApiConfig(
        topic_namespace=settings.topic_namespace,
        max_body_bytes=settings.api_max_body_bytes,
        max_batch=settings.api_max_batch,
        broker_timeout_s=settings.api_broker_timeout_s,
        expected_variants=settings.draft_variants_per_problem,
    )


@dataclass
class ApiDeps:
    """Everything a running API uses. The serde must be prepared (see ``api_subjects``)."""

    config: ApiConfig
    publisher: Publisher
    serde: AvroSerde
    keys: ApiKeyStore
    idempotency: IdempotencyStore
    status_reader: StatusReader
    ready_checks: Sequence[ReadinessCheck] = field(default_factory=tuple)
    dashboard: DashboardDeps | None = None
    # Where rendered videos and storyboards are (None: the API serves no media).
    artifacts: ArtifactStore | None = None
    # Set when the factory starts stopping: writes answer 503 while the workers drain.
    draining: bool = False

    async def aclose(self) -> None:
        """Release what the deps own (not the publisher: its owner stops it)."""
        await self.idempotency.close()
        self.keys.usage.close()


def key_usage_path(settings: Settings) -> Path:
    """Where API processes record when each key was last used (``munjero keys list``)."""
    return settings.data_dir / "api-key-usage.sqlite3"


def api_subjects(settings: Settings) -> list[tuple[str, str]]:
    """The (subject, event type) pairs the API encodes, for ``AvroSerde.prepare``."""
    return [
        (subject_for(settings.topic("problems.submitted")), PROBLEM_EVENT),
        (subject_for(settings.topic("knowledge.ingested")), KNOWLEDGE_EVENT),
    ]


async def build_default_deps(
    settings: Settings,
    publisher: Publisher,
    serde: AvroSerde,
    status_reader: StatusReader,
    ready_checks: Sequence[ReadinessCheck] = (),
) -> ApiDeps:
    """The embedded default: keys from ``settings.resolved_api_keys_file`` (their last use in
    ``data_dir/api-key-usage.sqlite3``), idempotency in ``data_dir/api-idempotency.sqlite3``;
    registers the API's schemas with the registry."""
    await serde.prepare(api_subjects(settings))
    return ApiDeps(
        config=api_config(settings),
        publisher=publisher,
        serde=serde,
        keys=ApiKeyStore.load(settings.resolved_api_keys_file, usage_path=key_usage_path(settings)),
        idempotency=SqliteIdempotencyStore(settings.data_dir / "api-idempotency.sqlite3"),
        status_reader=status_reader,
        ready_checks=tuple(ready_checks),
    )
