"""One render job end to end: narration, scene stills, storyboard, captions, soundtrack,
composition, quality gate, storage. The I/O shell around the pure modules of this package.

Resource rules: the process's one browser is shared, each job gets a fresh context; a
semaphore bounds concurrent jobs; every job has a deadline; its temp directory is removed
whatever happens (success, failure, cancellation).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.render import audio, compose, gate, scenes
from agents.render.layout import FPS, HEIGHT, WIDTH, Box
from agents.render.plan import Shot, Slot, Timeline, build_timeline, narration, shots
from agents.render.storyboard import contact_sheet
from agents.render.theme import Theme
from streams.ports.artifact_keys import content_key
from streams.ports.artifacts import ArtifactStore, StoredArtifact
from streams.ports.render import MediaTool, RenderCrashedError, RenderRejectedError, SceneBrowser
from streams.ports.tts import TextToSpeech
from streams.telemetry import tracing

log = logging.getLogger(__name__)

# Fields that decide what the video looks and sounds like. Ids and timestamps are left out so
# the same script drafted twice (or redelivered) hits the cache.
CONTENT_FIELDS = (
    "language", "hook", "preface", "question", "choices", "countdown_seconds",
    "answer_index", "answer_reveal", "explanation", "cta",
)  # fmt: skip
SCREENSHOT_PAGES = 2  # measured: 22 shots take 1.5 s on one page, 1.1 s on two (2 cores)
MEASURED = (".brand", ".chip", ".stage", ".stage > *", ".tick", "#caption")
SAMPLE_SIZE = (108, 192)
Record = Mapping[str, Any]
StoryboardHook = Callable[[StoredArtifact, int], Awaitable[None]]


@dataclass(frozen=True)
class RenderConfig:
    target_lufs: float = -14.0
    encoding: compose.Encoding = field(default_factory=compose.Encoding)
    music: Path | None = None
    timeout_s: float = 180.0
    workdir: Path | None = None  # temp files; None -> the system temp dir


@dataclass(frozen=True)
class RenderResult:
    video: StoredArtifact
    duration: float
    width: int
    height: int
    render_ms: int
    template_version: str
    cache_hit: bool
    storyboard: StoredArtifact | None = None
    blocked_requests: tuple[str, ...] = ()
    timings_ms: Mapping[str, int] = field(default_factory=dict)


class Renderer:
    def __init__(
        self,
        *,
        browser: SceneBrowser,
        media: MediaTool,
        tts: TextToSpeech,
        store: ArtifactStore,
        theme: Theme,
        config: RenderConfig,
        concurrency: int = 1,
    ) -> None:
        self.browser = browser
        self.media = media
        self.tts = tts
        self.store = store
        self.theme = theme
        self.config = config
        self._slots = asyncio.Semaphore(concurrency)
        self._music_digest = (
            hashlib.sha256(config.music.read_bytes()).hexdigest() if config.music else ""
        )

    def cache_digest(self, script: Record) -> str:
        content = {name: script.get(name) for name in CONTENT_FIELDS}
        identity = {
            "content": content,
            "template": scenes.template_version(),
            "theme": self.theme.fingerprint(),
            "tts": getattr(self.tts, "fingerprint", self.tts.name),
            "music": self._music_digest,
            "lufs": self.config.target_lufs,
            "encoding": [self.config.encoding.preset, self.config.encoding.crf],
        }
        blob = json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    async def render(
        self, script: Record, *, on_storyboard: StoryboardHook | None = None
    ) -> RenderResult:
        async with self._slots:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    return await self._render(script, on_storyboard, started)
            except TimeoutError:
                raise RenderCrashedError(
                    f"render of {script['script_id']} exceeded its "
                    f"{self.config.timeout_s:g}s deadline"
                ) from None

    async def _render(
        self, script: Record, on_storyboard: StoryboardHook | None, started: float
    ) -> RenderResult:
        digest = self.cache_digest(script)
        video_key = content_key("renders", digest, "short.mp4")
        manifest_key = content_key("renders", digest, "manifest.json")
        cached = await self._cached(video_key, manifest_key)
        if cached is not None:
            return cached
        marks: dict[str, int] = {}

        def mark(name: str, since: float) -> float:
            now = time.perf_counter()
            marks[name] = round((now - since) * 1000)
            return now

        with tempfile.TemporaryDirectory(prefix="munjero-render-", dir=self.config.workdir) as tmp:
            work = Path(tmp)
            lines = narration(script)
            with tracing.span("tts synthesize", munjero__language=script["language"]):
                speech = await self.tts.synthesize(
                    [line.text for line in lines], script["language"]
                )
            t = mark("tts", started)
            timeline = build_timeline(
                lines, speech.phrases, speech.duration, int(script["countdown_seconds"])
            )
            (work / "narration.wav").write_bytes(audio.narration_track(speech, timeline))
            # The soundtrack (ffmpeg) and the pictures (chromium) use different processes:
            # running them together keeps both cores busy.
            frames = shots(timeline, FPS)
            (soundtrack, lufs), visuals = await together(
                self._soundtrack(work, timeline.duration),
                self._visuals(work, script, frames, digest, on_storyboard),
            )
            t = mark("assets", t)
            stills, caption_boxes, content_boxes, storyboard, blocked = visuals
            out = work / "short.mp4"
            with tracing.span("ffmpeg encode", munjero__frames=len(frames)):
                await self._encode(work, stills, frames, soundtrack, out, timeline.duration)
            t = mark("encode", t)
            with tracing.span("quality gate"):
                reasons = await self._gate(out, timeline, lufs, caption_boxes, content_boxes)
            t = mark("gate", t)
            if reasons:
                raise RenderRejectedError("quality gate failed: " + "; ".join(reasons))
            video = await self.store.put_file(video_key, out, content_type="video/mp4")
            render_ms = round((time.perf_counter() - started) * 1000)
            manifest = {
                "duration": timeline.duration,
                "width": WIDTH,
                "height": HEIGHT,
                "render_ms": render_ms,
                "template_version": scenes.template_version(),
            }
            (work / "manifest.json").write_text(json.dumps(manifest))
            await self.store.put_file(
                manifest_key, work / "manifest.json", content_type="application/json"
            )
            mark("store", t)
        return RenderResult(
            video=video,
            duration=timeline.duration,
            width=WIDTH,
            height=HEIGHT,
            render_ms=render_ms,
            template_version=scenes.template_version(),
            cache_hit=False,
            storyboard=storyboard,
            blocked_requests=tuple(blocked),
            timings_ms=marks,
        )

    async def _encode(
        self,
        work: Path,
        stills: Sequence[Path],
        frames: Sequence[Shot],
        soundtrack: Path,
        out: Path,
        duration: float,
    ) -> None:
        encoding = self.config.encoding
        countdown = compose.countdown_window(frames)
        groups = compose.split_parts(frames, encoding.parts)
        part_paths = [work / f"part-{k}.mp4" for k in range(len(groups))]
        await together(
            *(
                self.media.run(
                    compose.part_args(
                        [stills[i] for i in group],
                        [frames[i] for i in group],
                        path,
                        accent=self.theme.accent,
                        encoding=encoding,
                        countdown=countdown,
                        threads=1 if len(groups) > 1 else 0,
                    ),
                    timeout_s=self.config.timeout_s,
                )
                for group, path in zip(groups, part_paths, strict=True)
            )
        )
        listing = work / "parts.txt"
        listing.write_text(compose.concat_list(part_paths))
        await self.media.run(
            compose.mux_args(listing, soundtrack, out, duration=duration, encoding=encoding),
            timeout_s=self.config.timeout_s,
        )

    async def _cached(self, video_key: str, manifest_key: str) -> RenderResult | None:
        video = await self.store.head(video_key)
        if video is None or await self.store.head(manifest_key) is None:
            return None
        manifest = json.loads(await self.store.get_bytes(manifest_key))
        return RenderResult(
            video=video,
            duration=float(manifest["duration"]),
            width=int(manifest["width"]),
            height=int(manifest["height"]),
            render_ms=int(manifest["render_ms"]),
            template_version=str(manifest["template_version"]),
            cache_hit=True,
        )

    async def _soundtrack(self, work: Path, duration: float) -> tuple[Path, float]:
        """The normalised soundtrack and its measured integrated loudness (LUFS). AAC at
        160 kb/s keeps loudness within ~0.1 LU, so the gate checks the track it muxes."""
        mixed, final = work / "mixed.wav", work / "soundtrack.wav"
        limit = self.config.timeout_s
        await self.media.run(
            audio.mix_args(work / "narration.wav", self.config.music, mixed, duration),
            timeout_s=limit,
        )
        _, err = await self.media.run_full(audio.measure_args(mixed), timeout_s=limit)
        measured, _ = audio.parse_ebur128(err.decode(errors="replace"))
        gain = audio.gain_db(measured, self.config.target_lufs)
        _, err = await self.media.run_full(
            audio.normalise_args(mixed, final, gain), timeout_s=limit
        )
        lufs, _ = audio.parse_ebur128(err.decode(errors="replace"))
        return final, lufs

    async def _visuals(
        self,
        work: Path,
        script: Record,
        shots: Sequence[Shot],
        digest: str,
        on_storyboard: StoryboardHook | None,
    ) -> tuple[list[Path], list[Box], list[tuple[str, Box]], StoredArtifact | None, list[str]]:
        """One screenshot per distinct shot; the storyboard goes out as soon as every scene
        kind has been drawn once (before captions finish and long before the encode)."""
        has_logo = "logo" in self.browser.assets
        rendered: dict[str, Path] = {}
        caption_boxes: list[Box] = []
        content_boxes: list[tuple[str, Box]] = []
        key_frames: dict[str, bytes] = {}
        htmls = [_scene(shot, script, self.theme, has_logo) for shot in shots]
        distinct = list(dict.fromkeys(htmls))
        with tracing.span("browser screenshots", munjero__pictures=len(distinct)):
            async with self.browser.job(pages=SCREENSHOT_PAGES) as job:
                taken = await job.screenshots(distinct, measure=MEASURED, fit=".stage")
                blocked = list(job.blocked)
        for k, (html, (data, boxes)) in enumerate(zip(distinct, taken, strict=True)):
            path = work / f"shot-{k:03d}.jpg"
            path.write_bytes(data)
            rendered[html] = path
            scene = shots[htmls.index(html)].scene
            for selector, box in boxes:
                if selector == "#caption":
                    caption_boxes.append(box)
                else:
                    content_boxes.append((f"{scene}:{selector}", box))
            key_frames.setdefault(scene, data)
        stills = [rendered[html] for html in htmls]
        storyboard = await self._storyboard(work, digest, key_frames, on_storyboard)
        return stills, caption_boxes, content_boxes, storyboard, blocked

    async def _storyboard(
        self,
        work: Path,
        digest: str,
        key_frames: Mapping[str, bytes],
        on_storyboard: StoryboardHook | None,
    ) -> StoredArtifact | None:
        if on_storyboard is None:
            return None
        sheet = await asyncio.to_thread(
            contact_sheet, list(key_frames.values()), list(key_frames.keys())
        )
        path = work / "storyboard.jpg"
        path.write_bytes(sheet)
        stored = await self.store.put_file(
            content_key("storyboards", digest, "storyboard.jpg"), path, content_type="image/jpeg"
        )
        await on_storyboard(stored, len(key_frames))
        return stored

    async def _gate(
        self,
        out: Path,
        timeline: Timeline,
        lufs: float,
        caption_boxes: Sequence[Box],
        content_boxes: Sequence[tuple[str, Box]],
    ) -> list[str]:
        limit = self.config.timeout_s
        probe, raw = await together(
            self.media.probe(str(out), timeout_s=limit),
            self.media.run(sample_args(out, _sample_times(timeline.slots)), timeout_s=limit),
        )
        with out.open("rb") as fh:
            head = fh.read(64 * 1024)
        evidence = gate.Evidence(
            probe=probe,
            expected_duration=timeline.duration,
            integrated_lufs=lufs,
            target_lufs=self.config.target_lufs,
            caption_boxes=caption_boxes,
            content_boxes=content_boxes,
            frame_stddevs=gate.luma_stddevs(raw, *SAMPLE_SIZE),
            head=head,
        )
        return gate.check(evidence)


async def together(*aws: Awaitable[Any]) -> list[Any]:
    """``asyncio.gather`` that, when one fails, cancels the others and waits for them before
    raising: no half of a failed render keeps a browser context or an ffmpeg running, or
    writes into a temp directory that is being removed."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _scene(shot: Shot, script: Record, theme: Theme, has_logo: bool) -> str:
    try:
        spec = scenes.SceneSpec(shot.scene, shot.tick, shot.caption)
        return scenes.scene_html(spec, script, theme, has_logo=has_logo)
    except Exception as exc:  # jinja2 errors: the template or the script is broken
        raise RenderRejectedError(f"template error in scene {shot.scene}: {exc}") from exc


def _sample_times(slots: Sequence[Slot]) -> list[float]:
    """The middle of the first slot of each scene: one frame per scene kind."""
    seen: set[str] = set()
    times = []
    for slot in slots:
        if slot.scene not in seen:
            seen.add(slot.scene)
            times.append(slot.start + slot.duration / 2)
    return times


def sample_args(video: Path, times: Sequence[float]) -> list[str]:
    """Small grey frames at ``times``, laid end to end on stdout (input seeking: fast)."""
    args = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    for t in times:
        args += ["-ss", f"{t:.3f}", "-i", str(video)]
    w, h = SAMPLE_SIZE
    chains = [f"[{i}:v]trim=end_frame=1,scale={w}:{h},format=gray,setpts=0[f{i}]" for i in
              range(len(times))]  # fmt: skip
    joined = "".join(f"[f{i}]" for i in range(len(times)))
    graph = ";".join([*chains, f"{joined}concat=n={len(times)}:v=1:a=0[out]"])
    return [*args, "-filter_complex", graph, "-map", "[out]", "-f", "rawvideo", "-pix_fmt",
            "gray", "-r", str(FPS), "-"]  # fmt: skip
