"""Spans and log records from Kafka into ClickHouse (the embedded default's collector).

Runs in the process that owns the warehouse (chdb admits one process). In production an
OpenTelemetry Collector with the ClickHouse exporter does this job (k8s/base/otel); the tables
have the same layout, so queries and Grafana panels work on both.

At-least-once: offsets are committed after the inserts succeeded. The dedup token naming the
offsets is a no-op on these tables (no deduplication window), so a crash between insert and
commit repeats some rows; error groups count distinct records, spans only repeat. This sink does
not trace itself (spans about ingesting spans would feed back forever); malformed documents
are counted and skipped, never retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from observability.clickhouse_traces import (
    INGEST_COLUMNS,
    LOGS_TABLE,
    TRACES_TABLE,
    logs_ddl,
    span_row,
    traces_ddl,
    traces_ingest_ddl,
)
from observability.logs import LOG_COLUMNS, log_row
from streams.idle_fetch import CONSUMER_TIMEOUT_MS
from streams.kafka_auth import KafkaClientConfig
from streams.ports.warehouse import Warehouse

log = logging.getLogger(__name__)


def telemetry_statements(database: str, ttl_days: int) -> list[str]:
    """DDL of the trace and log tables (and what hangs off them), in order."""
    from observability.error_groups import error_groups_statements

    traces = f"{database}.{TRACES_TABLE}"
    return [
        traces_ddl(traces, ttl_days=ttl_days),
        *traces_ingest_ddl(traces),
        logs_ddl(f"{database}.{LOGS_TABLE}", ttl_days=ttl_days),
        *error_groups_statements(database, ttl_days=ttl_days),
    ]


@dataclass(frozen=True)
class TelemetrySinkConfig:
    """What the telemetry sink reads: its Kafka identity and group, the physical span and log
    topics, the database and how long traces and logs are kept."""

    kafka: KafkaClientConfig
    group_id: str
    spans_topic: str
    logs_topic: str
    database: str
    retention_days: int


class TelemetrySink:
    def __init__(self, config: TelemetrySinkConfig, warehouse: Warehouse) -> None:
        self._config = config
        self._warehouse = warehouse
        self._db = config.database
        self._spans = config.spans_topic
        self._logs = config.logs_topic
        self.spans_written = 0
        self.logs_written = 0
        self.malformed = 0

    async def ensure_tables(self) -> None:
        for statement in telemetry_statements(self._db, self._config.retention_days):
            await self._warehouse.execute(statement)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_tables()
        consumer = AIOKafkaConsumer(
            self._spans,
            self._logs,
            group_id=self._config.group_id,
            client_id="munjero-telemetry-sink",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=500,  # an empty fetch's wait (data returns at once)
            consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
            **self._config.kafka.kwargs(),
        )
        await consumer.start()
        try:
            while not stop.is_set():
                fetched = await consumer.getmany(timeout_ms=500, max_records=5000)
                if not fetched:
                    continue
                await self._land(fetched, stop)
                if stop.is_set():
                    break  # unlanded: re-read next start
                try:
                    await consumer.commit()
                except KafkaError as exc:  # rebalanced away: the next owner re-reads
                    log.warning("telemetry commit failed: %s", exc)
        finally:
            await consumer.stop()

    async def _land(self, fetched: dict[Any, list[Any]], stop: asyncio.Event) -> None:
        span_rows: list[list[Any]] = []
        log_rows: list[list[Any]] = []
        slices: list[str] = []
        for tp, messages in fetched.items():
            if not messages:
                continue
            slices.append(f"{tp.topic}:{tp.partition}:{messages[0].offset}-{messages[-1].offset}")
            for message in messages:
                try:
                    doc = orjson.loads(message.value)
                    if tp.topic == self._spans:
                        span_rows.append(list(span_row(doc).values()))
                    else:
                        log_rows.append(log_row(doc, {"service.name": doc.get("service", "")}))
                except (ValueError, KeyError, TypeError) as exc:
                    self.malformed += 1
                    log.debug("malformed telemetry %s@%d skipped: %s", tp, message.offset, exc)
        token = "/".join(sorted(slices))[:900]
        if span_rows:
            await self._insert(
                f"{self._db}.{TRACES_TABLE}_ingest", INGEST_COLUMNS, span_rows, token, stop
            )
            self.spans_written += len(span_rows)
        if log_rows:
            await self._insert(f"{self._db}.{LOGS_TABLE}", LOG_COLUMNS, log_rows, token, stop)
            self.logs_written += len(log_rows)

    async def _insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: list[list[Any]],
        token: str,
        stop: asyncio.Event,
    ) -> None:
        delay = 0.2
        while True:
            try:
                await self._warehouse.insert(table, columns, rows, dedup_token=token)
                return
            except Exception as exc:
                if stop.is_set():
                    raise
                log.warning("telemetry insert into %s failed (%s); retrying", table, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
