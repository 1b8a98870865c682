"""The ffmpeg argv that turns still shots into the MP4 (pure): filter graph, parts, mux."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.render import compose
from agents.render.compose import (
    TRANSITION_S,
    TRANSITIONS,
    Encoding,
    concat_list,
    countdown_window,
    mux_args,
    part_args,
    split_parts,
    transition_for,
    video_filter,
)
from agents.render.layout import FPS
from agents.render.plan import Line, Shot, Timeline, build_timeline, narration, shots
from streams.ports.tts import PhraseTiming
from tests.drafts import drafted
from tests.factories import problem_event

T_FRAMES = round(TRANSITION_S * FPS)
_STATEMENT = re.compile(r"^((?:\[[^\]]+\])*)(.*?)((?:\[[^\]]+\])*)$")
_LABEL = re.compile(r"\[([^\]]+)\]")
_HOLD = re.compile(r"^loop=loop=(\d+):size=1,setpts=N/30/TB$")
_XFADE = re.compile(r"^xfade=transition=(\w+):duration=([\d.]+):offset=0$")


def timeline(index: int, *, scene_pause: float, countdown: int = 3) -> Timeline:
    record = drafted(problem_event(index), k=1)[0]
    lines: list[Line] = narration(record)
    timings: list[PhraseTiming] = []
    t = 0.05
    for i, line in enumerate(lines):
        if i:
            t += scene_pause if line.scene != lines[i - 1].scene else 0.12
        end = t + 0.3 + 0.08 * len(line.text)
        timings.append(PhraseTiming(line.text, round(t, 3), round(end, 3)))
        t = end
    return build_timeline(lines, timings, round(t + 0.1, 3), countdown)


@pytest.fixture(params=[(0, 1.0), (45, 1.0), (2, 0.5), (45, 0.3)], ids=lambda p: f"{p[0]}-{p[1]}")
def video(request: pytest.FixtureRequest) -> tuple[Timeline, tuple[Shot, ...]]:
    index, pause = request.param
    tl = timeline(index, scene_pause=pause)
    return tl, shots(tl, FPS)


def parse(graph: str) -> list[tuple[list[str], str, list[str]]]:
    """(input labels, filter chain, output labels) per statement of a filter graph."""
    out = []
    for statement in graph.split(";"):
        match = _STATEMENT.match(statement)
        assert match is not None, statement
        ins, body, outs = match.groups()
        out.append((_LABEL.findall(ins), body, _LABEL.findall(outs)))
    return out


def output_frames(graph: str) -> int:
    """Frames the graph emits, from its holds (N+1 frames each), xfades and the concat."""
    frames: dict[str, int] = {}
    concat: list[str] = []
    for ins, body, outs in parse(graph):
        if hold := _HOLD.match(body):
            frames[outs[0]] = int(hold.group(1)) + 1
        elif xfade := _XFADE.match(body):
            a, b = (frames[label] for label in ins)
            overlap = round(float(xfade.group(2)) * FPS)
            assert a == b == overlap, (ins, a, b, overlap)  # offset 0: the whole clip fades
            frames[outs[0]] = a + b - overlap
        elif body.startswith("concat="):
            assert body.startswith(f"concat=n={len(ins)}:")
            concat = ins
    return sum(frames[label] for label in concat)


def test_transition_for_cuts_within_a_scene_and_fades_between_scenes() -> None:
    def shot(scene: str, caption: str | None = None, tick: int | None = None) -> Shot:
        return Shot(scene, 0.0, 1.0, tick, caption)

    assert transition_for(shot("hook"), shot("hook", "a caption")) is None
    assert transition_for(shot("countdown", tick=3), shot("countdown", tick=2)) is None
    assert transition_for(shot("hook"), shot("question")) == "slideup"
    assert transition_for(shot("choices"), shot("countdown")) == "fade"
    assert transition_for(shot("countdown"), shot("reveal")) == "circleopen"
    assert transition_for(shot("reveal"), shot("cta")) == "slideleft"
    assert transition_for(shot("cta"), shot("somewhere-new")) == "fade"


def test_filter_frames_sum_to_the_video_duration(video: tuple[Timeline, tuple[Shot, ...]]) -> None:
    tl, frames = video
    graph = video_filter(frames, accent="#ffcc00", countdown=countdown_window(frames))
    assert output_frames(graph) == round(tl.duration * FPS)


def test_every_filter_label_is_made_once_and_used_once(
    video: tuple[Timeline, tuple[Shot, ...]],
) -> None:
    _, frames = video
    graph = video_filter(frames, accent="#ffcc00", countdown=countdown_window(frames))
    made: Counter[str] = Counter()
    used: Counter[str] = Counter()
    for ins, _, outs in parse(graph):
        used.update(ins)
        made.update(outs)
    stills = {f"{i}:v" for i in range(len(frames))}
    assert set(used) - set(made) == stills
    assert all(used[s] == 1 for s in stills)
    assert set(made) - set(used) == {"v"}
    assert all(n == 1 for n in made.values())
    assert all(used[label] == 1 for label in made if label != "v")


def test_scene_changes_with_room_fade_and_the_rest_cut() -> None:
    tl = timeline(0, scene_pause=1.2)
    frames = shots(tl, FPS)
    graph = video_filter(frames, accent="#ffcc00")
    fades = re.findall(r"xfade=transition=(\w+)", graph)
    expected = [k for a, b in itertools.pairwise(frames) if (k := transition_for(a, b))]
    assert fades == expected
    assert set(fades) == set(TRANSITIONS.values())  # a generous pause lets every scene fade in


def test_a_short_leaving_shot_lets_the_entered_scene_fade_in() -> None:
    short = T_FRAMES / FPS  # exactly the transition's length: no room to hold any frame
    frames = (Shot("hook", 0.0, short), Shot("question", short, 1.0))
    graph = video_filter(frames, accent="#fff")
    assert re.findall(r"xfade=transition=(\w+)", graph) == ["slideup"]
    assert output_frames(graph) == T_FRAMES + FPS


def test_two_shots_too_short_for_a_transition_cut() -> None:
    short = T_FRAMES / FPS
    frames = (Shot("hook", 0.0, short), Shot("question", short, short))
    graph = video_filter(frames, accent="#fff")
    assert "xfade" not in graph
    assert output_frames(graph) == 2 * T_FRAMES


def test_a_shot_shorter_than_a_frame_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        video_filter((Shot("hook", 0.0, 1.0), Shot("hook", 1.0, 0.01, None, "x")), accent="#fff")


def test_countdown_bar_only_where_the_countdown_is(
    video: tuple[Timeline, tuple[Shot, ...]],
) -> None:
    _, frames = video
    window = countdown_window(frames)
    assert window is not None
    ticks = [s for s in frames if s.scene == "countdown"]
    assert window == (ticks[0].start, ticks[-1].end)
    graph = video_filter(frames, accent="#ffcc00", countdown=window)
    assert "color=c=#ffcc00" in graph
    assert f"between(t,{window[0]:.3f},{window[1]:.3f})" in graph
    before = [s for s in frames if s.end <= window[0]]
    assert "overlay" not in video_filter(before, accent="#ffcc00", countdown=window)
    assert "overlay" not in video_filter(frames, accent="#ffcc00", countdown=None)


def test_countdown_window_is_none_without_ticks() -> None:
    assert countdown_window([Shot("hook", 0.0, 1.0)]) is None


def assert_groups_partition(groups: Sequence[range], n: int) -> None:
    assert [i for g in groups for i in g] == list(range(n))
    assert all(len(g) > 0 for g in groups)


@pytest.mark.parametrize("parts", [1, 2, 3, 4])
def test_split_parts_cuts_only_at_hard_cuts_and_covers_every_shot(
    video: tuple[Timeline, tuple[Shot, ...]], parts: int
) -> None:
    _, frames = video
    groups = split_parts(frames, parts)
    assert_groups_partition(groups, len(frames))
    assert 1 <= len(groups) <= parts
    for group in groups[1:]:
        first = group[0]
        assert transition_for(frames[first - 1], frames[first]) is None


def test_split_parts_balances_the_halves() -> None:
    tl = timeline(45, scene_pause=1.0)
    frames = shots(tl, FPS)
    groups = split_parts(frames, 2)
    assert len(groups) == 2
    lengths = [frames[g[-1]].end - frames[g[0]].start for g in groups]
    assert abs(lengths[0] - lengths[1]) < 0.25 * tl.duration


def test_split_parts_keeps_a_video_of_only_transitions_whole() -> None:
    frames = [Shot(scene, float(i), 1.0) for i, scene in enumerate(["hook", "question", "cta"])]
    assert split_parts(frames, 2) == [range(3)]
    assert split_parts(frames[:1], 4) == [range(1)]


@pytest.mark.parametrize("parts", [2, 3])
def test_parts_encode_on_their_own_clock_and_add_up(
    video: tuple[Timeline, tuple[Shot, ...]], parts: int, tmp_path: Path
) -> None:
    tl, frames = video
    window = countdown_window(frames)
    assert window is not None
    total = 0
    bars = 0
    for k, group in enumerate(split_parts(frames, parts)):
        part = [frames[i] for i in group]
        stills = [tmp_path / f"shot-{i}.jpg" for i in group]
        args = part_args(
            stills,
            part,
            tmp_path / f"part-{k}.mp4",
            accent="#ffcc00",
            encoding=Encoding(),
            countdown=window,
        )
        assert [args[i + 1] for i, a in enumerate(args) if a == "-i"] == [str(s) for s in stills]
        assert args[-1] == str(tmp_path / f"part-{k}.mp4")
        assert "-an" in args
        graph = args[args.index("-filter_complex") + 1]
        total += output_frames(graph)
        if "overlay" in graph:
            bars += 1
            start = window[0] - part[0].start
            assert f"between(t,{start:.3f},{window[1] - part[0].start:.3f})" in graph
    assert total == round(tl.duration * FPS)
    assert bars >= 1


def test_part_args_needs_one_still_per_shot(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stills"):
        part_args(
            [tmp_path / "a.jpg"],
            [Shot("hook", 0, 1), Shot("hook", 1, 1, None, "x")],
            tmp_path / "p.mp4",
            accent="#fff",
            encoding=Encoding(),
            countdown=None,
        )


def test_part_args_uses_the_encoding(tmp_path: Path) -> None:
    args = part_args(
        [tmp_path / "a.jpg"],
        [Shot("hook", 0, 1)],
        tmp_path / "p.mp4",
        accent="#fff",
        encoding=Encoding(preset="veryfast", crf=23),
        countdown=None,
        threads=1,
    )
    assert args[args.index("-preset") + 1] == "veryfast"
    assert args[args.index("-crf") + 1] == "23"
    assert args[args.index("-threads") + 1] == "1"
    assert args[args.index("-r") + 1] == str(FPS)


def test_mux_copies_video_adds_audio_and_moves_the_index_first(tmp_path: Path) -> None:
    listing, sound, out = tmp_path / "parts.txt", tmp_path / "s.wav", tmp_path / "short.mp4"
    args = mux_args(listing, sound, out, duration=31.23456, encoding=Encoding(audio_bitrate="128k"))
    assert args[0] == "ffmpeg"
    assert args[args.index("-f") + 1] == "concat"
    inputs = [args[i + 1] for i, a in enumerate(args) if a == "-i"]
    assert inputs == [str(listing), str(sound)]
    maps = [args[i + 1] for i, a in enumerate(args) if a == "-map"]
    assert maps == ["0:v", "1:a"]
    assert args[args.index("-c:v") + 1] == "copy"
    assert args[args.index("-c:a") + 1] == "aac"
    assert args[args.index("-b:a") + 1] == "128k"
    assert args[args.index("-t") + 1] == "31.235"
    assert args[args.index("-movflags") + 1] == "+faststart"
    assert args[-1] == str(out)


def test_concat_list_quotes_each_path() -> None:
    listing = concat_list([Path("/w/part-0.mp4"), Path("/w/it's/part-1.mp4")])
    assert listing == "file '/w/part-0.mp4'\nfile '/w/it'\\''s/part-1.mp4'\n"
    assert concat_list([]) == ""


def test_full_ffmpeg_args_map_the_audio_after_the_stills(tmp_path: Path) -> None:
    frames = [Shot("hook", 0, 1), Shot("question", 1, 1)]
    stills = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    args = compose.ffmpeg_args(
        stills,
        frames,
        tmp_path / "s.wav",
        tmp_path / "o.mp4",
        duration=2,
        accent="#fff",
        encoding=Encoding(),
    )
    maps = [args[i + 1] for i, a in enumerate(args) if a == "-map"]
    assert maps == ["[v]", "2:a"]
