"""The timeline of one short (pure): what is said, which scene is on screen, which caption shows.

Narration is synthesised as phrases, so every caption's time is the phrase's spoken time. The
countdown is silent: the narration track is cut after the choices and the countdown inserted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.render.labels import MAX_CHOICES, spoken_line
from agents.render.layout import MAX_SECONDS
from agents.render.phrases import split_phrases
from streams.errors import ValidationError
from streams.ports.tts import PhraseTiming

NARRATED = ("hook", "question", "choices", "reveal", "cta")
LEAD_IN_S = 0.25  # silence before the first word: players clip the very start
TAIL_S = 0.8  # the end card stays after the last word
COUNTDOWN_PAD_S = 0.2  # breath between the choices and the countdown
MAX_CAPTION_GAP_S = 0.35  # a caption bridges a pause shorter than this (no flicker)
MAX_COUNTDOWN_S = 10


@dataclass(frozen=True)
class Line:
    """One narration phrase and the scene it belongs to."""

    scene: str
    text: str


@dataclass(frozen=True)
class Slot:
    """A still scene on screen from ``start`` for ``duration`` seconds."""

    scene: str
    start: float
    duration: float
    tick: int | None = None  # the countdown number shown

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Cue:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Timeline:
    slots: tuple[Slot, ...]
    cues: tuple[Cue, ...]
    # Audio assembly: narration up to ``split_s`` then ``gap_s`` of silence then the rest.
    split_s: float
    gap_s: float
    lead_in_s: float
    duration: float

    def video_time(self, t: float) -> float:
        """Where narration time ``t`` falls in the video (after the lead-in, and after the
        countdown's inserted gap when it is past the cut)."""
        return self.lead_in_s + t + (self.gap_s if t >= self.split_s else 0.0)

    def slot(self, scene: str) -> Slot | None:
        return next((s for s in self.slots if s.scene == scene), None)


def narration(script: Mapping[str, Any]) -> list[Line]:
    """Everything spoken, phrase by phrase, in scene order."""
    language = script["language"]

    def lines(scene: str, *texts: str, sentences: bool = True) -> list[Line]:
        return [
            Line(scene, phrase)
            for text in texts
            if text.strip()
            for phrase in split_phrases(text, language, sentences=sentences)
        ]

    if len(script["choices"]) > MAX_CHOICES:
        raise ValidationError(f"script {script['script_id']} has more than {MAX_CHOICES} choices")
    # Read as the card shows them: "2번, 서울" under a "2" badge, "B: London" under a "B".
    choices = [spoken_line(language, i, c) for i, c in enumerate(script["choices"])]
    out = [
        *lines("hook", script["hook"], script.get("preface") or ""),
        *lines("question", script["question"]),
        *lines("choices", *choices, sentences=False),
        *lines("reveal", script["answer_reveal"], script["explanation"]),
        *lines("cta", script["cta"]),
    ]
    missing = [scene for scene in ("hook", "question", "choices", "reveal") if not _has(out, scene)]
    if missing:
        raise ValidationError(f"script {script['script_id']} has nothing to say for {missing}")
    return out


def _has(lines: Sequence[Line], scene: str) -> bool:
    return any(line.scene == scene for line in lines)


def build_timeline(
    lines: Sequence[Line], timings: Sequence[PhraseTiming], speech_s: float, countdown_s: int
) -> Timeline:
    """Scene slots and caption cues in final video time, from the spoken phrase times."""
    if len(lines) != len(timings):
        raise ValueError(f"{len(lines)} phrases but {len(timings)} timings")
    if not 0 < countdown_s <= MAX_COUNTDOWN_S:
        raise ValidationError(f"countdown of {countdown_s}s is outside 1..{MAX_COUNTDOWN_S}")
    last_choice = max(i for i, line in enumerate(lines) if line.scene == "choices")
    # Cut the narration in the pause after the last choice (or at its end if it is the last).
    if last_choice + 1 < len(lines):
        split = (timings[last_choice].end + timings[last_choice + 1].start) / 2
    else:
        split = timings[last_choice].end
    gap = COUNTDOWN_PAD_S + countdown_s

    def final(t: float) -> float:
        return LEAD_IN_S + t + (gap if t >= split else 0.0)

    duration = round(LEAD_IN_S + speech_s + gap + TAIL_S, 3)
    if duration > MAX_SECONDS - 0.5:
        raise ValidationError(
            f"the narration makes a {duration:.1f}s video; "
            f"a Short must stay under {MAX_SECONDS:.0f}s"
        )

    # Scene boundaries: midway through the pause between two scenes' phrases.
    starts: dict[str, float] = {}
    order: list[str] = []
    for i, line in enumerate(lines):
        if line.scene in starts:
            continue
        if i == 0:
            starts[line.scene] = 0.0
        else:
            starts[line.scene] = final((timings[i - 1].end + timings[i].start) / 2)
        order.append(line.scene)
    countdown_start = final(split - 1e-9) + COUNTDOWN_PAD_S
    slots: list[Slot] = []
    scene_starts = [(scene, starts[scene]) for scene in order]
    for n, (scene, start) in enumerate(scene_starts):
        end = scene_starts[n + 1][1] if n + 1 < len(scene_starts) else duration
        if scene == "choices":
            end = countdown_start  # the countdown follows; reveal starts when it ends
        slots.append(Slot(scene, round(start, 3), round(end - start, 3)))
        if scene == "choices":
            for k in range(countdown_s):
                slots.append(
                    Slot("countdown", round(countdown_start + k, 3), 1.0, tick=countdown_s - k)
                )
    spans = [
        (line.scene, line.text, final(t.start), final(t.end))
        for line, t in zip(lines, timings, strict=True)
    ]
    cues = _cues(spans)
    return Timeline(tuple(slots), cues, split, gap, LEAD_IN_S, duration)


def _cues(spans: Sequence[tuple[str, str, float, float]]) -> tuple[Cue, ...]:
    """Captions, bridging short pauses within a scene (no flicker between phrases) but never
    into the next scene, whose first frame must not show the last scene's words."""
    cues: list[Cue] = []
    for i, (scene, text, start, end) in enumerate(spans):
        if i + 1 < len(spans):
            next_scene, _, next_start, _ = spans[i + 1]
            if next_scene == scene and 0 <= next_start - end < MAX_CAPTION_GAP_S:
                end = next_start
        cues.append(Cue(text, round(start, 3), round(end, 3)))
    return tuple(cues)
