"""How each step is built from a worker's resources: the one place that turns settings and
adapters into step callables (agents/ never sees a settings object or an adapter class).

Each builder returns a ``BuiltStep``; ``factory.worker`` binds it generically: a processor on
the step's input topic and retry tiers, ``emit_now`` wired to that processor, background tasks
started and closers run by the worker's lifecycle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agents.draft import DenseIndex, DraftStep, DuplicateDetector, Retriever, calibration_for
from agents.drafting.arms import EXPERIMENT_ID
from agents.drafting.llm_writer import LLMScriptWriter
from agents.drafting.template_writer import TemplateWriter
from agents.drafting.writer_port import ScriptWriter, TemplateScriptWriter
from agents.index import IndexStep
from agents.metrics_poller import MetricsPoller, PollSchedule
from agents.publish import PublishStep
from agents.render.agent import RenderStep
from connectors.arm_weights import ArmWeights
from connectors.llm.chat import ChatCompletionsClient
from factory.config import arm_weights_config
from factory.resources import Resources
from schemas.serializer import AvroSerde
from streams.processor import Emit, EmitNow, Step
from streams.settings import Settings


@dataclass
class StepContext:
    """What a builder may use: the worker's settings, shared clients and serde, and
    ``emit_now`` (publishes through the step's own processor once it is bound)."""

    settings: Settings
    resources: Resources
    serde: AvroSerde
    emit_now: EmitNow


@dataclass
class BuiltStep:
    step: Step
    #: Long-running tasks of the step (a scheduler), started with the worker.
    background: Sequence[Callable[[], Awaitable[None]]] = ()
    #: Run when the worker stops, after its consumer stopped.
    closers: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=list)


def script_writer(settings: Settings) -> ScriptWriter:
    """The LLM writer when an endpoint is configured (falling back to the template writer on
    any bad output), else the template writer."""
    if not settings.llm_url:
        return TemplateScriptWriter()
    key = settings.llm_api_key
    client = ChatCompletionsClient(
        settings.llm_url,
        key.get_secret_value() if key else None,
        settings.llm_model,
        timeout_s=settings.llm_timeout_s,
    )
    return LLMScriptWriter(client, TemplateWriter())


def knowledge_indexes(s: Settings, r: Resources) -> list[DenseIndex]:
    """The primary index, then the cross-lingual one unless disabled or the same model (one
    multilingual index then serves both). Indexing writes every one; drafting searches them."""
    indexes = [DenseIndex("primary", s.qdrant_collection, r.embedder)]
    cross = r.cross_embedder
    if cross is not None and s.crosslingual_embedder != s.embedder:
        indexes.append(DenseIndex("cross", f"{s.qdrant_collection}-xl", cross))
    return indexes


def fact_retriever(s: Settings, r: Resources) -> Retriever:
    """The drafting step's fact source, as configured: also what the retrieval evaluation runs
    (factory/retrieval_eval/drafting.py), so the figures are the production path's."""
    return Retriever(
        r.vector_store,
        knowledge_indexes(s, r),
        r.tokenizer,
        calibration_for(s.embedder, s.crosslingual_embedder),
        top_k=s.retrieval_top_k,
        min_score=s.retrieval_min_score,
        foreign_min_score=s.retrieval_foreign_min_score,
        candidates=s.retrieval_candidates,
    )


def build_index(ctx: StepContext) -> BuiltStep:
    s, r = ctx.settings, ctx.resources
    return BuiltStep(
        IndexStep(
            store=r.vector_store,
            indexes=knowledge_indexes(s, r),
            max_chars=s.chunk_max_chars,
        )
    )


def build_draft(ctx: StepContext) -> BuiltStep:
    s, r = ctx.settings, ctx.resources
    weights = ArmWeights(arm_weights_config(s), ctx.serde)
    step = DraftStep(
        k=s.draft_variants_per_problem,
        weights=lambda: weights.get(EXPERIMENT_ID),
        before_first=weights.wait_loaded,
        retriever=fact_retriever(s, r),
        duplicates=DuplicateDetector(r.vector_store, r.embedder, min_score=s.duplicate_min_score),
        grounding_min_score=s.grounding_min_score,
        writer=script_writer(s),
        banned_words=s.banned_words,
    )
    return BuiltStep(step, closers=[weights.stop])


def build_render(ctx: StepContext) -> BuiltStep:
    return BuiltStep(RenderStep(ctx.resources.renderer, emit_now=ctx.emit_now))


def build_publish(ctx: StepContext) -> BuiltStep:
    r = ctx.resources
    return BuiltStep(
        PublishStep(
            r.video_publisher, r.artifacts, privacy_status=ctx.settings.youtube_privacy_status
        )
    )


def build_metrics_poll(ctx: StepContext) -> BuiltStep:
    s, r = ctx.settings, ctx.resources
    schedule = PollSchedule(s.data_dir / "metrics" / f"poller-{s.worker_instance}.db")

    async def publish(emits: list[Emit]) -> None:
        await ctx.emit_now(emits)

    poller = MetricsPoller(
        schedule, r.analytics_source, r.clock, publish, time_scale=r.channel_time_scale,
        stopping=lambda: r.stopping,
    )  # fmt: skip
    return BuiltStep(poller.step, background=[poller.run])
