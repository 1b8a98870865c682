"""Runs the whole factory on one machine: ``munjero up`` and ``munjero demo``.

Process layout on the embedded default (each box is a process):

    [noida-db broker]   [this process: API + schema registry + ClickHouse sink (chdb)]
    [munjero worker content] x worker_count   (indexing + drafting)

chdb allows one data path per process, so the process that owns chdb also serves everything
that reads it (``GET /v1/problems/{id}``, readiness, the demo summary). In production the same
parts run as separate Deployments against servers (see k8s/).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from connectors.broker import EmbeddedBroker
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.schema import ensure_schema
from connectors.warehouse.status import WarehouseStatusReader
from factory.topology import worker_group_names
from observability.ops_collector import OpsCollector, last_published, refresh_forever, registered
from observability.process_server import ProcessServer
from observability.readiness import (
    ReadinessCheck,
    broker_canary_check,
    health_topic_spec,
    vector_search_check,
    warehouse_write_check,
    workers_check,
)
from observability.telemetry import setup_telemetry
from observability.telemetry_sink import TelemetrySink
from schemas.serializer import AvroSerde, subject_for
from services.api.app import create_app
from services.api.auth import ApiKeyStore
from services.api.dashboard import DashboardDeps
from services.api.deps import ApiDeps, build_default_deps
from services.api.records import API_PRODUCER
from services.registry.server import registry_router
from services.registry.store import RegistryStore
from services.sink.sink import ClickHouseSink
from streams.catalogue import ALL_TOPICS, TopicRole
from streams.ports.warehouse import Warehouse
from streams.settings import Settings

log = logging.getLogger(__name__)
ALL_SCOPES = ["problems:write", "knowledge:write", "problems:read", "dashboard:read"]


@dataclass
class RunningFactory:
    settings: Settings  # with the resolved broker and registry addresses
    api_url: str
    dev_key: str
    warehouse: Warehouse
    sink: ClickHouseSink
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)


def worker_env(settings: Settings, instance: int = 0) -> dict[str, str]:
    """The environment of a worker child: ours plus every setting, and its replica id."""
    child = settings.model_copy(update={"worker_instance": str(instance)})
    return {**os.environ, **child.to_env()}


def spawn_worker(
    settings: Settings, group: str, log: Path, replica: int = 0
) -> subprocess.Popen[bytes]:
    """One ``munjero worker GROUP`` child process, logging to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "factory.cli", "worker", group],
            env=worker_env(settings, replica),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def spawn_workers(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """One process per agent group and replica. On the embedded broker keep one replica per
    group: noida-db orphans partitions when a member leaves mid-commit (docs/broker.md)."""
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return [
        spawn_worker(settings, group, logs / f"worker-{group}-{replica}.log", replica)
        for group in worker_group_names()
        for replica in range(settings.worker_count)
    ]


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ready_checks(
    publisher: KafkaEventProducer,
    warehouse: Warehouse,
    registry: HttpSchemaRegistry,
    s: Settings,
    *,
    with_workers: bool,
) -> list[ReadinessCheck]:
    async def registry_answers() -> None:
        await registry.subject_versions(f"{s.topic_namespace}munjero.readiness-value")

    checks = [
        broker_canary_check(publisher, s.topic(health_topic_spec().name), source=API_PRODUCER),
        warehouse_write_check(warehouse, s.clickhouse_database, source=API_PRODUCER),
        ReadinessCheck("schema_registry", registry_answers),
    ]
    if s.qdrant_url:  # a server: ask it directly (the embedded engine lives in the content worker)
        checks.append(vector_search_check(s))
    if with_workers:
        # Each worker's own checks (vector search, browser launch) through its /readyz. Only
        # where this process started them: in Kubernetes every worker has its own probes.
        checks.append(workers_check(s.data_dir / "targets", expected=worker_jobs(s)))
    return checks


def worker_jobs(settings: Settings) -> list[str]:
    return [f"munjero-worker-{group}" for group in worker_group_names()]


def _announce(path: Path, address: str, job: str) -> Callable[[], None]:
    """Announce a scrape target (file_sd format); returns the function that withdraws it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [address], "labels": {"job": job}}]))
    tmp.replace(path)
    return lambda: path.unlink(missing_ok=True)


async def _refresh_ops(settings: Settings, warehouse: Warehouse, collector: OpsCollector) -> None:
    from connectors.kafka_lag import consumer_lag, topic_sizes

    bootstrap = settings.kafka_bootstrap_servers or ""
    groups = [settings.group(g) for g in (*worker_group_names(), "sink")]
    dlqs = [s.name for s in ALL_TOPICS if s.role is TopicRole.DLQ]
    physical = {settings.topic(name): name for name in dlqs}

    async def lag() -> list[tuple[str, str, int, int]]:
        return await consumer_lag(bootstrap, groups)

    async def dead_letters() -> dict[str, int]:
        sizes = await topic_sizes(bootstrap, list(physical))
        return {physical[t]: n for t, n in sizes.items()}

    async def published() -> tuple[float | None, int]:
        return await last_published(warehouse, settings.clickhouse_database)

    await refresh_forever(collector, lag=lag, dead_letters=dead_letters, published=published)


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
        bootstrap = settings.kafka_bootstrap_servers or ""
        await ensure_topics(bootstrap, ALL_TOPICS, namespace=settings.topic_namespace)
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

        publisher = KafkaEventProducer(bootstrap, client_id="munjero-api", send_timeout_s=5.0)
        await publisher.start()
        stack.push_async_callback(publisher.stop)

        warehouse = open_warehouse(settings)
        stack.push_async_callback(warehouse.close)
        # The schema exists before the API answers, so a status read never hits a missing table.
        await ensure_schema(warehouse, settings.clickhouse_database)
        sink = ClickHouseSink(settings, warehouse, serde, create_schema=False)
        stop_sink = asyncio.Event()
        sink_task = asyncio.create_task(sink.run(stop_sink), name="clickhouse-sink")

        async def stop_sink_task() -> None:
            stop_sink.set()
            await sink_task

        stack.push_async_callback(stop_sink_task)
        stack.push_async_callback(
            _cancel, asyncio.create_task(_run_evaluator(settings, warehouse, serde, publisher))
        )
        telemetry_sink = TelemetrySink(settings, warehouse)
        await telemetry_sink.ensure_tables()
        _in_background(stack, "otel-sink", telemetry_sink.run)
        collector = stack.enter_context(registered(OpsCollector()))
        stack.push_async_callback(
            _cancel, asyncio.create_task(_refresh_ops(settings, warehouse, collector))
        )

        deps: ApiDeps = await build_default_deps(
            settings,
            publisher,
            serde,
            WarehouseStatusReader(warehouse, settings.clickhouse_database),
            _ready_checks(publisher, warehouse, registry, settings, with_workers=with_workers),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await _dashboard_deps(settings, warehouse, stack)
        app = create_app(deps)
        if registry_app is not None:
            app.mount("/registry", registry_app)

        await _serve(stack, app, host, port)

        targets = settings.data_dir / "targets"
        targets.mkdir(parents=True, exist_ok=True)
        stack.callback(_announce(targets / "api.json", f"{host}:{port}", "munjero-api"))
        dev_key = ApiKeyStore.load(settings.resolved_api_keys_file).create_key(
            "development", ALL_SCOPES
        )
        running = RunningFactory(settings, api_url, dev_key, warehouse, sink)
        if with_workers:
            running.workers = spawn_workers(settings)
            stack.callback(stop_processes, running.workers)
        yield running


def _in_background(
    stack: contextlib.AsyncExitStack,
    name: str,
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> None:
    """Run ``run(stop)`` as a task until ``stack`` closes; then set ``stop`` and let it finish
    (a failure while stopping is logged, never raised over the shutdown of the rest)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop), name=name)

    async def finish() -> None:
        stop.set()
        try:
            await task
        except Exception:
            log.exception("%s failed while stopping", name)

    stack.push_async_callback(finish)


