"""Run ``munjero worker GROUP`` as a real child process for tests (so SIGKILL is real): the
supervisor's own spawn and stop, so tests start workers exactly as ``munjero up`` does."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factory.children import spawn_worker, stop_processes
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings

if TYPE_CHECKING:
    from connectors.kafka import KafkaEventProducer
    from schemas.serializer import AvroSerde


def start_worker(settings: Settings, group: str, log: Path) -> subprocess.Popen[bytes]:
    return spawn_worker(settings, group, log)


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    stop_processes([proc], timeout)


WorkerFactory = tuple[Settings, "AvroSerde", "KafkaEventProducer"]


@asynccontextmanager
async def running_worker(
    settings: Settings, registry_url: str, group: str, log: Path, **updates: Any
) -> AsyncIterator[WorkerFactory]:
    """Topics created, a producer and a serde for the test, and ``group``'s worker running on
    the test's namespace; everything stopped on exit."""
    from connectors.kafka import KafkaEventProducer, ensure_topics
    from connectors.registry_client import HttpSchemaRegistry
    from schemas.serializer import AvroSerde

    settings = settings.model_copy(update={"schema_registry_url": registry_url, **updates})
    assert settings.kafka_bootstrap_servers
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers), namespace=settings.topic_namespace
    )
    registry = HttpSchemaRegistry(registry_url)
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers))
    await producer.start()
    proc = start_worker(settings, group, log)
    try:
        yield settings, AvroSerde(registry), producer
    finally:
        await producer.stop()
        stop_worker(proc)
        await registry.close()
