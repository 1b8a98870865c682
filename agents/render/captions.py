"""Caption files for the platform's own caption track (pure): SubRip and WebVTT.

They carry every spoken word (the burned-in captions leave out text the card already shows;
a caption track is also read by people who cannot see the card, and by search). Cues are the
on-screen caption groups; the WebVTT cues also time each word (``<00:00:01.200>``), which
players that support it use to highlight the word being spoken.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.render.words import Group


def _stamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _clean(text: str) -> str:
    # A cue's text may not contain a blank line or (WebVTT) "-->"; markup characters are
    # escaped in VTT, where "<" starts a tag.
    return " ".join(text.split()).replace("-->", "->")


def srt(groups: Sequence[Group]) -> str:
    blocks = []
    for n, group in enumerate(groups, start=1):
        start, end = _stamp(group.start, ","), _stamp(group.end, ",")
        blocks.append(f"{n}\n{start} --> {end}\n{_clean(group.text)}\n")
    return "\n".join(blocks)


def vtt(groups: Sequence[Group]) -> str:
    blocks = ["WEBVTT\n"]
    for group in groups:
        start, end = _stamp(group.start, "."), _stamp(group.end, ".")
        words = []
        for k, word in enumerate(group.words):
            text = _clean(word.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            words.append(text if k == 0 else f"<{_stamp(word.start, '.')}>{text}")
        blocks.append(f"{start} --> {end}\n{' '.join(words)}\n")
    return "\n".join(blocks)
