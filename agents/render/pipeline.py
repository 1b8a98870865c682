"""One render job end to end: narration, scene stills, storyboard, captions, soundtrack,
composition, quality gate, storage. The I/O shell around the pure modules of this package.

Resource rules: the process's one browser is shared, each job gets a fresh context; a
semaphore bounds concurrent jobs; every job has a deadline; its temp directory is removed
whatever happens (success, failure, cancellation).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.render import audio, captions, gate, layers, motion, scenes, sound, staging, story
from agents.render.compose import Encoding, concat_list, mux_args
from agents.render.layout import FPS, HEIGHT, WIDTH, Box
from agents.render.plan import Slot, Timeline, build_timeline, narration
from agents.render.spoken import spoken_text, spoken_words
from agents.render.storyboard import contact_sheet
from agents.render.theme import Theme
from agents.render.words import Group, TimedWord, group_words, written_times
from streams.ports.artifact_keys import content_key
from streams.ports.artifacts import ArtifactStore, StoredArtifact
from streams.ports.render import (
    MediaTool,
    RenderCrashedError,
    RenderRejectedError,
    SceneBrowser,
    TextInk,
)
from streams.ports.tts import TextToSpeech
from streams.telemetry import tracing

log = logging.getLogger(__name__)

# Fields that decide what the video looks and sounds like. Ids and timestamps are left out so
# the same script drafted twice (or redelivered) hits the cache.
CONTENT_FIELDS = (
    "language", "hook", "preface", "question", "choices", "countdown_seconds",
    "answer_index", "answer_reveal", "explanation", "cta",
)  # fmt: skip
SAMPLE_SIZE = (108, 192)
SRT_NAME, VTT_NAME = "short.srt", "short.vtt"  # the caption files, beside short.mp4
Record = Mapping[str, Any]
StoryboardHook = Callable[[StoredArtifact, int], Awaitable[None]]


@dataclass(frozen=True)
class RenderConfig:
    target_lufs: float = -14.0
    encoding: Encoding = field(default_factory=Encoding)
    music: Path | None = None  # None: the project's own bed (sound.music_bed)
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
    srt: StoredArtifact | None = None  # caption files beside the video
    vtt: StoredArtifact | None = None
    voice: str = ""  # who spoke (a chain records why earlier voices did not)
    voice_fallback: str = ""
    word_cues: tuple[tuple[float, float], ...] = ()  # (word heard, word lit on screen)


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
        cached = await self._cached(digest, video_key, manifest_key)
        if cached is not None:
            return cached
        marks: dict[str, int] = {}

        def mark(name: str, since: float) -> float:
            now = time.perf_counter()
            marks[name] = round((now - since) * 1000)
            return now

        language = script["language"]
        with tempfile.TemporaryDirectory(prefix="munjero-render-", dir=self.config.workdir) as tmp:
            work = Path(tmp)
            lines = narration(script)
            spoken = [spoken_words(line.text, language) for line in lines]
            groups = story.caption_groups(lines, spoken, language)
            # The pictures do not depend on the voice's timing: the browser draws them while
            # the voice speaks (different processes, both cores busy).
            drawing = asyncio.ensure_future(layers.draw(self.browser, script, self.theme, groups))
            try:
                with tracing.span("tts synthesize", munjero__language=language):
                    speech = await self.tts.synthesize([spoken_text(w) for w in spoken], language)
            except BaseException:
                drawing.cancel()
                await asyncio.gather(drawing, return_exceptions=True)
                raise
            t = mark("tts", started)
            timeline = build_timeline(
                lines, speech.phrases, speech.duration, int(script["countdown_seconds"])
            )
            words = written_times(spoken, speech.phrases, speech.words)
            timed = story.in_video(timeline, words)
            (work / "narration.wav").write_bytes(audio.narration_track(speech, timeline))
            drawn = await drawing
            t = mark("pictures", t)
            staged = await asyncio.to_thread(
                functools.partial(
                    staging.stage,
                    work, drawn, lines, spoken, groups, timed, timeline, self.theme,
                    storyboard=on_storyboard is not None,
                )
            )  # fmt: skip
            (work / "effects.wav").write_bytes(sound.wav(staged.effects))
            t = mark("stage", t)
            (soundtrack, lufs), storyboard = await together(
                self._soundtrack(work, timeline.duration),
                self._storyboard(work, digest, staged.key_frames, on_storyboard),
            )
            t = mark("sound", t)
            out = work / "short.mp4"
            with tracing.span("ffmpeg encode", munjero__frames=motion.frame(timeline.duration)):
                await self._encode(work, staged.scene, soundtrack, out, timeline.duration)
            t = mark("encode", t)
            with tracing.span("quality gate"):
                reasons = await self._gate(
                    out,
                    timeline,
                    lufs,
                    staged.caption_boxes,
                    staged.content_boxes,
                    drawn.text_inks,
                )
            t = mark("gate", t)
            if reasons:
                raise RenderRejectedError("quality gate failed: " + "; ".join(reasons))
            shown = caption_track(words, timeline, language)
            video = await self.store.put_file(video_key, out, content_type="video/mp4")
            srt, vtt = await self._caption_files(work, digest, shown)
            render_ms = round((time.perf_counter() - started) * 1000)
            manifest = {
                "duration": timeline.duration,
                "width": WIDTH,
                "height": HEIGHT,
                "render_ms": render_ms,
                "template_version": scenes.template_version(),
                "voice": speech.voice,
                "voice_fallback": speech.fallback,
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
            blocked_requests=drawn.blocked,
            timings_ms=marks,
            srt=srt,
            vtt=vtt,
            voice=speech.voice,
            voice_fallback=speech.fallback,
            word_cues=staged.cues,
        )

    async def _caption_files(
        self, work: Path, digest: str, groups: Sequence[Group]
    ) -> tuple[StoredArtifact, StoredArtifact]:
        """SubRip and WebVTT beside the video (the publisher uploads one as the caption
        track)."""
        stored = []
        for name, text, kind in (
            (SRT_NAME, captions.srt(groups), "application/x-subrip"),
            (VTT_NAME, captions.vtt(groups), "text/vtt"),
        ):
            path = work / name
            path.write_text(text, encoding="utf-8")
            stored.append(
                await self.store.put_file(
                    content_key("renders", digest, name), path, content_type=kind
                )
            )
        return stored[0], stored[1]

    async def _encode(
        self, work: Path, scene: motion.Scene, soundtrack: Path, out: Path, duration: float
    ) -> None:
        """Independent parts encoded at once (the filter graph is single-threaded: two parts
        keep both cores busy), joined without re-encoding, the soundtrack muxed in."""
        encoding = self.config.encoding
        spans = motion.parts(duration, encoding.parts)
        part_paths = [work / f"part-{k}.mp4" for k in range(len(spans))]
        runs = []
        for k, (span, path) in enumerate(zip(spans, part_paths, strict=True)):
            lists = []
            for n, (track, blank) in enumerate(zip(scene.tracks, scene.blanks, strict=True)):
                listing = work / f"track-{n}-part-{k}.txt"
                listing.write_text(motion.concat_list(track, blank, *span))
                lists.append(listing)
            args = motion.part_args(
                scene, span, path, lists, preset=encoding.preset, crf=encoding.crf,
                threads=1 if len(spans) > 1 else 0,
            )  # fmt: skip
            runs.append(self.media.run(args, timeout_s=self.config.timeout_s))
        await together(*runs)
        listing = work / "parts.txt"
        listing.write_text(concat_list(part_paths))
        await self.media.run(
            mux_args(listing, soundtrack, out, duration=duration, encoding=encoding),
            timeout_s=self.config.timeout_s,
        )

    async def _cached(self, digest: str, video_key: str, manifest_key: str) -> RenderResult | None:
        video = await self.store.head(video_key)
        if video is None or await self.store.head(manifest_key) is None:
            return None
        manifest = json.loads(await self.store.get_bytes(manifest_key))
        # The caption files sit beside the video under the same digest; renders stored before
        # captions were exported have none, and their event then names none.
        srt, vtt = await together(
            self.store.head(content_key("renders", digest, SRT_NAME)),
            self.store.head(content_key("renders", digest, VTT_NAME)),
        )
        return RenderResult(
            video=video,
            duration=float(manifest["duration"]),
            width=int(manifest["width"]),
            height=int(manifest["height"]),
            render_ms=int(manifest["render_ms"]),
            template_version=str(manifest["template_version"]),
            cache_hit=True,
            srt=srt,
            vtt=vtt,
            # The video's audio is the voice that spoke when it was rendered: a cache hit
            # reports that voice and its fallback, not today's chain.
            voice=str(manifest.get("voice") or ""),
            voice_fallback=str(manifest.get("voice_fallback") or ""),
        )

    async def _soundtrack(self, work: Path, duration: float) -> tuple[Path, float]:
        """The normalised soundtrack and its measured integrated loudness (LUFS). AAC at
        160 kb/s keeps loudness within ~0.1 LU, so the gate checks the track it muxes."""
        mixed, final = work / "mixed.wav", work / "soundtrack.wav"
        limit = self.config.timeout_s
        music = self.config.music
        if music is None:
            music = work / "bed.wav"
            bed = await asyncio.to_thread(sound.music_bed, duration)
            music.write_bytes(sound.wav(bed))
        await self.media.run(
            audio.mix_args(
                work / "narration.wav", music, mixed, duration, effects=work / "effects.wav"
            ),
            timeout_s=limit,
        )
        lufs = await normalise(self.media, mixed, final, self.config.target_lufs, limit)
        return final, lufs

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
        text_inks: Sequence[TextInk],
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
            text_inks=text_inks,
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


def caption_track(words: Sequence[TimedWord], timeline: Timeline, language: str) -> list[Group]:
    """Every spoken word, in caption groups, in video time (for the caption files)."""
    shifted = [
        TimedWord(w.text, timeline.video_time(w.start), timeline.video_time(w.end), w.line)
        for w in words
    ]
    out = []
    for group in group_words(shifted, language):
        members = tuple(shifted[k] for k in group)
        out.append(Group(members, members[0].start, members[-1].end))
    return out


async def normalise(
    media: MediaTool, mixed: Path, final: Path, target: float, timeout_s: float
) -> float:
    """Write ``mixed`` at ``target`` LUFS to ``final``; return the loudness measured on it.

    The limiter takes back some of the gain on peaky mixes (ticks, pops, the sting): one short
    measured -15.6 LUFS after a single pass and failed the gate. So correct by what is still
    missing, up to ``NORMALISE_PASSES`` passes (~0.1 s each)."""
    _, err = await media.run_full(audio.measure_args(mixed), timeout_s=timeout_s)
    measured, _ = audio.parse_ebur128(err.decode(errors="replace"))
    gain = audio.gain_db(measured, target)
    lufs = measured
    for _ in range(audio.NORMALISE_PASSES):
        _, err = await media.run_full(audio.normalise_args(mixed, final, gain), timeout_s=timeout_s)
        lufs, _ = audio.parse_ebur128(err.decode(errors="replace"))
        if abs(lufs - target) <= audio.NORMALISE_TOLERANCE_LU:
            break
        gain = max(-30.0, min(30.0, gain + target - lufs))
    return lufs
