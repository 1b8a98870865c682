"""Facts for a problem and near-duplicate detection, over the vector-store and embedder ports."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from agents.draft.rules import retrieval_query
from agents.drafting.writer_port import Fact
from schemas.records import ProblemSubmitted
from streams.events import derived_id
from streams.ports.embeddings import Embedder
from streams.ports.vectors import Chunk as VectorChunk
from streams.ports.vectors import VectorStore
from streams.telemetry import tracing

Record = dict[str, Any]


class FactSource(Protocol):
    """Supporting facts for a problem, best first."""

    async def facts(self, problem: ProblemSubmitted) -> list[Fact]:
        """Facts worth citing for ``problem`` (possibly none)."""
        ...


class Retriever:
    """Supporting facts for a problem: same subject and language, best first."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        collection: str,
        top_k: int,
        min_score: float,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.collection = collection
        self.top_k = top_k
        self.min_score = min_score
        self._ready = False

    async def facts(self, problem: ProblemSubmitted) -> list[Fact]:
        if self.top_k == 0:
            return []
        if not self._ready:
            # Before any document is indexed the collection does not exist: create it empty
            # so a search answers "no facts" instead of failing every problem.
            await self.store.ensure_collection(self.collection, self.embedder.dim)
            self._ready = True
        with tracing.span(
            "retrieve facts", munjero__collection=self.collection, munjero__top_k=self.top_k
        ) as span:
            query = retrieval_query(problem)
            vector = (await asyncio.to_thread(self.embedder.embed_queries, [query]))[0]
            hits = await self.store.search(
                self.collection,
                [float(x) for x in vector],
                limit=self.top_k,
                subject=problem["subject"],
                language=problem["language"],
            )
            span.set_attribute("munjero.hits", len(hits))
        return [
            Fact(h.chunk_id, round(float(h.score), 6), str(h.payload.get("text", "")))
            for h in hits
            if h.score >= self.min_score
        ]


class DuplicateDetector:
    """Flags a problem that nearly repeats an earlier one (same language), so the channel does
    not publish the same short twice. Every problem seen is remembered in its own collection."""

    COLLECTION = "problems"

    def __init__(self, store: VectorStore, embedder: Embedder, *, min_score: float) -> None:
        self.store = store
        self.embedder = embedder
        self.min_score = min_score
        self._ready = False

    async def check_and_remember(self, problem: ProblemSubmitted) -> str | None:
        """The id of the earlier near-duplicate, or None; then remembers ``problem``."""
        if not self._ready:
            await self.store.ensure_collection(self.COLLECTION, self.embedder.dim)
            self._ready = True
        text = f"{problem['question']} {' / '.join(problem['choices'])}"
        vector = [
            float(x) for x in (await asyncio.to_thread(self.embedder.embed_passages, [text]))[0]
        ]
        hits = await self.store.search(
            self.COLLECTION, vector, limit=3, language=problem["language"]
        )
        # Only an *earlier* submission can be the original: a replay of the first problem must
        # not become a duplicate of a later repeat.
        submitted = problem["meta"]["occurred_at"].timestamp()
        duplicate = next(
            (
                str(h.payload["document_id"])
                for h in hits
                if h.score >= self.min_score
                and h.payload["document_id"] != problem["problem_id"]
                and float(h.payload.get("submitted_at", 0.0)) < submitted
            ),
            None,
        )
        await self.store.upsert(
            self.COLLECTION,
            [
                VectorChunk(
                    chunk_id=derived_id("problem", problem["problem_id"]),
                    vector=vector,
                    payload={
                        "document_id": problem["problem_id"],
                        "subject": problem["subject"],
                        "language": problem["language"],
                        "tags": list(problem.get("tags") or []),
                        "text": problem["question"],
                        "submitted_at": submitted,
                    },
                )
            ],
        )
        return duplicate
