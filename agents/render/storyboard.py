"""The storyboard: a small contact sheet of the key scenes, published before the expensive
full render so a person can look first (pure image work with Pillow)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

TILE = (216, 384)  # a fifth of 1080x1920
COLUMNS = 3
GAP = 8
BACKGROUND = (24, 24, 24)


def contact_sheet(frames: Sequence[bytes], labels: Sequence[str]) -> bytes:
    """A JPEG grid of ``frames`` (JPEG/PNG bytes), each labelled underneath."""
    if not frames or len(frames) != len(labels):
        raise ValueError("need one label per frame and at least one frame")
    rows = (len(frames) + COLUMNS - 1) // COLUMNS
    label_h = 28
    width = COLUMNS * TILE[0] + (COLUMNS + 1) * GAP
    height = rows * (TILE[1] + label_h) + (rows + 1) * GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (data, label) in enumerate(zip(frames, labels, strict=True)):
        with Image.open(io.BytesIO(data)) as img:
            tile = img.convert("RGB")
            tile.thumbnail(TILE)  # in place: draft-mode JPEG decoding makes this cheap
        x = GAP + (i % COLUMNS) * (TILE[0] + GAP)
        y = GAP + (i // COLUMNS) * (TILE[1] + label_h + GAP)
        sheet.paste(tile, (x, y))
        draw.text((x + 4, y + TILE[1] + 6), f"{i + 1}. {label}", fill=(230, 230, 230))
    out = io.BytesIO()
    sheet.save(out, format="JPEG", quality=80)
    return out.getvalue()
