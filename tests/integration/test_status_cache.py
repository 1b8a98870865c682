"""`GET /v1/problems/{id}` through the status cache wired as in `munjero up`: a problem submitted
through the API, its events landed by the real sink (embedded broker, chdb), and every GET after
a landing shows it although the poll before was answered from the cache; the cached document is
the one the warehouse reader gives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.status import WarehouseStatusReader
from factory.config import sink_config
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from services.api.app import create_app
from services.api.deps import build_default_deps
from services.api.status import present
from services.api.status_cache import CachedStatusReader
from services.sink.sink import ClickHouseSink, end_offsets
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests import sample_events as samples

pytestmark = pytest.mark.integration


@dataclass
class Factory:
    settings: Settings
    client: httpx.AsyncClient
    sink: ClickHouseSink
    cache: CachedStatusReader
    direct: WarehouseStatusReader
    produce: Any

    async def landed(self) -> None:
        """Every record produced so far is in chdb and committed by the sink."""
        assert self.settings.kafka_bootstrap_servers
        ends = await end_offsets(
            KafkaClientConfig(self.settings.kafka_bootstrap_servers), self.sink.topics
        )
        async with asyncio.timeout(90):
            await self.sink.wait_caught_up(ends)

    async def status(self, problem_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/problems/{problem_id}")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc


@pytest.fixture
async def factory(settings: Settings) -> AsyncIterator[Factory]:
    bootstrap = settings.kafka_bootstrap_servers
    assert bootstrap
    await ensure_topics(KafkaClientConfig(bootstrap), namespace=settings.topic_namespace)
    db = settings.clickhouse_database
    producer = KafkaEventProducer(KafkaClientConfig(bootstrap))
    await producer.start()
    warehouse = ChdbWarehouse(settings.data_dir / "chdb")
    serde = AvroSerde(InMemorySchemaRegistry())  # the API, the workers and the sink share it
    direct = WarehouseStatusReader(warehouse, db)
    cache = CachedStatusReader(direct, ttl_s=None)  # as factory/supervisor.py wires it
    sink = ClickHouseSink(sink_config(settings), warehouse, serde, on_landed=cache.invalidate)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    deps = await build_default_deps(settings, producer, serde, cache)
    key = deps.keys.create_key("importer", ["problems:read", "problems:write"])

    async def produce(events: list[samples.Event]) -> None:  # what the workers publish
        messages = []
        for topic, event_type, record in events:
            physical = settings.topic(topic)
            value = await serde.encode_async(subject_for(physical), event_type, record)
            messages.append((physical, samples.key_of(topic, record), value, ()))
        await producer.publish_many(messages, timeout=30)

    transport = httpx.ASGITransport(create_app(deps), raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield Factory(settings, client, sink, cache, direct, produce)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await deps.aclose()
        await producer.stop()
        await warehouse.close()


async def test_every_landing_shows_on_the_next_get_and_polls_between_are_cached(
    factory: Factory,
) -> None:
    problem = samples.PROBLEMS[0]
    submitted = samples.problem_submitted(problem, 1)[2]  # the ids the workers will use
    problem_id = submitted["problem_id"]
    body = {k: v for k, v in problem.items() if k != "problem_id"} | {"problem_id": problem_id}
    r = await factory.client.post("/v1/problems", json=body)
    assert r.status_code in (200, 201, 202), r.text
    await factory.landed()
    doc = await factory.status(problem_id)
    assert (doc["status"], doc["steps"][0]["status"], doc["variants"]) == (
        "in_progress",
        "done",
        [],
    )

    async def polled_from_cache() -> dict[str, Any]:
        """A GET answered by the cache, equal to what the warehouse says now."""
        hits = factory.cache.hits
        cached = await factory.status(problem_id)
        assert factory.cache.hits == hits + 1
        fresh = await factory.direct.problem_status(problem_id)
        assert fresh is not None
        expected = factory.settings.draft_variants_per_problem
        assert cached == present(fresh, expected)
        return cached

    await polled_from_cache()

    # The drafting worker publishes three scripts; they land; the next GET shows them.
    scripts = [samples.script_drafted(submitted, arm) for arm in samples.ARMS]
    await factory.produce(scripts)
    await factory.landed()
    doc = await factory.status(problem_id)
    assert [v["script_id"] for v in doc["variants"]] == [s[2]["script_id"] for s in scripts]
    assert doc["steps"][1]["status"] == "done"
    await polled_from_cache()

    # One variant rendered and published: its events are keyed by script and short id.
    render = samples.render_completed(scripts[0][2])
    short = samples.short_published(render[2])
    await factory.produce([render, short])
    await factory.landed()
    doc = await factory.status(problem_id)
    first = doc["variants"][0]
    assert first["published"]["short_id"] == short[2]["short_id"]
    assert first["metrics"] is None
    await polled_from_cache()

    # Metrics carry no problem id, only the short's: the cached document still goes.
    await factory.produce([samples.metrics_observed(short[2], "1h", 0)])
    await factory.landed()
    doc = await factory.status(problem_id)
    assert doc["variants"][0]["metrics"]["window"] == "1h"

    # A dead letter of the second script's render, keyed by that script.
    failed = samples.step_failed(
        "scripts.drafted",
        factory.settings.topic("scripts.drafted"),
        scripts[1][2]["script_id"],
        b"{}",
        5,
    )
    await factory.produce([failed])
    await factory.landed()
    doc = await factory.status(problem_id)
    assert [step["status"] for step in doc["variants"][1]["steps"]] == [
        "done",
        "failed",
        "blocked",
        "blocked",
    ]
    await polled_from_cache()
