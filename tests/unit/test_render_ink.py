"""The gate's text checks (pure) and the chromium adapter's pixel and font helpers."""

from __future__ import annotations

import io
from html.parser import HTMLParser

from PIL import Image, ImageDraw

from agents.render import scenes
from agents.render.gate import text_reasons
from connectors.browser.ink import FontCoverage, ink_boxes
from factory.config import theme_from_settings
from streams.ports.render import Box, TextInk
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event

BOX = Box(60, 400, 840, 100)


def test_ink_inside_its_box_and_within_a_quarter_em_passes() -> None:
    fields = [
        TextInk(".question", BOX, Box(62, 404, 700, 90), text="ok", font_px=60),
        TextInk(".choice[0]", BOX, Box(60, 386, 300, 120), text="Ỗ", font_px=60),  # 14 px
    ]
    assert text_reasons(fields) == []


def test_ink_far_outside_its_box_is_a_reason_naming_the_field() -> None:
    zalgo = TextInk("question:.question", BOX, Box(60, 200, 500, 300), text="Z̃̃̃", font_px=60)
    assert text_reasons([zalgo]) == [
        "question:.question inks 200 px outside its box (stacked marks?): glyphs at "
        "(60,200 500x300), box (60,400 840x100)"
    ]


def test_missing_glyphs_and_invisible_text_are_reasons() -> None:
    tofu = TextInk(".choice[1]", BOX, Box(70, 410, 50, 50), ("\ue000",), "\ue000 x", 60)
    blank = TextInk("#cap-0", BOX, None, text="\u3164\u3164", font_px=60)
    empty = TextInk("#cap-1", BOX, None, text=" ", font_px=60)
    assert text_reasons([tofu, blank, empty, tofu]) == [
        ".choice[1] has characters no installed font can draw: U+E000",
        "#cap-0 has text but draws nothing visible",
    ]


def test_ink_boxes_reads_each_colour_channel_at_page_scale() -> None:
    image = Image.new("RGB", (540, 960), "black")
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 20, 29, 39), fill=(255, 0, 0))
    draw.rectangle((100, 100, 109, 104), fill=(0, 200, 0))
    draw.rectangle((300, 300, 310, 310), fill=(0, 0, 40))  # fainter than a quarter: no ink
    png = io.BytesIO()
    image.save(png, format="PNG")
    assert ink_boxes(png.getvalue(), 3, scale=0.5) == [
        Box(20, 40, 40, 40),
        Box(200, 200, 20, 10),
        None,
    ]


def test_font_coverage_merges_ranges() -> None:
    fonts = FontCoverage([(0x41, 0x5A), (0x30, 0x39), (0x5B, 0x60)])
    assert fonts.covers("A")
    assert fonts.covers("`")
    assert not fonts.covers("a")
    assert fonts.missing("AZ 09\u200b\nab") == ("a", "b")


def test_installed_fonts_cover_hangul_emoji_and_rtl_scripts_but_not_private_use() -> None:
    """The real fontconfig, as chromium's fallback asks it (make setup installs the fonts)."""
    fonts = FontCoverage.installed()
    assert fonts.missing("한국사 퀴즈 🎉👩‍👩‍👧🇰🇷 שלום عربي Ỗ") == ()
    assert fonts.missing("\ue000\U0010fffd") == ("\ue000", "\U0010fffd")


class _TextInBdi(HTMLParser):
    """Every text run of a page, with whether a ``<bdi>`` encloses it."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.runs: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("meta", "img", "br", "link"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        while self.open and self.open.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if data.strip() and "style" not in self.open:
            self.runs.append((data.strip(), "bdi" in self.open))


def test_every_untrusted_field_is_drawn_in_its_own_direction_isolate() -> None:
    """Mixed-direction text cannot reorder its neighbours: each field (and the brand) sits in
    a ``<bdi>`` (``unicode-bidi: isolate``, direction from its own first strong character)."""
    script = dict(drafted(problem_event(40), k=1)[0])
    script.update(
        hook="HOOKTEXT", preface="PREFACETEXT", question="QUESTIONTEXT",
        choices=["CHOICEA", "CHOICEB", "CHOICEC", "CHOICED"], answer_index=2,
        answer_reveal="REVEALTEXT", explanation="EXPLAINTEXT", cta="CTATEXT",
    )  # fmt: skip
    theme = theme_from_settings(Settings(brand_name="BRANDTEXT"))
    spoken = ("hook", "preface", "question", "answer_reveal", "explanation", "cta")
    specs = [scenes.SceneSpec(k) for k in ("hook", "question", "choices", "reveal", "cta")]
    specs.append(scenes.SceneSpec("captions", captions=tuple(script[k] for k in spoken)))
    runs: list[tuple[str, bool]] = []
    for spec in specs:
        parser = _TextInBdi()
        parser.feed(scenes.scene_html(spec, script, theme, has_logo=False))
        runs += parser.runs
    markers = {*(script[k] for k in spoken), *script["choices"], "BRANDTEXT"}
    fields = [(text, isolated) for text, isolated in runs if text in markers]
    # Every marker drawn somewhere (the preface, reveal and explanation only as captions).
    assert {text for text, _ in fields} == markers
    assert [text for text, isolated in fields if not isolated] == []
