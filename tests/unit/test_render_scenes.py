"""Scene HTML (untrusted text stays inert, templates are versioned) and the storyboard sheet."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest
from PIL import Image

from agents.render import scenes
from agents.render.scenes import LABELS, SceneSpec, font_sizes, scene_html, template_version
from agents.render.storyboard import COLUMNS, GAP, TILE, contact_sheet
from agents.render.theme import Theme
from tests.drafts import drafted
from tests.factories import problem_event

THEME = Theme("Munjero", "#1b1464", "#6a11cb", "#ffcc00", "#ffffff", "Pretendard")
SCENES = ("hook", "question", "choices", "countdown", "reveal", "cta", "captions")
# Scenes whose page draws script text (the hook and the CTA are spoken and captioned).
TEXT_SCENES = ("question", "choices", "countdown", "reveal", "captions")
HOSTILE = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</style><b>x</b>",
    "{{ 7*7 }}",
    "url(http://evil)",
)


def script(index: int = 0, **overrides: Any) -> dict[str, Any]:
    record = dict(drafted(problem_event(index), k=1)[0])
    record.update(overrides)
    return record


class Page(HTMLParser):
    """Every tag and attribute of a page, and its text outside <style>."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.style if self._in_style else self.text).append(data)


def hostile_script(payload: str) -> dict[str, Any]:
    return script(
        hook=payload,
        preface=payload,
        question=payload,
        choices=[payload, "B " + payload, "2", "3"],
        answer_reveal=payload,
        cta=payload,
    )


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_script_text_is_shown_as_text_only(scene: str, payload: str) -> None:
    html = scene_html(
        SceneSpec(scene, captions=(payload,) if scene == "captions" else ()),
        hostile_script(payload),
        THEME,
        has_logo=True,
    )
    page = Page(html)
    allowed = {"html", "head", "meta", "style", "body", "div", "span", "img", "bdi"}
    assert {tag for tag, _ in page.tags} <= allowed
    logo = [] if scene == "captions" else [{"src": f"{scenes.ASSET_ORIGIN}/logo", "alt": ""}]
    assert [attrs for tag, attrs in page.tags if tag == "img"] == logo
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert html.count("<style>") == html.count("</style>") == 1
    style = "".join(page.style)
    assert "evil" not in style
    assert "alert" not in style
    # The text is there, verbatim as the viewer should read it.
    if scene in TEXT_SCENES:
        assert payload in "".join(page.text)
    assert "49" not in "".join(page.text)  # {{ 7*7 }} was not evaluated