async def _serve(stack: contextlib.AsyncExitStack, app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until ``stack`` closes; return once it accepts connections."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,  # request metrics belong in /metrics, not in the log
            proxy_headers=False,
        )
    )
    serve_task = asyncio.create_task(server.serve(), name=f"http:{port}")

    async def stop_server() -> None:
        server.should_exit = True
        await serve_task

    stack.push_async_callback(stop_server)
    while not server.started:
        if serve_task.done():
            serve_task.result()  # re-raise why it could not bind
            raise RuntimeError("the HTTP server stopped during start-up")
        await asyncio.sleep(0.02)


def _registry_client(settings: Settings) -> HttpSchemaRegistry:
    if not settings.schema_registry_url:
        raise ValueError("MUNJERO_SCHEMA_REGISTRY_URL must be set")
    password = settings.schema_registry_password
    return HttpSchemaRegistry(
        settings.schema_registry_url,
        username=settings.schema_registry_user,
        password=password.get_secret_value() if password else None,
    )


async def run_api_process(settings: Settings) -> None:
    """``munjero api``: the producer API alone, against a broker, a registry and ClickHouse
    configured in the environment (Kubernetes: one Deployment/Rollout, N replicas). No
    embedded broker, sink, evaluator or workers."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("MUNJERO_KAFKA_BOOTSTRAP_SERVERS must be set for the API")
    registry = _registry_client(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(registry.close)
        telemetry = setup_telemetry(settings, "munjero-api")
        stack.callback(telemetry.shutdown)
        serde = AvroSerde(registry)
        publisher = KafkaEventProducer(
            settings.kafka_bootstrap_servers, client_id="munjero-api", send_timeout_s=5.0
        )
        await publisher.start()
        stack.push_async_callback(publisher.stop)
        warehouse = open_warehouse(settings)
        stack.push_async_callback(warehouse.close)
        deps = await build_default_deps(
            settings,
            publisher,
            serde,
            WarehouseStatusReader(warehouse, settings.clickhouse_database),
            _ready_checks(publisher, warehouse, registry, settings, with_workers=False),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await _dashboard_deps(settings, warehouse, stack)
        await _serve(stack, create_app(deps), settings.api_host, settings.api_port)
        log.info("API listening on %s:%d", settings.api_host, settings.api_port)
        await wait_for_signal()


async def run_registry_process(settings: Settings, host: str, port: int) -> None:
    """``munjero registry``: the Confluent-compatible schema registry alone (SQLite under
    ``data_dir``), with its own liveness and readiness probes."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        telemetry = setup_telemetry(settings, "munjero-registry")
        stack.callback(telemetry.shutdown)
        store = RegistryStore(settings.data_dir / "registry.sqlite3")
        stack.callback(store.close)
        app = FastAPI(title="munjero schema registry")
        app.include_router(registry_router(store))

        async def store_answers() -> None:
            await asyncio.to_thread(store.subjects)

        checks = [ReadinessCheck("store", store_answers)]

        @app.get("/healthz", include_in_schema=False)
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/readyz", include_in_schema=False)
        async def readyz() -> Any:
            from observability.readiness import run_checks
            from services.api.errors import json_response

            ready, report = await run_checks(checks)
            return json_response(200 if ready else 503, report)

        await _serve(stack, app, host, port)
        log.info("schema registry listening on %s:%d", host, port)
        await wait_for_signal()


