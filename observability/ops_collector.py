"""Gauges read from the broker and the warehouse: consumer lag, dead-letter depth, the time of
the last published short and shorts published today.

They describe the system, not one process, so exactly one process exports them: the one that
can reach both (the API process on the embedded default; in Kubernetes the evaluator, next to
ClickHouse). A background task refreshes a snapshot every few seconds and a Prometheus
collector serves the snapshot, so a scrape never waits on the broker, and series of partitions
or groups that disappeared vanish instead of freezing at their last value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from connectors.kafka_lag import LagRow
from streams.ports.warehouse import Warehouse
from streams.telemetry import metrics
from warehouse.tables import ident

log = logging.getLogger(__name__)

LAST_PUBLISHED_SQL = """
SELECT toUnixTimestamp64Milli(max(occurred_at)) / 1000.0 AS last_ts,
       uniqExactIf(short_id, occurred_at >= toStartOfDay(now64(3, 'UTC'))) AS today,
       count() AS n
FROM {db}.shorts_published
"""


@dataclass
class OpsSnapshot:
    lag: list[LagRow] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)  # catalogue DLQ topic -> records
    last_published: float | None = None  # unix seconds
    shorts_today: int | None = None
    refreshed_at: float = 0.0


class OpsCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = OpsSnapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        lag = GaugeMetricFamily(
            metrics.CONSUMER_LAG,
            "Records a consumer group has not yet committed, per topic and partition",
            labels=["group", "topic", "partition"],
        )
        for group, topic, partition, value in snap.lag:
            lag.add_metric([group, topic, str(partition)], value)
        yield lag
        depth = GaugeMetricFamily(
            metrics.DEAD_LETTER_DEPTH, "Records in each dead-letter topic", labels=["topic"]
        )
        for topic, value in sorted(snap.dead_letters.items()):
            depth.add_metric([topic], value)
        yield depth
        if snap.last_published is not None:
            yield GaugeMetricFamily(
                metrics.LAST_PUBLISHED,
                "Unix time of the most recent published short",
                value=snap.last_published,
            )
        if snap.shorts_today is not None:
            yield GaugeMetricFamily(
                metrics.SHORTS_TODAY, "Shorts published since 00:00 UTC", value=snap.shorts_today
            )


async def last_published(warehouse: Warehouse, database: str) -> tuple[float | None, int]:
    rows = await warehouse.query(LAST_PUBLISHED_SQL.replace("{db}", ident(database)))
    if not rows or not rows[0]["n"]:
        return None, 0
    return float(rows[0]["last_ts"]), int(rows[0]["today"])


async def refresh_forever(
    collector: OpsCollector,
    *,
    lag: Callable[[], Awaitable[list[LagRow]]],
    dead_letters: Callable[[], Awaitable[dict[str, int]]],
    published: Callable[[], Awaitable[tuple[float | None, int]]] | None,
    every_s: float = 5.0,
) -> None:
    """Refresh the snapshot until cancelled; a failing source keeps its previous values."""
    while True:
        snap = collector.snapshot
        with contextlib.suppress(Exception):
            snap.lag = await lag()
        with contextlib.suppress(Exception):
            snap.dead_letters = await dead_letters()
        if published is not None:
            try:
                snap.last_published, snap.shorts_today = await published()
            except Exception as exc:  # the warehouse is down: alerts on staleness catch it
                log.debug("last-published query failed: %s", exc)
        snap.refreshed_at = time.time()
        await asyncio.sleep(every_s)


@contextlib.contextmanager
def registered(collector: OpsCollector) -> Iterator[OpsCollector]:
    REGISTRY.register(collector)
    try:
        yield collector
    finally:
        REGISTRY.unregister(collector)


def dlq_topics(names: Sequence[str]) -> list[str]:
    return [n for n in names if n.endswith(".dlq")]
