"""From drawn pages and timed words to what ffmpeg animates: stills and sprites written into
the job's work directory, and the ``motion.Scene`` that places them in time.

Runs in a worker thread (Pillow cuts and PNG encodes: ~1 s of CPU for a 30 s short).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.render import motion, sound, sprites
from agents.render.layers import Drawn
from agents.render.layout import CAPTION_AREA, FPS, HEIGHT, HOOK_CAPTION_Y, WIDTH, Box
from agents.render.plan import Line, Timeline
from agents.render.spoken import SpokenWord
from agents.render.story import (
    CaptionGroup,
    Timed,
    WordRef,
    captions,
    karaoke,
)
from agents.render.theme import Theme


@dataclass(frozen=True)
class Staged:
    scene: motion.Scene
    caption_boxes: tuple[Box, ...]  # every caption word where it is shown, for the gate
    content_boxes: tuple[tuple[str, Box], ...]
    effects: sound.Samples
    key_frames: dict[str, bytes]  # first picture of each scene (storyboard)
    # (when the voice says a word, when the video first shows it lit): the caption timing
    # the benchmark reports; shown times are on frame boundaries, as ffmpeg shows them.
    cues: tuple[tuple[float, float], ...] = ()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def stage(
    work: Path,
    drawn: Drawn,
    lines: Sequence[Line],
    spoken: Sequence[Sequence[SpokenWord]],
    groups: Sequence[CaptionGroup],
    timed: dict[WordRef, Timed],
    timeline: Timeline,
    theme: Theme,
    *,
    storyboard: bool = True,
) -> Staged:
    background = _write(work / "background.jpg", drawn.background)
    stills = {s: _write(work / f"layer-{s}.png", p.image) for s, p in drawn.content.items()}
    layers = _layers(timeline, stills)
    # Card words in reading order, each with its box on the card.
    question_boxes = list(drawn.content["question"].boxes.get(".question .w", ()))
    full = drawn.content["countdown"].boxes
    choice_rows = list(full.get(".choice", ()))
    choice_labels = list(full.get(".choice .label", ()))
    choice_words = list(full.get(".choice .w", ()))
    card: list[tuple[str, Box]] = [("question", b) for b in question_boxes]
    choice_sequence: list[Box] = []
    position = 0
    for label, row in zip(choice_labels, choice_rows, strict=False):
        choice_sequence.append(label)
        inside = [b for b in choice_words[position:] if row.contains(b) or _overlaps(row, b)]
        choice_sequence += inside
        position += len(inside)
    card += [("countdown", b) for b in choice_sequence]
    lit = karaoke(lines, timed, timeline)
    by_page: dict[str, list[tuple[Box, float, float]]] = {"question": [], "countdown": []}
    label_starts: list[float] = []
    for n, (_ref, start, end) in enumerate(lit):
        if n >= len(card):
            break  # the card drew fewer words than were read (should not happen): no light
        page, box = card[n]
        by_page[page].append((box, start, end))
        if page == "countdown" and box in choice_labels:
            label_starts.append(start)
    karaoke_track: list[motion.Sprite] = []
    sizes: list[tuple[int, int]] = []
    all_words = [(p, b, s, e) for p in ("question", "countdown") for b, s, e in by_page[p]]
    if all_words:
        images, size = _karaoke_images(drawn, all_words)
        sizes.append(size)
        for k, ((_, box, start, end), image) in enumerate(zip(all_words, images, strict=True)):
            x, y = sprites.sprite_origin(box)
            path = _write(work / f"lit-{k:03d}.png", image)
            karaoke_track.append(motion.Sprite(path, start, end, x, y))
        karaoke_track.sort(key=lambda s: s.start)
    # Caption states: one image per spoken word of the caption groups.
    caption_track: list[motion.Sprite] = []
    caption_boxes: list[Box] = []
    states = captions(groups, timed, timeline)
    per_sheet = len(drawn.sheets[0].boxes.get(".cap", ())) if drawn.sheets else 0
    images_by_group: dict[int, list[bytes]] = {}
    word_boxes_by_group: dict[int, list[Box]] = {}
    decoded = [
        (sprites.load(sheet.image), sprites.load(accent.image))
        for sheet, accent in zip(drawn.sheets, drawn.accent_sheets, strict=True)
    ]
    for g, group in enumerate(groups):
        sheet = drawn.sheets[g // per_sheet]
        base_page, accent_page = decoded[g // per_sheet]
        cell = sheet.boxes[".cap"][g % per_sheet]
        words = [b for b in sheet.boxes.get(".cap .w", ()) if cell.contains(b)]
        if len(words) != len(group.words):
            words = (words + [cell] * len(group.words))[: len(group.words)]
        images_by_group[g] = sprites.caption_states(base_page, accent_page, cell, words)
        word_boxes_by_group[g] = [Box(b.x - cell.x, b.y - cell.y, b.width, b.height) for b in words]
    for g, k, start, end in states:
        top = HOOK_CAPTION_Y if groups[g].scene == "hook" else round(CAPTION_AREA.y)
        path = _write(work / f"cap-{g:03d}-{k}.png", images_by_group[g][k])
        caption_track.append(motion.Sprite(path, start, end, round(CAPTION_AREA.x), top))
        for b in word_boxes_by_group[g]:
            caption_boxes.append(Box(CAPTION_AREA.x + b.x, top + b.y, b.width, b.height))
    if caption_track:
        sizes.append((round(CAPTION_AREA.width), round(CAPTION_AREA.height)))
    tracks = [t for t in (karaoke_track, caption_track) if t]
    blanks = [_write(work / f"blank-{k}.png", sprites.blank(*size)) for k, size in enumerate(sizes)]
    pops = _pops(stills["countdown"], choice_rows, label_starts, timeline)
    question = timeline.slot("question")
    reveal = timeline.slot("reveal")
    countdown = [s for s in timeline.slots if s.scene == "countdown"]
    scene = motion.Scene(
        duration=timeline.duration,
        background=background,
        layers=layers,
        pops=pops,
        tracks=tracks,
        blanks=blanks,
        timer=(question.start, reveal.start) if question and reveal else None,
        countdown=(countdown[0].start, countdown[-1].end) if countdown else None,
        accent=theme.accent,
        font=theme.font,
        content_box=sprites.ink_box([p.image for p in drawn.content.values()], (WIDTH, HEIGHT)),
    )
    content_boxes = tuple(
        (f"{name}:{selector}", box)
        for name, page in drawn.content.items()
        for selector, boxes in page.boxes.items()
        if selector in (".brand", ".chip", ".stage", ".stage > *")
        for box in boxes
    )
    key_frames = (
        {
            name: sprites.flatten(drawn.background, page.image)
            for name, page in drawn.content.items()
            if name != "choices"
        }
        if storyboard
        else {}
    )
    cues = tuple(
        (start, motion.frame(start) / FPS)
        for track in tracks
        for start in sorted({s.start for s in track})
    )
    return Staged(
        scene, tuple(caption_boxes), content_boxes, _effects(timeline, pops), key_frames, cues
    )


def _overlaps(row: Box, word: Box) -> bool:
    return word.y < row.bottom and word.bottom > row.y and word.x < row.right


def _karaoke_images(
    drawn: Drawn, words: Sequence[tuple[str, Box, float, float]]
) -> tuple[list[bytes], tuple[int, int]]:
    """Word sprites of one common size, cut from the accent pages."""
    pages = {name: sprites.load(page.image) for name, page in drawn.accent.items()}
    return sprites.word_sprites([(pages[p], b) for p, b, _, _ in words])


def _layers(timeline: Timeline, stills: dict[str, Path]) -> list[motion.Layer]:
    """One layer per scene, the countdown's ticks merged into one."""
    out: list[motion.Layer] = []
    for slot in timeline.slots:
        if out and out[-1].still == stills[slot.scene]:
            previous = out[-1]
            out[-1] = motion.Layer(previous.still, previous.start, slot.end)
        else:
            # The countdown is the choices card, complete: it must not enter again.
            enters = slot.scene != "countdown"
            out.append(motion.Layer(stills[slot.scene], slot.start, slot.end, enters))
    return out


def _pops(
    still: Path, rows: Sequence[Box], starts: Sequence[float], timeline: Timeline
) -> list[motion.Pop]:
    choices = timeline.slot("choices")
    if choices is None:
        return []
    out = []
    for k, row in enumerate(rows):
        # A choice appears when its label is read; one never read appears with the last.
        start = starts[k] if k < len(starts) else (starts[-1] if starts else choices.start)
        padded = Box(row.x - 8, row.y - 8, row.width + 16, row.height + 16)
        out.append(motion.Pop(still, padded, max(choices.start, start), choices.end))
    return out


def _effects(timeline: Timeline, pops: Sequence[motion.Pop]) -> sound.Samples:
    events: list[tuple[float, sound.Samples]] = []
    ticks = [s for s in timeline.slots if s.scene == "countdown"]
    for n, slot in enumerate(ticks):
        events.append((slot.start, sound.tick(last=n == len(ticks) - 1)))
    reveal = timeline.slot("reveal")
    if reveal is not None:
        events.append((reveal.start, sound.sting()))
    events += [(pop.start, sound.pop()) for pop in pops]
    return sound.effects(timeline.duration, events, gain=0.5)
