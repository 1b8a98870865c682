"""The LLM script writer: free copy from a chat model, everything factual from the problem.

The model only writes the hook, preface, explanation and CTA. Question, choices, answer index,
reveal and countdown come from the template writer, because the answer key is not the model's
to change. Any trouble with the model (unreachable, slow, malformed, too long, or claiming a
wrong answer) yields the template draft with the reason; it never fails the event.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from agents.drafting.arms import Arm
from agents.drafting.llm_output import (
    InvalidOutputError,
    ScriptCopy,
    parse_copy,
    wrong_answer_claim,
)
from agents.drafting.llm_prompt import build_messages
from agents.drafting.speech import estimate_script_seconds
from agents.drafting.template_writer import ScriptDraft, TemplateWriter, phrasebook
from agents.drafting.writer_port import Fact, WrittenScript
from streams.ports.llm import ChatClient, LLMError, LLMUnavailableError

# Some variety across arms, but low enough that the JSON shape stays reliable.
TEMPERATURE = 0.7


class _Fallback(Exception):
    """Internal: the model's draft cannot be used, for the reason in the message."""


class LLMScriptWriter:
    """``ScriptWriter`` over a chat model, with the template writer as the safety net."""

    def __init__(self, client: ChatClient, fallback: TemplateWriter) -> None:
        self._client = client
        self._fallback = fallback

    @property
    def name(self) -> str:
        return f"llm:{self._client.model}"

    async def write(
        self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]
    ) -> WrittenScript:
        # First, and outside the safety net: a problem the template cannot draft (bad language,
        # answer out of range) is the problem's fault, so its ValidationError must propagate.
        template = self._fallback.write(problem, arm)
        try:
            copy = await self._ask(problem, arm, facts)
            draft = self._draft(template, copy, str(problem["language"]))
        except _Fallback as exc:
            return WrittenScript(template, fallback_reason=str(exc))
        return WrittenScript(draft)

    async def _ask(self, problem: Mapping[str, Any], arm: Arm, facts: Sequence[Fact]) -> ScriptCopy:
        messages = build_messages(problem, arm, facts)
        try:
            content = await self._client.complete(messages, temperature=TEMPERATURE)
        except LLMUnavailableError as exc:
            raise _Fallback(f"LLM unavailable: {exc}") from exc
        except LLMError as exc:
            raise _Fallback(f"LLM error: {exc}") from exc
        try:
            return parse_copy(content)
        except InvalidOutputError as exc:
            raise _Fallback(f"invalid LLM output: {exc}") from exc

    def _draft(self, template: ScriptDraft, copy: ScriptCopy, language: str) -> ScriptDraft:
        choices = template.choices
        for part in ("hook", "preface", "explanation", "cta"):
            claimed = wrong_answer_claim(
                getattr(copy, part), choices, template.answer_index, language
            )
            if claimed is not None:
                raise _Fallback(f"wrong answer in LLM {part}: names {claimed!r} as the answer")
        spoken_choices = phrasebook(language).spoken_choices(choices)

        def seconds(preface: str) -> float:
            parts = (
                copy.hook,
                preface,
                template.question,
                spoken_choices,
                template.answer_reveal,
                copy.explanation,
                copy.cta,
            )
            return estimate_script_seconds(parts, language, template.countdown_seconds)

        # Same cut order as the template writer, minus trimming the explanation: a sentence cut
        # out of model prose may drop the part that grounds the answer, so fall back instead.
        preface, trimmed = copy.preface, tuple[str, ...]()
        if seconds(preface) > self._fallback.max_seconds and preface:
            preface, trimmed = "", ("preface",)
        total = seconds(preface)
        if total > self._fallback.max_seconds:
            raise _Fallback(
                f"LLM script over budget: {total:.1f} s > {self._fallback.max_seconds:.1f} s"
            )
        return dataclasses.replace(
            template,
            hook=copy.hook,
            preface=preface,
            explanation=copy.explanation,
            cta=copy.cta,
            estimated_speech_seconds=round(total, 2),
            writer=self.name,
            trimmed=trimmed,
        )
