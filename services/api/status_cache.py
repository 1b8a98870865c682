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
ids was invalidated is answered but not kept (it may predate the rows). Unknown problems (None)
and errors are never kept. Documents are shared between requests: callers must not mutate them
(``present`` and ``media_uri`` only read).
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.api.status import StatusDict, StatusReader

DEFAULT_MAX_ENTRIES = 4096


@dataclass
class _Entry:
    document: StatusDict
    keys: frozenset[str]
    expires_at: float  # clock value; inf without a TTL


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
            if entry.expires_at > self._clock():
                self._entries.move_to_end(problem_id)
                self.hits += 1
                return entry.document
            self._drop(problem_id)
        self.misses += 1
        if not self.enabled:
            return await self._reader.problem_status(problem_id)
        token, started = next(self._tokens), self._epoch
        self._in_flight[token] = started
        try:
            document = await self._reader.problem_status(problem_id)
        finally:
            del self._in_flight[token]
        if document is not None:
            keys = _ids(problem_id, document)
            if not any(self._recent.get(k, 0) > started for k in keys):
                self._store(problem_id, document, keys)
        self._prune()
        return document

    def invalidate(self, ids: Iterable[str]) -> None:
        """Rows carrying ``ids`` (problem, script, short or record-key ids) just landed: forget
        every document holding one of them, now and in reads still in flight."""
        self.invalidations += 1
        epoch = self._epoch = next(self._epochs)
        track = bool(self._in_flight)
        for key in ids:
            for problem_id in tuple(self._owners.get(key, ())):
                self._drop(problem_id)
            if key in self._entries:
                self._drop(key)
            if track:
                self._recent[key] = epoch
                self._recent.move_to_end(key)
        self._prune()

    def _store(self, problem_id: str, document: StatusDict, keys: frozenset[str]) -> None:
        if problem_id in self._entries:
            self._drop(problem_id)
        expires = float("inf") if self._ttl_s is None else self._clock() + self._ttl_s
        self._entries[problem_id] = _Entry(document, keys, expires)
        for key in keys:
            self._owners.setdefault(key, set()).add(problem_id)
        while len(self._entries) > self._max_entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, problem_id: str) -> None:
        entry = self._entries.pop(problem_id, None)
        if entry is None:
            return
        for key in entry.keys:
            owners = self._owners.get(key)
            if owners is not None:
                owners.discard(problem_id)
                if not owners:
                    del self._owners[key]

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
