"""Guardrails every draft passes before it is published as ScriptDrafted. Pure.

A draft must not contradict the answer key (the reveal names the correct choice; no spoken part
presents a wrong choice as the answer), must fit the length limits, must not contain a banned
word and must be text that can be shown (streams/text.py). Every comparison is on what a reader
sees (``text.visible`` / ``text.fold``), so a zero-width space cannot hide a banned word.
``violations`` lists what is wrong, so the caller decides: an LLM draft falls back to the
template, a template draft that fails means the problem itself is unfit (fatal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agents.drafting.llm_output import wrong_answer_claim
from agents.drafting.template_writer import MAX_SECONDS
from streams import text

LIMITS = {"hook": 80, "preface": 200, "explanation": 500, "cta": 120, "answer_reveal": 200}
SPOKEN = ("hook", "preface", "explanation", "cta", "answer_reveal")


def _banned(part: str, banned: Iterable[str]) -> str | None:
    folded = text.fold(part)
    for word in banned:
        w = text.fold(word.strip())
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
    for part in (*SPOKEN, "question"):
        unsafe = text.problems(text.normalise(script[part]))
        if unsafe:
            found.append(f"unsafe text in {part}: {unsafe[0]}")
    if script["answer_index"] != answer or list(script["choices"]) != choices:
        found.append("answer key: choices or answer index differ from the problem")
    # Sentence-like answers are quoted without their final punctuation ("‘그러면 안 돼’").
    correct = text.visible(choices[answer]).rstrip(".!?。 ")
    if correct not in text.visible(script["answer_reveal"]):
        found.append(f"answer key: the reveal does not name the correct choice {choices[answer]!r}")
    seen = [text.visible(c) for c in choices]
    for part in SPOKEN:
        claim = text.visible(script[part])
        wrong = wrong_answer_claim(claim, seen, answer, problem["language"])
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
