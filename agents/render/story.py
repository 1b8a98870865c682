"""What happens when, from the words' times (pure): which word lights up on the card, which
caption group shows with which word active, when each choice pops in, and where the ticks and
the sting sound.

Text already on the card is never repeated as a caption: while the question and the choices
are read, the word being read lights up on the card itself; the hook, the reveal with its
explanation and the call to action, which the cards do not print, are the captions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.render.layout import FPS
from agents.render.plan import Line, Timeline
from agents.render.spoken import SpokenWord
from agents.render.words import TimedWord, group_words

KARAOKE_SCENES = ("question", "choices")
HOLD_S = 0.6  # a highlight or caption bridges a pause shorter than this (no flicker)
LINGER_S = 0.25  # and stays this long after its last word otherwise


@dataclass(frozen=True)
class WordRef:
    """Word ``word`` of narration line ``line``."""

    line: int
    word: int


@dataclass(frozen=True)
class Timed:
    ref: WordRef
    start: float
    end: float


@dataclass(frozen=True)
class CaptionGroup:
    words: tuple[WordRef, ...]
    text: str
    scene: str


def caption_groups(
    lines: Sequence[Line], spoken: Sequence[Sequence[SpokenWord]], language: str
) -> list[CaptionGroup]:
    """The caption groups of every line the cards do not show (no times needed: the browser
    draws them while the voice is still speaking)."""
    refs: list[WordRef] = []
    words: list[TimedWord] = []
    for i, (line, line_words) in enumerate(zip(lines, spoken, strict=True)):
        if line.scene in KARAOKE_SCENES:
            continue
        for j, word in enumerate(line_words):
            refs.append(WordRef(i, j))
            words.append(TimedWord(word.written, 0.0, 0.0, i))
    out = []
    for group in group_words(words, language):
        members = tuple(refs[k] for k in group)
        text = " ".join(words[k].text for k in group)
        out.append(CaptionGroup(members, text, lines[members[0].line].scene))
    return out


def in_video(timeline: Timeline, words: Sequence[TimedWord]) -> dict[WordRef, Timed]:
    """Every word's span in video time, by reference."""
    out: dict[WordRef, Timed] = {}
    position: dict[int, int] = {}
    for word in words:
        j = position.get(word.line, 0)
        position[word.line] = j + 1
        ref = WordRef(word.line, j)
        out[ref] = Timed(ref, timeline.video_time(word.start), timeline.video_time(word.end))
    return out


def shown_spans(timed: Sequence[Timed], scene_end: Sequence[float]) -> list[tuple[float, float]]:
    """How long each of consecutive words stays lit: until the next word starts when the
    pause is short, else a moment after its own end; never past its scene's end."""
    spans = []
    for k, word in enumerate(timed):
        end = word.end + LINGER_S
        if k + 1 < len(timed) and timed[k + 1].start - word.end < HOLD_S:
            end = timed[k + 1].start
        if k + 1 < len(timed):
            end = min(end, timed[k + 1].start)
        spans.append((word.start, max(word.start + 1 / FPS, min(end, scene_end[k]))))
    return spans


def karaoke(
    lines: Sequence[Line], timed: dict[WordRef, Timed], timeline: Timeline
) -> list[tuple[WordRef, float, float]]:
    """The card words lit up in turn while the question and the choices are read."""
    words = [
        timed[ref]
        for ref in sorted(timed, key=lambda r: (r.line, r.word))
        if lines[ref.line].scene in KARAOKE_SCENES
    ]
    ends = [_scene_end(timeline, lines[w.ref.line].scene) for w in words]
    return [(w.ref, a, b) for w, (a, b) in zip(words, shown_spans(words, ends), strict=True)]


def captions(
    groups: Sequence[CaptionGroup], timed: dict[WordRef, Timed], timeline: Timeline
) -> list[tuple[int, int, float, float]]:
    """(group, word in group, start, end): the caption states, one per spoken word."""
    order = [
        (g, k, timed[ref]) for g, group in enumerate(groups) for k, ref in enumerate(group.words)
    ]
    ends = [_scene_end(timeline, groups[g].scene) for g, _, _ in order]
    spans = shown_spans([t for _, _, t in order], ends)
    return [(g, k, a, b) for (g, k, _), (a, b) in zip(order, spans, strict=True)]


def _scene_end(timeline: Timeline, scene: str) -> float:
    # The choices are read before the countdown, which belongs to the same card.
    slots = [s for s in timeline.slots if s.scene == scene]
    return slots[-1].end if slots else timeline.duration


def choice_starts(lines: Sequence[Line], timed: dict[WordRef, Timed]) -> list[float]:
    """When each choice is first heard (it pops in then)."""
    starts = []
    for i, line in enumerate(lines):
        if line.scene == "choices" and WordRef(i, 0) in timed:
            starts.append(timed[WordRef(i, 0)].start)
    return starts
