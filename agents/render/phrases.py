"""Narration phrases: what the voice speaks in one breath (one synthesis call each).

A phrase is a sentence, cut at its clauses or its words only when it is too long for one
breath: the voices shape intonation per phrase, so a sentence cut in the middle ends on a
falling tone where it should not ("How many bones are in a." read "in A"). Captions no longer
follow phrases (they show 2-4 words with the active word lit, ``words.py``), so phrases can be
as long as a sentence.
"""

from __future__ import annotations

import re

# One breath at a calm pace (~4 s); also well inside Kokoro's 510-token context.
MAX_CHARS = {"ko": 48, "en": 96}

_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+")
_CLAUSE = re.compile(r"(?<=[,;:、，])\s+")


def split_phrases(text: str, language: str, *, sentences: bool = True) -> list[str]:
    """Sentences; a sentence longer than ``MAX_CHARS`` is cut at clauses, then words.

    ``sentences=False`` keeps a labelled line such as "B. Seoul" whole: its "." is not an end.
    """
    limit = MAX_CHARS.get(language, MAX_CHARS["en"])
    phrases: list[str] = []
    parts = _SENTENCE_END.split(text.strip()) if sentences else [text.strip()]
    for sentence in parts:
        if len(sentence) <= limit:
            phrases.append(sentence.strip())
            continue
        for clause in _CLAUSE.split(sentence):
            phrases.extend(_wrap(clause.strip(), limit))
    return [p for p in phrases if p]


def _wrap(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text] if text else []
    words = text.split()
    if len(words) == 1:
        # One unbroken token longer than the limit (a URL, a long number): cut it hard.
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    # Balanced cut: halves read better than one full line and a leftover word.
    total = len(text)
    best, best_gap = 1, float(total)
    running = 0
    for i, word in enumerate(words[:-1], start=1):
        running += len(word) + 1
        gap = abs(total / 2 - running)
        if gap < best_gap:
            best, best_gap = i, gap
    return _wrap(" ".join(words[:best]), limit) + _wrap(" ".join(words[best:]), limit)
