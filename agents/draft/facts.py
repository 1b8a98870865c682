"""Facts for a problem and near-duplicate detection, over the vector-store and embedder ports."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from agents.draft.lexical import Terms, bm25, coverage, key_terms, mentions
from agents.draft.relevance import Calibration, Candidate, score
from agents.draft.rules import retrieval_query, supporting_sentence
from agents.drafting.writer_port import Fact
from agents.knowledge.indexes import DenseIndex
from schemas.records import ProblemSubmitted
from streams.events import derived_id
from streams.ports.embeddings import Embedder
from streams.ports.text import Tokenizer
from streams.ports.vectors import Chunk as VectorChunk
from streams.ports.vectors import VectorStore
from streams.telemetry import tracing

Record = dict[str, Any]
# Sees every judged candidate and its probability: how the evaluation records the features
# it calibrates on, from the production path itself.
Observer = Callable[[ProblemSubmitted, list[Candidate], list[float]], None]


def answer_share(
    answer: str, answer_terms: Terms, text: str, terms: Terms, *, foreign: bool
) -> float:
    """The share of the answer's key terms in a passage. An answer that is only a number
    ("4개", "12") must be stated as written (``lexical.mentions``) in a same-language passage:
    a bare small number occurs in many passages that have nothing to do with the question."""
    numbers_only = bool(answer_terms.weighted) and all(
        form in answer_terms.shared and form.replace(".", "").isdigit()
        for form, _ in answer_terms.weighted
    )
    if numbers_only and not foreign:
        return 1.0 if mentions(text, answer) else 0.0
    return coverage(answer_terms, terms, cross_script=foreign)


class FactSource(Protocol):
    """Supporting facts for a problem, best first."""

    async def facts(self, problem: ProblemSubmitted) -> list[Fact]:
        """Facts worth citing for ``problem`` (possibly none)."""
        ...


class Retriever:
    """Facts for a problem: relevant passages of its subject in any language, best first.

    Each index proposes candidates (same subject, each language); every candidate gets a
    calibrated probability of relevance (``agents.draft.relevance``) from the cosines, their
    margins and the key terms it shares with the question and the answer. Candidates in the
    problem's language at or above ``min_score`` are cited; only when there is none, foreign
    ones at or above ``foreign_min_score``. A fact also carries its *support*: the sentence
    that states the problem's answer, only when one does and the fact holds the question's key
    terms (``rules.supporting_sentence``); only such a fact may be spoken or handed to a writer.
    """

    def __init__(
        self,
        store: VectorStore,
        indexes: Sequence[DenseIndex],
        tokenizer: Tokenizer,
        calibration: Calibration,
        *,
        top_k: int,
        min_score: float,
        foreign_min_score: float | None = None,
        candidates: int = 10,
        observe: Observer | None = None,
        languages: Sequence[str] = ("ko", "en"),
    ) -> None:
        if not indexes or indexes[0].role != "primary":
            raise ValueError("the first index must be the primary one")
        self.store = store
        self.indexes = tuple(indexes)
        self.tokenizer = tokenizer
        self.calibration = calibration
        self.top_k = top_k
        self.min_score = min_score
        self.foreign_min_score = min_score if foreign_min_score is None else foreign_min_score
        self.candidates = candidates
        self.observe = observe
        self.languages = tuple(languages)
        self._ready = False

    async def facts(self, problem: ProblemSubmitted) -> list[Fact]:
        if self.top_k == 0:
            return []
        if not self._ready:
            # Before any document is indexed the collections do not exist: create them empty
            # so a search answers "no facts" instead of failing every problem.
            for index in self.indexes:
                await self.store.ensure_collection(index.collection, index.embedder.dim)
            self._ready = True
        with tracing.span(
            "retrieve facts",
            munjero__collection=self.indexes[0].collection,
            munjero__top_k=self.top_k,
        ) as span:
            query = retrieval_query(problem)
            found: dict[str, dict[str, float]] = {}
            payloads: dict[str, dict[str, Any]] = {}
            floors: dict[str, float] = {}
            for index in self.indexes:
                vector = (await asyncio.to_thread(index.embedder.embed_queries, [query]))[0]
                hits = []
                # One search per language: an embedder ranks its own language first, and the
                # foreign candidates need scores from every index to be judged fairly.
                for language in self.languages:
                    hits += await self.store.search(
                        index.collection,
                        [float(x) for x in vector],
                        limit=self.candidates,
                        subject=problem["subject"],
                        language=language,
                    )
                for hit in hits:
                    found.setdefault(hit.chunk_id, {})[index.role] = float(hit.score)
                    payloads.setdefault(hit.chunk_id, hit.payload)
                floors[index.role] = min((float(h.score) for h in hits), default=0.0)
            facts = await asyncio.to_thread(self._judge, problem, found, payloads, floors)
            span.set_attribute("munjero.candidates", len(found))
            span.set_attribute("munjero.hits", len(facts))
        return facts

    def _judge(
        self,
        problem: ProblemSubmitted,
        found: dict[str, dict[str, float]],
        payloads: dict[str, dict[str, Any]],
        floors: dict[str, float],
    ) -> list[Fact]:
        if not found:
            return []
        ids = list(found)
        texts = [str(payloads[i].get("text", "")) for i in ids]
        question = problem["question"]
        answer = problem["choices"][problem["answer_index"]]
        tokens = self.tokenizer.tokenize([f"{question} {answer}", question, answer, *texts])
        query_terms, question_terms = key_terms(tokens[0]), key_terms(tokens[1])
        names = key_terms([t for t in tokens[1] if t.kind in ("name", "number", "latin")])
        answer_terms = key_terms(tokens[2])
        passage_terms = [key_terms(t) for t in tokens[3:]]
        lexical_scores = bm25(query_terms, passage_terms)
        roles = {index.role for index in self.indexes}
        language = problem["language"]
        candidates = []
        for chunk_id, text, terms, lexical_score in zip(
            ids, texts, passage_terms, lexical_scores, strict=True
        ):
            fact_language = str(payloads[chunk_id].get("language", language))
            foreign = fact_language != language
            dense: dict[str, float] = {r: found[chunk_id].get(r, floors[r]) for r in roles}
            if "cross" not in dense:
                # One multilingual index serves both kinds of candidate.
                dense["cross"] = dense["primary"]
            candidates.append(
                Candidate(
                    chunk_id,
                    text,
                    fact_language,
                    foreign,
                    dense,
                    coverage(query_terms, terms, cross_script=foreign),
                    answer_share(answer, answer_terms, text, terms, foreign=foreign),
                    lexical_score,
                    coverage(names, terms, cross_script=foreign) if names.weighted else 1.0,
                )
            )
        probabilities = score(candidates, self.calibration)
        if self.observe is not None:
            self.observe(problem, candidates, probabilities)
        ranked = sorted(
            zip(candidates, probabilities, passage_terms, strict=True), key=lambda c: -c[1]
        )
        # A fact in the problem's own language is preferred; foreign ones are the fallback when
        # none is relevant enough (and have their own threshold: their evidence is thinner).
        chosen = [r for r in ranked if not r[0].foreign and r[1] >= self.min_score]
        if not chosen:
            chosen = [r for r in ranked if r[0].foreign and r[1] >= self.foreign_min_score]
        return [
            Fact(
                c.chunk_id,
                round(p, 6),
                c.text,
                language=c.language,
                support=supporting_sentence(
                    c.text,
                    answer,
                    coverage(question_terms, terms, cross_script=c.foreign),
                ),
            )
            for c, p, terms in chosen[: self.top_k]
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
