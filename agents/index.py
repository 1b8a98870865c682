"""Indexing: ``knowledge.ingested`` -> chunks in the vector store -> ``knowledge.indexed``.

Parsing and chunking are pure (``agents.knowledge``); this module wires them to the embedder
and the vector store. A changed document replaces its chunks: the previous version's chunks are
deleted before the new ones are written, so no stale chunk survives; a deletion removes them.
The topic is keyed by document id, so one worker owns each document and the delete-then-write
is never raced by another writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.knowledge.chunking import Chunk, chunk_blocks
from agents.knowledge.indexes import DenseIndex
from agents.knowledge.parsing import parse
from schemas.records import KnowledgeDocumentIngested, KnowledgeIndexed
from streams.events import derived_meta
from streams.ports.embeddings import Embedder, Vectors
from streams.ports.vectors import Chunk as VectorChunk
from streams.ports.vectors import VectorStore
from streams.step import Emit

AGENT = "indexing"
STEP = "index"
Record = dict[str, Any]


class IndexStep:
    """Index one KnowledgeDocumentIngested record into every index (``indexes[0]`` is the
    primary one, named in the ``knowledge.indexed`` record; a cross-lingual index may follow)."""

    def __init__(
        self,
        *,
        store: VectorStore,
        embedder: Embedder | None = None,
        collection: str = "",
        max_chars: int,
        indexes: Sequence[DenseIndex] = (),
    ) -> None:
        if embedder is not None:
            indexes = (DenseIndex("primary", collection, embedder), *indexes)
        if not indexes:
            raise ValueError("IndexStep needs at least one index")
        self.store = store
        self.indexes = tuple(indexes)
        self.embedder = self.indexes[0].embedder
        self.collection = self.indexes[0].collection
        self.max_chars = max_chars
        self._ready = False

    async def __call__(self, doc: KnowledgeDocumentIngested) -> list[Emit]:
        if not self._ready:
            for index in self.indexes:
                await self.store.ensure_collection(index.collection, index.embedder.dim)
            self._ready = True
        document_id = doc["document_id"]
        written: list[list[VectorChunk]] = [[] for _ in self.indexes]
        if not doc["deleted"]:
            chunks = chunk_blocks(
                document_id, parse(doc["content_type"], doc["content"]), max_chars=self.max_chars
            )
            for slot, index in enumerate(self.indexes):
                # CPU-bound: off the event loop so the agent keeps heartbeating.
                embedded = await asyncio.to_thread(
                    embed_sorted, index.embedder, [c.embed_text for c in chunks]
                )
                written[slot] = [
                    VectorChunk(
                        chunk_id=c.chunk_id,
                        vector=[float(x) for x in embedded[i]],
                        payload=_payload(doc, c),
                    )
                    for i, c in enumerate(chunks)
                ]
        removed = 0
        for slot, index in enumerate(self.indexes):
            gone = await self.store.delete_document(index.collection, document_id)
            removed = gone if slot == 0 else removed
            if written[slot]:
                await self.store.upsert(index.collection, written[slot])
        vectors = written[0]
        indexed: KnowledgeIndexed = {
            "meta": derived_meta(doc, STEP),
            "document_id": document_id,
            "content_sha256": doc["content_sha256"],
            "subject": doc["subject"],
            "language": doc["language"],
            "deleted": bool(doc["deleted"]),
            "chunk_count": len(vectors),
            "chunk_ids": [v.chunk_id for v in vectors],
            "removed_chunks": removed,
            "embedder": self.embedder.name,
            "collection": self.collection,
        }
        return [Emit("knowledge.indexed", document_id, indexed)]


def embed_sorted(embedder: Embedder, texts: Sequence[str], batch: int = 32) -> Vectors:
    """Passage vectors of ``texts`` in their order, embedded in batches of similar length:
    a batch is padded to its longest text, so sorting by length wastes no work on padding."""
    if not texts:
        return embedder.embed_passages([])
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [
        embedder.embed_passages([texts[i] for i in order[start : start + batch]])
        for start in range(0, len(order), batch)
    ]
    vectors = np.concatenate(parts)
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def _payload(doc: KnowledgeDocumentIngested, c: Chunk) -> dict[str, Any]:
    return {
        "document_id": doc["document_id"],
        "subject": doc["subject"],
        "language": doc["language"],
        "tags": list(doc["tags"]),
        "text": c.text,
        "title": doc["title"],
        "headings": list(c.headings),
        "chunk_index": c.index,
        "content_sha256": doc["content_sha256"],
    }
