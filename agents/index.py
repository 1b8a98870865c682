"""Indexing: ``knowledge.ingested`` -> chunks in the vector store -> ``knowledge.indexed``.

Parsing and chunking are pure (``agents.knowledge``); this module wires them to the embedder
and the vector store. A changed document replaces its chunks: the previous version's chunks are
deleted before the new ones are written, so no stale chunk survives; a deletion removes them.
The topic is keyed by document id, so one worker owns each document and the delete-then-write
is never raced by another writer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents.knowledge.chunking import chunk_blocks
from agents.knowledge.parsing import parse
from schemas.records import KnowledgeDocumentIngested, KnowledgeIndexed
from streams.events import derived_meta
from streams.ports.embeddings import Embedder
from streams.ports.vectors import Chunk as VectorChunk
from streams.ports.vectors import VectorStore
from streams.step import Emit

AGENT = "indexing"
STEP = "index"
Record = dict[str, Any]


class IndexStep:
    """Index one KnowledgeDocumentIngested record."""

    def __init__(
        self, *, store: VectorStore, embedder: Embedder, collection: str, max_chars: int
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.collection = collection
        self.max_chars = max_chars
        self._ready = False

    async def __call__(self, doc: KnowledgeDocumentIngested) -> list[Emit]:
        if not self._ready:
            await self.store.ensure_collection(self.collection, self.embedder.dim)
            self._ready = True
        document_id = doc["document_id"]
        vectors: list[VectorChunk] = []
        if not doc["deleted"]:
            chunks = chunk_blocks(
                document_id, parse(doc["content_type"], doc["content"]), max_chars=self.max_chars
            )
            # CPU-bound: off the event loop so the agent keeps heartbeating.
            embedded = await asyncio.to_thread(
                self.embedder.embed_passages, [c.embed_text for c in chunks]
            )
            vectors = [
                VectorChunk(
                    chunk_id=c.chunk_id,
                    vector=[float(x) for x in embedded[i]],
                    payload={
                        "document_id": document_id,
                        "subject": doc["subject"],
                        "language": doc["language"],
                        "tags": list(doc["tags"]),
                        "text": c.text,
                        "title": doc["title"],
                        "headings": list(c.headings),
                        "chunk_index": c.index,
                        "content_sha256": doc["content_sha256"],
                    },
                )
                for i, c in enumerate(chunks)
            ]
        removed = await self.store.delete_document(self.collection, document_id)
        if vectors:
            await self.store.upsert(self.collection, vectors)
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
