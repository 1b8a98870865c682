"""The ClickHouse sink of the embedded default: every ingested topic -> its raw table.

Why plain aiokafka and not Faust: Faust's per-message overhead (it rewrites its state file and
runs every event through its stream machinery) caps pass-through near 1.6k msg/s on the embedded
broker, and the sink must keep up with >= 20k events/s. Here a ``getmany`` loop hands whole
fetches to pure batching logic (``services.sink.batch``): one Arrow insert per table per flush,
landed in the background while the next batch is decoded (chdb releases the GIL while it
ingests, so decoding and ingesting use both cores). ``tests/bench/ingest_bench.py`` measures it.

Guarantees:
* Offsets are committed only after every insert of the batch succeeded. A failed insert is
  retried with backoff until it succeeds or the sink is stopped; the batch is never dropped and
  no partition is skipped.
* Each insert carries a dedup token naming its ``topic:partition:first-last`` slices, so a
  retried insert whose first attempt did land is a no-op; anything that still repeats (a
  redelivery after a crash, a replay) collapses on ``event_id`` in ``ReplacingMergeTree`` and is
  never double counted by the views (see ``warehouse.tables``).
* A record that cannot be decoded is not the sink's to dead-letter (the consuming agent does
  that): it is counted (``undecodable``), logged with its coordinates, recorded in
  ``ingest_errors`` and passed over. Registry outages are not decoding failures: they are
  retried.

Decoding. When the registry has a URL ClickHouse can reach (``SinkConfig.registry_url``) and the
warehouse decodes (``DecodingWarehouse``: chdb), a record written with the current contract of
its topic's event type is not decoded here at all: its payload goes to ClickHouse as it came and
``FORMAT AvroConfluent`` decodes it, off the GIL (``warehouse.avro_input``). Python only reads the
5-byte header. Records of older schema versions (which need defaults filled by schema
resolution), records whose schema cannot be looked up now, and every record of an insert that
ClickHouse refuses (a corrupt body fails the whole insert) are decoded here as before, so the
rows and the ``ingest_errors`` entries are the same either way.

In production the sink is not deployed: ClickHouse's Kafka engine ingests the same topics
(``k8s/base/clickhouse/kafka-ingest.sql``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from connectors.warehouse.schema import ensure_schema
from schemas.serializer import AvroSerde
from services.sink.batch import TP, Backoff, Batch, EncodedInsert, FlushPolicy, Insert
from streams.catalogue import TopicSpec, ingested_topics
from streams.errors import BrokerUnavailableError, MunjeroError, SerializationError
from streams.idle_fetch import CONSUMER_TIMEOUT_MS
from streams.kafka_auth import KafkaClientConfig
from streams.ports.warehouse import DecodingWarehouse, EncodedRows, Warehouse, WarehouseError
from streams.telemetry.metrics import SINK_ROWS
from warehouse import avro_input
from warehouse.rows import INGEST_ERROR_COLUMN_NAMES, Row, RowMapper, error_row, mapper_for_topic
from warehouse.tables import INGEST_ERRORS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkConfig:
    """What the sink reads: its Kafka identity and group, the topic namespace, the database
    and when to flush (rows per batch, milliseconds since the batch's first row)."""

    kafka: KafkaClientConfig
    group_id: str
    database: str
    topic_namespace: str
    batch_size: int
    flush_ms: int
    # The registry as ClickHouse reaches it, to decode payloads there; None: decode in Python.
    registry_url: str | None = None

    def topic(self, name: str) -> str:
        """The physical topic name for a catalogue name, with the namespace applied."""
        return f"{self.topic_namespace}{name}"


class ClickHouseSink:
    """Consumes every ingested topic and writes raw rows through a ``Warehouse``."""

    def __init__(
        self,
        config: SinkConfig,
        warehouse: Warehouse,
        serde: AvroSerde,
        *,
        specs: Iterable[TopicSpec] | None = None,
        create_schema: bool = True,
        on_landed: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self._config = config
        self._warehouse = warehouse
        self._serde = serde
        self._db = config.database
        self._specs = {config.topic(s.name): s for s in (specs or ingested_topics())}
        self._create_schema = create_schema
        # Told the ids of every batch once its rows are queryable (the API's status cache).
        self._on_landed = on_landed
        self._policy = FlushPolicy(config.batch_size, config.flush_ms / 1000)
        self._batch = Batch()
        self._decoding: DecodingWarehouse | None = (
            warehouse if config.registry_url and isinstance(warehouse, DecodingWarehouse) else None
        )
        self._current: dict[tuple[int, str], bool] = {}  # (schema id, type) -> ClickHouse's?
        self._flush_lock = asyncio.Lock()
        self._progress: dict[TP, int] = {}  # next offset known to be in the warehouse
        self._progress_changed = asyncio.Condition()
        self._consumer: AIOKafkaConsumer | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._ready: asyncio.Task[None] | None = None  # schema creation, started by run()
        self._stop: asyncio.Event | None = None
        # Counters (read by tests, the benchmark and metrics).
        self.undecodable = 0
        self.rows_written = 0
        self.decoded_by_warehouse = 0  # rows ClickHouse decoded (the rest: Python)
        self.warehouse_decode_failures = 0  # encoded inserts that fell back to Python
        self.batches = 0
        self.insert_failures = 0

    @property
    def topics(self) -> list[str]:
        """Physical topics this sink consumes."""
        return sorted(self._specs)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; flush what is buffered before returning."""
        with _relaxed_gc():
            await self._run(stop)

    async def _run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        consumer = AIOKafkaConsumer(
            group_id=self._config.group_id,
            client_id="munjero-sink",
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A fetch with data returns at once; this is only how long an empty one may wait
            # (capped by the idle-fetch wait, docs/broker.md): an idle sink fetches 4 times a
            # second, not 10.
            fetch_max_wait_ms=500,
            consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **self._config.kafka.kwargs(),
        )
        consumer.subscribe(self.topics, listener=_Revoked(self))
        # The schema (chdb, in a thread) is created while the group join and the first fetches
        # proceed; the first insert waits for it.
        self._ready = asyncio.create_task(self._prepare_warehouse())
        try:
            await consumer.start()
        except (KafkaError, OSError) as exc:
            self._ready.cancel()
            self._ready = None
            raise BrokerUnavailableError(f"sink cannot connect: {exc}") from exc
        self._consumer = consumer
        try:
            while not stop.is_set():
                await self._step(consumer)
            async with self._flush_lock:
                await self._settle()
                batch, self._batch = self._batch, Batch()
                await self._land(consumer, batch)
        except _Stopping as exc:
            # Stopped while the warehouse was failing: the batch stays uncommitted and is re-read
            # on the next start (the dedup token makes any part that did land a no-op).
            log.warning("sink stopped with an unflushed batch: %s", exc.__cause__)
        finally:
            self._consumer = None
            if self._inflight is not None:  # only when leaving on an error
                self._inflight.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._inflight
                self._inflight = None
            if self._ready is not None and not self._ready.done():
                self._ready.cancel()
            await consumer.stop()

    async def _prepare_warehouse(self) -> None:
        if self._create_schema:
            await self._retry(lambda: ensure_schema(self._warehouse, self._db), "create schema")

    async def _step(self, consumer: AIOKafkaConsumer) -> None:
        if self._inflight is not None and self._inflight.done():
            await self._settle()  # a landing that failed for good fails the sink now
        now = time.monotonic()
        fetched = await consumer.getmany(
            timeout_ms=int(self._policy.fetch_timeout_s(self._batch, now) * 1000),
            max_records=self._policy.room(self._batch),
        )
        ingested_at = datetime.now(UTC)
        async with self._flush_lock:
            for tp, messages in fetched.items():
                if messages:
                    await self._add_partition(tp.topic, tp.partition, messages, ingested_at)
            if self._policy.due(self._batch, time.monotonic()):
                # Land this batch in the background and keep decoding the next one: chdb
                # releases the GIL while it ingests, so the two use both cores. One batch in
                # flight at most keeps commits in order and memory bounded.
                await self._settle()
                batch, self._batch = self._batch, Batch()
                self._inflight = asyncio.create_task(self._land(consumer, batch))
            elif not self._batch.records and (self._inflight is None or self._inflight.done()):
                await self._settle()
                await self._note_positions(consumer)

    async def _add_partition(
        self, topic: str, partition: int, messages: list[Any], ingested_at: datetime
    ) -> None:
        """Sort one partition's fetched records: payloads ClickHouse will decode, and rows (or
        ``ingest_errors`` rows) decoded here (the hot loop)."""
        spec = self._specs[topic]
        mapper = mapper_for_topic(spec.name)
        expected = spec.value_schema
        rows: list[Row] = []
        errors: list[Row] = []
        encoded: list[Any] = []
        for i, msg in enumerate(messages):
            if i % 512 == 511:
                # Decoding never really awaits (schemas are cached): let the loop breathe, the
                # supervisor runs the API in this process.
                await asyncio.sleep(0)
            if msg.value is None:  # a tombstone on a compacted topic: an offset, no event
                continue
            if self._decoding is not None and await self._warehouse_decodes(msg.value, expected):
                encoded.append(msg)
                continue
            await self._decode_here(msg, mapper, expected, ingested_at, rows, errors)
        batch = self._batch
        batch.add_offsets(
            topic,
            partition,
            messages[0].offset,
            messages[-1].offset,
            len(messages),
            time.monotonic(),
        )
        table = f"{self._db}.{mapper.table}"
        batch.add_encoded(topic, partition, table, spec.name, mapper.columns, encoded)
        batch.add_rows(topic, partition, table, mapper.columns, rows)
        batch.add_rows(
            topic, partition, f"{self._db}.{INGEST_ERRORS}", INGEST_ERROR_COLUMN_NAMES, errors
        )

    async def _warehouse_decodes(self, value: bytes, expected: str) -> bool:
        """Whether ClickHouse can decode ``value`` to the row Python would: Confluent framing,
        and the schema id is the current contract of ``expected``. Anything else, including a
        registry that does not answer now, is left to Python (which waits for the registry)."""
        if len(value) < 5 or value[0] != 0:
            return False
        key = (int.from_bytes(value[1:5], "big"), expected)
        known = self._current.get(key)
        if known is None:
            try:
                known = await self._serde.is_current(key[0], expected)
            except MunjeroError:
                return False  # not remembered: asked again once the registry answers
            self._current[key] = known
        return known

    async def _decode_here(
        self,
        msg: Any,
        mapper: RowMapper,
        expected: str,
        ingested_at: datetime,
        rows: list[Row],
        errors: list[Row],
    ) -> None:
        """Decode one record in Python into ``rows``, or into ``errors`` when it cannot be."""
        try:
            try:
                decoded = await self._serde.decode(msg.value, expected)
            except SerializationError:
                raise
            except MunjeroError:
                decoded = await self._decode_when_registry_answers(msg.value, expected)
        except _Stopping:
            raise  # a stop during a registry outage says nothing about the bytes
        except Exception as exc:  # undecodable: recorded and passed over, never raised
            errors.append(self._undecodable(msg, exc, ingested_at))
            return
        rows.append(mapper.row(decoded.record, msg.topic, msg.partition, msg.offset, ingested_at))

    def _undecodable(self, msg: Any, exc: Exception, ingested_at: datetime) -> Row:
        self.undecodable += 1
        log.warning(
            "undecodable record %s[%d]@%d skipped: %s", msg.topic, msg.partition, msg.offset, exc
        )
        return error_row(
            msg.topic,
            msg.partition,
            msg.offset,
            msg.timestamp,
            msg.value,
            f"{type(exc).__name__}: {exc}",
            ingested_at,
        )[1]

    async def _decode_when_registry_answers(self, value: bytes, expected: str) -> Any:
        """The registry is unreachable or failing: the bytes may be fine. Wait, don't skip."""
        backoff = Backoff()
        while True:
            delay = backoff.next_delay()
            await asyncio.sleep(delay)
            try:
                return await self._serde.decode(value, expected)
            except SerializationError:
                raise
            except MunjeroError as exc:
                if self._stop is not None and self._stop.is_set():
                    raise _Stopping("schema lookup") from exc
                log.warning("schema lookup failed (%s); retrying in %.1fs", exc, delay)

    async def _settle(self) -> None:
        """Wait for the batch in flight (if any) to land; its failure surfaces here."""
        task, self._inflight = self._inflight, None
        if task is not None:
            await task

    async def _land(self, consumer: AIOKafkaConsumer, batch: Batch) -> None:
        """Insert every row of ``batch``, then commit its offsets."""
        if not batch.records:
            return
        if self._ready is not None:
            await asyncio.shield(self._ready)  # the tables exist before the first insert
        inserts = batch.inserts()
        for insert in inserts:
            await self._retry(_inserter(self._warehouse, insert), f"insert into {insert.table}")
            self.rows_written += len(insert.rows)
            SINK_ROWS.labels("python").inc(len(insert.rows))
        ids = landed_ids(inserts)
        # Concurrently: ClickHouse decodes and writes each table's insert on its own session.
        for landed in await asyncio.gather(*map(self._land_encoded, batch.encoded_inserts())):
            ids |= landed
        if self._on_landed is not None:
            # Before the commit: whoever waits for the commit (wait_caught_up) reads fresh rows.
            self._on_landed(ids)
        offsets = batch.commit_offsets()
        self.batches += 1
        try:
            await consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except (CommitFailedError, KafkaError) as exc:
            # Lost the partitions in a rebalance: the new owner re-reads from the last commit and
            # the dedup token / ReplacingMergeTree absorb the repeat.
            log.warning("offset commit failed after a successful insert: %s", exc)
            return
        await self._advance(offsets)

    async def _land_encoded(self, insert: EncodedInsert) -> frozenset[str]:
        """Let ClickHouse decode and insert ``insert``'s records; if it refuses (a corrupt body,
        the registry out of its reach, anything), decode them here and insert the rows with the
        same token. The ids of the landed rows, for ``on_landed``."""
        assert self._decoding is not None
        assert self._config.registry_url is not None
        structure, select = avro_input.avro_input(insert.topic_name)
        ingested_at = datetime.now(UTC)
        records = insert.records
        rows = EncodedRows(
            format=avro_input.FORMAT,
            structure=structure,
            select=select,
            data=b"".join(m.value for m in records),
            params=avro_input.coordinates(
                [(m.topic, m.partition, m.offset) for m in records], ingested_at
            ),
            settings={
                "format_avro_schema_registry_url": self._config.registry_url,
                # Copies of one event inside an insert are left for the merges and FINAL (which
                # the views and analysts use) instead of being collapsed while inserting: 25 %
                # of the insert's cost for wide tables, measured.
                "optimize_on_insert": "0",
            },
        )
        wanted = ENTITY_COLUMNS if self._on_landed is not None else ()
        try:
            found = await self._decoding.insert_encoded(
                insert.table, insert.columns, rows, dedup_token=insert.dedup_token, distinct=wanted
            )
        except WarehouseError as exc:
            self.warehouse_decode_failures += 1
            log.warning(
                "ClickHouse did not decode %d records for %s (%s); decoding them in Python",
                len(records),
                insert.table,
                str(exc).splitlines()[0][:300],
            )
            return await self._land_decoded_here(insert, ingested_at)
        self.rows_written += len(records)
        self.decoded_by_warehouse += len(records)
        SINK_ROWS.labels("clickhouse").inc(len(records))
        return frozenset().union(*found.values())

    async def _land_decoded_here(
        self, insert: EncodedInsert, ingested_at: datetime
    ) -> frozenset[str]:
        spec = self._specs[insert.records[0].topic]
        mapper = mapper_for_topic(spec.name)
        rows: list[Row] = []
        errors: list[Row] = []
        for msg in insert.records:
            await self._decode_here(msg, mapper, spec.value_schema, ingested_at, rows, errors)
        # The same token: had the refused insert landed after all, this one is a no-op.
        decoded = [
            Insert(insert.table, insert.columns, rows, insert.dedup_token),
            Insert(
                f"{self._db}.{INGEST_ERRORS}",
                INGEST_ERROR_COLUMN_NAMES,
                errors,
                insert.dedup_token + "/e",
            ),
        ]
        for each in decoded:
            if each.rows:
                await self._retry(_inserter(self._warehouse, each), f"insert into {each.table}")
                self.rows_written += len(each.rows)
                SINK_ROWS.labels("python").inc(len(each.rows))
        return landed_ids(decoded)

    async def _retry(self, call: Callable[[], Awaitable[None]], what: str) -> None:
        """Call until it succeeds; give up only when stopping (after a few more attempts)."""
        backoff = Backoff()
        while True:
            try:
                await call()
                return
            except MunjeroError as exc:
                self.insert_failures += 1
                if self._stop is not None and self._stop.is_set() and backoff.attempt >= 3:
                    raise _Stopping(what) from exc
                delay = backoff.next_delay()
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)

    async def _note_positions(self, consumer: AIOKafkaConsumer) -> None:
        """With nothing buffered, the consumed position of every assigned partition is in the
        warehouse: it covers offsets without records (transaction markers, compaction gaps)."""
        positions: dict[TP, int] = {}
        for tp in consumer.assignment():
            try:
                position = await consumer.position(tp)
            except KafkaError:
                continue
            if position > self._progress.get((tp.topic, tp.partition), 0):
                positions[(tp.topic, tp.partition)] = position
        if positions:
            try:
                await consumer.commit({TopicPartition(t, p): o for (t, p), o in positions.items()})
            except (CommitFailedError, KafkaError) as exc:
                log.info("position commit skipped: %s", exc)
                return
            await self._advance(positions)

    async def _advance(self, offsets: Mapping[TP, int]) -> None:
        async with self._progress_changed:
            for tp, offset in offsets.items():
                self._progress[tp] = max(offset, self._progress.get(tp, 0))
            self._progress_changed.notify_all()

    async def wait_caught_up(self, end_offsets: Mapping[TP, int]) -> None:
        """Return once every partition's records below ``end_offsets`` are in the warehouse and
        committed. Keys are (physical topic, partition), as ``end_offsets()`` below returns them.
        Wakes on each commit, no polling; bound it with ``asyncio.timeout``."""

        def done() -> bool:
            return all(self._progress.get(tp, 0) >= end for tp, end in end_offsets.items())

        async with self._progress_changed:
            await self._progress_changed.wait_for(done)

    async def on_revoked(self, revoked: set[TP]) -> None:
        """A rebalance is taking partitions away: land and commit what is buffered first.

        Whatever cannot land within 30 s is forgotten, not lost: it is uncommitted, and after the
        rebalance every assigned partition is fetched again from its committed offset."""
        consumer = self._consumer
        if consumer is None:
            return
        async with self._flush_lock:
            batch, self._batch = self._batch, Batch()
            try:
                async with asyncio.timeout(30):
                    await self._settle()
                    await self._land(consumer, batch)
            except (TimeoutError, MunjeroError, _Stopping) as exc:
                log.warning("flush before rebalance failed (%s); records will be re-read", exc)
        for tp in revoked:
            self._progress.pop(tp, None)


