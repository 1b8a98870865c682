"""The vector store port: what the knowledge indexer and the drafting step need from Qdrant.

Two adapters sit behind it: ``EdgeVectorStore`` (qdrant-edge-py, the Qdrant engine in-process,
the embedded default) and ``QdrantClientVectorStore`` (qdrant-client against a Qdrant server).
Both pass the same contract suite (``tests/integration/test_vector_store_contract.py``).

Distance is cosine everywhere. Filters are exact matches joined by AND; ``tags`` matches chunks
that carry *every* given tag.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from streams.errors import FatalError, MunjeroError, RetriableError, ValidationError

# The payload keys every chunk carries: the filters and the cascade delete depend on them.
REQUIRED_PAYLOAD_KEYS = ("document_id", "subject", "language", "tags", "text")
# The payload keys the adapters index, so filtered search never scans every payload.
INDEXED_PAYLOAD_KEYS = ("document_id", "subject", "language", "tags")
# Collection names become directory names in the embedded store: keep them path-safe.
_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class VectorStoreError(MunjeroError):
    """Root of the vector store's failures."""


class VectorStoreUnavailableError(VectorStoreError, RetriableError):
    """The store failed or could not be reached; the same call may succeed later."""


class CollectionNotFoundError(VectorStoreError, FatalError):
    """The collection was never created with ``ensure_collection``."""


class DimensionMismatchError(VectorStoreError, FatalError):
    """A collection exists with another dimension, or a vector does not fit the collection."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a knowledge document with its embedding.

    ``chunk_id`` is a UUID in canonical form (lowercase, hyphenated): the engines store UUIDs,
    and the canonical form is what comes back in ``Hit.chunk_id``, so ids round-trip unchanged.
    """

    chunk_id: str
    vector: Sequence[float]
    payload: dict[str, Any]

    def __post_init__(self) -> None:
        check_chunk_id(self.chunk_id)
        missing = [key for key in REQUIRED_PAYLOAD_KEYS if key not in self.payload]
        if missing:
            raise ValidationError(f"chunk {self.chunk_id}: payload lacks {missing}")
        if isinstance(self.payload["tags"], str):
            raise ValidationError(f"chunk {self.chunk_id}: tags must be a list of strings")


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: the chunk's id, its cosine similarity to the query, its payload."""

    chunk_id: str
    score: float
    payload: dict[str, Any]


def check_chunk_id(chunk_id: str) -> None:
    """Raise ``ValidationError`` unless ``chunk_id`` is a canonical UUID string."""
    try:
        canonical = str(uuid.UUID(chunk_id))
    except ValueError as exc:
        raise ValidationError(f"chunk id {chunk_id!r} is not a UUID") from exc
    if canonical != chunk_id:
        raise ValidationError(f"chunk id {chunk_id!r} is not canonical (use {canonical!r})")


def check_collection_name(name: str) -> None:
    """Raise ``ValidationError`` unless ``name`` is a safe collection name."""
    if not _COLLECTION_NAME.fullmatch(name):
        raise ValidationError(f"collection name {name!r} must match {_COLLECTION_NAME.pattern}")


@runtime_checkable
class VectorStore(Protocol):
    """A store of embedded chunks answering filtered nearest-neighbour queries."""

    async def ensure_collection(self, name: str, dim: int) -> None:
        """Create the collection (cosine distance, payload indexes) unless it exists.

        Idempotent. Raises ``DimensionMismatchError`` when it exists with another dimension.
        """
        ...

    async def upsert(self, collection: str, points: Sequence[Chunk]) -> None:
        """Insert the chunks, replacing vector and payload of any chunk whose id exists.

        Visible to ``search`` and ``count`` when the call returns.
        """
        ...

    async def delete_document(self, collection: str, document_id: str) -> int:
        """Remove every chunk whose payload ``document_id`` matches; return how many.

        Re-indexing a document is ``delete_document`` then ``upsert``, so no chunk of an older
        version (e.g. one that had more chunks) survives.
        """
        ...

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
        """The ``limit`` chunks most similar to ``vector`` (cosine), best first.

        Only chunks matching every given filter qualify: ``subject`` and ``language`` exactly,
        and ``tags`` when the chunk carries all of them. An empty collection yields ``[]``.
        """
        ...

    async def count(self, collection: str, document_id: str | None = None) -> int:
        """Exact number of chunks in the collection, or of one document's chunks."""
        ...

    async def close(self) -> None:
        """Flush and release the store. Nothing may be called afterwards."""
        ...


def exact_matches(
    subject: str | None, language: str | None, tags: Sequence[str] | None
) -> list[tuple[str, str]]:
    """The search filters as ``(payload key, value)`` pairs that must all match.

    Matching a value against a list field means "the list contains it", so one pair per tag
    gives the all-tags semantics in both engines.
    """
    pairs: list[tuple[str, str]] = []
    if subject is not None:
        pairs.append(("subject", subject))
    if language is not None:
        pairs.append(("language", language))
    if isinstance(tags, str):
        # A bare string is a sequence of characters; that is never what a caller means.
        raise ValidationError("tags must be a sequence of strings, not a string")
    pairs.extend(("tags", tag) for tag in dict.fromkeys(tags or ()))
    return pairs
