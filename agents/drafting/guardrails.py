"""Guardrails every draft passes before it is published as ScriptDrafted. Pure.

A draft must not contradict the answer key (the reveal names the correct choice; no spoken part
presents a wrong choice as the answer), must fit the length limits, and must not contain a
banned word. ``violations`` lists what is wrong, so the caller decides: an LLM draft falls back
to the template, a template draft that fails means the problem itself is unfit (fatal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agents.drafting.llm_output import wrong_answer_claim
from agents.drafting.template_writer import MAX_SECONDS

LIMITS = {"hook": 80, "preface": 200, "explanation": 500, "cta": 120, "answer_reveal": 200}
SPOKEN = ("hook", "preface", "explanation", "cta", "answer_reveal")


def _banned(text: str, banned: Iterable[str]) -> str | None:
    folded = text.casefold()
    for word in banned:
        w = word.strip().casefold()
        if not w:
            continue
        # Latin words match whole words only ("ass" must not hit "class"); Hangul has no
        # spaces between a word and its particle, so it matches as a substring.
        pattern = rf"\b{re.escape(w)}\b" if w.isascii() else re.escape(w)
        if re.search(pattern, folded):
            return word
    return None


def violations(
    script: Mapping[str, Any], problem: Mapping[str, Any], banned_words: Sequence[str] = ()
) -> list[str]:
    """Every guardrail the drafted ``script`` breaks (empty: publishable)."""
    found: list[str] = []
    choices = list(problem["choices"])
    answer = int(problem["answer_index"])
    if script["answer_index"] != answer or list(script["choices"]) != choices:
        found.append("answer key: choices or answer index differ from the problem")
    # Sentence-like answers are quoted without their final punctuation ("‘그러면 안 돼’").
    if choices[answer].rstrip(".!?。 ") not in script["answer_reveal"]:
        found.append(f"answer key: the reveal does not name the correct choice {choices[answer]!r}")
    for part in SPOKEN:
        wrong = wrong_answer_claim(script[part], choices, answer, problem["language"])
        if wrong is not None:
            found.append(f"answer key: {part} presents {wrong!r} as the answer")
    for part, limit in LIMITS.items():
        if len(script[part]) > limit:
            found.append(f"length: {part} has {len(script[part])} characters (max {limit})")
    if script["estimated_speech_seconds"] > MAX_SECONDS:
        seconds = script["estimated_speech_seconds"]
        found.append(f"length: {seconds:.1f} s of speech (max {MAX_SECONDS:.0f} s)")
    for part in (*SPOKEN, "question"):
        word = _banned(script[part], banned_words)
        if word is not None:
            found.append(f"banned word {word!r} in {part}")
    return found
