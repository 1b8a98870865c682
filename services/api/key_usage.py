"""When each API key was last used: a small SQLite file beside the data, not the key file.

The key file is the authority on who may call, and in Kubernetes it is a read-only Secret
mount; a timestamp written on every request would also turn each call into a file rewrite. So
usage lives here, written at most once per key per ``FLUSH_EVERY_S`` by each process (minute
resolution is what ``munjero keys list`` needs to tell a live key from a forgotten one), and
several processes may write it: WAL, and the newest time wins on conflict.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

FLUSH_EVERY_S = 60.0


class KeyUsageLog:
    """Last-used times per key id, persisted to ``path`` (created on the first write)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._seen: dict[str, datetime] = {}  # this process's latest use of each key
        self._flushed_at: dict[str, float] = {}

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        if self._db is not None or self.path is None:
            return self._db
        if not create and not self.path.exists():
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # losing the last minute on a crash is fine
        db.execute(
            "CREATE TABLE IF NOT EXISTS key_usage (key_id TEXT PRIMARY KEY, last_used_at TEXT)"
        )
        self._db = db
        return db

    def record(self, key_id: str, at: datetime) -> None:
        """Note a use of ``key_id``; written through at most once per key per minute."""
        self._seen[key_id] = at
        now = time.monotonic()
        if now - self._flushed_at.get(key_id, -FLUSH_EVERY_S) < FLUSH_EVERY_S:
            return
        self._flushed_at[key_id] = now
        db = self._open(create=True)
        if db is None:
            return
        # ISO 8601 in UTC with a fixed width compares correctly as text.
        stamp = at.astimezone(UTC).isoformat(timespec="seconds")
        db.execute(
            "INSERT INTO key_usage VALUES (?, ?) ON CONFLICT(key_id) DO UPDATE SET"
            " last_used_at = max(last_used_at, excluded.last_used_at)",
            (key_id, stamp),
        )

    def last_used(self) -> dict[str, datetime]:
        """Key id -> the latest use any process recorded (or this one saw)."""
        out: dict[str, datetime] = {}
        db = self._open(create=False)
        if db is not None:
            for key_id, stamp in db.execute("SELECT key_id, last_used_at FROM key_usage"):
                out[str(key_id)] = datetime.fromisoformat(str(stamp))
        for key_id, at in self._seen.items():
            if key_id not in out or at > out[key_id]:
                out[key_id] = at
        return out

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
