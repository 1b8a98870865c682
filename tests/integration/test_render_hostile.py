"""Hostile script text against the real renderer: markup in every field must reach the frame as
inert text, and even raw markup that slipped past the templates must not reach the network.

A loopback HTTP server stands in for an attacker's host and records every request it gets.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from agents.render import scenes
from agents.render.pipeline import RenderConfig, Renderer
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser.chromium import ChromiumRenderer
from connectors.media import ffmpeg
from connectors.media.ffmpeg import Ffmpeg
from connectors.tts.espeak import EspeakTts
from factory.config import theme_from_settings
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# Requests that would need a script to run: JavaScript is off, so none may even be attempted.
SCRIPTED = {"/script", "/onerror", "/js"}
# Requests plain HTML/CSS makes by itself: the route guard must see and abort every one.
DECLARATIVE = {"/img", "/css", "/link", "/frame", "/import"}


class Attacker:
    """A loopback HTTP server that records the path of every request it receives."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        lock = threading.Lock()
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"pwned")

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        # Bound and listening before the thread starts: no request can arrive too early.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Attacker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def payloads(origin: str) -> dict[str, str]:
    return {
        "script": f"<script>document.title='pwned';fetch('{origin}/script')</script>",
        "img": f'<img src="{origin}/img" onerror="fetch(\'{origin}/onerror\')">',
        "css": f'<div style="background:url({origin}/css)">x</div>',
        "js": f"<a href=\"javascript:fetch('{origin}/js')\">x</a>",
        "link": f"<link rel=stylesheet href={origin}/link>",
        "frame": f"<iframe src={origin}/frame></iframe>",
        "import": f"<style>@import url({origin}/import);</style>",
    }


def hostile_script(origin: str) -> dict[str, Any]:
    """A realistic drafted script with a payload in every field that reaches the screen."""
    p = payloads(origin)
    script = dict(drafted(problem_event(40), k=1)[0])
    script.update(
        hook=f"Quiz {p['script']}",
        preface=p["frame"],
        question=f"Which year? {p['img']}",
        choices=[p["css"], p["js"], "1945", p["link"]],
        answer_index=2,
        answer_reveal=f"C {p['import']}",
        explanation=f"It ended in 1945. {p['script']}",
        cta=f"Comment {p['link']}",
    )
    return script


def paths_of(urls: list[str]) -> set[str]:
    return {urlsplit(url).path for url in urls}


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    with Attacker() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[ChromiumRenderer]:
    renderer = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        yield renderer
    finally:
        await renderer.close()


@pytest.fixture
def requests_before(attacker: Attacker) -> int:
    return len(attacker.paths)


async def test_attacker_server_records_requests(browser: ChromiumRenderer) -> None:
    """The witness works: a page outside the guard reaches it and is recorded (so zero means
    zero). Its own server: chromium's stray favicon fetch must not land in another test."""
    with Attacker() as witness:
        page = await (await browser.browser()).new_page()
        try:
            await page.goto(f"{witness.origin}/witness")
        finally:
            await page.close()
        assert "/witness" in witness.paths


async def test_every_scene_with_hostile_text_is_inert(
    attacker: Attacker, browser: ChromiumRenderer, requests_before: int
) -> None:
    script = hostile_script(attacker.origin)
    theme = theme_from_settings(Settings())
    kinds = ["hook", "question", "choices", "reveal", "cta"]
    specs = [scenes.SceneSpec(kind, caption=script["hook"]) for kind in kinds]
    specs.append(scenes.SceneSpec("countdown", tick=3, caption=script["question"]))
    htmls = [scenes.scene_html(spec, script, theme, has_logo=False) for spec in specs]
    for html in htmls:
        assert "<script>" not in html
        assert "&lt;script&gt;" in html or "&lt;img" in html  # the payload is there, as text
    async with browser.job() as job:
        for html in htmls:
            data, _ = await job.screenshot(html)
            assert data[:2] == b"\xff\xd8"  # a JPEG
        assert await job.page.title() != "pwned"
        blocked = list(job.blocked)
    assert blocked == []  # nothing even tried to load
    assert attacker.paths[requests_before:] == []


async def test_raw_hostile_markup_is_stopped_by_the_guard(
    attacker: Attacker, browser: ChromiumRenderer, requests_before: int
) -> None:
    """Defence in depth: markup that escaped the templates (unescaped, no CSP meta) still
    cannot run script or reach the network."""
    raw = "<!doctype html><html><head><title>safe</title></head><body>{}</body></html>".format(
        "".join(payloads(attacker.origin).values())
    )
    async with browser.job() as job:
        await job.screenshot(raw)
        title = await job.page.title()
        blocked = list(job.blocked)
    assert title == "safe"  # the inline script never ran
    assert paths_of(blocked) >= DECLARATIVE, blocked
    assert not paths_of(blocked) & SCRIPTED, blocked
    assert all(url.startswith(attacker.origin) for url in blocked), blocked
    assert attacker.paths[requests_before:] == []


async def test_full_render_of_hostile_script(
    attacker: Attacker, browser: ChromiumRenderer, requests_before: int, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    # Spoken URLs are long: a fast speaker keeps the narration of every payload under a minute.
    tts = EspeakTts(rate_wpm=450)
    script = hostile_script(attacker.origin)
    renderer = Renderer(
        browser=browser,
        media=Ffmpeg(),
        tts=tts,
        store=LocalArtifactStore(tmp_path / "store"),
        theme=theme_from_settings(Settings()),
        config=RenderConfig(workdir=work),
    )
    result = await renderer.render(script)
    assert not result.cache_hit
    assert result.blocked_requests == ()
    assert attacker.paths[requests_before:] == []
    video = LocalArtifactStore(tmp_path / "store").object_path(result.video.key)
    probe = await ffmpeg.probe(str(video))
    assert float(probe["format"]["duration"]) == pytest.approx(result.duration, abs=0.1)
    assert list(work.iterdir()) == []
