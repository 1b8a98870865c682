"""Hostile script text against the real renderer: markup in every field must reach the frame as
inert text, raw markup that slipped past the templates (no CSP) must not reach the network or
the disk, and hostile Unicode must be drawn faithfully or refused by the quality gate.

Witnesses: two loopback servers (one addressed by IP literal, one by host name) that count
every TCP connection they accept, HTTP request or not, and a local file whose every read moves
its access time. Each witness has a positive control, so zero means zero.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import tempfile
import threading
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from PIL import Image
from playwright.async_api import async_playwright

from agents.render import gate, scenes
from agents.render.pipeline import RenderConfig, Renderer
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser.chromium import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NETWORK_BACKSTOP_ARGS,
    ChromiumRenderer,
    Job,
)
from connectors.media import ffmpeg
from connectors.media.ffmpeg import Ffmpeg
from connectors.tts.espeak import EspeakTts
from factory.config import theme_from_settings
from streams.ports.render import RenderRejectedError
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# Requests that would need a script to run: JavaScript is off, so none may even be attempted.
SCRIPTED = {"/script", "/onerror", "/js"}
# Requests plain HTML/CSS makes by itself: each one must be stopped and recorded on the job.
DECLARATIVE = {
    "/img", "/css", "/link", "/frame", "/import", "/prefetch", "/object", "/embed",
    "/refresh", "/srcset", "/srcdoc", "/data-frame", "/base-img", "/font", "/image-set",
}  # fmt: skip

# The file:// URLs chromium requests at all from a page that is not a file (it refuses frames,
# objects, embeds and refreshes to file:// before any request): each one must fail on the job.
FILE_REQUESTS = {
    "img", "css", "link", "import", "prefetch", "srcset", "srcdoc", "data-frame", "font",
    "image-set",
}  # fmt: skip

RLO, ZWSP, ZWJ = "\u202e", "\u200b", "\u200d"
ZALGO = "".join(c + "\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308" * 3 for c in "Which")
EMOJI = f"🎉 👩{ZWJ}👩{ZWJ}👧 🇰🇷"
ARABIC, HEBREW = "ما هي عاصمة كوريا؟", "מה בירת קוריאה?"
# The hostile Unicode of the template path, also on every raw page.
UNICODE = f"<p>{RLO}5491 stu{ZWSP}pid {ZALGO} {EMOJI} {ARABIC} {HEBREW}</p>"


class Witness:
    """A loopback HTTP server that counts every TCP connection it accepts (a preconnect
    sends no request) and records the path of every request."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.accepts = 0
        self.paths: list[str] = []
        self._seen = threading.Condition()
        lock = self._seen
        witness = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    witness.paths.append(self.path)
                    lock.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<title>pwned</title>pwned")

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, Any]:
                accepted = super().get_request()
                with lock:
                    witness.accepts += 1
                return accepted

        # Bound and listening before the thread starts: no connection can arrive too early.
        self._server = Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def wait_for(self, path: str, timeout: float) -> bool:
        """Blocks until a request for ``path`` has arrived (False: none within ``timeout``)."""
        with self._seen:
            return self._seen.wait_for(lambda: path in self.paths, timeout)

    def __enter__(self) -> Witness:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class WatchedFile:
    """A local file whose reads are visible: its access time is set before its modification
    time, and Linux (relatime or strictatime) updates the access time on the next read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("secret")
        modified = path.stat().st_mtime_ns
        os.utime(path, ns=(modified - 10**9, modified))
        self.atime = path.stat().st_atime_ns

    def was_read(self) -> bool:
        return self.path.stat().st_atime_ns != self.atime

    @property
    def url(self) -> str:
        return self.path.as_uri()


@pytest.fixture(scope="module")
def ip() -> Iterator[Witness]:
    with Witness() as server:
        yield server


@pytest.fixture(scope="module")
def named() -> Iterator[Witness]:
    with Witness("localhost") as server:
        yield server


@pytest.fixture
def watched(tmp_path: Path) -> WatchedFile:
    return WatchedFile(tmp_path / "watched.txt")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[ChromiumRenderer]:
    renderer = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        yield renderer
    finally:
        await renderer.close()


def markup(url: Callable[[str], str]) -> dict[str, str]:
    """Every way HTML and CSS load a URL by themselves, each fetching ``url(name)``."""
    return {
        "script": f"<script>document.title='pwned';fetch('{url('script')}')</script>",
        "img": f'<img src="{url("img")}" onerror="fetch(\'{url("onerror")}\')">',
        "css": f'<div style="background:url({url("css")})">x</div>',
        "js": f"<a href=\"javascript:fetch('{url('js')}')\">x</a>",
        "link": f"<link rel=stylesheet href={url('link')}>",
        "frame": f"<iframe src={url('frame')}></iframe>",
        "import": f"<style>@import url({url('import')});</style>",
        "prefetch": f"<link rel=prefetch href={url('prefetch')}>",
        "preconnect": f"<link rel=preconnect href={url('preconnect')}>",
        "dns-prefetch": f"<link rel=dns-prefetch href={url('dns-prefetch')}>",
        "object": f"<object data={url('object')}></object>",
        "embed": f"<embed src={url('embed')}>",
        "refresh": f'<meta http-equiv=refresh content="0;url={url("refresh")}">',
        "srcset": f'<img srcset="{url("srcset")} 1x">',
        "srcdoc": f"<iframe srcdoc=\"<img src='{url('srcdoc')}'>\"></iframe>",
        "data-frame": f"<iframe src=\"data:text/html,<img src='{url('data-frame')}'>\"></iframe>",
        "base": f"<base href={url('base/')}><img src=../base-img>",
        "font": f"<style>@font-face{{font-family:x;src:url({url('font')})}}"
        "body{font-family:x}</style>",
        "image-set": f'<div style="background-image:image-set(url({url("image-set")}) 1x)">x</div>',
    }


def payloads(ip: Witness, named: Witness, watched: WatchedFile) -> list[str]:
    """Each markup payload aimed at both witnesses and at the watched file."""
    aims: list[Callable[[str], str]] = [
        lambda name: f"{ip.origin}/{name}",
        lambda name: f"{named.origin}/{name}",
        lambda name: f"{watched.url}?{name}",
    ]
    return [p for aim in aims for p in markup(aim).values()]


def hostile_script(markups: list[str]) -> dict[str, Any]:
    """A realistic drafted script with ``markups`` spread over every field that reaches the
    screen, and hostile Unicode: right-to-left text, emoji (a ZWJ family, a flag), a bidi
    control inside its field's isolate, a zero-width space."""
    # Spoken fields first: a handful of payloads stays out of the drawn cards' layout.
    part = [" ".join(markups[k::6]).strip() for k in range(6)]
    script = dict(drafted(problem_event(40), k=1)[0])
    script.update(
        hook=f"Quiz {EMOJI} {part[0]}",
        preface=f"{ARABIC} {part[1]}",
        question=f"Which year? {HEBREW} {part[3]}".strip(),
        choices=[f"{RLO}5491 {part[4]}".strip(), f"stu{ZWSP}pid", "1945", f"{EMOJI} {part[5]}"],
        answer_index=2,
        answer_reveal=f"C {ARABIC}",
        explanation=f"It ended in 1945. {part[2]}",
        cta=f"Comment {HEBREW} {EMOJI}",
    )
    return script


