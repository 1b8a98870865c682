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
import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from connectors.broker import EmbeddedBroker, die_with_parent
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.schema import ensure_schema
from connectors.warehouse.status import WarehouseStatusReader
from factory.clickhouse_http import AnalystEndpoint, serve_clickhouse_http
from factory.devkey import ensure_dev_key
from factory.discovery import Endpoints, announce
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
from services.api.auth import key_id_of
from services.api.dashboard import DashboardDeps
from services.api.deps import ApiDeps, build_default_deps
from services.api.records import API_PRODUCER
from services.api.sessions import load_or_create_secret
from services.api.status_cache import CachedStatusReader
from services.registry.server import registry_router
from services.registry.store import RegistryStore
from services.sink.sink import ClickHouseSink
from streams.catalogue import ALL_TOPICS, TopicRole
from streams.ports.warehouse import Warehouse
from streams.settings import Settings

log = logging.getLogger(__name__)


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


def worker_env(settings: Settings, instance: int = 0) -> dict[str, str]:
    """The environment of a worker child: ours plus every setting, and its replica id."""
    child = settings.model_copy(update={"worker_instance": str(instance)})
    return {**os.environ, **child.to_env()}


def spawn_worker(
    settings: Settings, group: str, log: Path, replica: int = 0
) -> subprocess.Popen[bytes]:
    """One ``munjero worker GROUP`` child process, logging to ``log``.

    In a session of its own: a terminal's Ctrl-C (SIGINT to the foreground process group)
    reaches only this supervisor, which stops the workers first and in order; the workers' own
    children (chromium, ffmpeg, TTS) are theirs to stop. The child dies with this process if
    this process is killed outright."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "factory.cli", "worker", group],
            env=worker_env(settings, replica),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # only prctl: safe in the forked child
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


#: How long ``munjero up`` waits for every worker's readiness before naming the laggards.
READY_TIMEOUT_S = 180.0
#: How long stopping workers get before they are killed: the whole stop must fit in 10 s.
WORKER_STOP_TIMEOUT_S = 6.0


def stop_processes(
    procs: list[subprocess.Popen[bytes]], timeout: float = WORKER_STOP_TIMEOUT_S
) -> None:
    """SIGTERM each process (as Kubernetes does), then SIGKILL its whole process group if it
    has not exited within ``timeout``. A killed worker loses nothing: what it had not
    committed is read again after the restart."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc)


def kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """A second Ctrl-C: SIGKILL every worker's process group now."""
    for proc in procs:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` and everything in its process group (a worker's chromium, ffmpeg)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
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
        analysts = await serve_clickhouse_http(stack, settings, warehouse)
        # Status documents kept until the sink lands rows of their problem (no TTL needed).
        statuses = CachedStatusReader(
            WarehouseStatusReader(warehouse, settings.clickhouse_database), ttl_s=None
        )
        sink = ClickHouseSink(
            settings, warehouse, serde, create_schema=False, on_landed=statuses.invalidate
        )
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
            statuses,
            _ready_checks(publisher, warehouse, registry, settings, with_workers=with_workers),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await _dashboard_deps(settings, warehouse, stack)
        deps.artifacts = deps.dashboard.artifacts  # the status route serves videos too
        app = create_app(deps)
        if registry_app is not None:
            app.mount("/registry", registry_app)

        await _serve(stack, app, host, port)

        targets = settings.data_dir / "targets"
        targets.mkdir(parents=True, exist_ok=True)
        stack.callback(_announce(targets / "api.json", f"{host}:{port}", "munjero-api"))
        # One development key across starts (factory/devkey.py says why it is kept in a file).
        dev = ensure_dev_key(deps.keys, settings.data_dir)
        running = RunningFactory(settings, api_url, dev.plaintext, warehouse, sink,
                                 analysts=analysts, dev_key_created=dev.created)  # fmt: skip
        # Client commands (dlq, topics, doctor, sql) find this factory through data_dir.
        extra = {"clickhouse_http_url": analysts.url} if analysts is not None else {}
        stack.callback(announce(settings.data_dir, Endpoints(
            bootstrap, settings.schema_registry_url or "", api_url, extra=extra)))  # fmt: skip
        if with_workers:
            running.workers = spawn_workers(settings)
            # Off the event loop: the API keeps answering (503 while draining) during the stop.
            stack.push_async_callback(asyncio.to_thread, stop_processes, running.workers)
            running.hard_stop = functools.partial(kill_all, running.workers)
        # Runs first on the way out: refuse new work before anything downstream stops.
        stack.callback(setattr, deps, "draining", True)
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
            # No sink here to say when rows land: documents expire instead.
            CachedStatusReader(
                WarehouseStatusReader(warehouse, settings.clickhouse_database),
                ttl_s=settings.api_status_cache_ttl_s,
            ),
            _ready_checks(publisher, warehouse, registry, settings, with_workers=False),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await _dashboard_deps(settings, warehouse, stack)
        deps.artifacts = deps.dashboard.artifacts  # the status route serves videos too
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


def session_secret(settings: Settings) -> bytes:
    """The dashboard sessions' signing secret: the setting (shared by every API replica), else
    one generated once in ``data_dir`` (one machine)."""
    configured = settings.dashboard_session_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir / "dashboard-session.key")


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

    return DashboardDeps(
        warehouse,
        settings.clickhouse_database,
        lag=lag,
        artifacts=artifacts,
        session_secret=session_secret(settings),
    )


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


async def wait_ready(
    api_url: str,
    *,
    timeout: float = 180.0,
    progress: Callable[[float, list[str]], None] | None = None,
) -> list[str]:
    """Wait until the API's deep readiness (broker, registry, ClickHouse and every worker's own
    checks) passes; the names of the checks still failing when ``timeout`` runs out (empty:
    ready). ``progress(elapsed, failing)`` is called about once a second while waiting."""
    started = asyncio.get_running_loop().time()
    failing: list[str] = ["api"]
    async with httpx.AsyncClient(base_url=api_url, timeout=15.0) as client:
        while True:
            elapsed = asyncio.get_running_loop().time() - started
            try:
                response = await client.get("/readyz")
                if response.status_code == 200:
                    return []
                failing = _failing_checks(response.json())
            except (httpx.HTTPError, ValueError):
                failing = ["api"]
            if elapsed >= timeout:
                return failing
            if progress is not None:
                progress(elapsed, failing)
            # Readiness is a remote state with no event to await: ask again shortly.
            await asyncio.sleep(1.0)


def _failing_checks(report: dict[str, Any]) -> list[str]:
    """Names of the failing checks of a ``/readyz`` report; the workers check names the
    workers still starting (``munjero-worker-render``...)."""
    names: list[str] = []
    for name, check in (report.get("checks") or {}).items():
        if check.get("status") == "ok":
            continue
        starting = re.search(r"not ready: ([^;]+)", str(check.get("error", "")))
        if starting:
            names.extend(n.strip() for n in starting.group(1).split(","))
        else:
            names.append(name)
    return sorted(set(names)) or ["unknown"]


async def wait_for_signal(on_second: Callable[[], None] | None = None) -> None:
    """Until SIGINT/SIGTERM: Ctrl-C shuts the factory down in order. A second signal while it
    stops calls ``on_second`` (stop at once) and exits with 130."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def second() -> None:
        if on_second is not None:
            on_second()
        os._exit(130)  # at once: no unwinding that could wait on anything

    def first() -> None:
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, second)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, first)
    await stop.wait()


async def run_up(settings: Settings, *, with_monitoring: bool = True) -> None:
    from rich.console import Console

    from observability.monitoring import local_monitoring, monitoring_available

    # soft_wrap: a piped or logged banner keeps each line whole (a key split in two is useless)
    console = Console(soft_wrap=True)
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
        console.print(f"starting: broker, registry, API and sink are up; waiting for the workers"
                      f" (logs in {s.data_dir / 'logs'})")  # fmt: skip

        shown = [0.0]

        def progress(elapsed: float, failing: list[str]) -> None:
            if elapsed - shown[0] >= 10:  # a line every ~10 s, not a scroll of dots
                shown[0] = elapsed
                console.print(f"  still starting after {elapsed:.0f} s: {', '.join(failing)}")

        still = await wait_ready(factory.api_url, timeout=READY_TIMEOUT_S, progress=progress)
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
        await wait_for_signal(on_second=factory.hard_stop)
        console.print("stopping...")
