"""Ingestion throughput: Kafka topics -> queryable rows in chdb through the ClickHouse sink.

    .venv/bin/python -m tests.bench.ingest_bench [--events 150000] [--batch 5000] [--flush-ms 250]

Starts an embedded noida-db broker (or uses ``MUNJERO_TEST_KAFKA_BOOTSTRAP``), produces a
realistic mix of every ingested event type (whole pipelines: submission, three scripts, renders,
publications, metrics snapshots, plus knowledge documents, experiment updates and dead letters),
then measures on the same topics in the same run:

* the raw aiokafka consume rate: a plain ``getmany`` loop doing no work (the ceiling);
* the sink end to end: from ``ClickHouseSink.run`` starting (schema creation and group join
  included) until every record is committed and its row is queryable in chdb, twice: with
  ClickHouse decoding the payloads (``FORMAT AvroConfluent``, schemas from a registry server in
  this process, the default) and with Python decoding them (``MUNJERO_SINK_DECODER=python``),
  each into its own database.

Targets: >= 20,000 events/s end to end; sink >= 0.5x the raw consume rate.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.broker import EmbeddedBroker
from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from connectors.warehouse.arrow import warm_up
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from factory.config import sink_config
from schemas.serializer import AvroSerde, subject_for
from services.sink.sink import ClickHouseSink, end_offsets
from streams.catalogue import ingested_topics
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests import sample_events as samples
from tests.integration.registry_fixtures import running_registry

TARGET = 20_000
RATIO_TARGET = 0.5


def mixed_events(count: int) -> list[samples.Event]:
    """About ``count`` events in the proportions a running factory produces them."""
    out: list[samples.Event] = []
    n = 0
    while len(out) < count:
        problem = samples.PROBLEMS[n % len(samples.PROBLEMS)]
        out += samples.pipeline(problem, n)  # 19 events per problem
        if n % 20 == 0:
            out.append(samples.knowledge_ingested(n))
            out.append(samples.experiment_updated(n))
        if n % 50 == 0:
            script = next(r for t, _, r in out[-21:] if t == "scripts.drafted")
            out.append(
                samples.step_failed(
                    "renders.completed", "renders.completed", script["script_id"], b"\x00", n
                )
            )
        n += 1
    return out[:count]


async def produce(settings: Settings, serde: AvroSerde, events: list[samples.Event]) -> float:
    assert settings.kafka_bootstrap_servers
    producer = KafkaEventProducer(KafkaClientConfig(settings.kafka_bootstrap_servers), linger_ms=20)
    await producer.start()
    started = time.perf_counter()
    try:
        chunk: list[tuple[str, bytes | None, bytes, Any]] = []
        for topic, event_type, record in events:
            physical = settings.topic(topic)
            value = await serde.encode_async(subject_for(physical), event_type, record)
            chunk.append((physical, samples.key_of(topic, record), value, ()))
            if len(chunk) >= 5000:
                await producer.publish_many(chunk, timeout=120)
                chunk = []
        if chunk:
            await producer.publish_many(chunk, timeout=120)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def raw_consume(bootstrap: str, ends: dict[tuple[str, int], int]) -> float:
    """Seconds for a plain getmany loop to read every record (no group, no decoding)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for (t, p), end in ends.items() if end]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        wanted = sum(ends.values())
        seen = 0
        started = time.perf_counter()
        while seen < wanted:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batch.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


async def sink_end_to_end(
    settings: Settings, serde: AvroSerde, ends: dict[tuple[str, int], int], decoder: str
) -> tuple[float, float, ClickHouseSink, int]:
    """(seconds from start to all rows queryable, steady events/s, the sink, rows queryable).

    Steady: the rate between 10% and 100% of the rows landed, i.e. without the group join and
    first fetch either."""
    warehouse = ChdbWarehouse(settings.data_dir / "chdb")
    # A running sink has its warehouse open and its schema in place: those one-off costs (chdb
    # start, DDL, pyarrow's first conversion) are start-up, not throughput, and stay outside
    # the clock. The consumer-group join and first fetch stay inside it.
    settings = settings.model_copy(
        update={"sink_decoder": decoder, "clickhouse_database": f"bench_{decoder}"}
    )
    await ensure_schema(warehouse, settings.clickhouse_database)
    warm_up()
    config = dataclasses.replace(sink_config(settings), group_id=f"bench-sink-{decoder}")
    assert (config.registry_url is not None) == (decoder == "clickhouse")
    sink = ClickHouseSink(config, warehouse, serde, create_schema=False)
    stop = asyncio.Event()
    wanted = sum(ends.values())
    started = time.perf_counter()
    task = asyncio.create_task(sink.run(stop))
    try:
        while sink.rows_written < wanted // 10 and not task.done():
            await asyncio.sleep(0.005)  # bench-only sampling of a counter; tests await events
        tenth_at, tenth_rows = time.perf_counter(), sink.rows_written
        await sink.wait_caught_up(ends)
        done_at = time.perf_counter()
        db = settings.clickhouse_database
        total = 0
        for table in {spec.table for spec in ingested_topics()}:
            rows = await warehouse.query(f"SELECT count() AS c FROM {db}.{table}")
            total += int(rows[0]["c"])
    finally:
        stop.set()
        await task
        await warehouse.close()
    steady = (wanted - tenth_rows) / (done_at - tenth_at)
    return done_at - started, steady, sink, total


