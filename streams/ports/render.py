"""The render step's ports: a browser that draws HTML scenes, and a media tool (ffmpeg).

Adapters: ``connectors/browser/chromium.py`` (Playwright over Debian chromium) and
``connectors/media/ffmpeg.py``. The render step (``agents/render``) builds the HTML and the
ffmpeg argument lists itself (pure); these ports only run them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from streams.errors import FatalError, RetriableError


class RenderCrashedError(RetriableError):
    """Chromium or ffmpeg died (signal, lost connection, timeout): a fresh attempt may succeed."""


class RenderRejectedError(FatalError):
    """The render itself is wrong (a template error, an ffmpeg error on our inputs, a failed
    quality gate): the same input would fail again, so it goes to the dead letters."""


@dataclass(frozen=True)
class Box:
    """A rectangle in frame pixels (what the browser measured, what the gate checks)."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def contains(self, other: Box) -> bool:
        return (
            other.x >= self.x
            and other.y >= self.y
            and other.right <= self.right
            and other.bottom <= self.bottom
        )


Shot = tuple[bytes, list[tuple[str, Box]]]


@dataclass(frozen=True)
class TextInk:
    """Where one untrusted text field (``text``, drawn at ``font_px``) was drawn, in pixels:
    ``box`` is its element's box, ``ink`` the bounds of the pixels its glyphs actually coloured
    (None: nothing visible), and ``missing`` the characters no installed font can draw (they
    show as empty boxes: tofu)."""

    name: str
    box: Box
    ink: Box | None
    missing: tuple[str, ...] = ()
    text: str = ""
    font_px: float = 0.0


class BrowserJob(Protocol):
    """One render's browser context. ``blocked`` lists every request the job refused."""

    blocked: list[str]

    async def screenshots(
        self,
        htmls: Sequence[str],
        *,
        measure: tuple[str, ...] = (),
        fit: str | None = None,
        transparent: bool = False,
    ) -> list[Shot]:
        """A full-frame JPEG per page and the boxes of the elements matching ``measure``;
        ``fit`` names a container whose content is shrunk until it fits; ``transparent``
        gives PNGs that keep the page's transparency."""
        ...

    async def clip(self, html: str, selector: str) -> tuple[bytes, Box]:
        """A transparent PNG of one element and where it sits in the frame."""
        ...

    async def inspect(self, htmls: Sequence[str], *, fit: str | None = None) -> list[list[TextInk]]:
        """Per page, every text field (``<bdi>``) as drawn: its glyphs' ink and the characters
        no font has; laid out as :meth:`screenshots` lays it out (same ``fit``)."""
        ...


class SceneBrowser(Protocol):
    """Draws untrusted HTML with scripts off and no network beyond its own assets."""

    @property
    def assets(self) -> Mapping[str, Path]:
        """Files the pages may load from the asset origin, by name (e.g. ``logo``)."""
        ...

    def job(self, pages: int = 1) -> AbstractAsyncContextManager[BrowserJob]:
        """A fresh isolated context with ``pages`` pages, closed on exit."""
        ...

    async def check(self) -> None:
        """Launch (if needed) and render a trivial page; raises when the browser cannot."""
        ...

    async def close(self) -> None:
        """Release the browser process."""
        ...


class MediaTool(Protocol):
    """Runs ffmpeg/ffprobe argument lists. A process killed by a signal or a timeout raises
    ``RenderCrashedError``; a non-zero exit ``RenderRejectedError`` with the tool's words."""

    async def run(
        self, args: Sequence[str], *, timeout_s: float, stdin: bytes | None = None
    ) -> bytes:
        """Run ``args`` (no shell); stdout."""
        ...

    async def run_full(
        self, args: Sequence[str], *, timeout_s: float, stdin: bytes | None = None
    ) -> tuple[bytes, bytes]:
        """Run ``args`` (no shell); stdout and stderr."""
        ...

    async def probe(self, path: str, *, timeout_s: float = 30) -> dict[str, Any]:
        """ffprobe's JSON description of a media file."""
        ...
