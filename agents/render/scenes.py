"""Scene HTML (captions included) from templates (pure). Every script field is untrusted:
the Jinja environment autoescapes everything and undefined names are errors, not blanks."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from agents.render.labels import card_label
from agents.render.layout import CAPTION_AREA, CAPTION_FONT_PX, HEIGHT
from agents.render.theme import Theme

TEMPLATES = Path(__file__).parent / "templates"
# The only origin pages may load from; the browser fulfils it from local files and aborts
# everything else. ``.invalid`` can never resolve on a real network.
ASSET_ORIGIN = "https://assets.munjero.invalid"

LABELS = {
    "ko": {
        "quiz": "오늘의 퀴즈",
        "question": "문제",
        "choose": "정답은?",
        "answer": "정답",
        "next": "다음 문제",
        "subscribe": "구독하기",
    },
    "en": {
        "quiz": "Quiz time",
        "question": "Question",
        "choose": "Your answer?",
        "answer": "Answer",
        "next": "Next up",
        "subscribe": "Subscribe",
    },
}


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every variable, whatever the template's file extension
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )


@cache
def template_version() -> str:
    """Content hash of the templates: part of every render's cache key and its event."""
    digest = hashlib.sha256()
    for path in sorted(TEMPLATES.glob("*.j2")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return "t2-" + digest.hexdigest()[:12]


def visual_length(text: str) -> float:
    """Width of ``text`` in Latin-letter units: wide (CJK) characters count double."""
    return sum(2.0 if unicodedata.east_asian_width(ch) in "WF" else 1.0 for ch in text)


def _size(text: str, steps: tuple[tuple[float, int], ...], smallest: int) -> int:
    length = visual_length(text)
    for limit, px in steps:
        if length <= limit:
            return px
    return smallest


CAPTIONS_PER_SHEET = int(HEIGHT // CAPTION_AREA.height)


@dataclass(frozen=True)
class SceneSpec:
    """One page to draw: a scene's content layer, the background, or the caption sheet
    (``captions``: one cell per caption group). ``accent``: only the words, in the accent
    colour, where the normal page draws them."""

    scene: str
    accent: bool = False
    captions: tuple[str, ...] = ()


def font_sizes(script: Mapping[str, Any]) -> dict[str, int]:
    """Type sizes shrink with text length so long problems still fit the safe area."""
    longest_choice = max((str(c) for c in script["choices"]), key=visual_length, default="")
    return {
        "hook": _size(script["hook"], ((24, 116), (48, 96), (80, 78)), 62),
        "question": _size(script["question"], ((40, 88), (90, 76), (160, 64)), 56),
        "question_small": _size(script["question"], ((40, 68), (90, 60)), 56),
        "choice": _size(longest_choice, ((24, 62), (48, 54), (80, 46)), 40),
        "reveal": _size(script["answer_reveal"], ((30, 72), (70, 58)), 46),
        "cta": _size(script["cta"], ((30, 88), (70, 70)), 54),
    }


def scene_html(spec: SceneSpec, script: Mapping[str, Any], theme: Theme, *, has_logo: bool) -> str:
    language = script["language"] if script["language"] in LABELS else "en"
    return (
        _env()
        .get_template("scene.html.j2")
        .render(
            scene=spec.scene,
            accent=spec.accent,
            captions=spec.captions,
            page_height=HEIGHT,
            script=script,
            theme=theme,
            labels=LABELS[language],
            choice_labels=[card_label(language, i) for i in range(len(script["choices"]))],
            language=language,
            sizes=font_sizes(script),
            logo=has_logo,
            asset_origin=ASSET_ORIGIN,
            caption_area=CAPTION_AREA,
            caption_px=CAPTION_FONT_PX,
        )
    )
