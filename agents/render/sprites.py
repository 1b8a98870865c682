"""Sprite images cut from the browser's pages (pure image work with Pillow).

The browser draws every caption group once (white, outlined) and once more with every word in
the accent colour, at the same places. The caption with word ``j`` active is the first with
word ``j``'s box pasted from the second: one small PNG per spoken word, a few milliseconds each,
instead of one browser screenshot per word. The same cut gives the word lit up on the card.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image

from agents.render.layout import Box

PAD = 6  # pixels kept around a word's box: glyph ink and outline reach past the layout box


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # speed over size: they live seconds
    return out.getvalue()


def load(data: bytes) -> Image.Image:
    """A page decoded once (decoding a full-frame PNG costs ~30 ms: not once per word)."""
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGBA")


def caption_states(
    base_page: Image.Image, accent_page: Image.Image, cell: Box, words: Sequence[Box]
) -> list[bytes]:
    """One PNG of ``cell`` (a caption group's cell on the sheet) per word in ``words`` (their
    boxes on the sheet), that word in the accent colour."""
    area = _ints(cell)
    base = base_page.crop(area)
    out = []
    for word in words:
        state = base.copy()
        box = _padded(word, cell)
        piece = accent_page.crop(box)
        state.alpha_composite(piece, (box[0] - area[0], box[1] - area[1]))
        out.append(_png(state))
    return out


def blank(width: int, height: int) -> bytes:
    return _png(Image.new("RGBA", (width, height), (0, 0, 0, 0)))


def word_sprites(words: Sequence[tuple[Image.Image, Box]]) -> tuple[list[bytes], tuple[int, int]]:
    """Each word cut from its accent page onto a transparent image of one common size (a
    sprite track needs one size); the sprite's top-left corner goes at the word's padded box."""
    boxes = [(page, _padded(w, Box(0, 0, page.width, page.height))) for page, w in words]
    width = max((b[2] - b[0] for _, b in boxes), default=2)
    height = max((b[3] - b[1] for _, b in boxes), default=2)
    width, height = width + width % 2, height + height % 2  # yuv420p wants even sizes
    out = []
    for page, box in boxes:
        canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        canvas.alpha_composite(page.crop(box), (0, 0))
        out.append(_png(canvas))
    return out, (width, height)


def sprite_origin(word: Box) -> tuple[int, int]:
    """Where a word sprite's top-left corner goes in the frame."""
    return max(0, round(word.x) - PAD), max(0, round(word.y) - PAD)


def flatten(background: bytes, layer: bytes) -> bytes:
    """A content layer over the background, as a JPEG (storyboard tiles)."""
    with Image.open(io.BytesIO(background)) as bg:
        frame = bg.convert("RGBA")
    frame.alpha_composite(load(layer).resize(frame.size))
    out = io.BytesIO()
    frame.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def ink_box(pages: Sequence[bytes], frame: tuple[int, int], margin: int = 8) -> Box | None:
    """The smallest even-aligned box holding every non-transparent pixel of ``pages`` (full
    frames), ``margin`` transparent pixels around it; None if nothing is drawn.

    The margin is why cropping to this box changes nothing in the video: the RGBA to 4:2:0
    conversion reads a few neighbours around each chroma sample, so at a tight crop edge the
    chroma of a fully transparent border differs, and 8 px of nothing hides it (measured
    byte-identical frames against the uncropped overlay)."""
    found: list[tuple[int, int, int, int]] = []
    for data in pages:
        with Image.open(io.BytesIO(data)) as img:
            alpha = img.getchannel("A") if "A" in img.getbands() else None
            box = alpha.getbbox() if alpha is not None else (0, 0, img.width, img.height)
        if box is not None:
            found.append(box)
    if not found:
        return None
    width, height = frame
    x0 = max(0, min(b[0] for b in found) - margin) // 2 * 2
    y0 = max(0, min(b[1] for b in found) - margin) // 2 * 2
    x1 = min(width, max(b[2] for b in found) + margin)
    y1 = min(height, max(b[3] for b in found) + margin)
    x1, y1 = min(width, x1 + (x1 - x0) % 2), min(height, y1 + (y1 - y0) % 2)
    return Box(x0, y0, x1 - x0, y1 - y0)


def _ints(box: Box) -> tuple[int, int, int, int]:
    return round(box.x), round(box.y), round(box.right), round(box.bottom)


def _padded(word: Box, within: Box) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = _ints(word)
    bx0, by0, bx1, by1 = _ints(within)
    return max(bx0, x0 - PAD), max(by0, y0 - PAD), min(bx1, x1 + PAD), min(by1, y1 + PAD)
