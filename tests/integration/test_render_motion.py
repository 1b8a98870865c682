"""The motion graph run by real ffmpeg: cutting the content layers to their ink (to blend less
per frame) must not change a single pixel of the video."""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw

from agents.render import motion, sprites
from agents.render.layout import FPS, HEIGHT, WIDTH, Box


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _layer(box: tuple[int, int, int, int], colour: tuple[int, int, int, int]) -> bytes:
    """A transparent frame with a soft-edged card (half-transparent rim, odd coordinates:
    the worst case for 4:2:0 chroma at the cut's edge)."""
    image = Image.new("RGBA", (WIDTH, HEIGHT), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = box
    draw.rectangle((x0 - 3, y0 - 3, x1 + 3, y1 + 3), fill=(*colour[:3], 90))
    draw.rounded_rectangle(box, radius=17, fill=colour)
    draw.text((x0 + 11, y0 + 13), "Q1 · 문제", fill=(255, 255, 255, 255))
    return _png(image)


def _frames(path: Path) -> list[str]:
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
        check=True,
        capture_output=True,
    ).stdout
    size = WIDTH * HEIGHT * 3 // 2
    assert raw
    assert len(raw) % size == 0
    return [hashlib.sha256(raw[k : k + size]).hexdigest() for k in range(0, len(raw), size)]


def test_cutting_content_to_its_ink_leaves_every_frame_identical(tmp_path: Path) -> None:
    background = Image.linear_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
    background.save(tmp_path / "bg.jpg", quality=90)
    pages = [
        _layer((141, 383, 917, 905), (40, 90, 200, 255)),
        _layer((97, 511, 871, 1187), (200, 60, 60, 230)),
    ]
    stills = []
    for k, data in enumerate(pages):
        stills.append(tmp_path / f"layer-{k}.png")
        stills[-1].write_bytes(data)
    ink = sprites.ink_box(pages, (WIDTH, HEIGHT))
    assert ink is not None
    assert ink.width * ink.height < WIDTH * HEIGHT / 2
    layers = [motion.Layer(stills[0], 0.0, 0.5), motion.Layer(stills[1], 0.5, 1.0)]
    outputs = {}
    for name, box in (("full", None), ("cut", ink)):
        scene = motion.Scene(
            duration=1.0, background=tmp_path / "bg.jpg", layers=layers, content_box=box
        )
        out = tmp_path / f"{name}.mp4"
        args = motion.part_args(scene, (0.0, 1.0), out, [], preset="ultrafast", crf=22, threads=1)
        subprocess.run(args, check=True, capture_output=True)
        outputs[name] = _frames(out)
    assert len(outputs["full"]) == FPS
    assert outputs["cut"] == outputs["full"]


def test_ink_box_is_even_aligned_with_a_margin_and_clamped() -> None:
    small = (40, 30)

    def page(*points: tuple[int, int]) -> bytes:
        image = Image.new("RGBA", small, (0, 0, 0, 0))
        for p in points:
            image.putpixel(p, (255, 255, 255, 1))
        return _png(image)

    assert sprites.ink_box([page()], small) is None
    box = sprites.ink_box([page((11, 9)), page((20, 15))], small, margin=2)
    assert box == Box(8, 6, 16, 12)  # ink 11..20 x 9..15, 2 px around, even corners and sizes
    assert sprites.ink_box([page((0, 0), (39, 29))], small, margin=8) == Box(0, 0, 40, 30)
    opaque = Image.new("RGB", small, (1, 2, 3))
    assert sprites.ink_box([_png(opaque)], small) == Box(0, 0, 40, 30)