def one_of_each_aim(ip: Witness, named: Witness, watched: WatchedFile) -> list[str]:
    """A payload at each target, written short: few enough that a full render stays a Short
    (espeak reads every URL aloud), and no unbreakable word longer than two caption lines (a
    longer one really does ink outside its caption cell, and the gate refuses it)."""
    return [
        f"<link rel=prefetch href={ip.origin}/a>",
        f"<object data=//localhost:{urlsplit(named.origin).port}/b>",
        f"<img src={watched.url}>",
    ]


async def failures(
    job: Job, paths: set[str], part: Callable[[str], str] = lambda url: urlsplit(url).path
) -> dict[str, asyncio.Future[Any]]:
    """Futures for the failed request of each path (or other ``part`` of the URL): every
    stopped request ends as one, and awaiting them (not sleeping) waits for late ones such as
    a meta refresh."""
    context = job.page.context
    return {
        path: asyncio.ensure_future(
            context.wait_for_event(
                "requestfailed",
                predicate=lambda r, p=path: part(r.url) == p,
                timeout=15_000,
            )
        )
        for path in paths
    }


async def test_witnesses_count_tcp_connections_and_reads(
    ip: Witness, named: Witness, watched: WatchedFile
) -> None:
    """Positive controls: a bare TCP connect (no request), an HTTP request and a read of the
    file all show, so the zeros below are zeros."""
    for witness in (ip, named):
        before = witness.accepts
        port = int(witness.origin.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with urllib.request.urlopen(f"{witness.origin}/control", timeout=5) as answer:
            assert answer.read()
        assert witness.accepts == before + 2
        assert "/control" in witness.paths
    assert not watched.was_read()
    assert watched.path.read_text() == "secret"
    assert watched.was_read()


async def test_without_the_backstop_markup_reaches_the_witness(
    ip: Witness, named: Witness, tmp_path: Path
) -> None:
    """The issue's finding, kept as the sentinel for the backstop: chromium with only the
    route guard (our base flags, no resolver/proxy rules) connects to the witnesses."""
    watched = WatchedFile(tmp_path / "control.txt")
    raw = "<!doctype html><title>safe</title>" + "".join(payloads(ip, named, watched))
    before = ip.accepts + named.accepts
    async with async_playwright() as pw:
        bare = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        try:
            context = await bare.new_context(java_script_enabled=False)
            await context.route("**/*", lambda route: route.abort("blockedbyclient"))
            page = await context.new_page()
            await page.set_content(raw, wait_until="load")
            # The prefetch goes past the route: the witness gets the request.
            assert await asyncio.to_thread(ip.wait_for, "/prefetch", 15.0)
        finally:
            await bare.close()
    assert ip.accepts + named.accepts > before


@pytest.mark.parametrize(
    "backstop",
    [
        NETWORK_BACKSTOP_ARGS,
        NETWORK_BACKSTOP_ARGS[:1],  # the resolver rule alone
        NETWORK_BACKSTOP_ARGS[1:],  # the unreachable proxy alone
    ],
    ids=["backstop", "resolver-only", "proxy-only"],
)
@pytest.mark.parametrize("target", ["ip", "named"])
async def test_the_backstop_alone_opens_no_socket(
    backstop: tuple[str, ...], target: str, ip: Witness, named: Witness, tmp_path: Path
) -> None:
    """Layer 4 on its own: no route, no CSP, and JavaScript on (worse than production), yet
    every way HTML, CSS and script load a URL ends in a failed request and the witnesses
    accept no connection."""
    aim = {"ip": ip, "named": named}[target]
    raw = "<!doctype html><title>safe</title>" + "".join(
        markup(lambda name: f"{aim.origin}/{name}").values()
    )
    accepts = ip.accepts + named.accepts
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *backstop]
        )
        try:
            context = await browser.new_context(java_script_enabled=True)
            page = await context.new_page()
            stopped = {
                path: asyncio.ensure_future(
                    context.wait_for_event(
                        "requestfailed",
                        predicate=lambda r, p=path: urlsplit(r.url).path == p,
                        timeout=15_000,
                    )
                )
                for path in DECLARATIVE | {"/script", "/onerror"}
            }
            await page.set_content(raw, wait_until="load")
            failed = await asyncio.gather(*stopped.values())
        finally:
            await browser.close()
    assert all(request.failure for request in failed)
    assert ip.accepts + named.accepts == accepts


