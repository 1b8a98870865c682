"""The deterministic template script writer (``template-v1``).

Same problem + same arm -> the same script, on any machine, forever: phrasings are picked by a
stable hash of the problem id, so different problems get varied copy while replays stay exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.drafting import phrases_en, phrases_ko
from agents.drafting.arms import CTA_STYLES, HOOK_STYLES, Arm
from agents.drafting.hashing import stable_int
from agents.drafting.phrasebook import Phrasebook
from agents.drafting.speech import estimate_script_seconds
from streams.errors import ValidationError

WRITER_ID = "template-v1"
DEFAULT_COUNTDOWN_SECONDS = 3
# A Short that is too short cannot fit question + reveal; past ~45 s viewers swipe away.
MIN_SECONDS = 20.0
MAX_SECONDS = 45.0

PHRASEBOOKS: Mapping[str, Phrasebook] = {"ko": phrases_ko.PHRASEBOOK, "en": phrases_en.PHRASEBOOK}

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class ScriptDraft:
    """One script variant, in speaking order: hook, preface, question, choices, countdown,
    answer reveal, explanation, CTA."""

    hook: str
    # Optional lead-in of the story / surprising-fact hooks ("" when absent or cut for time).
    preface: str
    question: str
    choices: tuple[str, ...]
    countdown_seconds: int
    answer_index: int
    answer_reveal: str
    explanation: str
    cta: str
    estimated_speech_seconds: float
    writer: str = WRITER_ID
    # What was cut to fit MAX_SECONDS, in order: "preface", then "explanation" (to 1 sentence).
    trimmed: tuple[str, ...] = ()


def phrasebook(language: str) -> Phrasebook:
    """The copy for ``language``; a language without copy can never be drafted (fatal)."""
    try:
        return PHRASEBOOKS[language]
    except KeyError:
        raise ValidationError(f"no template copy for language {language!r}") from None


def _rotated(options: Sequence[str], offset: int, *key: str) -> str:
    # The base pick varies by problem; the offset (the arm's other style) keeps arms that share
    # this style on different phrasings, as long as there are enough options (checked by tests).
    return options[(stable_int(*key) + offset) % len(options)]


def _first_sentence(text: str) -> str:
    return _SENTENCE_BREAK.split(text, maxsplit=1)[0]


class TemplateWriter:
    """Writes a ScriptDraft for one (problem, arm) from fixed, per-language phrasings."""

    def __init__(
        self,
        *,
        countdown_seconds: int = DEFAULT_COUNTDOWN_SECONDS,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.countdown_seconds = countdown_seconds
        self.max_seconds = max_seconds

    def write(self, problem: Mapping[str, Any], arm: Arm) -> ScriptDraft:
        """The script of ``problem`` (a ProblemSubmitted-shaped mapping) for ``arm``."""
        language = str(problem["language"])
        book = phrasebook(language)
        problem_id = str(problem["problem_id"])
        choices = tuple(str(choice) for choice in problem["choices"])
        answer_index = int(problem["answer_index"])
        if not 0 <= answer_index < len(choices):
            raise ValidationError(f"problem {problem_id}: answer_index {answer_index} out of range")
        subject = str(problem.get("subject") or "")
        fill = {
            "subject": book.subject_label(subject, tuple(problem.get("tags") or ())),
            "countdown": str(self.countdown_seconds),
        }
        hook = _rotated(
            book.hooks[arm.hook_style],
            CTA_STYLES.index(arm.cta_style),
            problem_id,
            "hook",
            arm.hook_style,
        ).format(**fill)
        cta = _rotated(
            book.ctas[arm.cta_style],
            HOOK_STYLES.index(arm.hook_style),
            problem_id,
            "cta",
            arm.cta_style,
        ).format(**fill)
        prefaces = book.prefaces.get(arm.hook_style, ())
        preface = _rotated(prefaces, 0, problem_id, "preface", arm.hook_style) if prefaces else ""
        reveal = _rotated(book.reveals, 0, problem_id, "reveal").format(
            label=book.label(answer_index),
            choice=book.reveal_choice(choices[answer_index], subject),
        )
        question = str(problem["question"]).strip()
        explanation = str(problem.get("explanation") or "").strip()
        spoken_choices = book.spoken_choices(choices)

        def seconds() -> float:
            parts = (hook, preface, question, spoken_choices, reveal, explanation, cta)
            return estimate_script_seconds(parts, language, self.countdown_seconds)

        # Over budget: cut the optional preface first, then the explanation's later sentences;
        # never the question, the choices or the answer. Under MIN_SECONDS nothing is padded:
        # the estimate is reported and the caller decides.
        trimmed: list[str] = []
        if seconds() > self.max_seconds and preface:
            preface = ""
            trimmed.append("preface")
        if seconds() > self.max_seconds and _first_sentence(explanation) != explanation:
            explanation = _first_sentence(explanation)
            trimmed.append("explanation")

        return ScriptDraft(
            hook=hook,
            preface=preface,
            question=question,
            choices=choices,
            countdown_seconds=self.countdown_seconds,
            answer_index=answer_index,
            answer_reveal=reveal,
            explanation=explanation,
            cta=cta,
            estimated_speech_seconds=round(seconds(), 2),
            trimmed=tuple(trimmed),
        )
