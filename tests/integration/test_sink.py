"""The ClickHouse sink against the real embedded broker and chdb: every event type lands, the
pipeline view reports the steps, redelivery and replay never double count, garbage is skipped.

Every test runs twice: with ClickHouse decoding the payloads (``FORMAT AvroConfluent``, schemas
from a real registry server) and with Python decoding them (an in-memory registry, which
ClickHouse cannot reach). The outcomes must be the same."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from factory.config import sink_config
from schemas.errors import RegistryUnavailableError
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from services.sink.sink import ClickHouseSink, end_offsets
from streams.kafka_auth import KafkaClientConfig
from streams.ports.warehouse import WarehouseError
from streams.settings import Settings
from tests import sample_events as samples
from tests.integration.registry_fixtures import running_registry

pytestmark = pytest.mark.integration

DB = "munjero"


@dataclass
class Env:
    settings: Settings
    serde: AvroSerde
    producer: KafkaEventProducer
    warehouse: ChdbWarehouse
    decoder: str  # who decodes the payloads: "clickhouse" or "python"

    async def produce(self, events: list[samples.Event]) -> None:
        messages = []
        for topic, event_type, record in events:
            physical = self.settings.topic(topic)
            value = await self.serde.encode_async(subject_for(physical), event_type, record)
            messages.append((physical, samples.key_of(topic, record), value, ()))
        await self.producer.publish_many(messages, timeout=30)

    async def count(self, table: str, final: bool = False) -> int:
        rows = await self.warehouse.query(
            f"SELECT count() AS c FROM {DB}.{table}{' FINAL' if final else ''}"
        )
        return int(rows[0]["c"])

    async def status(self) -> list[dict[str, Any]]:
        return await self.warehouse.query(
            f"SELECT * EXCEPT last_event_at FROM {DB}.pipeline_status ORDER BY problem_id"
        )


@pytest.fixture(params=["clickhouse", "python"])
async def env(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    assert settings.kafka_bootstrap_servers
    await ensure_topics(
        KafkaClientConfig(settings.kafka_bootstrap_servers), namespace=settings.topic_namespace
    )
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers))
    await producer.start()
    # The sink and the producer share one registry, as they share one registry server in a run.
    warehouse = ChdbWarehouse(settings.data_dir / "chdb")
    with contextlib.ExitStack() as stack:
        if request.param == "clickhouse":
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            url = stack.enter_context(running_registry(settings.data_dir / "registry.db"))
            settings = settings.model_copy(update={"schema_registry_url": url})
            serde = AvroSerde(HttpSchemaRegistry(url))
        else:
            serde = AvroSerde(InMemorySchemaRegistry())
        assert (sink_config(settings).registry_url is not None) == (request.param == "clickhouse")
        try:
            yield Env(settings, serde, producer, warehouse, request.param)
        finally:
            await producer.stop()
            await warehouse.close()


@contextlib.asynccontextmanager
async def running(env: Env) -> AsyncIterator[ClickHouseSink]:
    sink = ClickHouseSink(sink_config(env.settings), env.warehouse, env.serde)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        yield sink
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


async def caught_up(env: Env, sink: ClickHouseSink) -> None:
    assert env.settings.kafka_bootstrap_servers
    ends = await end_offsets(KafkaClientConfig(env.settings.kafka_bootstrap_servers), sink.topics)
    async with asyncio.timeout(90):
        await sink.wait_caught_up(ends)


def two_problems(env: Env) -> tuple[list[samples.Event], samples.Event]:
    events = samples.pipeline(samples.PROBLEMS[0], 1) + samples.pipeline(
        samples.PROBLEMS[1], 1, windows=1
    )
    events += [samples.knowledge_ingested(1), samples.experiment_updated(1)]
    failed_script = next(r for t, _, r in events if t == "scripts.drafted")
    dead = samples.step_failed(
        "renders.completed",
        env.settings.topic("scripts.drafted"),
        failed_script["script_id"],
        b"\x00\x00\x00\x00\x07raw avro",
        17,
    )
    return events, dead


async def test_every_event_type_lands_and_the_status_view_reports_the_steps(env: Env) -> None:
    events, dead = two_problems(env)
    async with running(env) as sink:
        await env.produce([*events, dead])
        await caught_up(env, sink)
    assert sink.undecodable == 0
    assert sink.warehouse_decode_failures == 0
    by_clickhouse = len(events) + 1 if env.decoder == "clickhouse" else 0
    assert sink.decoded_by_warehouse == by_clickhouse
    expected = {
        "problems_submitted": 2,
        "scripts_drafted": 6,
        "renders_completed": 6,
        "shorts_published": 6,
        "metrics_observed": 12,
        "knowledge_ingested": 1,
        "experiments_updated": 1,
        "dead_letters": 1,
    }
    assert {t: await env.count(t) for t in expected} == expected

    letters = await env.warehouse.query(
        f"SELECT _topic, original_key, hex(original_value) AS v, original_headers"
        f" FROM {DB}.dead_letters"
    )
    assert letters[0]["_topic"] == env.settings.topic("renders.completed.dlq")
    assert letters[0]["v"] == b"\x00\x00\x00\x00\x07raw avro".hex().upper()
    assert letters[0]["original_headers"][0]["key"] == "traceparent"

    first, second = (f"{samples.PROBLEMS[i]['problem_id']}-1" for i in (0, 1))
    status = {row.pop("problem_id"): row for row in await env.status()}
    assert status[first] | {"submitted_at": None} == {
        "submitted_at": None,
        "submissions": 1,
        "scripts_drafted": 3,
        "renders": 3,
        "published": 3,
        "dead_lettered": 1,  # the render of one script failed (keyed by its script id)
        "last_step": "dead_lettered",
    }
    assert status[first]["submitted_at"] == samples.BASE + timedelta(seconds=1)
    assert status[second]["dead_lettered"] == 0
    assert status[second]["last_step"] == "published"


async def test_redelivery_and_replay_never_double_count(env: Env) -> None:
    events, dead = two_problems(env)
    async with running(env) as sink:
        await env.produce([*events, dead])
        await caught_up(env, sink)
        before = await env.status()
        # A replay: the same facts with the same ids, at new offsets.
        await env.produce([*events, dead])
        await caught_up(env, sink)
        # Both copies were inserted (a background merge may already have collapsed some)...
        assert 6 <= await env.count("scripts_drafted") <= 12
        assert sink.rows_written == 2 * (len(events) + 1)
        assert await env.count("scripts_drafted", final=True) == 6  # ...and they collapse
        assert await env.status() == before
    ends = await end_offsets(
        KafkaClientConfig(env.settings.kafka_bootstrap_servers or ""), sink.topics
    )

    # A redelivery: the consumer group starts over from offset 0.
    await reset_group(env.settings, [tp for tp, end in ends.items() if end])
    async with running(env) as again:
        await caught_up(env, again)
    assert again.rows_written == sum(ends.values())
    assert await env.status() == before
    unique = await env.warehouse.query(
        f"SELECT count() AS c, uniqExact(event_id) AS u FROM {DB}.metrics_observed FINAL"
    )
    assert unique == [{"c": 12, "u": 12}]


async def reset_group(settings: Settings, partitions: list[tuple[str, int]]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.group("sink"),
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, p in partitions]
        consumer.assign(tps)
        await consumer.commit({tp: 0 for tp in tps})
    finally:
        await consumer.stop()


async def test_garbage_is_counted_skipped_and_the_next_event_lands(env: Env) -> None:
    topic, event_type, record = samples.problem_submitted(samples.PROBLEMS[2], 9)
    physical = env.settings.topic(topic)
    key = samples.key_of(topic, record)
    async with running(env) as sink:
        # Same key, so same partition: the good event sits right behind the garbage.
        await env.producer.publish(physical, key, b"\x00\x00\x00\x99garbage")
        await env.produce([(topic, event_type, record)])
        await caught_up(env, sink)
    assert sink.undecodable == 1
    landed = await env.warehouse.query(f"SELECT problem_id, _offset FROM {DB}.problems_submitted")
    assert [r["problem_id"] for r in landed] == [record["problem_id"]]
    errors = await env.warehouse.query(
        f"SELECT _topic, _partition, _offset, raw_message, error FROM {DB}.ingest_errors"
    )
    assert len(errors) == 1
    assert errors[0]["_topic"] == physical
    assert errors[0]["_offset"] == landed[0]["_offset"] - 1
    assert "SerializationError" in errors[0]["error"] or "Unknown" in errors[0]["error"]


async def test_a_corrupt_body_behind_a_valid_header_is_recorded_and_its_neighbours_land(
    env: Env,
) -> None:
    """ClickHouse refuses the whole insert for one bad record: the sink decodes that insert in
    Python instead, so the bad record goes to ingest_errors and the good ones still land."""
    first = samples.problem_submitted(samples.PROBLEMS[0], 31)
    second = samples.problem_submitted(samples.PROBLEMS[0], 32)
    topic, event_type, record = first
    physical = env.settings.topic(topic)
    good = await env.serde.encode_async(subject_for(physical), event_type, record)
    key = samples.key_of(topic, record)
    async with running(env) as sink:
        # The header of the current schema, the body cut short: only decoding can tell.
        await env.producer.publish(physical, key, good[: len(good) // 2])
        await env.produce([first, second])
        await caught_up(env, sink)
    assert sink.undecodable == 1
    if env.decoder == "clickhouse":
        assert sink.warehouse_decode_failures >= 1
    landed = await env.warehouse.query(
        f"SELECT problem_id FROM {DB}.problems_submitted ORDER BY problem_id"
    )
    assert [r["problem_id"] for r in landed] == sorted(
        [first[2]["problem_id"], second[2]["problem_id"]]
    )
    errors = await env.warehouse.query(f"SELECT _topic, error FROM {DB}.ingest_errors")
    assert [e["_topic"] for e in errors] == [physical]
    assert "corrupt ProblemSubmitted body" in errors[0]["error"]


async def test_the_ids_of_landed_rows_reach_on_landed(env: Env) -> None:
    """The API's status cache forgets a problem when rows about it land: the sink must name the
    problem, script and short ids of what it inserted, whoever decoded it."""
    events = samples.pipeline(samples.PROBLEMS[1], 5, windows=1)
    seen: set[str] = set()
    sink = ClickHouseSink(
        sink_config(env.settings), env.warehouse, env.serde, on_landed=seen.update
    )
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        await env.produce(events)
        await caught_up(env, sink)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    expected = {
        str(record[column])
        for _, _, record in events
        for column in ("problem_id", "script_id", "short_id")
        if record.get(column)
    }
    assert expected
    assert seen == expected
    assert sink.decoded_by_warehouse == (len(events) if env.decoder == "clickhouse" else 0)


class FlakyWarehouse:
    """Fails the first ``failures`` inserts (as a ClickHouse outage would), then delegates."""

    def __init__(self, inner: ChdbWarehouse, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.failed = asyncio.Event()
        self.release = asyncio.Event()

    async def insert(self, *args: Any, **kwargs: Any) -> None:
        await self._outage()
        await self.inner.insert(*args, **kwargs)

    async def insert_encoded(self, *args: Any, **kwargs: Any) -> Any:
        await self._outage()
        return await self.inner.insert_encoded(*args, **kwargs)

    async def _outage(self) -> None:
        if self.failures:
            self.failures -= 1
            self.failed.set()
            await self.release.wait()
            raise WarehouseError("simulated outage")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_failing_insert_is_retried_and_nothing_is_committed_before_it_lands(
    env: Env,
) -> None:
    flaky = FlakyWarehouse(env.warehouse, failures=2)
    events = samples.pipeline(samples.PROBLEMS[3], 4, windows=1)
    sink = ClickHouseSink(sink_config(env.settings), flaky, env.serde)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        await env.produce(events)
        async with asyncio.timeout(60):
            await flaky.failed.wait()
        assert await committed(env.settings, sink.topics) == {}  # the batch has not landed
        flaky.release.set()
        await caught_up(env, sink)
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
    # An encoded insert that fails is retried as decoded rows, which then retry on their own.
    assert sink.insert_failures + sink.warehouse_decode_failures == 2
    assert await env.count("scripts_drafted") == 3  # landed once, nothing dropped
    assert sum((await committed(env.settings, sink.topics)).values()) == len(events)


async def committed(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    """Offsets the sink's group has committed (read without joining the group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=settings.group("sink")
    )
    await consumer.start()
    try:
        await consumer.topics()
        out = {}
        for topic in topics:
            for partition in consumer.partitions_for_topic(topic) or ():
                offset = await consumer.committed(TopicPartition(topic, partition))
                if offset:
                    out[(topic, partition)] = offset
        return out
    finally:
        await consumer.stop()