async def _dashboard_deps(
    settings: Settings, warehouse: Warehouse, stack: contextlib.AsyncExitStack
) -> DashboardDeps:
    from connectors.artifacts.factory import artifact_store_for
    from connectors.kafka_lag import consumer_lag

    artifacts = artifact_store_for(settings)
    stack.push_async_callback(artifacts.close)
    groups = [settings.group(g) for g in (*worker_group_names(), "sink")]

    async def lag() -> list[tuple[str, str, int, int]]:
        return await consumer_lag(settings.kafka_bootstrap_servers or "", groups)

    return DashboardDeps(warehouse, settings.clickhouse_database, lag=lag, artifacts=artifacts)


async def _run_evaluator(
    settings: Settings, warehouse: Warehouse, serde: AvroSerde, producer: KafkaEventProducer
) -> None:
    """The A/B evaluator next to the sink: both read chdb, which admits one process."""
    from agents.evaluator import EvaluatorConfig, ExperimentEvaluator

    topic_name = settings.topic("experiments.updated")

    async def publish(key: str, record: dict[str, Any]) -> None:
        value = await serde.encode_async(subject_for(topic_name), "ExperimentUpdated", record)
        await producer.publish_many([(topic_name, key.encode(), value, ())])

    evaluator = ExperimentEvaluator(
        warehouse,
        publish,
        EvaluatorConfig(
            database=settings.clickhouse_database,
            window=settings.experiment_window,
            burn_in_shorts=settings.bandit_burn_in_shorts,
            floor=settings.bandit_floor,
            alpha=settings.decision_alpha,
        ),
    )
    await evaluator.run(settings.evaluate_every_s)