@contextlib.contextmanager
def _relaxed_gc(gen0: int = 50_000) -> Iterator[None]:
    """Collect generation 0 every ``gen0`` allocations instead of 700 while the sink runs.

    A batch keeps thousands of decoded rows alive; with CPython's default thresholds every few
    hundred allocations of decoding rescan them (and promote them to be rescanned again), which
    measured 25-35% of decode time. Nothing here creates reference cycles worth collecting
    sooner. The previous thresholds come back when ``run`` returns."""
    previous = gc.get_threshold()
    gc.set_threshold(max(gen0, previous[0]), previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


# Columns naming what a landed row is about: its problem, and the ids its events are keyed by
# (metrics by short, dead letters by their record's key).
ENTITY_COLUMNS = ("problem_id", "script_id", "short_id", "original_key")


def landed_ids(inserts: Iterable[Insert]) -> frozenset[str]:
    """The problem, script, short and record-key ids in ``inserts``' rows."""
    ids: set[str] = set()
    for insert in inserts:
        for column in ENTITY_COLUMNS:
            if column in insert.columns:
                index = list(insert.columns).index(column)
                ids.update(_text(row[index]) for row in insert.rows if row[index] is not None)
    return frozenset(ids)


def _text(value: Any) -> str:
    # Record keys are bytes in dead letters (``original_key``); ids are strings elsewhere.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class _Stopping(Exception):
    """Raised out of a retry loop when the sink is asked to stop while a call keeps failing."""


def _inserter(warehouse: Warehouse, insert: Insert) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await warehouse.insert(
            insert.table, insert.columns, insert.rows, dedup_token=insert.dedup_token
        )

    return call


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, sink: ClickHouseSink) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._sink.on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        return None


async def end_offsets(kafka: KafkaClientConfig, topics: Iterable[str]) -> dict[TP, int]:
    """The current end offset (last stable offset) of every partition of ``topics``; what
    ``ClickHouseSink.wait_caught_up`` waits for after a test or benchmark produced."""
    consumer = AIOKafkaConsumer(isolation_level="read_committed", **kafka.kwargs())
    await consumer.start()
    try:
        await consumer.topics()  # loads metadata for every topic
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()
