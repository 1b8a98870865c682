"""The ffmpeg argv around the motion graph (pure): the join of the parts with the soundtrack."""

from __future__ import annotations

from pathlib import Path

from agents.render.compose import Encoding, concat_list, mux_args


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
