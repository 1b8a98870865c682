"""The quality gate a render must pass before anyone may publish it (pure checks; the pipeline
gathers the evidence). Any failed check is a fatal render error carrying every reason."""

from __future__ import annotations

import statistics
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.render.layout import FPS, HEIGHT, MAX_SECONDS, SAFE_AREA, WIDTH, Box
from streams.ports.render import TextInk

DURATION_TOLERANCE_S = 0.25
LOUDNESS_TOLERANCE_LU = 1.5
# A frame whose luma barely varies is blank (black, white or a flat colour): a failed page.
MIN_FRAME_STDDEV = 6.0
# Glyphs ink a little outside their line box. Measured in every template field: Vietnamese
# capitals, Thai, Hebrew and Arabic points, descenders and emoji at most 0.18 em outside; two
# arbitrary marks stacked on a capital 0.27-0.49 em, four 0.63 em, Zalgo 3 em and more.
INK_SLACK_EM = 0.25
INK_SLACK_MIN_PX = 4.0


@dataclass(frozen=True)
class Evidence:
    probe: dict[str, Any]
    expected_duration: float
    integrated_lufs: float
    target_lufs: float
    caption_boxes: Sequence[Box]
    content_boxes: Sequence[tuple[str, Box]]
    frame_stddevs: Sequence[float]
    head: bytes  # the file's first bytes: where the moov atom is
    text_inks: Sequence[TextInk] = ()  # every text field as drawn (pixels, not boxes)


def _fraction(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def check(ev: Evidence) -> list[str]:
    """Every reason this render must not be published (empty: it passes)."""
    reasons: list[str] = []
    streams = ev.probe.get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video"]
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if len(video) != 1:
        reasons.append(f"expected one video stream, found {len(video)}")
    else:
        v = video[0]
        if v.get("codec_name") != "h264":
            reasons.append(f"video codec {v.get('codec_name')}, expected h264")
        if (v.get("width"), v.get("height")) != (WIDTH, HEIGHT):
            reasons.append(f"resolution {v.get('width')}x{v.get('height')}, expected 1080x1920")
        if v.get("pix_fmt") != "yuv420p":
            reasons.append(f"pixel format {v.get('pix_fmt')}, expected yuv420p")
        if abs(_fraction(str(v.get("avg_frame_rate", "0/1"))) - FPS) > 0.01:
            reasons.append(f"frame rate {v.get('avg_frame_rate')}, expected {FPS}")
    if len(audio) != 1:
        reasons.append(f"expected one audio stream, found {len(audio)}")
    elif audio[0].get("codec_name") != "aac":
        reasons.append(f"audio codec {audio[0].get('codec_name')}, expected aac")
    duration = float(ev.probe.get("format", {}).get("duration", 0.0))
    if abs(duration - ev.expected_duration) > DURATION_TOLERANCE_S:
        reasons.append(f"duration {duration:.2f}s, planned {ev.expected_duration:.2f}s")
    if duration > MAX_SECONDS:
        reasons.append(f"duration {duration:.2f}s is over the {MAX_SECONDS:.0f}s Shorts limit")
    if abs(ev.integrated_lufs - ev.target_lufs) > LOUDNESS_TOLERANCE_LU:
        reasons.append(
            f"loudness {ev.integrated_lufs:.1f} LUFS, target {ev.target_lufs:.1f} "
            f"± {LOUDNESS_TOLERANCE_LU}"
        )
    for box in ev.caption_boxes:
        if not SAFE_AREA.contains(box):
            reasons.append(f"caption at {_fmt(box)} leaves the Shorts safe area {_fmt(SAFE_AREA)}")
    stages = {name.split(":")[0]: box for name, box in ev.content_boxes if name.endswith(":.stage")}
    for name, box in ev.content_boxes:
        if not SAFE_AREA.contains(box):
            reasons.append(f"scene element {name} at {_fmt(box)} leaves the safe area")
        stage = stages.get(name.split(":")[0])
        if name.endswith(":.stage > *") and stage is not None and not _within(stage, box):
            reasons.append(f"scene element {name} at {_fmt(box)} overflows its stage")
    blank = [i for i, s in enumerate(ev.frame_stddevs) if s < MIN_FRAME_STDDEV]
    if not ev.frame_stddevs:
        reasons.append("no frames were sampled")
    elif blank:
        reasons.append(f"sampled frames {blank} are blank")
    if not moov_before_mdat(ev.head):
        reasons.append("not fast-start: the moov atom is not before the media data")
    reasons += text_reasons(ev.text_inks)
    return reasons


def text_reasons(inks: Sequence[TextInk]) -> list[str]:
    """What a viewer would see wrong in the text: ink outside its element (over its
    neighbours), characters drawn as empty boxes, text that draws nothing at all."""
    reasons: list[str] = []
    for field in inks:
        if field.missing:
            codes = ", ".join(f"U+{ord(c):04X}" for c in field.missing[:8])
            reasons.append(f"{field.name} has characters no installed font can draw: {codes}")
        slack = max(INK_SLACK_MIN_PX, INK_SLACK_EM * field.font_px)
        if field.ink is None:
            if field.text.strip():
                reasons.append(f"{field.name} has text but draws nothing visible")
        elif not _within(field.box, field.ink, slack):
            over = _overshoot(field.box, field.ink)
            reasons.append(
                f"{field.name} inks {over:.0f} px outside its box (stacked marks?): glyphs at "
                f"{_fmt(field.ink)}, box {_fmt(field.box)}"
            )
    return list(dict.fromkeys(reasons))  # a field drawn in several shots is one reason


def _overshoot(box: Box, ink: Box) -> float:
    return max(box.x - ink.x, box.y - ink.y, ink.right - box.right, ink.bottom - box.bottom)


def _within(outer: Box, inner: Box, slack: float = 1.0) -> bool:
    return Box(
        outer.x - slack, outer.y - slack, outer.width + 2 * slack, outer.height + 2 * slack
    ).contains(inner)


def _fmt(box: Box) -> str:
    return f"({box.x:.0f},{box.y:.0f} {box.width:.0f}x{box.height:.0f})"


def moov_before_mdat(head: bytes) -> bool:
    """Walk the top-level MP4 boxes: fast-start files put ``moov`` before ``mdat``."""
    position = 0
    while position + 8 <= len(head):
        size, kind = struct.unpack_from(">I4s", head, position)
        if kind == b"moov":
            return True
        if kind == b"mdat":
            return False
        if size == 1 and position + 16 <= len(head):
            (size,) = struct.unpack_from(">Q", head, position + 8)
        if size < 8:
            return False
        position += size
    return False


def luma_stddevs(raw: bytes, width: int, height: int) -> list[float]:
    """Per-frame standard deviation of 8-bit grey frames laid end to end."""
    size = width * height
    return [statistics.pstdev(raw[i : i + size][::7]) for i in range(0, len(raw) - size + 1, size)]
