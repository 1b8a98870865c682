"""Drafting: ``problems.submitted`` -> one ``scripts.drafted`` per chosen variant arm.

The step is pure (problem record + arm weights -> ScriptDrafted records); ``register`` wires it
to Faust through the shared processor, which owns retries and dead letters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import faust

from agents.drafting.arms import ARMS, EXPERIMENT_ID, Arm, choose_arms
from agents.drafting.template_writer import TemplateWriter
from schemas.serializer import AvroSerde
from streams import app as streams_app
from streams.catalogue import topic
from streams.errors import ValidationError
from streams.events import derived_id, derived_meta
from streams.processor import Emit, Publisher, StepProcessor
from streams.settings import Settings

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


def draft_scripts(
    problem: Record,
    *,
    arms: Sequence[Arm] = ARMS,
    weights: Weights = None,
    k: int = 3,
    writer: TemplateWriter | None = None,
) -> list[Record]:
    """The ScriptDrafted records for one problem: K arms, deterministic ids."""
    validate_problem(problem)
    writer = writer or TemplateWriter()
    cause_id = problem["meta"]["event_id"]
    scripts = []
    for arm in choose_arms(problem["problem_id"], arms, dict(weights or {}), k):
        draft = writer.write(problem, arm)
        scripts.append(
            {
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
                "explanation": draft.explanation,
                "cta": draft.cta,
                "estimated_speech_seconds": float(draft.estimated_speech_seconds),
                "writer": draft.writer,
                "citations": [],
                "fallback_reason": None,
            }
        )
    return scripts


class DraftStep:
    """The step callable the processor runs; arm weights come from a provider so the
    experiment evaluator can steer drafting without restarting the agent."""

    def __init__(self, *, k: int, weights: Callable[[], Weights] = lambda: None) -> None:
        self.k = k
        self.weights = weights
        self.writer = TemplateWriter()

    async def __call__(self, problem: Record) -> list[Emit]:
        return [
            Emit("scripts.drafted", script["script_id"], script)
            for script in draft_scripts(
                problem, weights=self.weights(), k=self.k, writer=self.writer
            )
        ]


def processor(settings: Settings, serde: AvroSerde, publisher: Publisher) -> StepProcessor:
    return StepProcessor(
        agent=AGENT,
        spec=topic("problems.submitted"),
        step=DraftStep(k=settings.draft_variants_per_problem),
        serde=serde,
        publisher=publisher,
        settings=settings,
    )


def register(
    app: faust.App, settings: Settings, serde: AvroSerde, publisher: Publisher
) -> StepProcessor:
    """Bind the drafting agent (event topic + retry tiers) to ``app``."""
    proc = processor(settings, serde, publisher)
    streams_app.bind(app, proc)
    return proc
