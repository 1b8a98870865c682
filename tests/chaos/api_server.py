"""The producer API as its own process: ``python -m tests.chaos.api_server READY_FILE``.

The real ``create_app`` over the real Kafka producer, the HTTP schema registry, the file key
store and the SQLite idempotency store (``build_default_deps``), served by uvicorn on a free
loopback port; settings come from the ``MUNJERO_*`` environment. Once it serves, it writes
``<base url> <api key>`` (a fresh key with every scope) to READY_FILE. Its own process so the
soak can sample its RSS and file descriptors alone, and schemathesis can call it over HTTP.
Stops on SIGTERM. Status reads use the in-memory reader (ClickHouse is not under test here).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import uvicorn

from streams.kafka_auth import KafkaClientConfig

SCOPES = ["problems:write", "knowledge:write", "problems:read", "dashboard:read"]


async def serve(ready_file: Path) -> None:
    from connectors.kafka import KafkaEventProducer
    from connectors.registry_client import HttpSchemaRegistry
    from observability.readiness import HEALTH_TOPIC, broker_canary_check
    from schemas.serializer import AvroSerde
    from services.api.app import create_app
    from services.api.deps import build_default_deps
    from services.api.records import API_PRODUCER
    from services.api.status import InMemoryStatusReader
    from streams.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers or ""))
    await producer.start()
    registry = HttpSchemaRegistry(settings.schema_registry_url or "")
    canary = broker_canary_check(
        producer, settings.topic(HEALTH_TOPIC), source=API_PRODUCER, timeout_s=0.8
    )
    deps = await build_default_deps(
        settings, producer, AvroSerde(registry), InMemoryStatusReader(), [canary]
    )
    key = deps.keys.create_key("chaos", SCOPES)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(deps), log_level="warning", timeout_graceful_shutdown=2)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)  # uvicorn exposes no started event
    tmp = ready_file.with_suffix(".tmp")
    tmp.write_text(f"http://127.0.0.1:{port} {key}")
    tmp.replace(ready_file)
    try:
        await task
    finally:
        await deps.aclose()
        await producer.stop()
        await registry.close()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1])))
