"""The real render pipeline end to end: Debian chromium (Playwright), ffmpeg, espeak-ng and the
local artifact store. One browser is shared by the module, as a render worker shares one; full
renders are few (each costs seconds), faults are injected where they happen in production: a
SIGKILLed browser, an ffmpeg that dies or refuses, a script too long for a Short, a deadline."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import io
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from agents.render import scenes
from agents.render.layout import FPS, HEIGHT, WIDTH
from agents.render.pipeline import RenderConfig, Renderer, RenderResult
from agents.render.plan import Timeline, build_timeline, narration
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser import chromium
from connectors.browser.chromium import ChromiumRenderer
from connectors.media import ffmpeg
from connectors.media.ffmpeg import Ffmpeg
from connectors.tts.espeak import EspeakTts
from factory.config import theme_from_settings
from streams import events
from streams.errors import FatalError, RetriableError, ValidationError
from streams.ports.artifact_keys import content_key
from streams.ports.artifacts import StoredArtifact
from streams.ports.render import RenderCrashedError, RenderRejectedError
from streams.ports.tts import Speech
from streams.settings import Settings
from tests.bench.procstat import descendants
from tests.drafts import drafted
from tests.factories import problem_event

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

KOREAN = 0  # ko-hist-001 in the sample bank
ENGLISH = 40  # en-hist-001
ACCENT_RGB = (255, 213, 79)  # Settings().brand_accent, #ffd54f
ACCENT_DISTANCE = 40  # per channel: JPEG stills and yuv420p move colours a little


def script_for(index: int) -> dict[str, Any]:
    return dict(drafted(problem_event(index), k=1)[0])


class RecordingTts:
    """The real espeak-ng adapter, counting calls and keeping every Speech it returned."""

    def __init__(self) -> None:
        self._inner = EspeakTts()
        self.name = self._inner.name
        self.speeches: list[Speech] = []

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        speech = await self._inner.synthesize(phrases, language)
        self.speeches.append(speech)
        return speech

    async def check(self) -> None:
        await self._inner.check()

    async def close(self) -> None:
        await self._inner.close()


def make_renderer(
    browser: ChromiumRenderer, root: Path, *, tts: RecordingTts | None = None, **config: Any
) -> Renderer:
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    return Renderer(
        browser=browser,
        media=Ffmpeg(),
        tts=tts or RecordingTts(),
        store=LocalArtifactStore(root / "store"),
        theme=theme_from_settings(Settings()),
        config=RenderConfig(workdir=work, **config),
    )


def stored_path(renderer: Renderer, artifact: StoredArtifact) -> Path:
    store = renderer.store
    assert isinstance(store, LocalArtifactStore)
    return store.object_path(artifact.key)


def leftovers(renderer: Renderer) -> list[str]:
    workdir = renderer.config.workdir
    assert workdir is not None
    return sorted(p.name for p in workdir.iterdir())


def timeline_of(script: dict[str, Any], speech: Speech) -> Timeline:
    lines = narration(script)
    return build_timeline(lines, speech.phrases, speech.duration, int(script["countdown_seconds"]))


def video_key(renderer: Renderer, script: dict[str, Any]) -> str:
    return content_key("renders", renderer.cache_digest(script), "short.mp4")


# --- process and media helpers -----------------------------------------------------------------


def browser_pids() -> list[int]:
    """Chromium's main (browser) processes below this test process. Its helper processes
    rewrite their command line to one string carrying a ``--type=`` switch; the browser
    process does not. Nobody else's chromium is ever touched."""
    found = []
    for pid in descendants(os.getpid())[1:]:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        program = cmdline.split(b"\0", 1)[0]
        if program.endswith(b"/chromium") and b"--type=" not in cmdline:
            found.append(pid)
    return found


def top_level_atoms(path: Path) -> list[str]:
    names = []
    with path.open("rb") as fh:
        while header := fh.read(8):
            size, name = int.from_bytes(header[:4], "big"), header[4:].decode("latin-1")
            names.append(name)
            if size == 1:  # 64-bit size follows
                size = int.from_bytes(fh.read(8), "big") - 8
            elif size == 0:  # to the end of the file
                break
            fh.seek(size - 8, io.SEEK_CUR)
    return names


