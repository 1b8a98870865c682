"""Word times and caption groups (pure).

Each written word of the narration gets the time it is heard: from the voice's own alignment
when it reports one (Piper, Kokoro: every spoken word), otherwise an honest split of the
phrase's measured span in proportion to syllables (Hangul blocks, Latin vowel groups, digits),
never an invented pause. Captions then show 2-4 words at a time with the word being spoken
highlighted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.render.spoken import SpokenWord
from streams.ports.tts import PhraseTiming, WordTiming

MAX_GROUP_WORDS = 4
MIN_GROUP_WORDS = 2
# Two caption lines at the caption size across the caption width (Hangul ~2x Latin width).
MAX_GROUP_COLUMNS = {"ko": 18, "en": 30}
_SYLLABLE = re.compile(r"[\uac00-\ud7a3]|[aeiouy]+|\d", re.I)
_BREAK_AFTER = re.compile(r"[.!?,;:…]$")


@dataclass(frozen=True)
class TimedWord:
    """A written word of narration line ``line`` and when it is heard (narration time)."""

    text: str
    start: float
    end: float
    line: int


@dataclass(frozen=True)
class Group:
    """Words shown together as one caption, ``start``..``end`` on screen."""

    words: tuple[TimedWord, ...]
    start: float
    end: float

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def syllables(text: str) -> int:
    return max(1, len(_SYLLABLE.findall(text)))


def written_times(
    lines: Sequence[Sequence[SpokenWord]],
    phrases: Sequence[PhraseTiming],
    words: Sequence[WordTiming],
) -> list[TimedWord]:
    """When each written word is heard. A written word spoken as several words ("1919" ->
    "nineteen nineteen") spans its first spoken word's start to its last one's end."""
    out: list[TimedWord] = []
    by_phrase: dict[int, list[WordTiming]] = {}
    for timing in words:
        by_phrase.setdefault(timing.phrase, []).append(timing)
    for index, (line, phrase) in enumerate(zip(lines, phrases, strict=True)):
        spoken = by_phrase.get(index, [])
        counts = [len(w.spoken.split()) for w in line]
        if spoken and len(spoken) == sum(counts):
            position = 0
            for word, count in zip(line, counts, strict=True):
                first, last = spoken[position], spoken[position + count - 1]
                out.append(TimedWord(word.written, first.start, last.end, index))
                position += count
        else:
            out += split_by_syllables(line, phrase, index)
    return out


def split_by_syllables(
    line: Sequence[SpokenWord], phrase: PhraseTiming, index: int
) -> list[TimedWord]:
    """The phrase's measured span shared among its words by spoken syllables."""
    weights = [syllables(w.spoken) for w in line]
    total = sum(weights)
    span = phrase.end - phrase.start
    out = []
    at = phrase.start
    for word, weight in zip(line, weights, strict=True):
        end = at + span * weight / total
        out.append(TimedWord(word.written, at, end, index))
        at = end
    return out


def columns(text: str) -> int:
    return sum(2 if "\uac00" <= ch <= "\ud7a3" or "\u3131" <= ch <= "\u318e" else 1 for ch in text)


def group_words(words: Sequence[TimedWord], language: str) -> list[list[int]]:
    """Indices of ``words`` in caption groups of 2-4 words that never cross a narration line,
    break after punctuation and fit two caption lines."""
    limit = MAX_GROUP_COLUMNS.get(language, MAX_GROUP_COLUMNS["en"])
    groups: list[list[int]] = []
    current: list[int] = []
    for i, word in enumerate(words):
        if current:
            width = columns(" ".join(words[j].text for j in [*current, i]))
            if (
                words[current[-1]].line != word.line
                or len(current) >= MAX_GROUP_WORDS
                or width > limit
                or (
                    _BREAK_AFTER.search(words[current[-1]].text) and len(current) >= MIN_GROUP_WORDS
                )
            ):
                groups.append(current)
                current = []
        current.append(i)
    if current:
        groups.append(current)
    return _merge_singles(groups, words)


def _merge_singles(groups: list[list[int]], words: Sequence[TimedWord]) -> list[list[int]]:
    """A lone word joins its neighbour in the same line when both fit (a one-word caption
    flashes by), or takes the last word of a full one; a line of one word stays one word."""
    out: list[list[int]] = []
    for group in groups:
        previous = out[-1] if out else None
        if (
            previous is not None
            and (len(group) == 1 or len(previous) == 1)
            and len(previous) + len(group) <= MAX_GROUP_WORDS
            and words[previous[-1]].line == words[group[0]].line
        ):
            previous.extend(group)
        elif (
            previous is not None
            and len(group) == 1
            and len(previous) > MIN_GROUP_WORDS
            and words[previous[-1]].line == words[group[0]].line
        ):
            # No room: the previous group lends its last word (4 + 1 -> 3 + 2).
            out.append([previous.pop(), *group])
        else:
            out.append(list(group))
    return out
