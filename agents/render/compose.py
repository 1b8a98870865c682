"""The ffmpeg command that turns still shots and the soundtrack into the MP4 (pure: argv in,
no I/O).

Why stills and not browser-captured frames: capturing 900 frames from chromium at 1080x1920 is
~70 s per 30 s short here; a couple of dozen screenshots plus ffmpeg motion is a few seconds.
Motion comes from ffmpeg: ``xfade`` transitions between scenes, computed only over the
transition's own frames and then concatenated (chaining xfade over whole clips costs ~4 s of
filtering per short), and a countdown bar that drains across the countdown (a small overlay
with a per-frame x, enabled only for those frames).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.render.layout import FPS, HEIGHT, WIDTH
from agents.render.plan import Shot

TRANSITION_S = 0.3
COUNTDOWN_BAR_PX = 28
COUNTDOWN_BAR_Y = 1410  # under the countdown dial, inside the safe area
# Transition into each scene kind. Caption changes and countdown ticks cut hard: captions must
# land on the frame their phrase starts, and a clock should snap.
TRANSITIONS = {
    "question": "slideup",
    "choices": "smoothleft",
    "countdown": "fade",
    "reveal": "circleopen",
    "cta": "slideleft",
}


@dataclass(frozen=True)
class Encoding:
    preset: str = "ultrafast"
    # 22, not 20: x264's time follows the bits it writes, and 20 -> 22 cut a part's encode by
    # ~15 % (4.4 -> 3.5 MB) for an SSIM against a lossless encode of 0.9956 -> 0.9954.
    crf: int = 22
    audio_bitrate: str = "160k"
    parts: int = 2  # independent encodes run at once (split_parts); the core count suits


def transition_for(prev: Shot, nxt: Shot) -> str | None:
    if prev.scene == nxt.scene:
        return None
    return TRANSITIONS.get(nxt.scene, "fade")


def _frame(t: float) -> int:
    return round(t * FPS)


def video_filter(
    shots: Sequence[Shot],
    *,
    accent: str,
    offset: float = 0.0,
    countdown: tuple[float, float] | None = None,
) -> str:
    """The filter graph of consecutive ``shots`` (input i is the still of shot i).

    ``offset`` is the video time of the first shot (a part of a split encode starts at 0 on its
    own clock); ``countdown`` is the (start, end) of the whole countdown in video time.
    """
    graph: list[str] = []
    n = len(shots)
    # Frame-exact: a shot lasts frame(end) - frame(start) frames, so rounding never accumulates.
    frames = [_frame(s.end) - _frame(s.start) for s in shots]
    if min(frames, default=0) < 1:
        raise ValueError("every shot must last at least one frame")
    kinds = [transition_for(shots[i], shots[i + 1]) if i + 1 < n else None for i in range(n)]
    t_frames = _frame(TRANSITION_S)
    # A transition's frames come from the shot it leaves (the old scene's last frames) or,
    # when that shot is too short (a scene often ends with a fraction of a pause), from the
    # shot it enters (the new scene fades in over its first frames). No room: a hard cut.
    gives_out = [0] * n
    gives_in = [0] * n
    for i in range(n - 1):
        if kinds[i] is None:
            continue
        if frames[i] - gives_in[i] > t_frames:
            gives_out[i] = t_frames
        elif frames[i + 1] > t_frames:
            gives_in[i + 1] = t_frames
        else:
            kinds[i] = None
    for i in range(n):
        uses = 1 + (kinds[i] is not None) + (i > 0 and kinds[i - 1] is not None)
        names = "".join(f"[s{i}u{k}]" for k in range(uses))
        # Convert once per still, before any looping: per-frame RGB->YUV would cost seconds.
        head = f"[{i}:v]scale={WIDTH}:{HEIGHT},setsar=1,format=yuv420p"
        graph.append(f"{head},split={uses}{names}" if uses > 1 else f"{head}{names}")
    parts: list[str] = []
    used = [0] * n

    def take(i: int) -> str:
        label = f"[s{i}u{used[i]}]"
        used[i] += 1
        return label

    def hold(label: str, count: int, out: str) -> str:
        return f"{label}loop=loop={count - 1}:size=1,setpts=N/{FPS}/TB{out}"

    for i in range(n):
        graph.append(hold(take(i), frames[i] - gives_out[i] - gives_in[i], f"[b{i}]"))
        parts.append(f"[b{i}]")
        if kinds[i] is not None:
            graph.append(hold(take(i), t_frames, f"[t{i}a]"))
            graph.append(hold(take(i + 1), t_frames, f"[t{i}b]"))
            graph.append(
                f"[t{i}a][t{i}b]xfade=transition={kinds[i]}:duration={TRANSITION_S}:offset=0[t{i}]"
            )
            parts.append(f"[t{i}]")
    graph.append(f"{''.join(parts)}concat=n={len(parts)}:v=1:a=0[base]")
    last = "[base]"
    first, final = shots[0].start, shots[-1].end
    if countdown is not None and countdown[0] < final and countdown[1] > first:
        start, end = countdown[0] - offset, countdown[1] - offset  # on this part's clock
        graph.append(f"color=c={accent}:s={WIDTH}x{COUNTDOWN_BAR_PX}:r={FPS}[cd]")
        graph.append(
            f"{last}[cd]overlay=x='-w*(t-{start:.3f})/{end - start:.3f}':y={COUNTDOWN_BAR_Y}"
            f":enable='between(t,{start:.3f},{end:.3f})':shortest=1[q]"
        )
        last = "[q]"
    graph.append(f"{last}format=yuv420p[v]")
    return ";".join(graph)


def countdown_window(shots: Sequence[Shot]) -> tuple[float, float] | None:
    ticks = [s for s in shots if s.scene == "countdown"]
    return (ticks[0].start, ticks[-1].end) if ticks else None


def split_parts(shots: Sequence[Shot], parts: int) -> list[range]:
    """Consecutive groups of shots of roughly equal length, cut only where shots change by a
    hard cut (a transition needs both of its shots in one part). x264 with frame threads
    leaves one of two cores half idle on mostly static frames, and ffmpeg's filter graph runs
    on one thread; two independent encodes of half the video each keep both cores busy."""
    n = len(shots)
    if parts <= 1 or n < 2:
        return [range(n)]
    total = shots[-1].end - shots[0].start
    cuts: list[int] = []
    for k in range(1, parts):
        target = shots[0].start + total * k / parts
        candidates = [
            i
            for i in range(1, n)
            if transition_for(shots[i - 1], shots[i]) is None and (not cuts or i > cuts[-1])
        ]
        if not candidates:
            break
        cuts.append(min(candidates, key=lambda i: abs(shots[i].start - target)))
    edges = [0, *cuts, n]
    return [range(a, b) for a, b in itertools.pairwise(edges) if b > a]


def part_args(
    stills: Sequence[Path],
    shots: Sequence[Shot],
    out: Path,
    *,
    accent: str,
    encoding: Encoding,
    countdown: tuple[float, float] | None,
    threads: int = 0,
) -> list[str]:
    """Encode one part (video only) on its own clock."""
    if len(stills) != len(shots):
        raise ValueError(f"{len(stills)} stills for {len(shots)} shots")
    args = ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    for still in stills:
        args += ["-i", str(still)]
    graph = video_filter(shots, accent=accent, offset=shots[0].start, countdown=countdown)
    args += [
        "-filter_complex", graph, "-map", "[v]", "-an",
        "-c:v", "libx264", "-preset", encoding.preset, "-crf", str(encoding.crf),
        "-tune", "stillimage", "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(2 * FPS),
        "-threads", str(threads), str(out),
    ]  # fmt: skip
    return args


def concat_list(parts: Sequence[Path]) -> str:
    """The concat demuxer's list file (paths are ours, but quote them as the format asks)."""
    return "".join("file '" + str(p).replace("'", "'\\''") + "'\n" for p in parts)


