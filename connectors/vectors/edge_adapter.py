"""The embedded vector store: qdrant-edge-py, Qdrant's Rust engine inside this process.

Each collection is one edge shard in ``<path>/<collection>``, with a write-ahead log, so data
survives a reopen. Measured on the 2-core machine (docs/vectors.md): a subject+language filtered
top-10 over 100,000 chunks of dim 512 answers in a few ms p95 without an HNSW graph, because
the keyword payload indexes narrow the candidates before exact scoring. The HNSW build
(``optimize``) takes ~100 s at that size on 2 cores, so it is never run implicitly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ParamSpec, TypeVar

import qdrant_edge as qe

from streams.ports.vectors import (
    INDEXED_PAYLOAD_KEYS,
    Chunk,
    CollectionNotFoundError,
    DimensionMismatchError,
    Hit,
    VectorStoreUnavailableError,
    check_collection_name,
    exact_matches,
)

_P = ParamSpec("_P")
_T = TypeVar("_T")

# Upserts are sent in slices so one huge call never holds the engine's write lock for long.
_UPSERT_SLICE = 2_000


class EdgeVectorStore:
    """``VectorStore`` on qdrant-edge shards under one data directory."""

    def __init__(self, path: Path | str) -> None:
        self._root = Path(path)
        self._shards: dict[str, qe.EdgeShard] = {}
        # The shard's info does not expose its vector size, so remember the one it was opened
        # with (the engine checks it on load); a shard opened lazily by a call has none.
        self._dims: dict[str, int] = {}
        # Opening or creating a shard must happen once per collection, even when two tasks
        # ask for the same collection at the same time.
        self._open_lock = asyncio.Lock()
        self._closed = False

    async def ensure_collection(self, name: str, dim: int) -> None:
        check_collection_name(name)
        async with self._open_lock:
            shard = self._shards.get(name)
            if shard is None:
                shard = await asyncio.to_thread(self._open_or_create, name, dim)
                self._shards[name] = shard
            elif self._dims.get(name, dim) != dim:
                raise DimensionMismatchError(f"collection {name} exists with another dimension")
            self._dims.setdefault(name, dim)
            await asyncio.to_thread(_ensure_indexes, shard)

    async def upsert(self, collection: str, points: Sequence[Chunk]) -> None:
        shard = await self._shard(collection)
        for start in range(0, len(points), _UPSERT_SLICE):
            batch = [
                qe.Point(chunk.chunk_id, [float(x) for x in chunk.vector], chunk.payload)
                for chunk in points[start : start + _UPSERT_SLICE]
            ]
            await asyncio.to_thread(_call, shard.update, qe.UpdateOperation.upsert_points(batch))

    async def delete_document(self, collection: str, document_id: str) -> int:
        shard = await self._shard(collection)
        where = _filter([("document_id", document_id)])
        # Count and delete run under one worker call: nothing else of this process writes to
        # the shard in between (the asyncio loop is single-threaded and waits for us).
        return await asyncio.to_thread(_count_then_delete, shard, where)

    async def search(
        self,
        collection: str,
        vector: Sequence[float],
        *,
        limit: int = 10,
        subject: str | None = None,
        language: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[Hit]:
        shard = await self._shard(collection)
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest([float(x) for x in vector]),
            filter=_filter(exact_matches(subject, language, tags)),
            with_payload=True,
        )
        points = await asyncio.to_thread(_call, shard.query, request)
        return [Hit(str(p.id), p.score, dict(p.payload or {})) for p in points]

    async def count(self, collection: str, document_id: str | None = None) -> int:
        shard = await self._shard(collection)
        where = _filter([("document_id", document_id)] if document_id is not None else [])
        return await asyncio.to_thread(
            _call, shard.count, qe.CountRequest(exact=True, filter=where)
        )

    async def optimize(self, collection: str) -> bool:
        """Build the HNSW graph and merge segments (blocking, ~100 s per 100k chunks on 2
        cores). Not part of the port: an operator's choice for large unfiltered workloads."""
        shard = await self._shard(collection)
        return await asyncio.to_thread(_call, shard.optimize)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            await asyncio.to_thread(_flush_and_close, shard)

    async def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        check_collection_name(name)
        async with self._open_lock:
            shard = self._shards.get(name)
            if shard is None:
                # A collection created by an earlier process is usable without ensure_collection.
                if not (self._root / name).is_dir():
                    raise CollectionNotFoundError(f"no vector collection {name!r}")
                shard = await asyncio.to_thread(_call, qe.EdgeShard.load, str(self._root / name))
                self._shards[name] = shard
            return shard

    def _open_or_create(self, name: str, dim: int) -> qe.EdgeShard:
        path = self._root / name
        config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine))
        if not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            return _call(qe.EdgeShard.create, str(path), config)
        try:
            # Loading with the config makes the engine check the stored vector size.
            return qe.EdgeShard.load(str(path), config)
        except Exception as exc:
            if "incompatible" in str(exc).lower():
                raise DimensionMismatchError(f"collection {name}: {exc}") from exc
            raise VectorStoreUnavailableError(f"collection {name}: {exc}") from exc


def _ensure_indexes(shard: qe.EdgeShard) -> None:
    present = shard.info().payload_schema
    for key in INDEXED_PAYLOAD_KEYS:
        if key not in present:
            _call(
                shard.update,
                qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword),
            )


def _filter(pairs: list[tuple[str, str]]) -> qe.Filter | None:
    if not pairs:
        return None
    return qe.Filter(
        must=[qe.FieldCondition(key, match=qe.MatchValue(value)) for key, value in pairs]
    )


def _count_then_delete(shard: qe.EdgeShard, where: qe.Filter | None) -> int:
    removed = _call(shard.count, qe.CountRequest(exact=True, filter=where))
    if removed and where is not None:
        _call(shard.update, qe.UpdateOperation.delete_points_by_filter(where))
    return removed


def _flush_and_close(shard: qe.EdgeShard) -> None:
    _call(shard.flush)
    _call(shard.close)


def _call(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run one engine call, mapping its errors to the project's.

    The bindings raise bare ``Exception`` with the engine's message; a dimension error is the
    caller's fault (fatal), anything else is treated as transient like any other store failure.
    """
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        message = str(exc)
        if "dimension" in message.lower():
            raise DimensionMismatchError(message) from exc
        raise VectorStoreUnavailableError(message) from exc
