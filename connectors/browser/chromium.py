"""Scene screenshots from HTML in Debian chromium.

Safety: page text comes from problem producers and is untrusted. Besides escaping in the
templates, every job's context has JavaScript disabled and a route that aborts every request
except files we serve ourselves from one fake origin; underneath, the browser itself can open no
socket at all (``NETWORK_BACKSTOP_ARGS``). Every attempt, aborted by the route or failed below
it, is recorded per job, so a test (or an operator) can see what tried to leave.

Seeing what viewers see: :meth:`Job.inspect` repaints each text field alone in a pure colour
and finds the pixels its glyphs inked, and checks every character against the fonts fontconfig
(chromium's fallback source) knows, for the quality gate.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    Route,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from agents.render.layout import HEIGHT, WIDTH, Box
from connectors.browser import ink
from streams.ports.render import RenderCrashedError, RenderRejectedError, TextInk

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
# Measured on this machine: without the background-networking flags chromium keeps dialling
# Google services that the closed network refuses; --no-sandbox because workers run as root in
# CI (the container image runs as non-root and keeps the flag off there via the same setting).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--font-render-hinting=none",
)
# The network backstop, independent of escaping, CSP and the route. Measured on Chromium 156
# without it: <link rel=prefetch> bypasses DevTools interception (the route never sees it) and
# reaches the server; preconnect, <object>, <embed> and <meta refresh> open TCP connections
# before the route aborts them. With it no host name and no IP literal resolves, every HTTP(S)
# connection must go through a proxy that cannot resolve either, and loopback loses its default
# proxy bypass. Each of the two alone held the hostile test's witnesses at zero connections. Our
# asset origin is fulfilled inside the browser by the route, so nothing ever needs to resolve.
# (--dns-prefetch-disable and the NetworkPrediction/Prerender2 features changed nothing: not
# used.)
NETWORK_BACKSTOP_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://proxy.munjero.invalid:9",
    "--proxy-bypass-list=<-loopback>",
)

# Does the container overflow (content taken out of its box by flex centring counts too)?
_OVERFLOWS = """(sel) => { const s = document.querySelector(sel); if (!s) return false;
  const p = s.getBoundingClientRect();
  return s.scrollHeight > s.clientHeight + 1 || Array.from(s.children).some(c => {
    const r = c.getBoundingClientRect();
    return r.top < p.top - 1 || r.bottom > p.bottom + 1; }); }"""
_SET_FIT = "(f) => document.documentElement.style.setProperty('--fit', String(f))"
FIT_STEPS = (0.9, 0.8, 0.7, 0.6)

_MEASURE = """(selectors) => selectors.flatMap(sel =>
  Array.from(document.querySelectorAll(sel)).map(e => {
    const r = e.getBoundingClientRect(); return [sel, r.x, r.y, r.width, r.height]; }))"""


@dataclass
class Job:
    """One render's browser context (with one page, or several to screenshot in parallel)."""

    page: Page
    blocked: list[str] = field(default_factory=list)
    timeout_ms: float = 15_000
    others: list[Job] = field(default_factory=list)
    fonts: ink.FontCoverage | None = None
    inked: dict[tuple[Any, ...], Box | None] = field(default_factory=dict)
    _cdp: CDPSession | None = None

    async def screenshots(
        self,
        htmls: Sequence[str],
        *,
        measure: tuple[str, ...] = (),
        fit: str | None = None,
        transparent: bool = False,
    ) -> list[tuple[bytes, list[tuple[str, Box]]]]:
        """Screenshots of many pages, spread over the job's pages: chromium rasterises and
        encodes each page in its own renderer, so two pages use both cores."""
        workers = [self, *self.others]
        results: list[tuple[bytes, list[tuple[str, Box]]] | None] = [None] * len(htmls)

        async def run(worker: Job, offset: int) -> None:
            for index in range(offset, len(htmls), len(workers)):
                results[index] = await worker.screenshot(
                    htmls[index], measure=measure, fit=fit, transparent=transparent
                )

        await asyncio.gather(*(run(w, k) for k, w in enumerate(workers)))
        return [r for r in results if r is not None]

    async def _load(self, html: str) -> None:
        try:
            await self.page.set_content(html, wait_until="load", timeout=self.timeout_ms)
        except PlaywrightError as exc:
            raise _classify(exc) from exc

    async def screenshot(
        self,
        html: str,
        *,
        measure: tuple[str, ...] = (),
        fit: str | None = None,
        transparent: bool = False,
    ) -> tuple[bytes, list[tuple[str, Box]]]:
        """A full-frame JPEG of ``html`` and the boxes of elements matching ``measure``;
        ``transparent``: a PNG keeping the page's transparency (layers that ffmpeg lays over
        a moving background).

        ``fit``: a container whose content must fit; if it overflows, the page's ``--fit``
        CSS variable (which its font sizes multiply by) shrinks step by step. Our code sets a
        style property through the DevTools protocol; the page's own scripts stay disabled.
        """
        await self._load(html)
        try:
            await self._fit(fit)
            boxes = await self._boxes(measure)
            if transparent:
                data = await self._transparent_png()
            else:
                data = await self.page.screenshot(type="jpeg", quality=92, timeout=self.timeout_ms)
        except PlaywrightError as exc:
            raise _classify(exc) from exc
        return data, boxes

    async def _fit(self, fit: str | None) -> None:
        if fit is not None:
            for factor in FIT_STEPS:
                if not await self.page.evaluate(_OVERFLOWS, fit):
                    break
                await self.page.evaluate(_SET_FIT, factor)

    async def inspect(self, htmls: Sequence[str], *, fit: str | None = None) -> list[list[TextInk]]:
        """Every text field of every page as drawn, spread over the job's pages."""
        workers = [self, *self.others]
        results: list[list[TextInk]] = [[] for _ in htmls]

        async def run(worker: Job, offset: int) -> None:
            for index in range(offset, len(htmls), len(workers)):
                results[index] = await worker._inspect(htmls[index], fit)

        await asyncio.gather(*(run(w, k) for k, w in enumerate(workers)))
        return results

    async def _inspect(self, html: str, fit: str | None) -> list[TextInk]:
        await self._load(html)
        try:
            await self._fit(fit)
            fields: list[list[Any]] = await self.page.evaluate(ink.FIELDS)
            # A field drawn on an earlier page of this job with the same text in the same box
            # inked the same pixels: only new ones are painted (captions change shot by shot).
            keys = [ink.field_key(row) for row in fields]
            new = [k for k, key in enumerate(keys) if key not in self.inked]
            if new:
                await self.page.evaluate(ink.ADD_STYLE, ink.INK_CSS)
            for start in range(0, len(new), 3):
                group = new[start : start + 3]
                await self.page.evaluate(ink.PAINT, [fields[k][7] for k in group])
                png = await self._png(ink.SCALE)
                boxes = await asyncio.to_thread(ink.ink_boxes, png, len(group), ink.SCALE)
                for k, box in zip(group, boxes, strict=True):
                    self.inked[keys[k]] = box
        except PlaywrightError as exc:
            raise _classify(exc) from exc
        return ink.text_inks(fields, [self.inked[key] for key in keys], self.fonts)

    async def _transparent_png(self) -> bytes:
        """The page as a PNG with its transparency: what Playwright's ``omit_background``
        does (a transparent default background around the capture), through the DevTools
        call below. Pixel-identical on our scenes, ~35 ms a frame against Playwright's ~90 ms
        (``optimizeForSpeed`` writes PNGs twice the size, which live seconds)."""
        cdp = await self._session()
        clear = {"color": {"r": 0, "g": 0, "b": 0, "a": 0}}
        await cdp.send("Emulation.setDefaultBackgroundColorOverride", clear)
        try:
            return await self._png(1.0)
        finally:
            await cdp.send("Emulation.setDefaultBackgroundColorOverride", {})

    async def _session(self) -> CDPSession:
        if self._cdp is None:
            self._cdp = await self.page.context.new_cdp_session(self.page)
        return self._cdp

    async def _png(self, scale: float) -> bytes:
        # The DevTools call directly: Playwright's PNG path took ~250 ms a frame and cannot
        # scale; this one ~50 ms.
        cdp = await self._session()
        frame = {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT, "scale": scale}
        shot = await cdp.send(
            "Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True, "clip": frame}
        )
        return base64.b64decode(shot["data"])

    async def clip(self, html: str, selector: str) -> tuple[bytes, Box]:
        """A transparent PNG of one element (a caption) and where it sits in the frame."""
        await self._load(html)
        try:
            found = await self._boxes((selector,))
            if not found:
                raise RenderRejectedError(f"template has no {selector} element")
            box = found[0][1]
            data = await self.page.screenshot(
                type="png",
                omit_background=True,
                clip={"x": box.x, "y": box.y, "width": box.width, "height": box.height},
                timeout=self.timeout_ms,
            )
        except PlaywrightError as exc:
            raise _classify(exc) from exc
        return data, box

    async def _boxes(self, selectors: tuple[str, ...]) -> list[tuple[str, Box]]:
        if not selectors:
            return []
        rows: list[list[Any]] = await self.page.evaluate(_MEASURE, list(selectors))
        return [(str(r[0]), Box(float(r[1]), float(r[2]), float(r[3]), float(r[4]))) for r in rows]


