"""One contract for the ``VectorStore`` port, run against every adapter that can run here.

* ``TestEdgeVectorStore``: the embedded default (qdrant-edge-py) on its own data directory.
* ``TestQdrantClientLocalVectorStore``: the production adapter's code on qdrant-client's local
  mode, which implements the server's API in-process. Only the HTTP/gRPC transport and the
  server's payload indexes are not exercised: no Qdrant server can be installed here.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from connectors.vectors.edge_adapter import EdgeVectorStore
from connectors.vectors.factory import open_vector_store
from connectors.vectors.qdrant_client_adapter import QdrantClientVectorStore
from streams.errors import ValidationError
from streams.ports.vectors import (
    Chunk,
    CollectionNotFoundError,
    DimensionMismatchError,
    VectorStore,
)

pytestmark = pytest.mark.integration

DIM = 4
COLLECTION = "knowledge"


def cid(n: int) -> str:
    return str(uuid.UUID(int=n))


def chunk(
    n: int,
    vector: Sequence[float],
    *,
    document_id: str = "doc-a",
    subject: str = "math",
    language: str = "ko",
    tags: Sequence[str] = ("quiz",),
    text: str = "피타고라스 정리",
) -> Chunk:
    payload = {
        "document_id": document_id,
        "subject": subject,
        "language": language,
        "tags": list(tags),
        "text": text,
    }
    return Chunk(cid(n), vector, payload)


def unit(angle_deg: float) -> list[float]:
    """A unit vector in the first plane: its cosine to ``unit(0)`` is ``cos(angle)``."""
    a = math.radians(angle_deg)
    return [math.cos(a), math.sin(a), 0.0, 0.0]


class VectorStoreContract:
    """Subclasses provide ``open_store``. Stores that keep data on disk use
    ``PersistentVectorStoreContract``, which adds the reopen test (nothing is skipped)."""

    def open_store(self, path: Path) -> VectorStore:
        raise NotImplementedError

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[VectorStore]:
        store = self.open_store(tmp_path / "vectors")
        await store.ensure_collection(COLLECTION, DIM)
        yield store
        await store.close()

    async def test_implements_the_port(self, store: VectorStore) -> None:
        assert isinstance(store, VectorStore)

    async def test_ensure_collection_is_idempotent(self, store: VectorStore) -> None:
        await store.upsert(COLLECTION, [chunk(1, unit(0))])
        await store.ensure_collection(COLLECTION, DIM)
        assert await store.count(COLLECTION) == 1

    async def test_ensure_collection_rejects_another_dimension(self, store: VectorStore) -> None:
        with pytest.raises(DimensionMismatchError):
            await store.ensure_collection(COLLECTION, DIM + 1)

    async def test_vector_of_wrong_dimension_is_rejected(self, store: VectorStore) -> None:
        with pytest.raises(DimensionMismatchError):
            await store.upsert(COLLECTION, [chunk(1, [1.0, 0.0])])

    async def test_unknown_collection(self, store: VectorStore) -> None:
        with pytest.raises(CollectionNotFoundError):
            await store.search("never-created", unit(0))
        with pytest.raises(CollectionNotFoundError):
            await store.count("never-created")

    async def test_search_on_empty_collection(self, store: VectorStore) -> None:
        assert await store.search(COLLECTION, unit(0)) == []
        assert await store.count(COLLECTION) == 0

    async def test_search_ranks_by_cosine(self, store: VectorStore) -> None:
        # Magnitudes differ on purpose: cosine must ignore them.
        far = [3 * x for x in unit(80)]
        await store.upsert(COLLECTION, [chunk(1, unit(40)), chunk(2, far), chunk(3, unit(10))])
        hits = await store.search(COLLECTION, [5 * x for x in unit(0)])
        assert [h.chunk_id for h in hits] == [cid(3), cid(1), cid(2)]
        for hit, angle in zip(hits, (10, 40, 80), strict=True):
            assert hit.score == pytest.approx(math.cos(math.radians(angle)), abs=1e-4)
        assert hits[0].payload["text"] == "피타고라스 정리"
        assert hits[0].payload["tags"] == ["quiz"]

    async def test_limit(self, store: VectorStore) -> None:
        await store.upsert(COLLECTION, [chunk(n, unit(n)) for n in range(1, 21)])
        hits = await store.search(COLLECTION, unit(0), limit=5)
        assert [h.chunk_id for h in hits] == [cid(n) for n in range(1, 6)]

    async def test_upsert_same_id_overwrites(self, store: VectorStore) -> None:
        await store.upsert(COLLECTION, [chunk(1, unit(0), text="old")])
        await store.upsert(COLLECTION, [chunk(1, unit(90), subject="physics", text="new")])
        assert await store.count(COLLECTION) == 1
        (hit,) = await store.search(COLLECTION, unit(90))
        assert hit.score == pytest.approx(1.0, abs=1e-4)
        assert hit.payload["text"] == "new"
        assert await store.search(COLLECTION, unit(0), subject="math") == []

    @pytest.fixture
    async def mixed(self, store: VectorStore) -> VectorStore:
        await store.upsert(
            COLLECTION,
            [
                chunk(1, unit(1), subject="math", language="ko", tags=["quiz", "easy"]),
                chunk(2, unit(2), subject="math", language="en", tags=["quiz"]),
                chunk(3, unit(3), subject="physics", language="ko", tags=["easy"]),
                chunk(4, unit(4), subject="physics", language="en", tags=[]),
                chunk(5, unit(5), subject="math", language="ko", tags=["hard"]),
            ],
        )
        return store

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({}, [1, 2, 3, 4, 5]),
            ({"subject": "math"}, [1, 2, 5]),
            ({"language": "en"}, [2, 4]),
            ({"tags": ["easy"]}, [1, 3]),
            ({"tags": ["quiz", "easy"]}, [1]),
            ({"subject": "math", "language": "ko"}, [1, 5]),
            ({"subject": "physics", "language": "ko", "tags": ["easy"]}, [3]),
            ({"subject": "math", "tags": ["easy", "hard"]}, []),
            ({"subject": "chemistry"}, []),
            ({"subject": "Math"}, []),
        ],
    )
    async def test_filters_are_exact_and_combined_with_and(
        self, mixed: VectorStore, filters: dict[str, Any], expected: list[int]
    ) -> None:
        hits = await mixed.search(COLLECTION, unit(0), **filters)
        assert [h.chunk_id for h in hits] == [cid(n) for n in expected]

    async def test_tags_must_be_a_sequence_of_strings(self, mixed: VectorStore) -> None:
        with pytest.raises(ValidationError):
            await mixed.search(COLLECTION, unit(0), tags="quiz")

    async def test_delete_document_removes_exactly_its_chunks(self, store: VectorStore) -> None:
        await store.upsert(
            COLLECTION,
            [chunk(n, unit(n), document_id="doc-a") for n in range(1, 4)]
            + [chunk(n, unit(n), document_id="doc-b") for n in range(4, 6)],
        )
        assert await store.delete_document(COLLECTION, "doc-a") == 3
        assert await store.count(COLLECTION, "doc-a") == 0
        assert await store.count(COLLECTION, "doc-b") == 2
        hits = await store.search(COLLECTION, unit(0))
        assert {h.chunk_id for h in hits} == {cid(4), cid(5)}
        assert await store.delete_document(COLLECTION, "doc-a") == 0
        assert await store.delete_document(COLLECTION, "never-indexed") == 0

    async def test_reindex_leaves_no_stale_chunks(self, store: VectorStore) -> None:
        await store.upsert(COLLECTION, [chunk(n, unit(n)) for n in range(1, 6)])
        # The new version of the document has fewer chunks: the old extra ones must go.
        await store.delete_document(COLLECTION, "doc-a")
        await store.upsert(COLLECTION, [chunk(n, unit(n), text="v2") for n in range(10, 12)])
        hits = await store.search(COLLECTION, unit(0))
        assert [h.chunk_id for h in hits] == [cid(10), cid(11)]
        assert all(h.payload["text"] == "v2" for h in hits)

    async def test_count(self, store: VectorStore) -> None:
        await store.upsert(
            COLLECTION,
            [chunk(n, unit(n), document_id=f"doc-{n % 3}") for n in range(1, 11)],
        )
        assert await store.count(COLLECTION) == 10
        assert await store.count(COLLECTION, "doc-0") == 3
        assert await store.count(COLLECTION, "doc-1") == 4
        assert await store.count(COLLECTION, "doc-9") == 0

    async def test_collections_are_separate(self, store: VectorStore) -> None:
        await store.ensure_collection("other", 2)
        await store.upsert("other", [chunk(1, [1.0, 0.0])])
        assert await store.count(COLLECTION) == 0
        assert await store.count("other") == 1


class PersistentVectorStoreContract(VectorStoreContract):
    """The contract of a store with a data directory: data outlives the process."""

    async def test_data_survives_reopen(self, tmp_path: Path) -> None:
        path = tmp_path / "reopen"
        first = self.open_store(path)
        await first.ensure_collection(COLLECTION, DIM)
        await first.upsert(COLLECTION, [chunk(n, unit(n)) for n in range(1, 4)])
        await first.delete_document(COLLECTION, "nothing-here")
        await first.upsert(COLLECTION, [chunk(9, unit(9), document_id="gone")])
        await first.delete_document(COLLECTION, "gone")
        await first.close()

        second = self.open_store(path)
        try:
            await second.ensure_collection(COLLECTION, DIM)
            assert await second.count(COLLECTION) == 3
            hits = await second.search(COLLECTION, unit(0), subject="math", tags=["quiz"])
            assert [h.chunk_id for h in hits] == [cid(1), cid(2), cid(3)]
        finally:
            await second.close()


class TestEdgeVectorStore(PersistentVectorStoreContract):
    def open_store(self, path: Path) -> VectorStore:
        return EdgeVectorStore(path)

    async def test_collection_opens_without_ensure_after_reopen(self, tmp_path: Path) -> None:
        first = EdgeVectorStore(tmp_path)
        await first.ensure_collection(COLLECTION, DIM)
        await first.upsert(COLLECTION, [chunk(1, unit(0))])
        await first.close()
        second = EdgeVectorStore(tmp_path)
        try:
            assert await second.count(COLLECTION) == 1
        finally:
            await second.close()


class TestQdrantClientLocalVectorStore(PersistentVectorStoreContract):
    def open_store(self, path: Path) -> VectorStore:
        return QdrantClientVectorStore(path=str(path))


class TestQdrantClientInMemoryVectorStore(VectorStoreContract):
    def open_store(self, path: Path) -> VectorStore:
        return QdrantClientVectorStore(path=":memory:")


def test_factory_picks_the_server_adapter_only_with_a_url(tmp_path: Path) -> None:
    assert isinstance(open_vector_store(None, None, tmp_path), EdgeVectorStore)
    assert isinstance(open_vector_store("", None, tmp_path), EdgeVectorStore)
    server = open_vector_store("https://qdrant.invalid:6333", "secret", tmp_path)
    assert isinstance(server, QdrantClientVectorStore)


@pytest.mark.parametrize("bad", ["not-a-uuid", str(uuid.UUID(int=1)).upper()])
def test_chunk_ids_must_be_canonical_uuids(bad: str) -> None:
    with pytest.raises(ValidationError):
        Chunk(bad, unit(0), {})


def test_chunk_payload_needs_the_filtered_keys() -> None:
    with pytest.raises(ValidationError, match="subject"):
        Chunk(cid(1), unit(0), {"document_id": "d", "language": "ko", "tags": [], "text": ""})
