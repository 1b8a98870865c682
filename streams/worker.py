"""Worker entry point: one Faust app per agent group, run by ``munjero worker GROUP``.

Each group is its own consumer group and process, so groups scale (and crash) independently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from agents import draft, index, metrics_poller, publish
from agents.render import agent as render
from connectors.api.health import ReadinessCheck
from connectors.kafka import KafkaEventProducer
from connectors.registry_client import HttpSchemaRegistry
from observability.process_server import ProcessServer
from observability.telemetry import setup_telemetry
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
    app.conf.munjero_resources = resources  # the worker's readiness checks use the same clients
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


def readiness_checks(group: str, resources: Resources) -> list[ReadinessCheck]:
    """What a worker of ``group`` must be able to do to be useful, checked for real."""
    settings = resources.settings
    if group == "content":

        async def vector_search() -> None:
            store, dim = resources.vector_store, resources.embedder.dim
            await store.ensure_collection(settings.qdrant_collection, dim)
            probe = [1.0] + [0.0] * (dim - 1)  # a unit vector: cosine needs a non-zero norm
            await store.search(settings.qdrant_collection, probe, limit=1)

        return [ReadinessCheck("qdrant", vector_search, timeout_s=8.0)]
    if group == "render":
        return [ReadinessCheck("browser", _cached(resources.browser.check, 30.0), timeout_s=8.0)]
    return []


def _cached(check: Callable[[], Awaitable[None]], ttl_s: float) -> Callable[[], Awaitable[None]]:
    """A passing check is trusted for ``ttl_s``: launching chromium on every probe would cost
    the render worker a core every few seconds."""
    passed_at = [float("-inf")]

    async def cached() -> None:
        if time.monotonic() - passed_at[0] < ttl_s:
            return
        await check()
        passed_at[0] = time.monotonic()

    return cached


def run_worker(settings: Settings, group: str) -> None:
    """Run ``group`` until SIGTERM/SIGINT (Faust's worker owns the event loop)."""
    telemetry = setup_telemetry(settings, f"munjero-{group}")
    app, _ = build_worker_app(settings, group)
    resources: Resources = app.conf.munjero_resources
    # Read here, in the main thread: Faust creates its loop lazily in whichever thread asks
    # first, and the readiness thread must never be the one.
    worker_loop: asyncio.AbstractEventLoop = app.loop
    server = ProcessServer(
        host="0.0.0.0" if settings.metrics_port else "127.0.0.1",  # noqa: S104 - k8s probes
        port=settings.metrics_port,
        checks=readiness_checks(group, resources),
        loop_getter=lambda: worker_loop,
        targets_dir=settings.data_dir / "targets",
        job=f"munjero-worker-{group}",
        labels={"group": group, "instance_id": settings.worker_instance},
    )
    server.start()
    # Our JSON handlers stay: by default mode's worker clears the root logger's handlers and
    # installs its own colour formatter, which would cut the worker's logs off ClickHouse.
    worker = faust.Worker(app, quiet=True, redirect_stdouts=False, override_logging=False)
    logging.getLogger("faust").setLevel(logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        server.stop()
        telemetry.shutdown()
