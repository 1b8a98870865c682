"""The factory's parts as processes of their own (Kubernetes: one Deployment each):
``munjero api``, ``munjero registry`` and ``munjero evaluator``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import FastAPI

from connectors.kafka import KafkaEventProducer
from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.status import WarehouseStatusReader
from factory.parts import dashboard_deps, ready_checks, refresh_ops, registry_client, run_evaluator
from factory.serving import cancel_task, serve_http, wait_for_signal
from observability.ops_collector import OpsCollector, registered
from observability.process_server import ProcessServer
from observability.readiness import (
    ReadinessCheck,
)
from observability.telemetry import setup_telemetry
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.deps import build_default_deps
from services.api.status_cache import CachedStatusReader
from services.registry.server import registry_router
from services.registry.store import RegistryStore
from streams.kafka_auth import client_config
from streams.settings import Settings

log = logging.getLogger(__name__)


async def run_api_process(settings: Settings) -> None:
    """``munjero api``: the producer API alone, against a broker, a registry and ClickHouse
    configured in the environment (Kubernetes: one Deployment/Rollout, N replicas). No
    embedded broker, sink, evaluator or workers."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("MUNJERO_KAFKA_BOOTSTRAP_SERVERS must be set for the API")
    registry = registry_client(settings)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(registry.close)
        telemetry = setup_telemetry(settings, "munjero-api")
        stack.callback(telemetry.shutdown)
        serde = AvroSerde(registry)
        publisher = KafkaEventProducer(
            client_config(settings), client_id="munjero-api", send_timeout_s=5.0
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
            ready_checks(publisher, warehouse, registry, settings, with_workers=False),
        )
        stack.push_async_callback(deps.aclose)
        deps.dashboard = await dashboard_deps(settings, warehouse, stack)
        deps.artifacts = deps.dashboard.artifacts  # the status route serves videos too
        await serve_http(stack, create_app(deps), settings.api_host, settings.api_port)
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

        await serve_http(stack, app, host, port)
        log.info("schema registry listening on %s:%d", host, port)
        await wait_for_signal()


async def run_evaluator_process(settings: Settings) -> None:
    """``munjero evaluator``: the A/B evaluator on its own (production: next to a ClickHouse
    server; on the embedded default it runs inside ``munjero up``). It also exports the
    system-wide gauges (consumer lag, dead-letter depth, last publish): one replica, so each
    series has one source."""
    if not settings.kafka_bootstrap_servers:
        raise ValueError("MUNJERO_KAFKA_BOOTSTRAP_SERVERS must be set")
    registry = registry_client(settings)
    telemetry = setup_telemetry(settings, "munjero-evaluator")
    producer = KafkaEventProducer(client_config(settings), client_id="munjero-evaluator")
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
        ops = asyncio.create_task(refresh_ops(settings, warehouse, collector))
        try:
            await run_evaluator(settings, warehouse, AvroSerde(registry), producer)
        finally:
            await cancel_task(ops)
            server.stop()
            await producer.stop()
            await warehouse.close()
            await registry.close()
            telemetry.shutdown()
