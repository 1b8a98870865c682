"""Drafting: ``problems.submitted`` -> one ``scripts.drafted`` per chosen variant arm.

The step is pure (problem record + arm weights -> ScriptDrafted records); ``register`` wires it
to Faust through the shared processor, which owns retries and dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import faust

from agents.drafting.arms import ARMS, EXPERIMENT_ID, Arm, choose_arms
from agents.drafting.guardrails import violations
from agents.drafting.template_writer import WRITER_ID as TEMPLATE_WRITER_ID
from agents.drafting.template_writer import ScriptDraft, TemplateWriter
from agents.drafting.writer_port import Fact, ScriptWriter, TemplateScriptWriter
from agents.knowledge.chunking import sentences
from observability import tracing
from schemas.serializer import AvroSerde
from streams import app as streams_app
from streams.catalogue import topic
from streams.errors import ValidationError
from streams.events import derived_id, derived_meta
from streams.processor import Emit, Publisher, StepProcessor
from streams.resources import Resources
from streams.settings import Settings
from streams.weights import ArmWeights

if TYPE_CHECKING:
    from connectors.embeddings.port import Embedder
    from connectors.vectors.port import VectorStore

log = logging.getLogger(__name__)
AGENT = "drafting"
STEP = "draft"
Record = dict[str, Any]
Weights = Mapping[str, float] | None


def validate_problem(problem: Record) -> None:
    """Business rules the schema cannot express. A violation is fatal: retrying cannot help."""
    choices = problem["choices"]
    if len(choices) < 2:
        raise ValidationError(f"problem {problem['problem_id']} has fewer than 2 choices")
    if not 0 <= problem["answer_index"] < len(choices):
        raise ValidationError(
            f"problem {problem['problem_id']}: answer_index {problem['answer_index']} "
            f"is outside its {len(choices)} choices"
        )
    if not problem["question"].strip():
        raise ValidationError(f"problem {problem['problem_id']} has an empty question")
    if problem["language"] not in ("ko", "en"):
        raise ValidationError(f"problem {problem['problem_id']}: unsupported language")


def retrieval_query(problem: Record) -> str:
    """Question plus correct answer: the facts worth citing explain the answer."""
    return f"{problem['question']} {problem['choices'][problem['answer_index']]}"


def grounded_explanation(explanation: str, facts: Sequence[Fact], min_score: float) -> str:
    """The explanation, extended by the best fact's first sentence when it is relevant enough
    and says something the explanation does not already say."""
    if not facts or facts[0].score < min_score:
        return explanation
    sentence = sentences(facts[0].text)[0] if facts[0].text.strip() else ""
    if not sentence or sentence in explanation:
        return explanation
    return f"{explanation} {sentence}".strip()


def script_record(
    problem: Record,
    arm: Arm,
    draft: ScriptDraft,
    *,
    facts: Sequence[Fact] = (),
    grounding_min_score: float = 1.1,
    fallback_reason: str | None = None,
    duplicate_of: str | None = None,
) -> Record:
    """The ScriptDrafted record of one variant (pure): deterministic ids, cited facts."""
    cause_id = problem["meta"]["event_id"]
    return {
        "meta": derived_meta(problem, STEP, arm.arm_id),
        "script_id": derived_id(cause_id, "script", arm.arm_id),
        "problem_id": problem["problem_id"],
        "language": problem["language"],
        "experiment_id": EXPERIMENT_ID,
        "arm_id": arm.arm_id,
        "hook_style": arm.hook_style,
        "cta_style": arm.cta_style,
        "hook": draft.hook,
        "preface": draft.preface,
        "question": draft.question,
        "choices": list(draft.choices),
        "countdown_seconds": draft.countdown_seconds,
        "answer_index": draft.answer_index,
        "answer_reveal": draft.answer_reveal,
        "explanation": grounded_explanation(draft.explanation, facts, grounding_min_score),
        "cta": draft.cta,
        "estimated_speech_seconds": float(draft.estimated_speech_seconds),
        "writer": draft.writer,
        "citations": [{"chunk_id": f.chunk_id, "score": f.score} for f in facts],
        "fallback_reason": fallback_reason,
        "duplicate_of": duplicate_of,
    }


def draft_scripts(
    problem: Record,
    *,
    arms: Sequence[Arm] = ARMS,
    weights: Weights = None,
    k: int = 3,
    writer: TemplateWriter | None = None,
    facts: Sequence[Fact] = (),
    grounding_min_score: float = 1.1,
) -> list[Record]:
    """The ScriptDrafted records for one problem with the template writer: K arms."""
    validate_problem(problem)
    writer = writer or TemplateWriter()
    return [
        script_record(
            problem,
            arm,
            writer.write(problem, arm),
            facts=facts,
            grounding_min_score=grounding_min_score,
        )
        for arm in choose_arms(problem["problem_id"], arms, dict(weights or {}), k)
    ]


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

    async def facts(self, problem: Record) -> list[Fact]:
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

    async def check_and_remember(self, problem: Record) -> str | None:
        """The id of the earlier near-duplicate, or None; then remembers ``problem``."""
        from connectors.vectors.port import Chunk as VectorChunk

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


class DraftStep:
    """The step callable the processor runs; arm weights come from a provider so the
    experiment evaluator can steer drafting without restarting the agent."""

    def __init__(
        self,
        *,
        k: int,
        weights: Callable[[], Weights] = lambda: None,
        retriever: Retriever | None = None,
        grounding_min_score: float = 1.1,
        writer: ScriptWriter | None = None,
        banned_words: Sequence[str] = (),
        before_first: Callable[[], Awaitable[None]] | None = None,
        duplicates: DuplicateDetector | None = None,
    ) -> None:
        self.k = k
        self.duplicates = duplicates
        self._before_first = before_first
        self.banned_words = tuple(banned_words)
        self.template = TemplateWriter()
        self.weights = weights
        self.retriever = retriever
        self.grounding_min_score = grounding_min_score
        self.writer = writer or TemplateScriptWriter()

    async def __call__(self, problem: Record) -> list[Emit]:
        if self._before_first is not None:
            await self._before_first()  # e.g. load the current arm weights first
            self._before_first = None
        validate_problem(problem)  # before paying for retrieval or an LLM
        facts = await self.retriever.facts(problem) if self.retriever else []
        duplicate_of = (
            await self.duplicates.check_and_remember(problem) if self.duplicates else None
        )
        emits = []
        for arm in choose_arms(problem["problem_id"], ARMS, dict(self.weights() or {}), self.k):
            written = await self.writer.write(problem, arm, facts)
            script = self._record(problem, arm, written.draft, facts, written.fallback_reason)
            broken = violations(script, problem, self.banned_words)
            if broken and written.draft.writer != TEMPLATE_WRITER_ID:
                # The writer's copy broke a guardrail: publish the template's instead.
                reason = "guardrail: " + "; ".join(broken)
                script = self._record(
                    problem, arm, self.template.write(problem, arm), facts, reason
                )
                broken = violations(script, problem, self.banned_words)
            if broken:
                # Even the template's copy fails: the problem itself is unfit (fatal).
                raise ValidationError(
                    f"problem {problem['problem_id']} fails guardrails: " + "; ".join(broken)
                )
            script["duplicate_of"] = duplicate_of
            emits.append(Emit("scripts.drafted", script["script_id"], script))
        # One line per problem: with the step's trace id it links the logs to the journey.
        log.info(
            "drafted %d variant(s) of problem %s (arms %s)",
            len(emits),
            problem["problem_id"],
            ", ".join(e.record["arm_id"] for e in emits),
        )
        return emits

    def _record(
        self,
        problem: Record,
        arm: Arm,
        draft: ScriptDraft,
        facts: Sequence[Fact],
        fallback_reason: str | None,
    ) -> Record:
        return script_record(
            problem,
            arm,
            draft,
            facts=facts,
            grounding_min_score=self.grounding_min_score,
            fallback_reason=fallback_reason,
        )


def script_writer(settings: Settings) -> ScriptWriter:
    """The LLM writer when an endpoint is configured (falling back to the template writer on
    any bad output), else the template writer."""
    if not settings.llm_url:
        return TemplateScriptWriter()
    from agents.drafting.llm_writer import LLMScriptWriter
    from connectors.llm.chat import ChatCompletionsClient

    key = settings.llm_api_key
    client = ChatCompletionsClient(
        settings.llm_url,
        key.get_secret_value() if key else None,
        settings.llm_model,
        timeout_s=settings.llm_timeout_s,
    )
    return LLMScriptWriter(client, TemplateWriter())


def processor(
    settings: Settings,
    serde: AvroSerde,
    publisher: Publisher,
    retriever: Retriever | None = None,
    *,
    weights: Callable[[], Weights] = lambda: None,
    before_first: Callable[[], Awaitable[None]] | None = None,
    duplicates: DuplicateDetector | None = None,
) -> StepProcessor:
    return StepProcessor(
        agent=AGENT,
        spec=topic("problems.submitted"),
        step=DraftStep(
            k=settings.draft_variants_per_problem,
            weights=weights,
            before_first=before_first,
            duplicates=duplicates,
            retriever=retriever,
            grounding_min_score=settings.grounding_min_score,
            writer=script_writer(settings),
            banned_words=settings.banned_words,
        ),
        serde=serde,
        publisher=publisher,
        settings=settings,
    )


def register(
    app: faust.App,
    settings: Settings,
    serde: AvroSerde,
    publisher: Publisher,
    resources: Resources,
) -> StepProcessor:
    """Bind the drafting agent (event topic + retry tiers) to ``app``, retrieving from the
    worker's shared vector store."""
    weights = ArmWeights(settings, serde)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types receivers narrowly
    async def _stop_weights(sender: Any, *args: Any, **kwargs: Any) -> None:
        await weights.stop()

    retriever = Retriever(
        resources.vector_store,
        resources.embedder,
        collection=settings.qdrant_collection,
        top_k=settings.retrieval_top_k,
        min_score=settings.retrieval_min_score,
    )
    proc = processor(
        settings,
        serde,
        publisher,
        retriever,
        weights=lambda: weights.get(EXPERIMENT_ID),
        before_first=weights.wait_loaded,
        duplicates=DuplicateDetector(
            resources.vector_store,
            resources.embedder,
            min_score=settings.duplicate_min_score,
        ),
    )
    streams_app.bind(app, proc)
    return proc
