"""Runs the whole factory on one machine: ``munjero up`` and ``munjero demo``.

Process layout on the embedded default (each box is a process):

    [noida-db broker]   [this process: API + schema registry + ClickHouse sink (chdb)]
    [munjero worker content] x worker_count   (indexing + drafting)

chdb allows one data path per process, so the process that owns chdb also serves everything
that reads it (``GET /v1/problems/{id}``, readiness, the demo summary). In production the same
parts run as separate Deployments against servers (see k8s/): factory/standalone.py.

Around it: factory/children.py spawns and stops the worker processes, factory/serving.py serves
HTTP and waits (readiness, signals), factory/parts.py holds what both layouts share.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from connectors.broker import EmbeddedBroker
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.schema import ensure_schema
from connectors.warehouse.status import WarehouseStatusReader
from factory.children import kill_all, spawn_workers, stop_processes
from factory.clickhouse_http import AnalystEndpoint, serve_clickhouse_http
from factory.config import sink_config, telemetry_sink_config
from factory.devkey import ensure_dev_key
from factory.discovery import Endpoints, announce
from factory.parts import dashboard_deps, ready_checks, refresh_ops, run_evaluator
from factory.serving import (
    READY_TIMEOUT_S,
    SignalWatch,
    announce_target,
    cancel_task,
    in_background,
    serve_http,
    wait_ready,
)
from observability.ops_collector import OpsCollector, registered
from observability.telemetry import setup_telemetry
from observability.telemetry_sink import TelemetrySink
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.auth import key_id_of
from services.api.deps import ApiDeps, build_default_deps
from services.api.status_cache import CachedStatusReader
from services.registry.server import registry_router
from services.registry.store import RegistryStore
from services.sink.sink import ClickHouseSink
from streams.catalogue import ALL_TOPICS
from streams.kafka_auth import client_config
from streams.ports.warehouse import Warehouse
from streams.settings import Settings


@dataclass
class RunningFactory:
    settings: Settings  # with the resolved broker and registry addresses
    api_url: str
    dev_key: str
    warehouse: Warehouse
    sink: ClickHouseSink
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: Stops everything at once (a second Ctrl-C); set by ``running_factory``.
    hard_stop: Callable[[], None] = lambda: None
    analysts: AnalystEndpoint | None = None  # ClickHouse HTTP interface (embedded chdb only)
    dev_key_created: bool = False  # False: the development key of an earlier start, reused


@contextlib.asynccontextmanager
async def running_factory(
    settings: Settings, *, port: int | None = None, with_workers: bool = True
) -> AsyncIterator[RunningFactory]:
    """Start every part (embedded where nothing is configured); stop all of it on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Targets announced by processes of an earlier run that died without withdrawing them
    # would read as services down: this supervisor starts every process there is.
    for stale in (settings.data_dir / "targets").glob("*.json"):
        stale.unlink(missing_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        broker: EmbeddedBroker | None = None
        if not settings.kafka_bootstrap_servers:
            broker = EmbeddedBroker(settings.data_dir / "broker")
            await asyncio.to_thread(broker.start)
            stack.callback(broker.stop)
            settings = settings.model_copy(
                update={"kafka_bootstrap_servers": broker.bootstrap_servers}
            )
        kafka = client_config(settings)  # the process's one Kafka identity
        await ensure_topics(kafka, ALL_TOPICS, namespace=settings.topic_namespace)
        telemetry = setup_telemetry(settings, "munjero-api")
        stack.callback(telemetry.shutdown)

        host = settings.api_host
        port = port or settings.api_port
        api_url = f"http://{host}:{port}"
        registry_app: FastAPI | None = None
        if settings.schema_registry_url:
            registry = HttpSchemaRegistry(settings.schema_registry_url)
        else:
            store = RegistryStore(settings.data_dir / "registry.sqlite3")
            stack.callback(store.close)
            registry_app = FastAPI(title="munjero schema registry")
            registry_app.include_router(registry_router(store))
            # In-process calls go through the same HTTP semantics the workers use.
            registry = HttpSchemaRegistry(
                "http://registry", transport=httpx.ASGITransport(app=registry_app)
            )
            settings = settings.model_copy(update={"schema_registry_url": f"{api_url}/registry"})
        stack.push_async_callback(registry.close)
        serde = AvroSerde(registry)

        publisher = KafkaEventProducer(kafka, client_id="munjero-api", send_timeout_s=5.0)
        await publisher.start()
        stack.push_async_callback(publisher.stop)

        warehouse = open_warehouse(settings)
        stack.push_async_callback(warehouse.close)
        # The schema exists before the API answers, so a status read never hits a missing table.
        await ensure_schema(warehouse, settings.clickhouse_database)
        analysts = await serve_clickhouse_http(stack, settings, warehouse)
        # Status documents kept until the sink lands rows of their problem (no TTL needed).
        statuses = CachedStatusReader(
            WarehouseStatusReader(warehouse, settings.clickhouse_database), ttl_s=None
        )
        sink = ClickHouseSink(
            sink_config(settings),
            warehouse,
            serde,
            create_schema=False,
            on_landed=statuses.invalidate,
        )
        stack.push_async_callback(
            cancel_task, asyncio.create_task(run_evaluator(settings, warehouse, serde, publisher))
        )
        telemetry_sink = TelemetrySink(telemetry_sink_config(settings), warehouse)
        await telemetry_sink.ensure_tables()
        in_background(stack, "otel-sink", telemetry_sink.run)
        collector = stack.enter_context(registered(OpsCollector()))
        stack.push_async_callback(
            cancel_task, asyncio.create_task(refresh_ops(settings, warehouse, collector))
        )

        deps: ApiDeps = await build_default_deps(
            settings,
            publisher,
            serde,
            statuses,
            ready_checks(publisher, warehouse, registry, settings, with_workers=with_workers),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await dashboard_deps(settings, warehouse, stack)
        deps.artifacts = deps.dashboard.artifacts  # the status route serves videos too
        app = create_app(deps)
        if registry_app is not None:
            app.mount("/registry", registry_app)

        await serve_http(stack, app, host, port)
        # The sink starts once the registry answers over HTTP, where ClickHouse fetches the
        # writer schemas of what it decodes (before, the first batches fell back to Python);
        # on the way out it stops before the HTTP server, so its last insert still finds them.
        stop_sink = asyncio.Event()
        sink_task = asyncio.create_task(sink.run(stop_sink), name="clickhouse-sink")

        async def stop_sink_task() -> None:
            stop_sink.set()
            await sink_task

        stack.push_async_callback(stop_sink_task)

        targets = settings.data_dir / "targets"
        targets.mkdir(parents=True, exist_ok=True)
        stack.callback(announce_target(targets / "api.json", f"{host}:{port}", "munjero-api"))
        # One development key across starts (factory/devkey.py says why it is kept in a file).
        dev = ensure_dev_key(deps.keys, settings.data_dir)
        running = RunningFactory(settings, api_url, dev.plaintext, warehouse, sink,
                                 analysts=analysts, dev_key_created=dev.created)  # fmt: skip
        # Client commands (dlq, topics, doctor, sql) find this factory through data_dir.
        extra = {"clickhouse_http_url": analysts.url} if analysts is not None else {}
        registry_url = settings.schema_registry_url or ""
        stack.callback(announce(settings.data_dir, Endpoints(
            kafka.bootstrap_servers, registry_url, api_url, extra=extra)))  # fmt: skip
        if with_workers:
            running.workers = spawn_workers(settings)
            # Off the event loop: the API keeps answering (503 while draining) during the stop.
            stack.push_async_callback(asyncio.to_thread, stop_processes, running.workers)
            running.hard_stop = functools.partial(kill_all, running.workers)
        # Runs first on the way out: refuse new work before anything downstream stops.
        stack.callback(setattr, deps, "draining", True)
        yield running


async def run_up(settings: Settings, *, with_monitoring: bool = True) -> None:
    from rich.console import Console

    from observability.monitoring import local_monitoring, monitoring_available

    # soft_wrap: a piped or logged banner keeps each line whole (a key split in two is useless)
    console = Console(soft_wrap=True)
    # Signals are watched from the first instant: Ctrl-C while the factory starts is an
    # ordered stop (exit 0) as much as one after the banner.
    watch = SignalWatch()
    async with contextlib.AsyncExitStack() as stack:
        factory = await stack.enter_async_context(running_factory(settings))
        watch.on_second = factory.hard_stop
        if watch.stopped.is_set():
            console.print("stopping...")
            return
        if with_monitoring and not monitoring_available():
            # No home-made fallback (docs/decisions.md): without the binaries nothing alerts.
            console.print(
                "[bold yellow]alerts are OFF[/]: prometheus / prometheus-alertmanager are not"
                " installed (`make setup` installs them)"
            )
        elif with_monitoring:
            # Prometheus finds the API and every worker in data_dir/targets (file_sd),
            # evaluates the rules; Alertmanager delivers to Slack / e-mail.
            monitoring = await asyncio.to_thread(
                stack.enter_context, local_monitoring(factory.settings)
            )
            console.print(f"  Prometheus      {monitoring.prometheus_url}")
            console.print(f"  Alertmanager    {monitoring.alertmanager_url}")
        s = factory.settings
        console.print(f"starting: broker, registry, API and sink are up; waiting for the workers"
                      f" (logs in {s.data_dir / 'logs'})")  # fmt: skip

        shown = [0.0]

        def progress(elapsed: float, failing: list[str]) -> None:
            if elapsed - shown[0] >= 10:  # a line every ~10 s, not a scroll of dots
                shown[0] = elapsed
                console.print(f"  still starting after {elapsed:.0f} s: {', '.join(failing)}")

        waited, still = await watch.unless_stopped(
            wait_ready(factory.api_url, timeout=READY_TIMEOUT_S, progress=progress)
        )
        if not waited:
            console.print("stopping...")
            return
        if still:
            console.print(
                f"[bold yellow]not ready after {READY_TIMEOUT_S:.0f} s[/]: {', '.join(still)} "
                f"(see `munjero doctor` and {s.data_dir / 'logs'})"
            )
        console.print(f"[bold green]munjero is up[/] (data in {s.data_dir})")
        console.print(f"  API             {factory.api_url}  (OpenAPI: {factory.api_url}/docs)")
        reused = "new" if factory.dev_key_created else "same as last start"
        dev_id = key_id_of(factory.dev_key)
        console.print(f"  API key (dev)   {factory.dev_key}  ({reused}; "
                      f"munjero keys rotate {dev_id} replaces it)")  # fmt: skip
        console.print(f"  Kafka           {s.kafka_bootstrap_servers}")
        console.print(f"  Schema registry {s.schema_registry_url}")
        analysts = factory.analysts
        console.print(
            f"  ClickHouse      {analysts.url_with_credentials if analysts else s.clickhouse_url}"
        )
        console.print(f"  Dashboard       {factory.api_url}/dashboard  (log in with the dev key)")
        channel = "YouTube" if s.publishes_to_youtube else f"simulator (x{s.sim_speed:g} clock)"
        console.print(f"  Publishing to   {channel}")
        console.print("Ctrl-C to stop (a second Ctrl-C stops at once).")
        await watch.stopped.wait()
        console.print("stopping...")
