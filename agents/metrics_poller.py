"""Metrics polling: every published short is observed at 1 h, 6 h, 24 h, 72 h and 7 d after
publication, each observation a ``metrics.observed`` snapshot.

The schedule must survive restarts, and the offset of a ``shorts.published`` event is committed
long before its last (7 d) poll. So the agent's step only records the short in a durable
schedule (SQLite on the worker's volume; idempotent on the short id) and a timer task polls
whatever is due. A crash between publishing a snapshot and marking it done polls that window
again: the snapshot's event id is derived from (short, window), so ClickHouse keeps one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from agents.metrics_schedule import WINDOWS, due_windows, metrics_record, next_due
from schemas.records import ShortPublished
from streams.ports.analytics import AnalyticsSource
from streams.step import Emit

log = logging.getLogger(__name__)

AGENT = "metrics"
Record = dict[str, Any]
WINDOW_DELTAS = dict(WINDOWS)


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...


class PollSchedule:
    """Shorts to observe and the windows already observed (one SQLite file, one process)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS shorts (short_id TEXT PRIMARY KEY, published_ms INTEGER,"
            " record TEXT NOT NULL, done TEXT NOT NULL DEFAULT '')"
        )

    def add(self, short: ShortPublished) -> None:
        # One statement: with the meta set by a second one, a poll reading in between found a
        # row without its meta and failed on it.
        # The meta is what derived snapshot ids hang on: keep it exactly (datetimes as ms).
        published = short["published_at"]
        occurred = short["meta"]["occurred_at"]
        meta = {**short["meta"], "occurred_at": int(occurred.timestamp() * 1000)}
        record = {**short, "published_at": published.isoformat(), "meta": meta}
        self._db.execute(
            "INSERT INTO shorts (short_id, published_ms, record) VALUES (?, ?, ?)"
            # A row an older version left without its meta is repaired by the redelivery.
            " ON CONFLICT (short_id) DO UPDATE SET record = excluded.record"
            " WHERE json_extract(shorts.record, '$.meta') IS NULL",
            (short["short_id"], int(published.timestamp() * 1000), json.dumps(record)),
        )

    def pending(self) -> list[tuple[ShortPublished, set[str]]]:
        rows = self._db.execute(
            "SELECT record, done FROM shorts WHERE length(done) - length(replace(done, ',', ''))"
            " < ? ORDER BY published_ms",
            (len(WINDOWS),),
        ).fetchall()
        return [(_load(record), set(filter(None, done.split(",")))) for record, done in rows]

    def mark(self, short_id: str, window: str) -> None:
        self._db.execute(
            "UPDATE shorts SET done = done || ? || ',' WHERE short_id = ? AND instr(done, ?) = 0",
            (window, short_id, f"{window},"),
        )

    def close(self) -> None:
        self._db.close()


def _load(text: str) -> ShortPublished:
    record: Record = json.loads(text)
    record["published_at"] = datetime.fromisoformat(record["published_at"])
    meta = record["meta"]
    meta["occurred_at"] = datetime.fromtimestamp(meta["occurred_at"] / 1000, UTC)
    # Stored by ``add`` from a decoded ShortPublished; JSON turned its datetimes into text and
    # numbers, which the two lines above turn back.
    return cast(ShortPublished, record)


class MetricsPoller:
    """Polls due windows and publishes snapshots; wakes when a short is added or one is due."""

    def __init__(
        self,
        schedule: PollSchedule,
        source: AnalyticsSource,
        clock: Clock,
        publish: Callable[[list[Emit]], Awaitable[None]],
        *,
        idle_check_s: float = 30.0,
        time_scale: float = 1.0,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        """``clock`` tells wall-clock time; ``time_scale`` is the channel's seconds per wall
        second (the simulator's speed; 1 on YouTube), see ``agents.metrics_schedule``."""
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.schedule = schedule
        self.source = source
        self.clock = clock
        self.time_scale = time_scale
        self.publish = publish
        self.idle_check_s = idle_check_s
        self.wake = asyncio.Event()
        self.observed = 0
        # True once the worker stops and closes the channel under us: a failure then is the
        # stop's, not the channel's, and is no ERROR (the due windows are polled after restart).
        self.stopping = stopping

    async def step(self, short: ShortPublished) -> list[Emit]:
        await asyncio.to_thread(self.schedule.add, short)
        self.wake.set()
        return []

    async def poll_due(self) -> datetime | None:
        """Observe every due window now; return when the next one falls due."""
        now = self.clock.now()
        soonest: datetime | None = None
        for short, done in await asyncio.to_thread(self.schedule.pending):
            published = short["published_at"]
            for window in due_windows(published, now, done, self.time_scale):
                # The moment the short was ``window`` old on its channel (wall-clock time).
                as_of = published + WINDOW_DELTAS[window] / self.time_scale
                metrics = await self.source.snapshot(short["video_id"], published, as_of)
                record = metrics_record(short, window, metrics, observed_at=now)
                await self.publish([Emit("metrics.observed", short["short_id"], record)])
                await asyncio.to_thread(self.schedule.mark, short["short_id"], window)
                self.observed += 1
                done.add(window)
            upcoming = next_due(published, done, self.time_scale)
            if upcoming is not None and (soonest is None or upcoming < soonest):
                soonest = upcoming
        return soonest

    async def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                soonest = await self.poll_due()
            except Exception:  # the source is down: try again shortly, never stop polling
                if self.stopping():
                    return
                log.exception("metrics polling failed; retrying")
                soonest = None
            sleeper = asyncio.ensure_future(
                self.clock.sleep_until(soonest)
                if soonest is not None
                else asyncio.sleep(self.idle_check_s)
            )
            waker = asyncio.ensure_future(self.wake.wait())
            try:
                await asyncio.wait(
                    {sleeper, waker}, timeout=self.idle_check_s, return_when="FIRST_COMPLETED"
                )
            finally:
                sleeper.cancel()
                waker.cancel()