async def run_evaluator_process(settings: Settings) -> None:
    """``munjero evaluator``: the A/B evaluator on its own (production: next to a ClickHouse
    server; on the embedded default it runs inside ``munjero up``). It also exports the
    system-wide gauges (consumer lag, dead-letter depth, last publish): one replica, so each
    series has one source."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("MUNJERO_KAFKA_BOOTSTRAP_SERVERS must be set")
    registry = _registry_client(settings)
    telemetry = setup_telemetry(settings, "munjero-evaluator")
    producer = KafkaEventProducer(settings.kafka_bootstrap_servers, client_id="munjero-evaluator")
    warehouse = open_warehouse(settings)
    collector = OpsCollector()

    async def warehouse_answers() -> None:
        await warehouse.ping()

    loop = asyncio.get_running_loop()
    server = ProcessServer(
        host="0.0.0.0" if settings.metrics_port else "127.0.0.1",  # noqa: S104 - k8s probes
        port=settings.metrics_port,
        checks=[ReadinessCheck("clickhouse", warehouse_answers)],
        loop_getter=lambda: loop,
        job="munjero-evaluator",
    )
    await producer.start()
    with registered(collector):
        server.start()
        ops = asyncio.create_task(_refresh_ops(settings, warehouse, collector))
        try:
            await _run_evaluator(settings, warehouse, AvroSerde(registry), producer)
        finally:
            await _cancel(ops)
            server.stop()
            await producer.stop()
            await warehouse.close()
            await registry.close()
            telemetry.shutdown()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_for_signal() -> None:
    """Until SIGINT/SIGTERM: Ctrl-C shuts the factory down in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_up(settings: Settings, *, with_monitoring: bool = True) -> None:
    from rich.console import Console

    from observability.monitoring import local_monitoring, monitoring_available

    console = Console()
    async with contextlib.AsyncExitStack() as stack:
        factory = await stack.enter_async_context(running_factory(settings))
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
        console.print(f"[bold green]munjero is up[/] (data in {s.data_dir})")
        console.print(f"  API             {factory.api_url}  (OpenAPI: {factory.api_url}/docs)")
        console.print(f"  API key (dev)   {factory.dev_key}")
        console.print(f"  Kafka           {s.kafka_bootstrap_servers}")
        console.print(f"  Schema registry {s.schema_registry_url}")
        console.print(f"  ClickHouse      {s.clickhouse_url or s.data_dir / 'chdb'}")
        console.print(f"  Dashboard       {factory.api_url}/dashboard  (Bearer: the dev key)")
        channel = "YouTube" if s.publishes_to_youtube else f"simulator (x{s.sim_speed:g} clock)"
        console.print(f"  Publishing to   {channel}")
        console.print("Ctrl-C to stop.")
        await wait_for_signal()
        console.print("stopping...")
