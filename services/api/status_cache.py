"""A status cache in front of the warehouse, emptied by ingestion: cheap ``GET /v1/problems/{id}``.

Producers poll their problems; most polls find nothing new. ``CachedStatusReader`` keeps the
reader's documents of recently read problems (bounded, least recently used out) and drops a
problem's document as soon as rows of it land:

* In ``munjero up`` the sink runs in the API's process and calls ``invalidate`` with the ids of
  every batch it has just inserted (``problem_id`` and record keys: script, short and dead-letter
  keys), before it commits the batch. A document lives until then (``ttl_s=None``): a status is
  never stale once its events are in the warehouse.
* Where the API runs without a sink in its process (``munjero api``, Kubernetes) nothing calls
  ``invalidate``: documents expire ``ttl_s`` after they were read
  (``MUNJERO_API_STATUS_CACHE_TTL_S``, default 2 s; 0 turns the cache off), so a status is at
  most that much older than the warehouse.

Events of a problem may be keyed by other ids (metrics and dead letters by short or script id),
so the cache indexes every id a document contains. A read that was in flight while one of its
ids was invalidated is answered but not kept (it may predate the rows). Requests for a problem
being read wait for that read rather than start another. With the sink feeding it, a landing
re-reads at once each dropped document that was asked for in the last 30 s (it is being polled):
its next poll finds the new document, or waits for that read, instead of queueing on chdb
behind the sink's inserts. Unknown problems (None)
and errors are never kept. Documents are shared between requests: callers must not mutate them
(``present`` and ``media_uri`` only read).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.api.status import StatusDict, StatusReader

DEFAULT_MAX_ENTRIES = 4096
# A landing re-reads a kept document at once if it was asked for this recently (it is polled).
REFRESH_IF_READ_WITHIN_S = 30.0
log = logging.getLogger(__name__)


@dataclass
class _Entry:
    document: StatusDict
    keys: frozenset[str]
    expires_at: float  # clock value; inf without a TTL
    read_at: float  # clock value of the last request for it


class CachedStatusReader:
    """A ``StatusReader`` keeping ``reader``'s documents until ``invalidate`` or ``ttl_s``."""

    def __init__(
        self,
        reader: StatusReader,
        *,
        ttl_s: float | None,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._reader = reader
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._owners: dict[str, set[str]] = {}  # an id in a document -> problem ids holding it
        # Invalidations reads in flight must see: id -> epoch, oldest first.
        self._epochs = itertools.count(1)
        self._epoch = 0
        self._recent: OrderedDict[str, int] = OrderedDict()
        self._in_flight: dict[int, int] = {}  # read token -> epoch when it started
        self._tokens = itertools.count()
        self._loading: dict[str, asyncio.Future[tuple[StatusDict | None, bool]]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()
        # Counters (tests, the benchmark).
        self.hits = 0
        self.misses = 0
        self.invalidations = 0

    @property
    def enabled(self) -> bool:
        return self._ttl_s is None or self._ttl_s > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def problem_status(self, problem_id: str) -> StatusDict | None:
        entry = self._entries.get(problem_id)
        if entry is not None:
            now = self._clock()
            if entry.expires_at > now:
                self._entries.move_to_end(problem_id)
                entry.read_at = now
                self.hits += 1
                return entry.document
            self._drop(problem_id)
        self.misses += 1
        if not self.enabled:
            return await self._reader.problem_status(problem_id)
        pending = self._loading.get(problem_id)
        if pending is not None:
            # A read that started after every landing known for this problem: share it, unless
            # rows of the problem landed while it ran (then read again).
            document, superseded = await asyncio.shield(pending)
            if not superseded:
                return document
        document, _ = await self._load(problem_id, *self._begin(problem_id))
        return document

    def _begin(
        self, problem_id: str
    ) -> tuple[asyncio.Future[tuple[StatusDict | None, bool]], int, int]:
        """Announce a read of ``problem_id``: later requests wait for it instead of reading."""
        future: asyncio.Future[tuple[StatusDict | None, bool]]
        future = asyncio.get_running_loop().create_future()
        self._loading[problem_id] = future
        token, started = next(self._tokens), self._epoch
        self._in_flight[token] = started
        return future, token, started

    async def _load(
        self,
        problem_id: str,
        future: asyncio.Future[tuple[StatusDict | None, bool]],
        token: int,
        started: int,
    ) -> tuple[StatusDict | None, bool]:
        """Read ``problem_id`` and keep it unless its rows landed meanwhile; ``(document,
        superseded)``, also to the requests waiting for ``future``."""
        superseded = True
        document: StatusDict | None = None
        try:
            document = await self._reader.problem_status(problem_id)
            keys = {problem_id} if document is None else _ids(problem_id, document)
            superseded = any(self._recent.get(k, 0) > started for k in keys)
            if document is not None and not superseded:
                self._store(problem_id, document, frozenset(keys))
        finally:
            del self._in_flight[token]
            if self._loading.get(problem_id) is future:
                del self._loading[problem_id]
            future.set_result((document, superseded))  # a failed read: waiters read themselves
            self._prune()
        return document, superseded

    def invalidate(self, ids: Iterable[str]) -> None:
        """Rows carrying ``ids`` (problem, script, short or record-key ids) just landed: forget
        every document holding one of them, now and in reads still in flight."""
        self.invalidations += 1
        epoch = self._epoch = next(self._epochs)
        track = bool(self._in_flight)
        polled: list[str] = []
        now = self._clock()
        for key in ids:
            for problem_id in (*self._owners.get(key, ()), key):
                entry = self._drop(problem_id)
                if entry is not None and now - entry.read_at <= REFRESH_IF_READ_WITHIN_S:
                    polled.append(problem_id)
                self._loading.pop(problem_id, None)  # started before these rows: not shared
            if track:
                self._recent[key] = epoch
                self._recent.move_to_end(key)
        self._prune()
        if self._ttl_s is None:
            # Someone polls these: read them now, so their next poll finds the new document
            # instead of waiting for the warehouse (polls meanwhile wait for this read).
            for problem_id in polled:
                begun = self._begin(problem_id)
                task = asyncio.get_running_loop().create_task(self._refresh(problem_id, *begun))
                self._refreshing.add(task)
                task.add_done_callback(self._refreshing.discard)

    async def _refresh(
        self,
        problem_id: str,
        future: asyncio.Future[tuple[StatusDict | None, bool]],
        token: int,
        started: int,
    ) -> None:
        try:
            await self._load(problem_id, future, token, started)
        except Exception as exc:  # the next poll reads again and answers 503 if it must
            log.warning("status refresh of %s failed: %s", problem_id, exc)

    def _store(self, problem_id: str, document: StatusDict, keys: frozenset[str]) -> None:
        if problem_id in self._entries:
            self._drop(problem_id)
        expires = float("inf") if self._ttl_s is None else self._clock() + self._ttl_s
        self._entries[problem_id] = _Entry(document, keys, expires, self._clock())
        for key in keys:
            self._owners.setdefault(key, set()).add(problem_id)
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, problem_id: str) -> _Entry | None:
        entry = self._entries.pop(problem_id, None)
        if entry is None:
            return None
        for key in entry.keys:
            owners = self._owners.get(key)
            if owners is not None:
                owners.discard(problem_id)
                if not owners:
                    del self._owners[key]
        return entry

    def _prune(self) -> None:
        """Forget invalidations older than every read in flight."""
        oldest = min(self._in_flight.values(), default=self._epoch)
        while self._recent:
            key, epoch = next(iter(self._recent.items()))
            if epoch > oldest:
                break
            del self._recent[key]


def _ids(problem_id: str, document: StatusDict) -> frozenset[str]:
    """Every id whose landed rows can change ``document``: the problem's, its scripts' and its
    shorts' (metrics and dead letters are keyed by those)."""
    ids = {problem_id}
    for variant in document.get("variants") or ():
        ids.add(str(variant.get("script_id")))
        short = variant.get("short")
        if short is not None and short.get("short_id") is not None:
            ids.add(str(short["short_id"]))
    return frozenset(ids)
