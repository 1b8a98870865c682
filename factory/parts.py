"""Parts shared by ``munjero up`` (factory/supervisor.py) and the standalone processes
(factory/standalone.py): readiness checks, the ops gauges, the dashboard's dependencies, the
A/B evaluator loop and the registry client."""

from __future__ import annotations

import contextlib
from typing import Any

from connectors.kafka import KafkaEventProducer
from connectors.registry_client import HttpSchemaRegistry
from factory.topology import worker_group_names
from observability.ops_collector import OpsCollector, last_published, refresh_forever
from observability.readiness import (
    ReadinessCheck,
    broker_canary_check,
    health_topic_spec,
    vector_search_check,
    warehouse_write_check,
    workers_check,
)
from schemas.serializer import AvroSerde, subject_for
from services.api.dashboard import DashboardDeps
from services.api.records import API_PRODUCER
from services.api.sessions import load_or_create_secret
from streams.catalogue import ALL_TOPICS, TopicRole
from streams.kafka_auth import client_config
from streams.ports.warehouse import Warehouse
from streams.settings import Settings


def ready_checks(
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


async def refresh_ops(settings: Settings, warehouse: Warehouse, collector: OpsCollector) -> None:
    from connectors.kafka_lag import consumer_lag, topic_sizes

    kafka = client_config(settings)
    groups = [settings.group(g) for g in (*worker_group_names(), "sink")]
    dlqs = [s.name for s in ALL_TOPICS if s.role is TopicRole.DLQ]
    physical = {settings.topic(name): name for name in dlqs}

    async def lag() -> list[tuple[str, str, int, int]]:
        return await consumer_lag(kafka, groups)

    async def dead_letters() -> dict[str, int]:
        sizes = await topic_sizes(kafka, list(physical))
        return {physical[t]: n for t, n in sizes.items()}

    async def published() -> tuple[float | None, int]:
        return await last_published(warehouse, settings.clickhouse_database)

    await refresh_forever(collector, lag=lag, dead_letters=dead_letters, published=published)


def registry_client(settings: Settings) -> HttpSchemaRegistry:
    if not settings.schema_registry_url:
        raise ValueError("MUNJERO_SCHEMA_REGISTRY_URL must be set")
    password = settings.schema_registry_password
    return HttpSchemaRegistry(
        settings.schema_registry_url,
        username=settings.schema_registry_user,
        password=password.get_secret_value() if password else None,
    )


def session_secret(settings: Settings) -> bytes:
    """The dashboard sessions' signing secret: the setting (shared by every API replica), else
    one generated once in ``data_dir`` (one machine)."""
    configured = settings.dashboard_session_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir / "dashboard-session.key")


async def dashboard_deps(
    settings: Settings, warehouse: Warehouse, stack: contextlib.AsyncExitStack
) -> DashboardDeps:
    from connectors.artifacts.factory import artifact_store_for
    from connectors.kafka_lag import consumer_lag

    artifacts = artifact_store_for(settings)
    stack.push_async_callback(artifacts.close)
    groups = [settings.group(g) for g in (*worker_group_names(), "sink")]
    kafka = client_config(settings)

    async def lag() -> list[tuple[str, str, int, int]]:
        return await consumer_lag(kafka, groups)

    return DashboardDeps(
        warehouse,
        settings.clickhouse_database,
        lag=lag,
        artifacts=artifacts,
        session_secret=session_secret(settings),
    )


async def run_evaluator(
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
