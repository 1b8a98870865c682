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
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from agents.sink import ClickHouseSink
from connectors.api.app import create_app
from connectors.api.auth import ApiKeyStore
from connectors.api.dashboard import DashboardDeps
from connectors.api.deps import ApiDeps, build_default_deps
from connectors.api.health import ReadinessCheck, broker_canary_check, health_topic_spec
from connectors.broker import EmbeddedBroker, free_port
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.registry_server import registry_router
from connectors.registry_store import RegistryStore
from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.port import Warehouse
from connectors.warehouse.schema import ensure_schema
from connectors.warehouse.status import WarehouseStatusReader
from schemas.serializer import AvroSerde, subject_for
from streams.catalogue import ALL_TOPICS
from streams.settings import Settings
from streams.worker import GROUPS

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
            [sys.executable, "-m", "streams.cli", "worker", group],
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
        for group in GROUPS
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
    publisher: KafkaEventProducer, warehouse: Warehouse, registry: HttpSchemaRegistry, s: Settings
) -> list[ReadinessCheck]:
    async def clickhouse() -> None:
        await warehouse.ping()

    async def registry_answers() -> None:
        await registry.subject_versions(f"{s.topic_namespace}munjero.readiness-value")

    return [
        broker_canary_check(publisher, s.topic(health_topic_spec().name)),
        ReadinessCheck("clickhouse", clickhouse),
        ReadinessCheck("schema_registry", registry_answers),
    ]


@contextlib.asynccontextmanager
async def running_factory(
    settings: Settings, *, port: int | None = None, with_workers: bool = True
) -> AsyncIterator[RunningFactory]:
    """Start every part (embedded where nothing is configured); stop all of it on exit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
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

        deps: ApiDeps = await build_default_deps(
            settings,
            publisher,
            serde,
            WarehouseStatusReader(warehouse, settings.clickhouse_database),
            _ready_checks(publisher, warehouse, registry, settings),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await _dashboard_deps(settings, warehouse, stack)
        app = create_app(deps)
        if registry_app is not None:
            app.mount("/registry", registry_app)

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
        serve_task = asyncio.create_task(server.serve(), name="api")

        async def stop_server() -> None:
            server.should_exit = True
            await serve_task

        stack.push_async_callback(stop_server)
        while not server.started:
            if serve_task.done():
                serve_task.result()  # re-raise why it could not bind
                raise RuntimeError("the API server stopped during start-up")
            await asyncio.sleep(0.02)

        dev_key = ApiKeyStore.load(settings.resolved_api_keys_file).create_key(
            "development", ALL_SCOPES
        )
        running = RunningFactory(settings, api_url, dev_key, warehouse, sink)
        if with_workers:
            running.workers = spawn_workers(settings)
            stack.callback(stop_processes, running.workers)
        yield running


async def _dashboard_deps(
    settings: Settings, warehouse: Warehouse, stack: contextlib.AsyncExitStack
) -> DashboardDeps:
    from connectors.artifacts.factory import artifact_store_for
    from connectors.kafka_lag import consumer_lag

    artifacts = artifact_store_for(settings)
    stack.push_async_callback(artifacts.close)
    groups = [settings.group(g) for g in (*GROUPS, "sink")]

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
    server; on the embedded default it runs inside ``munjero up``)."""
    if not (settings.kafka_bootstrap_servers and settings.schema_registry_url):
        raise ValueError(
            "MUNJERO_KAFKA_BOOTSTRAP_SERVERS and MUNJERO_SCHEMA_REGISTRY_URL must be set"
        )
    registry = HttpSchemaRegistry(settings.schema_registry_url)
    producer = KafkaEventProducer(settings.kafka_bootstrap_servers, client_id="munjero-evaluator")
    warehouse = open_warehouse(settings)
    await producer.start()
    try:
        await _run_evaluator(settings, warehouse, AvroSerde(registry), producer)
    finally:
        await producer.stop()
        await warehouse.close()
        await registry.close()


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


async def run_up(settings: Settings) -> None:
    from rich.console import Console

    console = Console()
    async with running_factory(settings) as factory:
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


async def run_demo(
    settings: Settings, *, limit: int = 0, timeout: float = 120.0, renders: int = 2
) -> int:
    from streams.demo import demo

    async with running_factory(settings, port=free_port(settings.api_host)) as factory:
        return await demo(factory, limit=limit, timeout=timeout, renders=renders)
