"""Worker entry point: one Faust app per agent group, run by ``munjero worker GROUP``.

Each group is its own consumer group and process, so groups scale (and crash) independently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust

from agents import draft, index, metrics_poller, publish
from agents.render import agent as render
from connectors.kafka import KafkaEventProducer
from connectors.registry_client import HttpSchemaRegistry
from schemas.serializer import AvroSerde
from streams.app import create_faust_app
from streams.processor import Publisher, StepProcessor
from streams.resources import Resources
from streams.settings import Settings

Register = Callable[[faust.App, Settings, AvroSerde, Publisher, Resources], StepProcessor]

#: Agent groups and the agents they run. Indexing (vector-store writer) and drafting (reader)
#: share a process: the embedded vector engine keeps its data directory to one process.
GROUPS: dict[str, tuple[Register, ...]] = {
    "content": (index.register, draft.register),
    # Chromium and ffmpeg: its own process, so renders never starve drafting of the event loop
    # and KEDA can scale it (to zero) on its own lag.
    "render": (render.register,),
    # Uploads and the metrics schedule share the channel (simulator or YouTube credentials).
    "publish": (publish.register, metrics_poller.register),
}


def build_worker_app(settings: Settings, group: str) -> tuple[faust.App, list[StepProcessor]]:
    """The Faust app of ``group`` with its agents bound; nothing is started yet."""
    if group not in GROUPS:
        raise ValueError(f"unknown agent group {group!r}; known: {', '.join(GROUPS)}")
    if not settings.schema_registry_url:
        raise ValueError("MUNJERO_SCHEMA_REGISTRY_URL must be set for a worker")
    if not settings.kafka_bootstrap_servers:
        raise ValueError("MUNJERO_KAFKA_BOOTSTRAP_SERVERS must be set for a worker")
    password = settings.schema_registry_password
    registry = HttpSchemaRegistry(
        settings.schema_registry_url,
        username=settings.schema_registry_user,
        password=password.get_secret_value() if password else None,
    )
    serde = AvroSerde(registry)
    publisher = KafkaEventProducer(settings.kafka_bootstrap_servers, client_id=f"munjero-{group}")
    app = create_faust_app(settings, group, instance=f"{group}-{settings.worker_instance}")
    resources = Resources(settings)
    processors = [
        register(app, settings, serde, publisher, resources) for register in GROUPS[group]
    ]

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types receivers narrowly
    async def _close_clients(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust stops consumers first; our producer and registry client are ours to close.
        await publisher.stop()
        await registry.close()
        await resources.close()

    return app, processors


def run_worker(settings: Settings, group: str) -> None:
    """Run ``group`` until SIGTERM/SIGINT (Faust's worker owns the event loop)."""
    app, _ = build_worker_app(settings, group)
    level = "warn" if settings.log_level.upper() in ("INFO", "WARNING", "WARN") else "debug"
    worker = faust.Worker(app, loglevel=level, quiet=True, redirect_stdouts=False)
    logging.getLogger("faust").setLevel(logging.WARNING)
    worker.execute_from_commandline()
