"""Caption phrases: narration text cut where a viewer can read it in one glance.

Captions are phrase-level: each phrase is spoken as its own TTS segment, so its on-screen time
is exactly its spoken time (no estimation from character counts).
"""

from __future__ import annotations

import re

# Two caption lines at the caption font size: Hangul glyphs are about twice as wide as Latin.
MAX_CHARS = {"ko": 22, "en": 40}

_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+")
_CLAUSE = re.compile(r"(?<=[,;:、，])\s+")


def split_phrases(text: str, language: str, *, sentences: bool = True) -> list[str]:
    """Sentence, then clause, then word-boundary cuts until every phrase fits ``MAX_CHARS``.

    ``sentences=False`` keeps a labelled line such as "B. Seoul" whole: its "." is not an end.
    """
    limit = MAX_CHARS.get(language, MAX_CHARS["en"])
    phrases: list[str] = []
    parts = _SENTENCE_END.split(text.strip()) if sentences else [text.strip()]
    for sentence in parts:
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
