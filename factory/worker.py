"""Worker entry point: one Faust app per agent group, run by ``munjero worker GROUP``.

Each group is its own consumer group and process, so groups scale (and crash) independently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from connectors.kafka import KafkaEventProducer
from connectors.registry_client import HttpSchemaRegistry
from factory.config import processor_config
from factory.resources import Resources
from factory.steps import StepContext
from factory.topology import ProcessGroup, StepBinding, worker_group
from observability.process_server import ProcessServer
from observability.readiness import ReadinessCheck
from observability.telemetry import setup_telemetry
from schemas.serializer import AvroSerde
from streams.app import bind, create_faust_app
from streams.catalogue import topic
from streams.kafka_auth import client_config
from streams.processor import Emit, Publisher, StepProcessor
from streams.settings import Settings


def bind_group(
    app: faust.App,
    group: ProcessGroup,
    settings: Settings,
    serde: AvroSerde,
    publisher: Publisher,
    resources: Resources,
) -> list[StepProcessor]:
    """Bind every step of ``group`` to ``app`` (the one generic binding of the topology)."""
    return [
        bind_step(app, binding, settings, serde, publisher, resources) for binding in group.steps
    ]


def bind_step(
    app: faust.App,
    binding: StepBinding,
    settings: Settings,
    serde: AvroSerde,
    publisher: Publisher,
    resources: Resources,
) -> StepProcessor:
    """Build one step, put a processor around it (event topic + retry tiers) and hook its
    background tasks and closers into the app's lifecycle."""
    bound: list[StepProcessor] = []

    async def emit_now(outputs: Sequence[Emit]) -> None:
        await bound[0].publish_now(outputs)

    built = binding.build(StepContext(settings, resources, serde, emit_now))
    processor = StepProcessor(
        agent=binding.agent,
        spec=topic(binding.consumes),
        step=built.step,
        serde=serde,
        publisher=publisher,
        config=processor_config(settings),
        concurrency=binding.concurrency(settings),
        batch_max=binding.batch_max(settings),
    )
    bound.append(processor)
    bind(app, processor)
    for task in built.background:
        app.task(task)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types receivers narrowly
    async def _close(sender: Any, *args: Any, **kwargs: Any) -> None:
        # First mark the stop, then close: a step that then fails on a closed resource is
        # abandoned (redelivered after the restart), never retried or dead-lettered.
        processor.stopping = resources.stopping = True
        for close in built.closers:
            await close()

    return processor


def build_worker_app(
    settings: Settings, group_name: str
) -> tuple[faust.App, list[StepProcessor], Resources]:
    """The Faust app of ``group_name`` with its agents bound; nothing is started yet."""
    group = worker_group(group_name)
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
    publisher = KafkaEventProducer(client_config(settings), client_id=f"munjero-{group.name}")
    app = create_faust_app(
        settings, group.name, instance=f"{group.name}-{settings.worker_instance}"
    )
    resources = Resources(settings)
    processors = bind_group(app, group, settings, serde, publisher, resources)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types receivers narrowly
    async def _close_clients(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Faust stops consumers first; our producer and registry client are ours to close.
        resources.stopping = True
        for processor in processors:
            processor.stopping = True  # what fails from here on is the stop's doing
        await publisher.stop()
        await registry.close()
        await resources.close()

    return app, processors, resources


def readiness_checks(group: ProcessGroup, resources: Resources) -> list[ReadinessCheck]:
    """What a worker of ``group`` must be able to do to be useful (the checks the topology
    names), checked for real."""
    settings = resources.settings

    async def vector_search() -> None:
        store, dim = resources.vector_store, resources.embedder.dim
        await store.ensure_collection(settings.qdrant_collection, dim)
        probe = [1.0] + [0.0] * (dim - 1)  # a unit vector: cosine needs a non-zero norm
        await store.search(settings.qdrant_collection, probe, limit=1)

    checks = {
        "qdrant": lambda: ReadinessCheck("qdrant", vector_search, timeout_s=8.0),
        "browser": lambda: ReadinessCheck(
            "browser", _cached(resources.browser.check, 30.0), timeout_s=8.0
        ),
    }
    return [checks[name]() for name in group.readiness]


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
    app, _, resources = build_worker_app(settings, group)
    # Read here, in the main thread: Faust creates its loop lazily in whichever thread asks
    # first, and the readiness thread must never be the one.
    worker_loop: asyncio.AbstractEventLoop = app.loop
    server = ProcessServer(
        host="0.0.0.0" if settings.metrics_port else "127.0.0.1",  # noqa: S104 - k8s probes
        port=settings.metrics_port,
        checks=readiness_checks(worker_group(group), resources),
        loop_getter=lambda: worker_loop,
        targets_dir=settings.data_dir / "targets",
        job=f"munjero-worker-{group}",
        labels={"group": group, "instance_id": settings.worker_instance},
    )
    server.start()
    # Our JSON handlers stay: by default mode's worker clears the root logger's handlers and
    # installs its own colour formatter, which would cut the worker's logs off ClickHouse.
    worker = faust.Worker(app, quiet=True, redirect_stdouts=False, override_logging=False)
    # Faust's terminal spinner writes cursor escapes to stdout even when it is a log file; the
    # worker's log must stay plain JSON lines.
    worker.spinner = None
    logging.getLogger("faust").setLevel(logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        server.stop()
        telemetry.shutdown()
