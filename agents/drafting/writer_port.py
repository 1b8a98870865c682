"""The script writer port: one (problem, arm, grounding facts) in, one script draft out.

Adapters: ``TemplateScriptWriter`` (deterministic, offline) and ``LLMScriptWriter`` (any
OpenAI-compatible chat endpoint, falling back to the template on any LLM problem).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from agents.drafting.arms import Arm
from agents.drafting.template_writer import WRITER_ID, ScriptDraft, TemplateWriter


@dataclass(frozen=True)
class Fact:
    """One retrieved knowledge chunk a script may be grounded in.

    ``score`` is the calibrated probability that the chunk is relevant to the problem.
    ``support`` is the sentence of the chunk that states the problem's answer, or "" when the
    chunk passed only the relevance test: such a fact is cited but never spoken nor given to
    a writer. ``language`` is the chunk's, which may differ from the problem's.
    """

    chunk_id: str
    score: float
    text: str
    language: str = ""
    support: str = ""


@dataclass(frozen=True)
class WrittenScript:
    """A draft plus, when the writer had to fall back to its template, the reason why."""

    draft: ScriptDraft
    # None when the writer produced the draft itself; a human-readable cause otherwise, so
    # fallback rates and causes can be measured per writer.
    fallback_reason: str | None = None


class ScriptWriter(Protocol):
    """Writes the script of one problem in the style of one experiment arm."""

    @property
    def name(self) -> str:
        """Stable id of the writer (and its model), recorded with every draft."""
        ...

    async def write(
        self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
    ) -> WrittenScript:
        """The script of ``problem`` (a ProblemSubmitted-shaped mapping) for ``arm``.

        ``facts`` are retrieved chunks the script may draw on. Raises the project's
        ``ValidationError`` only for a problem that can never be drafted (unknown language,
        answer index out of range); writer-side trouble becomes a fallback, not an error.
        """
        ...


class TemplateScriptWriter:
    """The deterministic template writer behind the port.

    The template copy does not use facts: grounding of explanations is the caller's job, so
    they are accepted and ignored here.
    """

    def __init__(self, template: TemplateWriter | None = None) -> None:
        self._template = template or TemplateWriter()

    @property
    def name(self) -> str:
        return WRITER_ID

    async def write(
        self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
    ) -> WrittenScript:
        return WrittenScript(self._template.write(problem, arm))
