"""Render benchmark: wall time to render a ~30 s short on this machine, against the naive
baseline measured in the same run (every frame captured from chromium at 30 fps and piped to
ffmpeg), plus the peak memory of the render worker's process tree (Python, the Playwright
driver, chromium, ffmpeg).

    python -m tests.bench.render_bench [--runs 3] [--skip-baseline]

The renderer keeps one browser per worker, so the browser is launched (and one short rendered)
before timing starts; every timed render misses the cache (a fresh store each time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.render import scenes
from agents.render.layout import FPS
from agents.render.pipeline import RenderConfig, Renderer
from agents.render.plan import Shot, build_timeline, narration, shots
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser.chromium import ChromiumRenderer
from connectors.media.ffmpeg import Ffmpeg
from connectors.tts.espeak import EspeakTts
from factory.config import theme_from_settings
from streams.settings import Settings
from tests.bench.procstat import descendants
from tests.drafts import drafted
from tests.factories import problem_event

TARGET_SECONDS = 30.0


class PeakRss:
    """Samples the memory of this process and its descendants every 100 ms: the sum of PSS
    (proportional set size: a page shared by n processes counts 1/n, so the sum is the tree's
    real footprint, what a container's memory limit sees) and the sum of RSS (an upper bound:
    chromium's nine processes share most of their pages and RSS counts them nine times)."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.1):
            total = pss = 0
            for pid in descendants(os.getpid()):
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                    pss += _pss(pid)
                except (OSError, IndexError, ValueError):
                    continue
            self.peak = max(self.peak, total)
            self.peak_pss = max(self.peak_pss, pss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


async def planned_duration(tts: EspeakTts, script: dict[str, Any]) -> float:
    lines = narration(script)
    speech = await tts.synthesize([line.text for line in lines], script["language"])
    timeline = build_timeline(lines, speech.phrases, speech.duration, script["countdown_seconds"])
    return timeline.duration


async def pick_script(tts: EspeakTts, language: str) -> tuple[dict[str, Any], float]:
    """The sample script (one arm per problem) whose short is closest to 30 s."""
    best: tuple[dict[str, Any], float] | None = None
    for i in range(83):
        event = problem_event(i)
        if event["language"] != language:
            continue
        for script in drafted(event, k=3):
            seconds = await planned_duration(tts, script)
            if best is None or abs(seconds - TARGET_SECONDS) < abs(best[1] - TARGET_SECONDS):
                best = (script, seconds)
    assert best is not None
    return best


def renderer(browser: ChromiumRenderer, tts: EspeakTts, root: Path) -> Renderer:
    return Renderer(
        browser=browser,
        media=Ffmpeg(),
        tts=tts,
        store=LocalArtifactStore(root),
        theme=theme_from_settings(Settings()),
        config=RenderConfig(),
    )


async def baseline(browser: ChromiumRenderer, tts: EspeakTts, script: dict[str, Any]) -> float:
    """The naive render: load the scene of every frame and capture it, 30 times a second of
    video, piping the frames into ffmpeg with the narration. Same scenes, same encoder."""
    started = time.perf_counter()
    lines = narration(script)
    speech = await tts.synthesize([line.text for line in lines], script["language"])
    timeline = build_timeline(lines, speech.phrases, speech.duration, script["countdown_seconds"])
    frames: Sequence[Shot] = shots(timeline, FPS)
    theme = theme_from_settings(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        wav.write_bytes(speech.wav)
        out = Path(tmp) / "naive.mp4"
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-y", "-loglevel", "error",
            "-f", "image2pipe", "-framerate", str(FPS), "-c:v", "mjpeg", "-i", "-",
            "-i", str(wav), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-movflags", "+faststart", str(out),
            stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None
        async with browser.job() as job:
            for shot in frames:
                spec = scenes.SceneSpec(shot.scene, shot.tick, shot.caption)
                await job.page.set_content(scenes.scene_html(spec, script, theme, has_logo=False))
                for _ in range(round(shot.end * FPS) - round(shot.start * FPS)):
                    proc.stdin.write(await job.page.screenshot(type="jpeg", quality=92))
                    await proc.stdin.drain()
        proc.stdin.close()
        if await proc.wait() != 0:
            raise RuntimeError("baseline ffmpeg failed")
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    tts = EspeakTts()
    browser = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        script, seconds = await pick_script(tts, args.language)
        print(f"script {script['script_id'][:8]} ({args.language}): a {seconds:.1f} s short")
        with tempfile.TemporaryDirectory() as tmp, PeakRss() as rss:
            warm = drafted(problem_event(1), k=1)[0]
            await renderer(browser, tts, Path(tmp) / "warm").render(warm)
            times = []
            for run_no in range(args.runs):
                store = Path(tmp) / f"run-{run_no}"
                started = time.perf_counter()
                result = await renderer(browser, tts, store).render(script)
                times.append(time.perf_counter() - started)
                print(
                    f"  render {run_no + 1}: {times[-1]:.2f} s  {dict(result.timings_ms)}  "
                    f"{result.video.size_bytes / 1e6:.1f} MB",
                    flush=True,
                )
            started = time.perf_counter()
            hit = await renderer(browser, tts, Path(tmp) / "run-0").render(script)
            cached = time.perf_counter() - started
            assert hit.cache_hit
        ours = statistics.median(times)
        print(f"ours:     {ours:.2f} s median of {args.runs} (target <= 10 s), "
              f"{seconds / ours:.1f}x real time; cache hit {cached * 1000:.0f} ms")  # fmt: skip
        print(
            f"peak memory: {rss.peak_pss / 2**20:.0f} MiB PSS (python + node driver + chromium + "
            f"ffmpeg; target <= 1.5 GB); RSS summed over processes {rss.peak / 2**20:.0f} MiB"
        )
        if not args.skip_baseline:
            naive = await baseline(browser, tts, script)
            print(f"baseline: {naive:.1f} s (every frame captured from chromium at {FPS} fps)")
            print(f"ratio:    {ours / naive:.3f} of the baseline ({naive / ours:.1f}x faster)")
    finally:
        await browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--language", default="ko", choices=["ko", "en"])
    parser.add_argument("--skip-baseline", action="store_true")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