def integrated_loudness(path: Path) -> float:
    """Integrated loudness (LUFS) of ``path``'s audio, measured by ffmpeg's own ebur128."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path),
         "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    summary = proc.stderr.decode(errors="replace").rsplit("Summary:", 1)[-1]
    match = re.search(r"I:\s+(-?\d+(?:\.\d+)?) LUFS", summary)
    assert match, summary
    return float(match.group(1))


def frame_at(path: Path, t: float) -> np.ndarray:
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{t:.3f}", "-i", str(path),
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    assert len(proc.stdout) == WIDTH * HEIGHT * 3
    return np.frombuffer(proc.stdout, dtype=np.uint8).reshape(HEIGHT, WIDTH, 3)


def accent_pixels(frame: np.ndarray) -> int:
    distance = np.abs(frame.astype(np.int16) - np.array(ACCENT_RGB, dtype=np.int16))
    return int(np.all(distance <= ACCENT_DISTANCE, axis=2).sum())


def middle_of(timeline: Timeline, scene: str) -> float:
    slot = next(s for s in timeline.slots if s.scene == scene)
    return slot.start + slot.duration / 2


def fake_ffmpeg(directory: Path, body: str) -> str:
    """A PATH whose first entry holds an ``ffmpeg`` that runs ``body`` (ffprobe stays real)."""
    directory.mkdir()
    script = directory / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return f"{directory}{os.pathsep}{os.environ['PATH']}"


# --- fixtures ----------------------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[ChromiumRenderer]:
    renderer = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        yield renderer
    finally:
        await renderer.close()


@pytest_asyncio.fixture(loop_scope="module", autouse=True)
async def _drain_render_tasks() -> AsyncIterator[None]:
    """Isolation: a failed render must not leave pipeline work running into the next test
    (``test_failed_render_leaves_no_work_running`` checks that it does not)."""
    yield
    stray = [t for t in asyncio.all_tasks() if _is_pipeline_task(t)]
    await asyncio.gather(*stray, return_exceptions=True)


def _is_pipeline_task(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    name = getattr(coro, "__qualname__", "")
    return task is not asyncio.current_task() and name.startswith("Renderer.")


@dataclass
class Rendered:
    renderer: Renderer
    tts: RecordingTts
    script: dict[str, Any]
    result: RenderResult
    path: Path
    timeline: Timeline
    hook_calls: list[tuple[StoredArtifact, int, StoredArtifact | None]] = field(
        default_factory=list
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def korean(browser: ChromiumRenderer, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """One full render of a Korean script, with a storyboard hook that records what the store
    held when it was called."""
    tts = RecordingTts()
    renderer = make_renderer(browser, tmp_path_factory.mktemp("korean"), tts=tts)
    script = script_for(KOREAN)
    assert script["language"] == "ko"
    calls: list[tuple[StoredArtifact, int, StoredArtifact | None]] = []

    async def on_storyboard(artifact: StoredArtifact, scenes_drawn: int) -> None:
        calls.append(
            (artifact, scenes_drawn, await renderer.store.head(video_key(renderer, script)))
        )

    result = await renderer.render(script, on_storyboard=on_storyboard)
    assert len(tts.speeches) == 1
    return Rendered(
        renderer=renderer,
        tts=tts,
        script=script,
        result=result,
        path=stored_path(renderer, result.video),
        timeline=timeline_of(script, tts.speeches[0]),
        hook_calls=calls,
    )


# --- a successful render -----------------------------------------------------------------------


async def test_video_is_a_valid_short(korean: Rendered) -> None:
    result = korean.result
    assert not result.cache_hit
    assert korean.path.is_file()
    assert (result.width, result.height) == (WIDTH, HEIGHT)
    probe = await ffmpeg.probe(str(korean.path))
    video = [s for s in probe["streams"] if s["codec_type"] == "video"]
    audio = [s for s in probe["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1
    assert len(audio) == 1
    assert video[0]["codec_name"] == "h264"
    assert (video[0]["width"], video[0]["height"]) == (1080, 1920)
    assert video[0]["pix_fmt"] == "yuv420p"
    num, den = (int(x) for x in video[0]["avg_frame_rate"].split("/"))
    assert num / den == pytest.approx(FPS, abs=0.05)
    assert audio[0]["codec_name"] == "aac"
    duration = float(probe["format"]["duration"])
    assert duration == pytest.approx(result.duration, abs=0.1)
    assert result.duration == korean.timeline.duration
    assert 0 < result.duration <= 60


async def test_video_is_streamable_and_its_hash_is_recorded(korean: Rendered) -> None:
    atoms = top_level_atoms(korean.path)
    assert "moov" in atoms
    assert "mdat" in atoms
    assert atoms.index("moov") < atoms.index("mdat"), atoms
    digest = hashlib.sha256(korean.path.read_bytes()).hexdigest()
    assert digest == korean.result.video.sha256
    assert korean.result.video.size_bytes == korean.path.stat().st_size
    assert korean.result.video.uri == korean.path.as_uri()


async def test_loudness_meets_the_target(korean: Rendered) -> None:
    assert integrated_loudness(korean.path) == pytest.approx(-14.0, abs=1.5)


async def test_reveal_highlights_the_answer_in_the_accent_colour(korean: Rendered) -> None:
    countdown = accent_pixels(frame_at(korean.path, middle_of(korean.timeline, "countdown")))
    reveal = accent_pixels(frame_at(korean.path, middle_of(korean.timeline, "reveal")))
    # The same cards; on the reveal the correct one is filled with the accent colour (the
    # countdown has the timer, the progress bar and the spoken word lit in it).
    assert reveal - countdown > 40_000, (countdown, reveal)


async def test_storyboard_goes_out_once_before_the_video_is_stored(korean: Rendered) -> None:
    assert len(korean.hook_calls) == 1
    artifact, scenes_drawn, video_at_hook_time = korean.hook_calls[0]
    assert video_at_hook_time is None  # the hook ran before the video was stored
    # One picture per scene; the choices scene is the countdown's card before its choices pop
    # in, so it has none of its own.
    assert scenes_drawn == len({slot.scene for slot in korean.timeline.slots} - {"choices"})
    assert korean.result.storyboard == artifact
    data = await korean.renderer.store.get_bytes(artifact.key)
    assert hashlib.sha256(data).hexdigest() == artifact.sha256
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "JPEG"
    assert image.width > 0
    assert image.height > 0


async def test_no_temp_files_after_success(korean: Rendered) -> None:
    assert leftovers(korean.renderer) == []


# --- the cache ---------------------------------------------------------------------------------


async def test_same_script_again_is_a_cache_hit(korean: Rendered) -> None:
    calls = len(korean.tts.speeches)
    started = time.perf_counter()
    again = await korean.renderer.render(korean.script)
    elapsed = time.perf_counter() - started
    assert again.cache_hit
    assert len(korean.tts.speeches) == calls  # nothing was spoken
    assert elapsed < 2.0  # a full render takes several seconds here
    assert again.video.uri == korean.result.video.uri
    assert again.video.sha256 == korean.result.video.sha256
    assert again.duration == korean.result.duration
    assert leftovers(korean.renderer) == []


async def test_same_content_with_other_ids_is_a_cache_hit(korean: Rendered) -> None:
    redrafted = copy.deepcopy(korean.script)
    redrafted["meta"] = events.meta(correlation_id=events.new_id())
    redrafted["script_id"] = events.new_id()
    redrafted["problem_id"] = "ko-hist-001-redelivered"
    redrafted["arm_id"] = "another-arm"
    calls = len(korean.tts.speeches)
    again = await korean.renderer.render(redrafted)
    assert again.cache_hit
    assert len(korean.tts.speeches) == calls
    assert again.video.sha256 == korean.result.video.sha256


async def test_changed_content_changes_the_cache_key(korean: Rendered) -> None:
    edited = copy.deepcopy(korean.script)
    edited["cta"] = edited["cta"] + "!"
    assert korean.renderer.cache_digest(edited) != korean.renderer.cache_digest(korean.script)


# --- faults ------------------------------------------------------------------------------------


async def test_killed_chromium_is_a_crash_and_the_next_render_relaunches(
    browser: ChromiumRenderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = make_renderer(browser, tmp_path)
    await browser.browser()  # launched before the job, so the kill hits a running browser
    launches = browser.launches
    killed: list[int] = []
    screenshot = chromium.Job.screenshot

    async def screenshot_then_kill(self: chromium.Job, html: str, **kwargs: Any) -> Any:
        shot = await screenshot(self, html, **kwargs)
        if not killed:
            pids = browser_pids()
            assert len(pids) == 1, pids
            os.kill(pids[0], signal.SIGKILL)
            killed.extend(pids)
        return shot

    monkeypatch.setattr(chromium.Job, "screenshot", screenshot_then_kill)
    with pytest.raises(RenderCrashedError) as crashed:
        await renderer.render(script_for(ENGLISH))
    assert isinstance(crashed.value, RetriableError)
    assert "chromium" in str(crashed.value)
    assert killed
    assert leftovers(renderer) == []

    monkeypatch.undo()
    english = script_for(ENGLISH)
    assert english["language"] == "en"
    result = await renderer.render(english)
    assert not result.cache_hit
    assert browser.launches == launches + 1
    assert result.blocked_requests == ()
    probe = await ffmpeg.probe(str(stored_path(renderer, result.video)))
    assert float(probe["format"]["duration"]) == pytest.approx(result.duration, abs=0.1)
    assert leftovers(renderer) == []


async def test_ffmpeg_killed_by_a_signal_is_a_crash(
    browser: ChromiumRenderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = make_renderer(browser, tmp_path)
    monkeypatch.setenv("PATH", fake_ffmpeg(tmp_path / "bin", "kill -9 $$"))
    with pytest.raises(RenderCrashedError, match="signal 9") as crashed:
        await renderer.render(script_for(KOREAN))
    assert isinstance(crashed.value, RetriableError)
    assert leftovers(renderer) == []


async def test_ffmpeg_error_exit_is_a_rejection_with_its_words(
    browser: ChromiumRenderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renderer = make_renderer(browser, tmp_path)
    words = "Invalid data found when processing input (fake)"
    monkeypatch.setenv("PATH", fake_ffmpeg(tmp_path / "bin", f"echo '{words}' >&2\nexit 1"))
    with pytest.raises(RenderRejectedError) as rejected:
        await renderer.render(script_for(KOREAN))
    assert isinstance(rejected.value, FatalError)
    assert words in str(rejected.value)
    assert "exit 1" in str(rejected.value)
    assert leftovers(renderer) == []


async def test_failed_render_leaves_no_work_running(
    browser: ChromiumRenderer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When ffmpeg fails, the render's other half (the browser) must stop with it: a render
    that has raised must not keep a browser context busy outside the job semaphore."""
    renderer = make_renderer(browser, tmp_path)
    monkeypatch.setenv("PATH", fake_ffmpeg(tmp_path / "bin", "exit 1"))
    with pytest.raises(RenderRejectedError):
        await renderer.render(script_for(KOREAN))
    stray = [t for t in asyncio.all_tasks() if _is_pipeline_task(t) and not t.done()]
    assert [t.get_coro().__qualname__ for t in stray] == []


