"""The independent auditor: counts what really is on the broker and in ClickHouse.

It never asks the system under test how it did (no metrics, no worker counters). It owns its
clients: an aiokafka consumer with ``isolation_level="read_committed"`` and manual assignment
(no consumer group, so it can never steal partitions or move a group's offsets) reads each topic
from its log start to the end offsets taken when the audit starts, and decodes every value with
the Confluent wire header + the registry's writer schema (``AvroSerde``). Undecodable records are
counted, not skipped silently.

Figures:

* per topic: records, distinct ``meta.event_id`` (deliveries beyond distinct ids are replays,
  which at-least-once allows; ClickHouse must collapse them);
* *effects* duplicated: more than one distinct script id per (problem, arm), more than one
  distinct video id per render id (a short uploaded twice);
* loss: input ids without their output;
* dead letters (original topic/partition/offset/key, error class, fatal);
* a group's remaining lag per topic (committed offset vs end offset, a never-committed partition
  counts from its log start), e.g. "retry topics end empty" = lag 0 on every tier;
* ClickHouse: ``count()`` vs ``count() FINAL`` vs ``uniqExact(event_id)`` of the raw tables and the
  analysts' ``pipeline_status`` view.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.serializer import AvroSerde

Record = dict[str, Any]


@dataclass(frozen=True)
class Audited:
    """One committed record as the auditor read it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    event_type: str | None  # None: the value is not a valid wire-format event
    record: Record | None


@dataclass
class TopicCount:
    topic: str
    records: int = 0
    undecodable: int = 0
    event_ids: set[str] = field(default_factory=set)

    @property
    def distinct(self) -> int:
        return len(self.event_ids)

    @property
    def replays(self) -> int:
        return self.records - self.undecodable - self.distinct