def _classify(exc: PlaywrightError) -> Exception:
    text = str(exc)
    if "Timeout" in type(exc).__name__ or "closed" in text or "crash" in text.lower():
        return RenderCrashedError(f"chromium: {text.splitlines()[0]}")
    return RenderRejectedError(f"chromium rejected the page: {text.splitlines()[0]}")


class ChromiumRenderer:
    """One browser for the process, relaunched if it dies; a fresh context for every job."""

    def __init__(
        self,
        *,
        executable: str = CHROMIUM,
        assets: Mapping[str, Path] | None = None,
        asset_origin: str,
        timeout_s: float = 15.0,
    ) -> None:
        self.executable = executable
        self.assets = dict(assets or {})
        self.asset_origin = asset_origin.rstrip("/")
        self.timeout_s = timeout_s
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._lock = asyncio.Lock()
        self.launches = 0
        self._fonts: ink.FontCoverage | None = None

    async def browser(self) -> Browser:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            try:
                if self._pw is None:
                    self._pw = await async_playwright().start()
                self._browser = await self._pw.chromium.launch(
                    executable_path=self.executable,
                    args=[*CHROMIUM_ARGS, *NETWORK_BACKSTOP_ARGS],
                    headless=True,
                    timeout=self.timeout_s * 1000,
                )
            except PlaywrightError as exc:
                raise RenderCrashedError(f"cannot launch chromium: {exc}") from exc
            self.launches += 1
            return self._browser

    async def fonts(self) -> ink.FontCoverage:
        """What the installed fonts can draw (read once: fonts do not change under a worker)."""
        if self._fonts is None:
            try:
                self._fonts = await asyncio.to_thread(ink.FontCoverage.installed)
            except (OSError, subprocess.SubprocessError) as exc:
                raise RenderCrashedError(f"cannot list the installed fonts: {exc}") from exc
        return self._fonts

    @asynccontextmanager
    async def job(self, pages: int = 1) -> AsyncIterator[Job]:
        browser = await self.browser()
        fonts = await self.fonts()
        try:
            context = await browser.new_context(
                viewport={"width": WIDTH, "height": HEIGHT},
                device_scale_factor=1,
                java_script_enabled=False,  # content scripts can never run
                service_workers="block",
                accept_downloads=False,
            )
        except PlaywrightError as exc:
            raise _classify(exc) from exc
        job: Job | None = None
        try:
            job = Job(await context.new_page(), timeout_ms=self.timeout_s * 1000, fonts=fonts)
            for _ in range(pages - 1):
                # Extra pages share the job's list of blocked requests.
                job.others.append(
                    Job(
                        await context.new_page(),
                        job.blocked,
                        job.timeout_ms,
                        fonts=fonts,
                        inked=job.inked,
                    )
                )
            await context.route("**/*", self._router(job))
            context.on("requestfailed", self._failed(job))
            yield job
        except PlaywrightError as exc:
            raise _classify(exc) from exc
        finally:
            await _close_quietly(context)

    def _router(self, job: Job) -> Any:
        async def route(route: Route) -> None:
            url = route.request.url
            prefix = self.asset_origin + "/"
            name = url[len(prefix) :] if url.startswith(prefix) else None
            if name is not None and name in self.assets:
                await route.fulfill(path=self.assets[name])
                return
            job.blocked.append(url)
            log.warning("blocked a request from a render page: %s", url[:200])
            await route.abort("blockedbyclient")

        return route

    def _failed(self, job: Job) -> Any:
        """Records what failed below the route: requests the route never saw (prefetch,
        file://) that the backstop stopped."""

        def failed(request: Request) -> None:
            url = request.url
            if url not in job.blocked and not url.startswith(self.asset_origin + "/"):
                job.blocked.append(url)
                log.warning(
                    "a render page's request failed below the route (%s): %s",
                    request.failure,
                    url[:200],
                )

        return failed

    async def check(self) -> None:
        """Health: the browser launches and renders a page."""
        async with self.job() as job:
            await job.screenshot("<html><body>ok</body></html>")

    async def close(self) -> None:
        async with self._lock:
            browser, self._browser = self._browser, None
            pw, self._pw = self._pw, None
        if browser is not None:
            with contextlib.suppress(PlaywrightError):  # already gone
                await browser.close()
        if pw is not None:
            await pw.stop()


async def _close_quietly(context: BrowserContext) -> None:
    with contextlib.suppress(PlaywrightError):  # died with the browser; next job relaunches
        await context.close()
