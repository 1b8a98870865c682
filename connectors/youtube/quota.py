"""Daily YouTube Data API quota, accounted locally so a full budget means *waiting* for the next
quota day rather than failing an upload.

YouTube resets every project's quota at midnight America/Los_Angeles, so a quota day is 23 or 25
hours long across DST changes; the arithmetic below works in that zone and returns UTC instants.
The server stays the authority: a 403 ``quotaExceeded`` calls :meth:`QuotaBudget.exhaust`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from streams.telemetry.metrics import QUOTA_REMAINING

QUOTA_ZONE = ZoneInfo("America/Los_Angeles")
DEFAULT_DAILY_UNITS = 10_000
# Costs from the YouTube Data API quota calculator
# (https://developers.google.com/youtube/v3/determine_quota_cost). videos.insert is by far the
# largest: a default project can upload six videos a day.
VIDEOS_INSERT_UNITS = 1600
LIST_UNITS = 1  # videos.list, channels.list, playlistItems.list
CAPTIONS_INSERT_UNITS = 400
CAPTIONS_LIST_UNITS = 50  # unlike the other lists: a caption lookup is not cheap


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("quota arithmetic needs a timezone-aware datetime")


def quota_day(instant: datetime) -> date:
    """The quota day (a Pacific calendar date) that ``instant`` belongs to."""
    _require_aware(instant)
    return instant.astimezone(QUOTA_ZONE).date()


def quota_day_start(day: date) -> datetime:
    """When quota day ``day`` begins, in UTC (midnight Pacific always exists: DST switches at
    2 a.m.)."""
    return datetime.combine(day, time(0), tzinfo=QUOTA_ZONE).astimezone(UTC)


def next_quota_day_start(instant: datetime) -> datetime:
    """When the quota resets after ``instant``, in UTC."""
    return quota_day_start(quota_day(instant) + timedelta(days=1))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class QuotaBudget:
    """Units spent per quota day, kept in SQLite so every publisher process of the project draws
    on the same budget."""

    def __init__(
        self,
        path: Path,
        *,
        daily_units: int = DEFAULT_DAILY_UNITS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.path = path
        self.daily_units = daily_units
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS quota_usage (day TEXT PRIMARY KEY,"
                " units INTEGER NOT NULL)"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: read-then-write of the day's usage must not interleave between processes.
        with (
            closing(sqlite3.connect(self.path, timeout=30, isolation_level="IMMEDIATE")) as db,
            db,
        ):
            yield db

    def reserve(self, units: int) -> datetime | None:
        """Record ``units`` against today's budget and return None; or, when they do not fit,
        record nothing and return when the next quota day starts (UTC)."""
        now = self.clock()
        day = quota_day(now).isoformat()
        with self._connect() as db:
            row = db.execute("SELECT units FROM quota_usage WHERE day = ?", (day,)).fetchone()
            used = row[0] if row else 0
            if used + units > self.daily_units:
                QUOTA_REMAINING.labels("youtube").set(max(self.daily_units - used, 0))
                return next_quota_day_start(now)
            db.execute(
                "INSERT INTO quota_usage (day, units) VALUES (?, ?)"
                " ON CONFLICT (day) DO UPDATE SET units = units + excluded.units",
                (day, units),
            )
        QUOTA_REMAINING.labels("youtube").set(max(self.daily_units - used - units, 0))
        return None

    def record(self, units: int) -> None:
        """Record ``units`` even past the budget: cheap reads (1 unit) that must not wait a day."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO quota_usage (day, units) VALUES (?, ?)"
                " ON CONFLICT (day) DO UPDATE SET units = units + excluded.units",
                (quota_day(self.clock()).isoformat(), units),
            )

    def exhaust(self) -> datetime:
        """The server said ``quotaExceeded``: today's budget is gone whatever we counted (other
        clients of the project, a lower quota than configured). Returns the next day's start."""
        now = self.clock()
        with self._connect() as db:
            db.execute(
                "INSERT INTO quota_usage (day, units) VALUES (?, ?)"
                " ON CONFLICT (day) DO UPDATE SET units = MAX(units, excluded.units)",
                (quota_day(now).isoformat(), self.daily_units),
            )
        QUOTA_REMAINING.labels("youtube").set(0)
        return next_quota_day_start(now)

    def used(self, day: date) -> int:
        """Units recorded for quota day ``day``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT units FROM quota_usage WHERE day = ?", (day.isoformat(),)
            ).fetchone()
        return int(row[0]) if row else 0
