"""The production vector store: a Qdrant server through qdrant-client's async client.

The same class also runs on qdrant-client's local mode (``path=`` or ``":memory:"``), which
implements the same API in Python: that is how the contract suite exercises this adapter's
code where no Qdrant server can be installed. Local mode scores by brute force (~250 ms per
filtered query at 20k points), so it is never the embedded default (docs/vectors.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TypeVar

from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

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

_T = TypeVar("_T")
_CONFLICT = 409
_NOT_FOUND = 404


class QdrantClientVectorStore:
    """``VectorStore`` on qdrant-client: a server at ``url``, or local mode at ``path``."""

    def __init__(
        self, url: str | None = None, api_key: str | None = None, *, path: str | None = None
    ) -> None:
        if (url is None) == (path is None):
            raise ValueError("give exactly one of url (a server) or path (local mode)")
        self._local = path is not None
        if path == ":memory:":
            self._client = AsyncQdrantClient(location=":memory:")
        elif path is not None:
            self._client = AsyncQdrantClient(path=path)
        else:
            # The version check runs a blocking HTTP request inside the constructor, which
            # would stall the event loop; the first real call reports an unreachable server.
            self._client = AsyncQdrantClient(url=url, api_key=api_key, check_compatibility=False)

    async def ensure_collection(self, name: str, dim: int) -> None:
        check_collection_name(name)
        if await _guard(self._client.collection_exists(name)):
            info = await _guard(self._client.get_collection(name))
            vectors = info.config.params.vectors
            size = vectors.size if isinstance(vectors, models.VectorParams) else None
            if size != dim:
                raise DimensionMismatchError(f"collection {name} has dimension {size}, not {dim}")
        else:
            try:
                await self._client.create_collection(
                    name,
                    vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                )
            except UnexpectedResponse as exc:
                # Another replica created it between our check and our create: that is success.
                if exc.status_code != _CONFLICT:
                    raise VectorStoreUnavailableError(f"create {name}: {exc}") from exc
        if not self._local:
            # Local mode ignores payload indexes (and warns); a server needs them to keep
            # filtered search from scanning every payload. Creating an existing index is a no-op.
            for key in INDEXED_PAYLOAD_KEYS:
                await _guard(
                    self._client.create_payload_index(
                        name, key, models.PayloadSchemaType.KEYWORD, wait=True
                    )
                )

    async def upsert(self, collection: str, points: Sequence[Chunk]) -> None:
        if not points:
            return
        structs = [
            models.PointStruct(
                id=c.chunk_id, vector=[float(x) for x in c.vector], payload=c.payload
            )
            for c in points
        ]
        await self._call(collection, self._client.upsert(collection, structs, wait=True))

    async def delete_document(self, collection: str, document_id: str) -> int:
        where = _filter([("document_id", document_id)])
        removed = await self.count(collection, document_id)
        if removed:
            # Between count and delete another writer could add chunks of the same document;
            # the indexer keys its topic by document id, so one writer owns a document.
            selector = models.FilterSelector(filter=where)
            await self._call(collection, self._client.delete(collection, selector, wait=True))
        return removed

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
        where = _filter(exact_matches(subject, language, tags))
        response = await self._call(
            collection,
            self._client.query_points(
                collection,
                query=[float(x) for x in vector],
                query_filter=where,
                limit=limit,
                with_payload=True,
            ),
        )
        return [Hit(str(p.id), p.score, dict(p.payload or {})) for p in response.points]

    async def count(self, collection: str, document_id: str | None = None) -> int:
        where = _filter([("document_id", document_id)] if document_id is not None else [])
        result = await self._call(
            collection, self._client.count(collection, count_filter=where, exact=True)
        )
        return result.count

    async def close(self) -> None:
        await self._client.close()

    async def _call(self, collection: str, call: Awaitable[_T]) -> _T:
        try:
            return await call
        except ValueError as exc:
            # Local mode raises ValueError for an unknown collection; a server answers 404.
            if "not found" in str(exc).lower():
                raise CollectionNotFoundError(f"no vector collection {collection!r}") from exc
            raise DimensionMismatchError(str(exc)) from exc
        except UnexpectedResponse as exc:
            if exc.status_code == _NOT_FOUND:
                raise CollectionNotFoundError(f"no vector collection {collection!r}") from exc
            raise VectorStoreUnavailableError(f"{collection}: {exc}") from exc
        except Exception as exc:
            raise VectorStoreUnavailableError(f"{collection}: {exc}") from exc


async def _guard(call: Awaitable[_T]) -> _T:
    try:
        return await call
    except Exception as exc:
        raise VectorStoreUnavailableError(str(exc)) from exc


def _filter(pairs: list[tuple[str, str]]) -> models.Filter | None:
    if not pairs:
        return None
    conditions: list[models.Condition] = [
        models.FieldCondition(key=key, match=models.MatchValue(value=value)) for key, value in pairs
    ]
    return models.Filter(must=conditions)