async def run(args: argparse.Namespace, bootstrap: str, data_dir: Path, registry: str) -> None:
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_namespace=f"bench{uuid.uuid4().hex[:8]}.",
        data_dir=data_dir,
        schema_registry_url=registry,
        sink_batch_size=args.batch,
        sink_flush_ms=args.flush_ms,
    )
    await ensure_topics(KafkaClientConfig(bootstrap), namespace=settings.topic_namespace)
    serde = AvroSerde(HttpSchemaRegistry(registry))  # shared by producer and sink
    events = mixed_events(args.events)
    produce_s = await produce(settings, serde, events)
    topics = [settings.topic(spec.name) for spec in ingested_topics()]
    ends = await end_offsets(KafkaClientConfig(bootstrap), topics)
    produced = sum(ends.values())
    raw_s = await raw_consume(bootstrap, ends)
    raw_rate = produced / raw_s
    print(f"events produced:            {produced:>10,}  ({produced / produce_s:,.0f}/s)")
    print(f"raw aiokafka consume:       {raw_rate:>10,.0f} events/s  ({raw_s:.2f}s, no work)")
    failed = []
    for decoder in args.decoder:
        total_s, steady_rate, sink, rows = await sink_end_to_end(settings, serde, ends, decoder)
        sink_rate = produced / total_s
        print(f"-- sink, {decoder} decodes:")
        print(
            f"sink end to end:            {sink_rate:>10,.0f} events/s  ({total_s:.2f}s incl. join)"
        )
        print(f"sink steady (10%..100%):    {steady_rate:>10,.0f} events/s")
        print(
            f"sink / raw:                 {sink_rate / raw_rate:>10.2f}  (steady / raw "
            f"{steady_rate / raw_rate:.2f}; target >= {RATIO_TARGET}: "
            f"{'MET' if sink_rate / raw_rate >= RATIO_TARGET else 'NOT MET'})"
        )
        print(
            f"rows queryable in chdb:     {rows:>10,}  (batches {sink.batches}, "
            f"decoded by ClickHouse {sink.decoded_by_warehouse:,}, fell back "
            f"{sink.warehouse_decode_failures}, undecodable {sink.undecodable}, "
            f"insert retries {sink.insert_failures})"
        )
        for label, rate in (("end to end", sink_rate), ("steady", steady_rate)):
            print(
                f"target >= {TARGET:,} events/s, {label}: {'MET' if rate >= TARGET else 'NOT MET'}"
            )
        if rows != produced:
            failed.append(f"{decoder}: row count {rows} != produced {produced}")
    if failed:
        raise SystemExit("; ".join(failed))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--batch", type=int, default=Settings().sink_batch_size)
    parser.add_argument("--flush-ms", type=int, default=Settings().sink_flush_ms)
    parser.add_argument(
        "--decoder",
        action="append",
        choices=["clickhouse", "python"],
        help="who decodes (repeatable; default: both, ClickHouse first)",
    )
    args = parser.parse_args(argv)
    args.decoder = args.decoder or ["clickhouse", "python"]
    with ExitStack() as stack:
        tmp = Path(
            stack.enter_context(
                tempfile.TemporaryDirectory(prefix="ingest-bench-", ignore_cleanup_errors=True)
            )
        )
        bootstrap = os.environ.get("MUNJERO_TEST_KAFKA_BOOTSTRAP")
        if not bootstrap:
            broker = stack.enter_context(EmbeddedBroker(tmp / "broker"))
            bootstrap = broker.bootstrap_servers
        registry = stack.enter_context(running_registry(tmp / "registry.db"))
        asyncio.run(run(args, bootstrap, tmp / "data", registry))


if __name__ == "__main__":
    main()