def test_hostile_markup_is_entity_escaped_in_the_source() -> None:
    html = scene_html(
        SceneSpec("captions", captions=(HOSTILE[0],)),
        hostile_script(HOSTILE[1]),
        THEME,
        has_logo=False,
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = scene_html(SceneSpec("reveal"), hostile_script(HOSTILE[1]), THEME, has_logo=False)
    assert "&lt;img" in html
    assert "onerror=alert(1)&gt;" in html
    assert "<script" not in html
    assert "<img" not in html  # no logo asked for, and the payload's img is text


def test_the_page_may_load_only_from_the_asset_origin() -> None:
    html = scene_html(SceneSpec("hook"), script(), THEME, has_logo=False)
    csp = next(
        attrs["content"]
        for tag, attrs in Page(html).tags
        if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    assert "default-src 'none'" in csp
    assert f"img-src {scenes.ASSET_ORIGIN}" in csp


@pytest.mark.parametrize(("index", "language"), [(0, "ko"), (45, "en")])
def test_labels_follow_the_script_language(index: int, language: str) -> None:
    record = script(index)
    assert record["language"] == language
    other = LABELS["en" if language == "ko" else "ko"]
    html = scene_html(SceneSpec("hook"), record, THEME, has_logo=False)
    assert f'<html lang="{language}">' in html
    assert LABELS[language]["quiz"] in html
    assert other["quiz"] not in html
    cta = scene_html(SceneSpec("cta"), record, THEME, has_logo=False)
    assert LABELS[language]["subscribe"] in cta
    assert LABELS[language]["next"] in cta


def test_an_unknown_language_falls_back_to_english_labels() -> None:
    html = scene_html(SceneSpec("hook"), script(45, language="fr"), THEME, has_logo=False)
    assert '<html lang="en">' in html
    assert LABELS["en"]["quiz"] in html


def test_each_scene_shows_its_own_content() -> None:
    record = script(0)
    question = Page(scene_html(SceneSpec("question"), record, THEME, has_logo=False))
    assert record["question"] in "".join(question.text)
    assert record["cta"] not in "".join(question.text)
    choices = Page(scene_html(SceneSpec("choices"), record, THEME, has_logo=False))
    # The choices pop in one by one over this page (motion.py): drawn hidden here.
    assert ("div", {"class": "choices hidden"}) in choices.tags
    reveal = Page(scene_html(SceneSpec("reveal"), record, THEME, has_logo=False))
    classes = [a["class"] for t, a in reveal.tags if t == "div" and "choice" in str(a["class"])]
    classes = [c for c in classes if c != "choices"]
    assert len(classes) == len(record["choices"])
    assert [i for i, c in enumerate(classes) if c == "choice correct"] == [record["answer_index"]]
    assert all(c == "choice dim" for i, c in enumerate(classes) if i != record["answer_index"])


def test_captions_are_drawn_only_on_the_caption_sheet_one_word_per_span() -> None:
    record = script(0)
    assert 'class="cap"' not in scene_html(SceneSpec("hook"), record, THEME, has_logo=False)
    sheet = Page(
        scene_html(SceneSpec("captions", captions=("안녕 하세요", "둘")), record, THEME,
                   has_logo=False)
    )  # fmt: skip
    cells = [a for t, a in sheet.tags if t == "div" and a.get("class") == "cap"]
    assert [c["id"] for c in cells] == ["cap-0", "cap-1"]
    assert [a for t, a in sheet.tags if t == "span"] == [{"class": "w"}] * 3
    assert "안녕 하세요" in "".join(sheet.text)


@pytest.mark.parametrize(
    ("scene", "field"),
    [("question", "question"), ("reveal", "answer_index"), ("choices", "choices")],
)
def test_a_script_missing_a_field_the_template_uses_is_an_error(scene: str, field: str) -> None:
    record = script(0)
    scene_html(SceneSpec(scene), record, THEME, has_logo=False)  # complete: renders
    del record[field]
    with pytest.raises((jinja2.UndefinedError, KeyError)):
        scene_html(SceneSpec(scene), record, THEME, has_logo=False)


def test_a_missing_template_only_field_is_an_undefined_error() -> None:
    record = script(0)
    del record["answer_index"]
    with pytest.raises(jinja2.UndefinedError, match="answer_index"):
        scene_html(SceneSpec("reveal"), record, THEME, has_logo=False)


# font sizes


def test_font_sizes_shrink_as_text_grows() -> None:
    keys = ("hook", "question", "question_small", "choice", "reveal", "cta")
    previous: dict[str, int] | None = None
    for n in (5, 20, 40, 70, 100, 200):
        text = "a" * n
        sizes = font_sizes(
            {
                "hook": text,
                "question": text,
                "choices": ["x", text],
                "answer_reveal": text,
                "cta": text,
            }
        )
        if previous is not None:
            assert all(sizes[k] <= previous[k] for k in keys), (n, sizes, previous)
        previous = sizes
    short = font_sizes(
        {"hook": "a", "question": "a", "choices": ["a"], "answer_reveal": "a", "cta": "a"}
    )
    assert all(short[k] > previous[k] for k in keys)  # type: ignore[index]


def test_wide_hangul_counts_double() -> None:
    def hook_px(text: str) -> int:
        return font_sizes(
            {"hook": text, "question": "q", "choices": ["c"], "answer_reveal": "r", "cta": "c"}
        )["hook"]

    assert hook_px("a" * 20) > hook_px("가" * 20)
    assert hook_px("가" * 12) == hook_px("a" * 24)


def test_the_longest_choice_sets_the_choice_size() -> None:
    base = {"hook": "h", "question": "q", "answer_reveal": "r", "cta": "c"}
    few = font_sizes({**base, "choices": ["짧음", "짧다"]})["choice"]
    one_long = font_sizes({**base, "choices": ["짧음", "아주 " * 20]})["choice"]
    assert one_long < few


# template_version


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the templates the module reads, with its caches cleared around it."""
    copy = tmp_path / "templates"
    shutil.copytree(scenes.TEMPLATES, copy)
    scenes.template_version.cache_clear()
    scenes._env.cache_clear()
    monkeypatch.setattr(scenes, "TEMPLATES", copy)
    yield copy
    scenes.template_version.cache_clear()
    scenes._env.cache_clear()


def fresh_version() -> str:
    scenes.template_version.cache_clear()
    scenes._env.cache_clear()
    return template_version()


def test_template_version_is_stable() -> None:
    version = template_version()
    assert re.fullmatch(r"t2-[0-9a-f]{12}", version)
    assert fresh_version() == version


def test_template_version_changes_when_a_template_changes(templates: Path) -> None:
    before = fresh_version()
    page = templates / "scene.html.j2"
    page.write_text(page.read_text().replace("font-weight: 800", "font-weight: 900", 1))
    after = fresh_version()
    assert after != before
    assert re.fullmatch(r"t2-[0-9a-f]{12}", after)
    # and the changed template is what renders
    assert "font-weight: 900" in scene_html(SceneSpec("hook"), script(), THEME, has_logo=False)


def test_template_version_changes_when_a_template_is_added(templates: Path) -> None:
    before = fresh_version()
    (templates / "outro.html.j2").write_text("<p>{{ script.cta }}</p>")
    assert fresh_version() != before


def test_the_version_is_the_content_not_the_location(
    templates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = fresh_version()
    monkeypatch.setattr(scenes, "TEMPLATES", Path(scenes.__file__).parent / "templates")
    assert templates != scenes.TEMPLATES
    assert fresh_version() == copied


# storyboard


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (54, 96)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG", quality=95)
    return out.getvalue()


def png(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


COLOURS = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 200, 20), (200, 30, 200)]
LABEL_H = 28


def slot(i: int) -> tuple[int, int]:
    return GAP + (i % COLUMNS) * (TILE[0] + GAP), GAP + (i // COLUMNS) * (TILE[1] + LABEL_H + GAP)


def close(a: tuple[int, ...], b: tuple[int, ...], tol: int = 24) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("count", [1, 3, 4, 5])
def test_contact_sheet_grid_size_and_tiles(count: int) -> None:
    frames = [jpeg(c) for c in COLOURS[:count]]
    sheet = Image.open(io.BytesIO(contact_sheet(frames, [f"s{i}" for i in range(count)])))
    assert sheet.format == "JPEG"
    rows = -(-count // COLUMNS)
    assert sheet.size == (
        COLUMNS * TILE[0] + (COLUMNS + 1) * GAP,
        rows * (TILE[1] + LABEL_H) + (rows + 1) * GAP,
    )
    rgb = sheet.convert("RGB")
    for i, colour in enumerate(COLOURS[:count]):
        x, y = slot(i)
        assert close(rgb.getpixel((x + 20, y + 40)), colour), i


def label_ink(sheet: Image.Image, i: int) -> int:
    """Bright pixels in the label strip under tile ``i`` (the text is drawn light on dark)."""
    x, y = slot(i)
    strip = sheet.convert("L").crop((x, y + TILE[1] + 2, x + TILE[0], y + TILE[1] + LABEL_H))
    return sum(1 for v in strip.getdata() if v > 128)


def test_every_frame_is_labelled_and_empty_slots_are_not() -> None:
    frames = [jpeg(c) for c in COLOURS[:4]]
    sheet = Image.open(io.BytesIO(contact_sheet(frames, ["hook", "question", "choices", "cta"])))
    assert all(label_ink(sheet, i) > 20 for i in range(4))
    assert all(label_ink(sheet, i) == 0 for i in range(4, 6))


def test_a_full_size_png_frame_is_scaled_into_its_tile() -> None:
    sheet = Image.open(io.BytesIO(contact_sheet([png((10, 200, 200), (1080, 1920))], ["hook"])))
    rgb = sheet.convert("RGB")
    x, y = slot(0)
    assert close(rgb.getpixel((x + TILE[0] - 2, y + TILE[1] - 2)), (10, 200, 200))
    assert close(rgb.getpixel((x + TILE[0] + 3, y + 10)), (24, 24, 24))  # the gap beside it


@pytest.mark.parametrize(("frames", "labels"), [([], []), ([b"x"], []), ([b"x"], ["a", "b"])])
def test_contact_sheet_needs_one_label_per_frame(frames: list[bytes], labels: list[str]) -> None:
    with pytest.raises(ValueError, match="one label per frame"):
        contact_sheet(frames, labels)
