"""Idempotency-Key support: a retried request gets the first answer and publishes nothing new.

The store is a port so a shared adapter (Redis: ``SET NX`` as the lock, ``SETEX`` for answers)
can replace the embedded SQLite one when several API processes serve the same producers.

Losing entries is safe, only wasteful: event and problem ids are derived from the key (see
``records.py``), so a request replayed after an entry was lost republishes byte-for-byte the same
ids and downstream deduplication on ``event_id`` collapses the duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.api.errors import IdempotencyKeyReused

TTL_S = 24 * 3600
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as stored for replay."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str  # hash of method, path and body: tells a retry from a reuse of the key
    answer: Answer
    created_at: float  # unix seconds


class IdempotencyStore(Protocol):
    """Where first answers are kept, by scope (producer + Idempotency-Key)."""

    def lock(self, scope: str) -> AbstractAsyncContextManager[None]:
        """Exclusive use of ``scope``: concurrent duplicates run one after the other, so only
        the first publishes and the others replay its answer."""
        ...

    async def get(self, scope: str) -> StoredAnswer | None:
        """The unexpired stored answer of ``scope``, if any."""
        ...

    async def put(self, scope: str, stored: StoredAnswer) -> None:
        """Keep ``stored`` for ``TTL_S`` seconds."""
        ...

    async def close(self) -> None:
        """Release files/connections."""
        ...


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it (no leak)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            _, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class InMemoryIdempotencyStore:
    """A dict: for unit tests and throwaway processes."""

    def __init__(self, ttl_s: float = TTL_S) -> None:
        self._ttl = ttl_s
        self._items: dict[str, StoredAnswer] = {}
        self._locks = KeyedLocks()

    def lock(self, scope: str) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(scope)

    async def get(self, scope: str) -> StoredAnswer | None:
        stored = self._items.get(scope)
        if stored is None or stored.created_at < time.time() - self._ttl:
            return None
        return stored

    async def put(self, scope: str, stored: StoredAnswer) -> None:
        self._items[scope] = stored

    async def close(self) -> None:
        self._items.clear()


class SqliteIdempotencyStore:
    """The embedded default: one SQLite file in WAL mode, one API process.

    Queries run on the event loop thread on purpose: they are point lookups/inserts on a
    primary key taking tens of microseconds, cheaper than a hop to a worker thread. WAL with
    ``synchronous=NORMAL`` skips the fsync per commit; a crash may lose the last entries, which
    is safe (see the module docstring). The lock is per process: run one API process per file.
    """

    PURGE_EVERY_S = 600.0

    def __init__(self, path: Path, ttl_s: float = TTL_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ttl = ttl_s
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS idempotency ("
            " scope TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status INTEGER NOT NULL,"
            " body BLOB NOT NULL, headers TEXT NOT NULL, created_at REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency(created_at)")
        self._locks = KeyedLocks()
        self._purged_at = 0.0

    def lock(self, scope: str) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(scope)

    async def get(self, scope: str) -> StoredAnswer | None:
        row = self._db.execute(
            "SELECT fingerprint, status, body, headers, created_at FROM idempotency"
            " WHERE scope = ? AND created_at >= ?",
            (scope, time.time() - self._ttl),
        ).fetchone()
        if row is None:
            return None
        fingerprint, status, body, headers, created_at = row
        return StoredAnswer(
            fingerprint, Answer(status, bytes(body), json.loads(headers)), created_at
        )

    async def put(self, scope: str, stored: StoredAnswer) -> None:
        answer = stored.answer
        self._db.execute(
            "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
            (
                scope,
                stored.fingerprint,
                answer.status,
                answer.body,
                json.dumps(dict(answer.headers)),
                stored.created_at,
            ),
        )
        self._purge_expired(stored.created_at)

    def _purge_expired(self, now: float) -> None:
        # Amortised: one indexed range delete every few minutes keeps the file at ~24 h of keys.
        if now - self._purged_at >= self.PURGE_EVERY_S:
            self._purged_at = now
            self._db.execute("DELETE FROM idempotency WHERE created_at < ?", (now - self._ttl,))

    async def close(self) -> None:
        self._db.close()


async def answer_once(
    store: IdempotencyStore,
    scope: str,
    fingerprint: str,
    compute: Callable[[], Awaitable[Answer]],
) -> tuple[Answer, bool]:
    """The stored answer of ``scope`` (replayed=True), or ``compute()``'s, stored if 2xx.

    Only successes are stored: a 503 must stay retryable with the same key. A failure raised by
    ``compute`` propagates and stores nothing.
    """
    async with store.lock(scope):
        stored = await store.get(scope)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was already used with a different request body or "
                    "endpoint; use a new key for a new request"
                )
            return stored.answer, True
        answer = await compute()
        if 200 <= answer.status < 300:
            await store.put(scope, StoredAnswer(fingerprint, answer, time.time()))
        return answer, False
