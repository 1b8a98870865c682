"""The ffmpeg command that animates still layers into the video (pure: argv in, no I/O).

Full-frame browser capture of a 30 s short is ~70 s here (900 screenshots at ~13 fps), so
motion is made by ffmpeg over a handful of stills, every frame of it:

* the background (one still, scaled 25 % larger once) drifts under a moving crop window;
* each scene's content (a transparent still) slides and fades in over it;
* choices pop in (a crop of the full choices card fading in where it sits) as they are read;
* the word being read lights up on the card, and 2-4 word captions with the active word
  coloured play from a sprite track (a concat list of same-size transparent stills, shown at
  their times by one overlay whose position is a per-frame expression);
* a progress bar fills across the top for the whole short, and a timer bar drains with the
  seconds left from the question until the reveal, the number pulsing through the countdown.

Every expression uses absolute video time ``T`` (a part's clock ``t`` plus its offset), so the
video can be encoded as independent parts cut anywhere and joined without re-encoding.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agents.render.layout import FPS, HEIGHT, SAFE_AREA, WIDTH, Box

BG_SCALE = 1.25  # the background is this much larger than the frame: room to drift
SLIDE_PX = 70  # content enters from this far below
ENTER_S = 0.35
POP_S = 0.2
PROGRESS_Y = SAFE_AREA.y - 14
PROGRESS_H = 8
TIMER_BOX = Box(SAFE_AREA.x, 1172, SAFE_AREA.width, 22)
TIMER_TEXT_Y = 1206
TIMER_PX = 96
COUNTDOWN_PX = 150


@dataclass(frozen=True)
class Layer:
    """A content still (input ``still``) on screen from ``start`` to ``end``."""

    still: Path
    start: float
    end: float
    enters: bool = True  # slides and fades in (not when it continues the same card)


@dataclass(frozen=True)
class Pop:
    """The region ``box`` of ``still`` appearing (fading in) at ``start``, kept until ``end``."""

    still: Path
    box: Box
    start: float
    end: float


@dataclass(frozen=True)
class Sprite:
    """One image of a sprite track shown at (x, y) from ``start`` to ``end`` (video time)."""

    image: Path
    start: float
    end: float
    x: float
    y: float


@dataclass(frozen=True)
class Scene:
    """Everything that moves in one short."""

    duration: float
    background: Path
    layers: Sequence[Layer]
    pops: Sequence[Pop] = ()
    tracks: Sequence[Sequence[Sprite]] = ()  # each: non-overlapping sprites of one size
    blanks: Sequence[Path] = ()  # per track: a transparent image of its size (between sprites)
    timer: tuple[float, float] | None = None  # question start .. reveal
    countdown: tuple[float, float] | None = None
    accent: str = "#ffd54f"
    font: str = "NanumSquareRound"
    # Where the content layers have ink (``sprites.ink_box``): only this region is cut from
    # each layer and blended per frame. A full-frame RGBA overlay was ~40 % of the filter
    # graph's time; the ink is ~40 % of the frame.
    content_box: Box | None = None


def frame(t: float) -> int:
    return round(t * FPS)


def parts(duration: float, count: int) -> list[tuple[float, float]]:
    """``count`` consecutive spans of whole frames covering the video."""
    total = frame(duration)
    edges = [round(total * k / count) for k in range(count + 1)]
    return [(a / FPS, b / FPS) for a, b in itertools.pairwise(edges) if b > a]


def _T(offset: float) -> str:
    return f"(t+{offset:.4f})"


def _piecewise(cases: Sequence[tuple[float, str]], default: str) -> str:
    """``value_k`` for the last case whose start ``T`` has reached (cases sorted by start)."""
    expr = default
    for start, value in cases:
        expr = f"if(gte(T\\,{start:.4f})\\,{value}\\,{expr})"
    return expr


def concat_list(sprites: Sequence[Sprite], blank: Path, start: float, end: float) -> str:
    """An ffconcat list playing ``sprites`` (blank between them) over [start, end) of the
    video, on the part's own clock."""
    lines = ["ffconcat version 1.0"]
    at = start

    def add(image: Path, until: float) -> None:
        nonlocal at
        seconds = frame(until) / FPS - frame(at) / FPS
        if seconds <= 0:
            return
        lines.append("file '" + str(image).replace("'", "'\\''") + "'")
        lines.append(f"duration {seconds:.4f}")
        at = until

    for sprite in sprites:
        if sprite.end <= start or sprite.start >= end:
            continue
        if sprite.start > at:
            add(blank, sprite.start)
        add(sprite.image, min(sprite.end, end))
    if at < end:
        add(blank, end)
    # The demuxer needs the last file twice for its duration to count.
    lines.append(lines[-2])
    return "\n".join(lines) + "\n"


