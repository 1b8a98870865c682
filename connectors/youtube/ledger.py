"""The idempotency ledger: one SQLite row per idempotency key, written before and during an upload
so that a restarted process resumes the same upload session instead of starting a second video.

Synchronous on purpose (callers use ``asyncio.to_thread``). Every call opens its own connection,
so the ledger may be used from any thread, including the worker thread that runs the blocking
google client. WAL lets several publisher processes share one file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

State = Literal["started", "uploaded"]
CaptionState = Literal["started", "uploaded", "skipped"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    idempotency_key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('started', 'uploaded')),
    session_uri TEXT,
    size INTEGER NOT NULL,
    bytes_confirmed INTEGER NOT NULL DEFAULT 0,
    video_id TEXT,
    published_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
)
"""
# A table of its own (not columns of ``uploads``): CREATE TABLE IF NOT EXISTS is the whole
# migration of a ledger written before captions were uploaded.
_CAPTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS captions (
    idempotency_key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('started', 'uploaded', 'skipped')),
    caption_id TEXT,
    reason TEXT,
    updated_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class LedgerEntry:
    idempotency_key: str
    state: State
    session_uri: str | None
    size: int
    bytes_confirmed: int
    video_id: str | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class CaptionEntry:
    """The caption track of a key: ``started`` (an insert may have reached the server),
    ``uploaded`` (``caption_id``) or ``skipped`` (the platform refused it: ``reason``)."""

    idempotency_key: str
    state: CaptionState
    caption_id: str | None
    reason: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class UploadLedger:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            db.execute(_CAPTIONS_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A 30 s busy timeout: another publisher process may hold the write lock briefly.
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    def get(self, key: str) -> LedgerEntry | None:
        """The row of ``key``, or None when it was never started."""
        with self._connect() as db:
            row = db.execute(
                "SELECT idempotency_key, state, session_uri, size, bytes_confirmed, video_id,"
                " published_at, created_at, updated_at FROM uploads WHERE idempotency_key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return LedgerEntry(
            idempotency_key=row[0],
            state=row[1],
            session_uri=row[2],
            size=row[3],
            bytes_confirmed=row[4],
            video_id=row[5],
            published_at=datetime.fromisoformat(row[6]) if row[6] else None,
            created_at=datetime.fromisoformat(row[7]),
            updated_at=datetime.fromisoformat(row[8]),
        )

    def start(self, key: str, size: int) -> None:
        """Record the intent to upload ``key`` (no-op when a row exists: never downgrade)."""
        now = _now()
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO uploads (idempotency_key, state, size, created_at,"
                " updated_at) VALUES (?, 'started', ?, ?, ?)",
                (key, size, now, now),
            )

    def set_session(self, key: str, session_uri: str) -> None:
        """The resumable session the server opened for ``key``: from now on, a restart resumes
        it rather than opening another (which could become a second video)."""
        self._update(key, "session_uri = ?, bytes_confirmed = 0", (session_uri,))

    def set_progress(self, key: str, bytes_confirmed: int) -> None:
        """Bytes the server confirmed (its Range header): informational, the server decides."""
        self._update(key, "bytes_confirmed = ?", (bytes_confirmed,))

    def forget_session(self, key: str) -> None:
        """The server no longer knows the session (404/410): the next attempt opens a new one."""
        self._update(key, "session_uri = NULL, bytes_confirmed = 0", ())

    def mark_uploaded(self, key: str, video_id: str, published_at: datetime) -> None:
        """The upload of ``key`` is done: every later publish of the key returns this video."""
        self._update(
            key,
            "state = 'uploaded', video_id = ?, published_at = ?, bytes_confirmed = size",
            (video_id, published_at.isoformat()),
        )

    def caption(self, key: str) -> CaptionEntry | None:
        """The caption track of ``key``, or None when no upload of it was ever attempted."""
        with self._connect() as db:
            row = db.execute(
                "SELECT idempotency_key, state, caption_id, reason FROM captions"
                " WHERE idempotency_key = ?",
                (key,),
            ).fetchone()
        return None if row is None else CaptionEntry(row[0], row[1], row[2], row[3])

    def caption_started(self, key: str) -> None:
        """An insert of ``key``'s track is about to be sent: from now on a restart first asks
        the platform whether the track exists (no-op once the track is settled)."""
        self._set_caption(key, "started", None, None)

    def caption_uploaded(self, key: str, caption_id: str) -> None:
        """The track of ``key`` is on the video: later publishes of the key send nothing."""
        self._set_caption(key, "uploaded", caption_id, None)

    def caption_skipped(self, key: str, reason: str) -> None:
        """The platform refused the track of ``key`` for good: the short stays without it."""
        self._set_caption(key, "skipped", None, reason)

    def _set_caption(
        self, key: str, state: CaptionState, caption_id: str | None, reason: str | None
    ) -> None:
        with self._connect() as db:
            # Settled rows (uploaded, skipped) never change: a late retry cannot undo them.
            db.execute(
                "INSERT INTO captions (idempotency_key, state, caption_id, reason, updated_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO UPDATE SET"
                " state = excluded.state, caption_id = excluded.caption_id,"
                " reason = excluded.reason, updated_at = excluded.updated_at"
                " WHERE captions.state = 'started'",
                (key, state, caption_id, reason, _now()),
            )

    def _update(self, key: str, assignments: str, values: tuple[object, ...]) -> None:
        with self._connect() as db:
            cursor = db.execute(
                f"UPDATE uploads SET {assignments}, updated_at = ? "  # noqa: S608 (fixed text)
                "WHERE idempotency_key = ? AND state = 'started'",
                (*values, _now(), key),
            )
            if cursor.rowcount != 1:
                raise KeyError(f"no upload in progress for key {key!r}")
