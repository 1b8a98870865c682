"""The pictures of one short, drawn by the browser before the voice has finished (they do not
depend on timing): the background, each scene's content as a transparent layer, the accent
pages the lit-up words are cut from, and the sheets of caption cells.

About a dozen screenshots in all, spread over two pages; ffmpeg makes every frame from them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agents.render import scenes
from agents.render.layout import Box
from agents.render.story import CaptionGroup
from agents.render.theme import Theme
from streams.ports.render import BrowserJob, RenderRejectedError, SceneBrowser, TextInk
from streams.telemetry import tracing

CONTENT_SCENES = ("hook", "question", "choices", "countdown", "reveal", "cta")
ACCENT_SCENES = ("question", "countdown")  # where words light up: question, choices
MEASURED = (
    ".brand", ".chip", ".stage", ".stage > *", ".question .w", ".choice", ".choice .label",
    ".choice .w",
)  # fmt: skip
SHEET_MEASURED = (".cap", ".cap .w")
PAGES = 2  # measured: two pages keep both cores busy (chromium encodes each in its renderer)


@dataclass(frozen=True)
class Page:
    """A drawn page: the image and the boxes measured on it, by selector, in page order."""

    image: bytes
    boxes: Mapping[str, tuple[Box, ...]]


@dataclass(frozen=True)
class Drawn:
    background: bytes
    content: Mapping[str, Page]  # by scene
    accent: Mapping[str, Page]  # by scene
    sheets: Sequence[Page]  # caption sheets, CAPTIONS_PER_SHEET groups each
    accent_sheets: Sequence[Page]
    blocked: tuple[str, ...]
    text_inks: tuple[TextInk, ...]


def _page(data: bytes, boxes: Sequence[tuple[str, Box]]) -> Page:
    grouped: dict[str, list[Box]] = {}
    for selector, box in boxes:
        grouped.setdefault(selector, []).append(box)
    return Page(data, {k: tuple(v) for k, v in grouped.items()})


def _html(spec: scenes.SceneSpec, script: Mapping[str, Any], theme: Theme, logo: bool) -> str:
    try:
        return scenes.scene_html(spec, script, theme, has_logo=logo)
    except Exception as exc:  # jinja2 errors: the template or the script is broken
        raise RenderRejectedError(f"template error in scene {spec.scene}: {exc}") from exc


async def draw(
    browser: SceneBrowser,
    script: Mapping[str, Any],
    theme: Theme,
    groups: Sequence[CaptionGroup],
) -> Drawn:
    logo = "logo" in browser.assets
    per_sheet = scenes.CAPTIONS_PER_SHEET
    sheets = [
        tuple(g.text for g in groups[k : k + per_sheet]) for k in range(0, len(groups), per_sheet)
    ]

    def html(scene: str, *, accent: bool = False, captions: tuple[str, ...] = ()) -> str:
        return _html(scenes.SceneSpec(scene, accent, captions), script, theme, logo)

    content = [html(s) for s in CONTENT_SCENES]
    accent = [html(s, accent=True) for s in ACCENT_SCENES]
    sheet_pages = [html("captions", captions=c) for c in sheets]
    accent_sheets = [html("captions", accent=True, captions=c) for c in sheets]
    with tracing.span("browser screenshots", munjero__pictures=2 + 2 * len(sheets) + 8):
        async with browser.job(pages=PAGES) as job:
            # One call per kind: a job's pages take one page load at a time each.
            background = await job.screenshots([html("background")])
            shots = await job.screenshots(
                [*content, *accent, *sheet_pages, *accent_sheets],
                measure=(*MEASURED, *SHEET_MEASURED),
                fit=".stage",
                transparent=True,
            )
            with tracing.span("text ink"):
                inks = await _inspect(job, content, sheet_pages)
            blocked = tuple(job.blocked)
    drawn = [_page(data, boxes) for data, boxes in shots]
    pages, sheet_list = drawn[: len(content) + len(accent)], drawn[len(content) + len(accent) :]
    return Drawn(
        background=background[0][0],
        content=dict(zip(CONTENT_SCENES, pages[: len(content)], strict=True)),
        accent=dict(zip(ACCENT_SCENES, pages[len(content) :], strict=True)),
        sheets=sheet_list[: len(sheets)],
        accent_sheets=sheet_list[len(sheets) :],
        blocked=blocked,
        text_inks=inks,
    )


async def _inspect(
    job: BrowserJob, content: Sequence[str], sheets: Sequence[str]
) -> tuple[TextInk, ...]:
    """Every text field as drawn (glyph ink, missing glyphs) for the quality gate."""
    names = [*CONTENT_SCENES, *("captions" for _ in sheets)]
    inspected = await job.inspect([*content, *sheets], fit=".stage")
    found: dict[tuple[str, str, Box], TextInk] = {}
    for scene, fields in zip(names, inspected, strict=True):
        for f in fields:  # the same field in the same place: reported once
            found.setdefault((f.name, f.text, f.box), replace(f, name=f"{scene}:{f.name}"))
    return tuple(found.values())