def position(sprites: Sequence[Sprite], start: float, end: float, axis: str) -> str:
    """The per-frame x or y of a track: each sprite's own, by time (absolute ``T``)."""
    inside = [s for s in sprites if s.end > start and s.start < end]
    cases = [(s.start, f"{getattr(s, axis):.0f}") for s in inside]
    return _piecewise(cases, f"{getattr(inside[0], axis):.0f}" if inside else "0")


def part_args(
    scene: Scene,
    span: tuple[float, float],
    out: Path,
    lists: Sequence[Path],
    *,
    preset: str,
    crf: int,
    threads: int = 0,
) -> list[str]:
    """Encode the frames of ``span`` (video only) on the part's own clock; ``lists`` are this
    part's ffconcat files, one per sprite track (``concat_list``)."""
    start, end = span
    n = frame(end) - frame(start)
    T = _T(start)
    inputs: list[Path] = []

    def add(path: Path) -> int:
        inputs.append(path)
        return len(inputs) - 1

    graph: list[str] = []
    bg = add(scene.background)
    bw, bh = round(WIDTH * BG_SCALE / 2) * 2, round(HEIGHT * BG_SCALE / 2) * 2
    mx, my = (bw - WIDTH) // 2, (bh - HEIGHT) // 2
    graph.append(
        f"[{bg}:v]scale={bw}:{bh},format=yuv420p,loop=loop={n - 1}:size=1,setpts=N/{FPS}/TB,"
        f"crop={WIDTH}:{HEIGHT}:x='{mx}+{mx}*sin(2*PI*{T}/13)':y='{my}+{my}*sin(2*PI*{T}/19)'"
        "[bg]"
    )
    # Content: consecutive layers, each held for its frames, fading in where it starts.
    ink = scene.content_box or Box(0, 0, WIDTH, HEIGHT)
    cut = f"crop={ink.width:.0f}:{ink.height:.0f}:{ink.x:.0f}:{ink.y:.0f},"
    segments: list[str] = []
    for layer in scene.layers:
        a, b = max(layer.start, start), min(layer.end, end)
        frames = frame(b) - frame(a)
        if frames <= 0:
            continue
        i = add(layer.still)
        chain = f"[{i}:v]{cut}format=yuva420p,loop=loop={frames - 1}:size=1,setpts=N/{FPS}/TB"
        if layer.start >= start and layer.enters:
            chain += f",fade=t=in:st=0:d={ENTER_S}:alpha=1"
        segments.append(f"{chain}[l{len(segments)}]")
    graph += segments
    labels = "".join(f"[l{k}]" for k in range(len(segments)))
    graph.append(f"{labels}concat=n={len(segments)}:v=1:a=0[content]")
    slide = _piecewise(
        [
            (layer.start, f"{SLIDE_PX}*pow(max(0\\,1-(T-{layer.start:.4f})/{ENTER_S})\\,2)")
            for layer in scene.layers
            if layer.enters
        ],
        "0",
    ).replace("T", T)
    graph.append(f"[bg][content]overlay=x={ink.x:.0f}:y='{ink.y:.0f}+{slide}':eval=frame[v0]")
    last = "[v0]"
    step = 0

    def over(label: str, x: str, y: str, extra: str = "") -> None:
        nonlocal last, step
        step += 1
        graph.append(f"{last}{label}overlay=x='{x}':y='{y}':eval=frame{extra}[v{step}]")
        last = f"[v{step}]"

    for k, pop in enumerate(scene.pops):
        if pop.end <= start or pop.start >= end:
            continue
        i = add(pop.still)
        box = pop.box
        a = max(pop.start, start)
        frames = frame(min(pop.end, end)) - frame(a)
        if frames <= 0:
            continue
        chain = (
            f"[{i}:v]crop={box.width:.0f}:{box.height:.0f}:{box.x:.0f}:{box.y:.0f},"
            f"format=yuva420p,loop=loop={frames - 1}:size=1,"
            f"setpts=N/{FPS}/TB+{frame(a) / FPS - frame(start) / FPS:.4f}/TB"
        )
        if pop.start >= start:
            chain += f",fade=t=in:st={pop.start - start:.4f}:d={POP_S}:alpha=1"
        graph.append(f"{chain}[p{k}]")
        over(f"[p{k}]", f"{box.x:.0f}", f"{box.y:.0f}", ":eof_action=pass")
    for k, (track, listing) in enumerate(zip(scene.tracks, lists, strict=True)):
        i = add(listing)
        graph.append(f"[{i}:v]format=yuva420p[s{k}]")
        x = position(track, start, end, "x").replace("T", T)
        y = position(track, start, end, "y").replace("T", T)
        over(f"[s{k}]", x, y)
    seconds = n / FPS
    accent = scene.accent.lstrip("#")
    # Progress across the top, for the whole short.
    bar_w = round(SAFE_AREA.width)
    graph.append(_bar("pg", accent, bar_w, PROGRESS_H, seconds))
    fill = f"{bar_w}*(1-min(1\\,{T}/{scene.duration:.4f}))"
    graph.append(f"[pg]crop={bar_w}:{PROGRESS_H}:x='{fill}':y=0[pgc]")
    over("[pgc]", str(SAFE_AREA.x), str(PROGRESS_Y))
    if scene.timer is not None and scene.timer[1] > start and scene.timer[0] < end:
        t0, t1 = scene.timer
        box = TIMER_BOX
        within = f"between({T}\\,{t0:.4f}\\,{t1:.4f})"
        graph.append(_bar("tm", accent, round(box.width), round(box.height), seconds))
        drain = f"{box.width:.0f}*min(1\\,max(0\\,({T}-{t0:.4f})/{t1 - t0:.4f}))"
        graph.append(f"[tm]crop={box.width:.0f}:{box.height:.0f}:x='{drain}':y=0[tmc]")
        graph.append(
            f"{last}drawbox=x={box.x:.0f}:y={box.y:.0f}:w={box.width:.0f}:h={box.height:.0f}:"
            f"color=white@0.22:t=fill:enable='{within}'[v{step + 1}]"
        )
        step += 1
        last = f"[v{step}]"
        over("[tmc]", f"{box.x:.0f}", f"{box.y:.0f}", f":enable='{within}'")
        size = str(TIMER_PX)
        if scene.countdown is not None:
            c0, c1 = scene.countdown
            pulse = f"{COUNTDOWN_PX}+40*max(0\\,1-4*({T}-{c0:.4f}-floor({T}-{c0:.4f})))"
            size = f"if(between({T}\\,{c0:.4f}\\,{c1:.4f})\\,{pulse}\\,{TIMER_PX})"
        step += 1
        graph.append(
            f"{last}drawtext=font='{scene.font}':fontcolor=white:borderw=8:bordercolor=black@0.8:"
            f"text='%{{eif\\:max(0\\,ceil({t1:.4f}-{T}))\\:d}}':fontsize='{size}':"
            f"x=(w-tw)/2:y={TIMER_TEXT_Y}+({COUNTDOWN_PX}+40-th)/2:enable='{within}'[v{step}]"
        )
        last = f"[v{step}]"
    graph.append(f"{last}format=yuv420p[v]")
    ordered: list[str] = []
    for path in inputs:
        if path in lists:
            ordered += ["-f", "concat", "-safe", "0"]
        ordered += ["-i", str(path)]
    return [
        "ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error", *ordered,
        "-filter_complex", ";".join(graph), "-map", "[v]", "-an",
        "-frames:v", str(n), "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
        "-pix_fmt", "yuv420p", "-r", str(FPS), "-g", str(2 * FPS), "-threads", str(threads),
        str(out),
    ]  # fmt: skip


def _bar(name: str, accent: str, width: int, height: int, seconds: float) -> str:
    """A ``2*width`` strip, accent then transparent: a crop window sliding over it shows a
    bar of any length, moving per frame (crop's x is evaluated per frame; its width is not)."""
    d = f"{seconds + 1:.3f}"
    return (
        f"color=c=0x{accent}:s={width}x{height}:r={FPS}:d={d},format=yuva420p[{name}a];"
        f"color=c=black@0.0:s={width}x{height}:r={FPS}:d={d},format=yuva420p[{name}b];"
        f"[{name}a][{name}b]hstack=2[{name}]"
    )
