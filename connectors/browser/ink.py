"""What the quality gate needs to see what viewers see (helpers of the chromium adapter): the
page code that isolates each text field's glyphs in one colour channel, the ink bounds read back
from the pixels, and the code points no installed font can draw.
"""

from __future__ import annotations

import bisect
import io
import subprocess
import unicodedata
from collections.abc import Sequence
from typing import Any

from PIL import Image

from streams import text
from streams.ports.render import Box, TextInk

# Text fields are the page's visible <bdi> elements (hidden ones are drawn on a later shot).
# Each one's box is its nearest non-inline ancestor (the question, a choice's text, a caption
# cell): where a reader expects its text to stay.
FIELDS = """() => Array.from(document.querySelectorAll('bdi')).map((e, index) => {
  if (getComputedStyle(e).visibility !== 'visible' || !e.getClientRects().length) return null;
  const owner = e.closest('[id],[class]');
  const name = !owner ? 'bdi' : owner.id ? '#' + owner.id : '.' + owner.classList[0];
  let block = e.parentElement;
  while (block.parentElement && ['inline', 'contents'].includes(getComputedStyle(block).display))
    block = block.parentElement;
  const r = block.getBoundingClientRect();
  return [name, r.x, r.y, r.width, r.height, e.textContent,
          parseFloat(getComputedStyle(e).fontSize), index]; }).filter(row => row !== null)"""
# Everything but the probed fields becomes invisible on black; the probed fields draw their
# glyphs (colour emoji included: a shadow has the glyph's shape) in pure red, green and blue,
# blended by maximum so that three fields' masks never hide each other.
INK_CSS = """*, *::before, *::after { color: transparent !important; text-shadow: none !important;
  background: transparent !important; border-color: transparent !important;
  box-shadow: none !important; opacity: 1 !important; outline-color: transparent !important;
  text-decoration-color: transparent !important;
  -webkit-text-stroke-color: transparent !important; }
img, svg, video, canvas, iframe, object, embed { visibility: hidden !important; }
html { background: #000 !important; }
bdi[data-ink] { mix-blend-mode: lighten; }
bdi[data-ink="0"], bdi[data-ink="0"] * { text-shadow: 0 0 0 #f00 !important; }
bdi[data-ink="1"], bdi[data-ink="1"] * { text-shadow: 0 0 0 #0f0 !important; }
bdi[data-ink="2"], bdi[data-ink="2"] * { text-shadow: 0 0 0 #00f !important; }"""
ADD_STYLE = """(css) => { const s = document.createElement('style'); s.textContent = css;
  document.head.append(s); }"""
PAINT = """(picked) => Array.from(document.querySelectorAll('bdi')).forEach((e, i) => {
  const k = picked.indexOf(i);
  if (k >= 0) e.setAttribute('data-ink', String(k)); else e.removeAttribute('data-ink'); })"""
# Captured at half size: ink bounds within 2 px of the full frame's, a tenth of the decoding.
SCALE = 0.5
# A pixel at least a quarter covered by a glyph counts as ink (anti-aliased edges are fainter).
INK_THRESHOLD = 64
_INKED = [255 if v > INK_THRESHOLD else 0 for v in range(256)]


class FontCoverage:
    """The code points some installed font has a glyph for, as fontconfig reports them:
    chromium asks fontconfig for a fallback font for every character its CSS fonts lack."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        self._starts = [lo for lo, _ in merged]
        self._ranges = merged

    @classmethod
    def installed(cls) -> FontCoverage:
        listing = subprocess.run(  # fontconfig's cache answers in milliseconds
            ["fc-list", "--format", "%{charset}\n"],  # noqa: S607 - Debian's fontconfig
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        ranges = []
        for token in listing.split():
            lo, _, hi = token.partition("-")
            ranges.append((int(lo, 16), int(hi or lo, 16)))
        return cls(ranges)

    def covers(self, char: str) -> bool:
        code = ord(char)
        k = bisect.bisect_right(self._starts, code) - 1
        return k >= 0 and self._ranges[k][1] >= code

    def missing(self, shown: str) -> tuple[str, ...]:
        """Characters of ``shown`` that would be drawn as tofu (spaces, controls and
        ignorables draw nothing and need no glyph)."""
        drawn = {
            c
            for c in shown
            if not c.isspace()
            and unicodedata.category(c) not in ("Cc", "Cf", "Zs", "Zl", "Zp")
            and not text.is_ignorable(c)
        }
        return tuple(sorted(c for c in drawn if not self.covers(c)))


def ink_boxes(png: bytes, count: int, scale: float = 1.0) -> list[Box | None]:
    """The bounds of the pixels inked in each of the first ``count`` colour channels of a
    capture taken at ``scale``, in page pixels."""
    bands = Image.open(io.BytesIO(png)).convert("RGB").split()
    boxes: list[Box | None] = []
    for band in bands[:count]:
        found = band.point(_INKED).getbbox()
        if found is None:
            boxes.append(None)
            continue
        left, top, right, bottom = (v / scale for v in found)
        boxes.append(Box(left, top, right - left, bottom - top))
    return boxes


def field_key(row: Sequence[Any]) -> tuple[Any, ...]:
    """Name, text, box (whole pixels) and size of a ``FIELDS`` row: same key, same ink."""
    return (row[0], row[5], *(round(float(v)) for v in row[1:5]), row[6])


def text_inks(
    fields: Sequence[Sequence[Any]], inks: Sequence[Box | None], fonts: FontCoverage | None
) -> list[TextInk]:
    """``FIELDS`` rows and their ink as records; repeated names get an index (``.choice[2]``)."""
    names = [str(f[0]) for f in fields]
    found = []
    for k, (row, drawn) in enumerate(zip(fields, inks, strict=True)):
        name = names[k]
        if names.count(name) > 1:
            name = f"{name}[{names[:k].count(name)}]"
        box = Box(float(row[1]), float(row[2]), float(row[3]), float(row[4]))
        missing = fonts.missing(str(row[5])) if fonts is not None else ()
        found.append(TextInk(name, box, drawn, missing, str(row[5]), float(row[6])))
    return found