def mux_args(
    concat_file: Path, audio: Path, out: Path, *, duration: float, encoding: Encoding
) -> list[str]:
    """Join the parts without re-encoding, add the soundtrack, move the index to the front."""
    return [
        "ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error",
        "-f", "concat", "-safe", "0", "-i", str(concat_file), "-i", str(audio),
        "-map", "0:v", "-map", "1:a", "-c:v", "copy",
        "-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ar", "48000", "-ac", "2",
        "-t", f"{duration:.3f}", "-movflags", "+faststart", str(out),
    ]  # fmt: skip


def ffmpeg_args(
    stills: Sequence[Path],
    shots: Sequence[Shot],
    audio: Path,
    out: Path,
    *,
    duration: float,
    accent: str,
    encoding: Encoding,
) -> list[str]:
    if len(stills) != len(shots):
        raise ValueError(f"{len(stills)} stills for {len(shots)} shots")
    args = ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error"]
    for still in stills:
        args += ["-i", str(still)]
    args += ["-i", str(audio)]
    args += [
        "-filter_complex", video_filter(shots, accent=accent, countdown=countdown_window(shots)),
        "-map", "[v]", "-map", f"{len(stills)}:a",
        "-c:v", "libx264", "-preset", encoding.preset, "-crf", str(encoding.crf),
        "-tune", "stillimage", "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(2 * FPS),
        "-c:a", "aac", "-b:a", encoding.audio_bitrate, "-ar", "48000", "-ac", "2",
        "-t", f"{duration:.3f}", "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    return args