async def test_script_too_long_for_a_short_is_fatal(
    browser: ChromiumRenderer, tmp_path: Path
) -> None:
    renderer = make_renderer(browser, tmp_path)
    script = script_for(ENGLISH)
    script["explanation"] = " ".join([script["explanation"]] * 12)
    with pytest.raises(ValidationError, match="Short must stay under"):
        await renderer.render(script)
    assert leftovers(renderer) == []
    assert await renderer.store.head(video_key(renderer, script)) is None


async def test_job_deadline_is_a_crash_and_cleans_up(
    browser: ChromiumRenderer, tmp_path: Path
) -> None:
    renderer = make_renderer(browser, tmp_path, timeout_s=0.5)
    script = script_for(KOREAN)
    with pytest.raises(RenderCrashedError, match="exceeded") as crashed:
        await renderer.render(script)
    assert isinstance(crashed.value, RetriableError)
    assert script["script_id"] in str(crashed.value)
    assert leftovers(renderer) == []
    assert await renderer.store.head(video_key(renderer, script)) is None


async def test_job_deadline_message_states_the_deadline(
    browser: ChromiumRenderer, tmp_path: Path
) -> None:
    renderer = make_renderer(browser, tmp_path, timeout_s=0.5)
    with pytest.raises(RenderCrashedError) as crashed:
        await renderer.render(script_for(KOREAN))
    assert "0.5" in str(crashed.value)
