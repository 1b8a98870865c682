"""The drafting step: ``problems.submitted`` -> one ``scripts.drafted`` per chosen variant arm.

Pure apart from its ports: facts come from a ``FactSource``, duplicates from a
``DuplicateDetector``, copy from a ``ScriptWriter``; the arm weights from a provider the
composition root fills from ``experiments.updated``. Retries and dead letters belong to the
processor that runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from agents.draft.facts import DuplicateDetector, FactSource
from agents.draft.rules import normalised_problem, script_record, speakable, validate_problem
from agents.drafting.arms import ARMS, Arm, choose_arms
from agents.drafting.guardrails import violations
from agents.drafting.template_writer import WRITER_ID as TEMPLATE_WRITER_ID
from agents.drafting.template_writer import ScriptDraft, TemplateWriter
from agents.drafting.writer_port import Fact, ScriptWriter, TemplateScriptWriter
from schemas.records import ProblemSubmitted, ScriptDrafted
from streams.errors import ValidationError
from streams.step import Emit

log = logging.getLogger(__name__)
Record = dict[str, Any]
Weights = Mapping[str, float] | None


class DraftStep:
    """The step callable the processor runs; arm weights come from a provider so the
    experiment evaluator can steer drafting without restarting the agent."""

    def __init__(
        self,
        *,
        k: int,
        weights: Callable[[], Weights] = lambda: None,
        retriever: FactSource | None = None,
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

    async def __call__(self, problem: ProblemSubmitted) -> list[Emit]:
        if self._before_first is not None:
            await self._before_first()  # e.g. load the current arm weights first
            self._before_first = None
        problem = normalised_problem(problem)  # guardrails and duplicates see what is shown
        validate_problem(problem)  # before paying for retrieval or an LLM
        facts = await self.retriever.facts(problem) if self.retriever else []
        duplicate_of = (
            await self.duplicates.check_and_remember(problem) if self.duplicates else None
        )
        # The writer sees only facts that state the answer; the rest are cited, not used.
        usable = speakable(facts, self.grounding_min_score)
        emits = []
        for arm in choose_arms(problem["problem_id"], ARMS, dict(self.weights() or {}), self.k):
            written = await self.writer.write(problem, arm, usable)
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
        problem: ProblemSubmitted,
        arm: Arm,
        draft: ScriptDraft,
        facts: Sequence[Fact],
        fallback_reason: str | None,
    ) -> ScriptDrafted:
        return script_record(
            problem,
            arm,
            draft,
            facts=facts,
            grounding_min_score=self.grounding_min_score,
            fallback_reason=fallback_reason,
        )