def _coloured_pixels(jpeg: bytes) -> int:
    """Pixels far from grey: a colour emoji has many, black text or a tofu box none."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB").resize((270, 480))
    return sum(1 for r, g, b in image.getdata() if max(r, g, b) - min(r, g, b) > 80)


async def test_an_emoji_is_drawn_as_a_colour_glyph(browser: ChromiumRenderer) -> None:
    """The emoji font is installed and chromium uses it: black text of emoji comes out in
    colour, while a code point no font has (the control) comes out as a grey box."""
    page = (
        "<!doctype html><body style='margin:0;background:#fff;color:#000;font-size:160px'>"
        "<p style='margin:0'>{}</p></body>"
    )
    async with browser.job() as job:
        emoji, _ = await job.screenshot(page.format(EMOJI))
        tofu, _ = await job.screenshot(page.format("\ue000 \U0010fffd"))
    assert _coloured_pixels(tofu) == 0
    assert _coloured_pixels(emoji) > 300  # measured 1042 (three emoji at 160 px, quarter size)


def every_page(script: dict[str, Any]) -> list[str]:
    """Every page a render draws: each scene's layer, its accent twin, the background and a
    caption sheet holding the spoken fields."""
    theme = theme_from_settings(Settings())
    kinds = ["hook", "question", "choices", "countdown", "reveal", "cta"]
    specs = [scenes.SceneSpec(kind, accent=accent) for kind in kinds for accent in (False, True)]
    specs.append(scenes.SceneSpec("background"))
    spoken = ("hook", "preface", "question", "answer_reveal", "explanation", "cta")
    specs.append(scenes.SceneSpec("captions", captions=tuple(script[k] for k in spoken)))
    return [scenes.scene_html(spec, script, theme, has_logo=False) for spec in specs]


async def test_every_scene_with_hostile_text_is_inert(
    ip: Witness, named: Witness, watched: WatchedFile, browser: ChromiumRenderer
) -> None:
    """The template path: every payload in every field is escaped text; nothing is even
    attempted (``blocked`` stays empty), no connection, no read."""
    htmls = every_page(hostile_script(payloads(ip, named, watched)))
    for html in htmls:
        assert "<script>" not in html
        assert "<link rel=prefetch" not in html
    question, captions = htmls[2], htmls[-1]
    assert "&lt;" in question  # the payloads are there, as text
    assert "&lt;script&gt;" in captions
    accepts = ip.accepts + named.accepts
    async with browser.job() as job:
        for html in htmls:
            data, _ = await job.screenshot(html)
            assert data[:2] == b"\xff\xd8"  # a JPEG
        assert await job.page.title() != "pwned"
        blocked = list(job.blocked)
    assert blocked == []
    assert ip.accepts + named.accepts == accepts
    assert not watched.was_read()


@pytest.mark.parametrize("target", ["ip", "named", "file"])
async def test_raw_hostile_markup_is_stopped_below_the_guard(
    target: str, ip: Witness, named: Witness, watched: WatchedFile, browser: ChromiumRenderer
) -> None:
    """Defence in depth: markup that escaped the templates (unescaped, no CSP meta) cannot
    run script, open a connection or read a file; every request it made is on the job. One
    target per page: a page follows only one ``<base>`` and one refresh."""
    aim = {
        "ip": lambda name: f"{ip.origin}/{name}",
        "named": lambda name: f"{named.origin}/{name}",
        "file": lambda name: f"{watched.url}?{name}",
    }[target]
    raw = "<!doctype html><html><head><title>safe</title></head><body>{}{}</body></html>".format(
        "".join(markup(aim).values()), UNICODE
    )
    accepts = ip.accepts + named.accepts
    async with browser.job() as job:
        if target == "file":
            stopped = await failures(job, FILE_REQUESTS, lambda url: urlsplit(url).query)
        else:
            stopped = await failures(job, DECLARATIVE)
        # Loaded as a scene is loaded, not screenshot: the refresh navigates away right after.
        await job.page.set_content(raw, wait_until="load")
        await asyncio.gather(*stopped.values())
        title = await job.page.title()
        blocked = list(job.blocked)
    # Neither the inline script ran nor the witness's page loaded (the refresh leaves an
    # error page: it was aborted).
    assert title != "pwned"
    if target == "file":
        asked = {urlsplit(url).query for url in blocked if url.startswith(watched.url)}
        assert asked >= FILE_REQUESTS, blocked
    else:
        assert {urlsplit(url).path for url in blocked} >= DECLARATIVE, blocked
        assert not {urlsplit(url).path for url in blocked} & SCRIPTED, blocked
    assert ip.accepts + named.accepts == accepts
    assert not watched.was_read()


async def test_hostile_unicode_is_drawn_as_glyphs(
    ip: Witness, named: Witness, watched: WatchedFile, browser: ChromiumRenderer
) -> None:
    """Emoji, Arabic and Hebrew have glyphs (no tofu) and stay inside their fields; a code
    point no installed font has is reported as missing."""
    script = hostile_script(one_of_each_aim(ip, named, watched))
    script["choices"][1] = "\ue000 private use"
    theme = theme_from_settings(Settings())
    reveal = scenes.scene_html(scenes.SceneSpec("reveal"), script, theme, has_logo=False)
    sheet = scenes.scene_html(
        scenes.SceneSpec("captions", captions=(script["cta"], ARABIC)),
        script,
        theme,
        has_logo=False,
    )
    async with browser.job() as job:
        cards, captions = await job.inspect([reveal, sheet], fit=".stage")
    fields = {f.name: f for f in [*cards, *captions]}
    assert fields[".choice[3]"].missing == ()  # emoji: a ZWJ family, a flag
    assert fields[".question"].missing == ()  # Hebrew
    assert fields["#cap-0"].missing == ()  # Hebrew and emoji
    assert fields["#cap-1"].missing == ()  # Arabic
    assert fields[".choice[1]"].missing == ("\ue000",)
    assert gate.text_reasons([*cards, *captions]) == [
        ".choice[1] has characters no installed font can draw: U+E000"
    ]


async def test_stacked_marks_ink_outside_their_box(browser: ChromiumRenderer) -> None:
    """Zalgo text passes every box check (its element's box is ordinary) but its marks ink far
    above it, over the chip and the brand: the gate sees the pixels and gives the reason."""
    script = dict(drafted(problem_event(40), k=1)[0])
    script["question"] = f"{ZALGO} year did the war end?"
    html = scenes.scene_html(
        scenes.SceneSpec("question"), script, theme_from_settings(Settings()), has_logo=False
    )
    async with browser.job() as job:
        (fields,) = await job.inspect([html], fit=".stage")
    (reason,) = gate.text_reasons(fields)
    assert re.fullmatch(r"\.question inks \d+ px outside its box .*", reason), reason


async def test_full_render_of_hostile_script(
    ip: Witness, named: Witness, browser: ChromiumRenderer, tmp_path: Path
) -> None:
    """The whole render worker path (narration, stills, inspection, encode, gate) with
    payloads, RTL text and emoji: it publishes, and nothing left the browser."""
    renderer = _renderer(browser, tmp_path)
    with tempfile.TemporaryDirectory(prefix="w", dir="/tmp") as short:  # a short file:// URL
        watched = WatchedFile(Path(short) / "w")
        script = hostile_script(one_of_each_aim(ip, named, watched))
        accepts = ip.accepts + named.accepts
        result = await renderer.render(script)
        assert not watched.was_read()
    assert not result.cache_hit
    assert result.blocked_requests == ()
    assert ip.accepts + named.accepts == accepts
    video = LocalArtifactStore(tmp_path / "store").object_path(result.video.key)
    probe = await ffmpeg.probe(str(video))
    assert float(probe["format"]["duration"]) == pytest.approx(result.duration, abs=0.1)
    assert list((tmp_path / "work").iterdir()) == []


async def test_stacked_marks_fail_the_gate_with_a_reason(
    browser: ChromiumRenderer, tmp_path: Path
) -> None:
    """Zalgo text passes every box check (its element's box is ordinary) but its marks ink far
    above it, over the chip and the brand: the gate sees the pixels and refuses."""
    script = dict(drafted(problem_event(40), k=1)[0])
    script["question"] = f"{ZALGO} year did the war end?"
    with pytest.raises(RenderRejectedError) as refused:
        await _renderer(browser, tmp_path).render(script)
    message = str(refused.value)
    assert "quality gate failed" in message
    assert re.search(r"question:\.question inks \d+ px outside its box", message), message


def _renderer(browser: ChromiumRenderer, root: Path) -> Renderer:
    (root / "work").mkdir(exist_ok=True)
    return Renderer(
        browser=browser,
        media=Ffmpeg(),
        # Spoken URLs are long: a fast speaker keeps the narration under a minute.
        tts=EspeakTts(rate_wpm=450),
        store=LocalArtifactStore(root / "store"),
        theme=theme_from_settings(Settings()),
        config=RenderConfig(workdir=root / "work"),
    )