async def read_topic(
    bootstrap: str, topic: str, serde: AvroSerde, *, timeout_ms: int = 1000
) -> list[Audited]:
    """Every committed record of ``topic`` from log start to the current end offsets."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15000,
    )
    await consumer.start()
    out: list[Audited] = []
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer.topics()  # refresh metadata once
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)  # read_committed: the last stable offsets
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if not pending:
                break
            batch = await consumer.getmany(*pending, timeout_ms=timeout_ms, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= ends[tp]:
                        continue
                    out.append(await _decode(serde, tp, r.offset, r.key, r.value))
    finally:
        await consumer.stop()
    return out


async def _decode(
    serde: AvroSerde, tp: TopicPartition, offset: int, key: bytes | None, value: bytes | None
) -> Audited:
    try:
        decoded = await serde.decode(value)
    except Exception:  # the auditor reports bad bytes, it does not judge them
        return Audited(tp.topic, tp.partition, offset, key, None, None)
    return Audited(tp.topic, tp.partition, offset, key, decoded.event_type, decoded.record)


def count(topic: str, records: Iterable[Audited]) -> TopicCount:
    counted = TopicCount(topic)
    for r in records:
        counted.records += 1
        if r.record is None:
            counted.undecodable += 1
            continue
        meta = r.record.get("meta") or {}
        counted.event_ids.add(str(meta.get("event_id")))
    return counted


@dataclass
class DraftAudit:
    """problems.submitted -> scripts.drafted."""

    problems: int
    scripts_records: int
    scripts_distinct: int
    lost_problems: list[str]  # submitted, fewer than k distinct scripts
    duplicate_effects: int  # (problem, arm) pairs with more than one distinct script id

    @property
    def lost(self) -> int:
        return len(self.lost_problems)


def audit_drafts(problem_ids: Iterable[str], scripts: Sequence[Audited], k: int) -> DraftAudit:
    by_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    per_problem: dict[str, set[str]] = defaultdict(set)
    distinct: set[str] = set()
    for r in scripts:
        if r.record is None:
            continue
        rec = r.record
        by_pair[(rec["problem_id"], rec["arm_id"])].add(rec["script_id"])
        per_problem[rec["problem_id"]].add(rec["script_id"])
        distinct.add(rec["script_id"])
    wanted = list(problem_ids)
    return DraftAudit(
        problems=len(wanted),
        scripts_records=len(scripts),
        scripts_distinct=len(distinct),
        lost_problems=[p for p in wanted if len(per_problem.get(p, ())) < k],
        duplicate_effects=sum(1 for ids in by_pair.values() if len(ids) > 1),
    )


@dataclass
class PublishAudit:
    """renders.completed -> shorts.published."""

    renders: int
    shorts_records: int
    lost_renders: list[str]
    published_twice: list[str]  # render ids with more than one distinct video id


def audit_publish(render_ids: Iterable[str], shorts: Sequence[Audited]) -> PublishAudit:
    videos: dict[str, set[str]] = defaultdict(set)
    for r in shorts:
        if r.record is not None:
            videos[r.record["render_id"]].add(r.record["video_id"])
    wanted = list(render_ids)
    return PublishAudit(
        renders=len(wanted),
        shorts_records=len(shorts),
        lost_renders=[rid for rid in wanted if rid not in videos],
        published_twice=sorted(rid for rid, ids in videos.items() if len(ids) > 1),
    )


@dataclass(frozen=True)
class DeadLetter:
    original_topic: str
    original_partition: int
    original_offset: int
    original_key: bytes | None
    error_class: str
    fatal: bool
    attempts: int


def dead_letters(records: Iterable[Audited]) -> list[DeadLetter]:
    out = []
    for r in records:
        if r.record is None:
            continue
        rec = r.record
        out.append(
            DeadLetter(
                rec["original_topic"],
                int(rec["original_partition"]),
                int(rec["original_offset"]),
                rec.get("original_key"),
                str(rec["error_class"]),
                bool(rec["fatal"]),
                int(rec["attempts"]),
            )
        )
    return out


async def group_lag(bootstrap: str, group: str, topics: Sequence[str]) -> dict[str, int]:
    """Records of each topic the group has not committed past (0 everywhere = drained).

    A partition the group never committed counts from its log start, so an untouched backlog
    is lag, not silence (``connectors.kafka_lag`` lists committed partitions only)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    await consumer.start()
    try:
        committed = {
            tp: meta.offset
            for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
            if meta.offset >= 0
        }
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        if not tps:
            return dict.fromkeys(topics, 0)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        lag: dict[str, int] = dict.fromkeys(topics, 0)
        for tp in tps:
            lag[tp.topic] += max(0, ends[tp] - committed.get(tp, starts[tp]))
        return lag
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()
        with contextlib.suppress(Exception):
            await admin.close()


@dataclass(frozen=True)
class TableCount:
    table: str
    rows: int  # count(): physical rows, duplicates not yet merged included
    final: int  # count() FINAL: what an analyst's dedup-aware query sees
    distinct_ids: int  # uniqExact(event_id): the truth

    @property
    def double_counted(self) -> int:
        return self.final - self.distinct_ids


async def clickhouse_counts(
    warehouse: Any, database: str, tables: Sequence[str]
) -> list[TableCount]:
    out = []
    for table in tables:
        (row,) = await warehouse.query(
            f"SELECT (SELECT count() FROM `{database}`.`{table}`) AS rows, "
            f"(SELECT count() FROM `{database}`.`{table}` FINAL) AS final, "
            f"(SELECT uniqExact(event_id) FROM `{database}`.`{table}`) AS ids"
        )
        out.append(TableCount(table, int(row["rows"]), int(row["final"]), int(row["ids"])))
    return out


async def pipeline_status_counts(warehouse: Any, database: str, k: int) -> dict[str, int]:
    """What the analysts' ``pipeline_status`` view says: problems, and those with exactly
    ``k`` scripts and with more than ``k`` (double counted)."""
    (row,) = await warehouse.query(
        f"SELECT count() AS problems, countIf(scripts_drafted = {k}) AS complete, "
        f"countIf(scripts_drafted > {k}) AS over FROM `{database}`.pipeline_status"
    )
    return {key: int(value) for key, value in row.items()}


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Partition -> the group's committed offset on ``topic`` (absent: never committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == topic}