class DownRegistry:
    """The registry process is gone (an API stop, a network cut) until ``back`` is set."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.asked = asyncio.Event()
        self.back = asyncio.Event()

    async def schema_by_id(self, schema_id: int) -> str:
        if not self.back.is_set():
            self.asked.set()
            raise RegistryUnavailableError("connection refused (test)")
        return str(await self.inner.schema_by_id(schema_id))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_registry_outage_holds_the_batch_and_a_stop_in_it_records_nothing(
    env: Env,
) -> None:
    events = samples.pipeline(samples.PROBLEMS[2], 1, windows=1)
    await env.produce(events)
    down = DownRegistry(env.serde._registry)
    # A serde of its own, so no schema is cached: every decode asks the (unreachable) registry.
    sink = ClickHouseSink(sink_config(env.settings), env.warehouse, AvroSerde(down))
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    async with asyncio.timeout(60):
        await down.asked.wait()
    stop.set()  # stopped in the middle of the outage
    await asyncio.wait_for(task, 60)
    assert sink.undecodable == 0  # the bytes were never judged
    assert await committed(env.settings, sink.topics) == {}

    down.back.set()  # the registry answers again: the next start lands everything
    async with running(env) as again:
        await caught_up(env, again)
    assert again.undecodable == 0
    assert await env.count("ingest_errors") == 0  # no record was written off as garbage
    drafted = sum(1 for topic, _, _ in events if topic == "scripts.drafted")
    assert drafted
    assert await env.count("scripts_drafted") == drafted
    assert sum((await committed(env.settings, again.topics)).values()) == len(events)
