"""The quality gate (pure): a render passes only if every check does, and each failure is named."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest

from agents.render.gate import (
    DURATION_TOLERANCE_S,
    LOUDNESS_TOLERANCE_LU,
    MIN_FRAME_STDDEV,
    Evidence,
    check,
    luma_stddevs,
    moov_before_mdat,
)
from agents.render.layout import CAPTION_AREA, FPS, SAFE_AREA, Box


def box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


FTYP = box(b"ftyp", b"isom\0\0\2\0isomiso2avc1mp41")
FAST_START = FTYP + box(b"moov", b"\0" * 40) + box(b"mdat", b"\1" * 100)
SLOW_START = FTYP + box(b"free") + box(b"mdat", b"\1" * 100) + box(b"moov", b"\0" * 40)


def probe(**video: Any) -> dict[str, Any]:
    v = {
        "codec_type": "video",
        "codec_name": "h264",
        "width": 1080,
        "height": 1920,
        "pix_fmt": "yuv420p",
        "avg_frame_rate": f"{FPS}/1",
    }
    v.update(video)
    return {
        "streams": [v, {"codec_type": "audio", "codec_name": "aac", "sample_rate": "48000"}],
        "format": {"duration": "31.040000", "format_name": "mov,mp4,m4a,3gp,3g2,mj2"},
    }


STAGE = Box(60, 360, 840, 760)
GOOD = Evidence(
    probe=probe(),
    expected_duration=31.0,
    integrated_lufs=-14.3,
    target_lufs=-14.0,
    caption_boxes=[Box(120, 1300, 720, 80)],
    content_boxes=[
        ("question:.brand", Box(60, 176, 300, 72)),
        ("question:.stage", STAGE),
        ("question:.stage > *", Box(60, 500, 840, 300)),
        ("reveal:.stage", STAGE),
        ("reveal:.stage > *", Box(80, 400, 800, 700)),
    ],
    frame_stddevs=[42.0, 35.5, 51.2],
    head=FAST_START,
)


def test_a_good_render_passes() -> None:
    assert check(GOOD) == []


def failing(**changes: Any) -> list[str]:
    reasons = check(dataclasses.replace(GOOD, **changes))
    assert reasons, changes
    return reasons


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"probe": probe(width=720, height=1280)}, "resolution 720x1280"),
        ({"probe": probe(width=1920, height=1080)}, "resolution 1920x1080"),
        ({"probe": probe(codec_name="hevc")}, "video codec hevc"),
        ({"probe": probe(pix_fmt="yuv444p")}, "pixel format yuv444p"),
        ({"probe": probe(avg_frame_rate="25/1")}, "frame rate 25/1"),
        ({"probe": probe(avg_frame_rate="30000/1001")}, "frame rate 30000/1001"),
        ({"expected_duration": 31.0 + DURATION_TOLERANCE_S + 0.3}, "planned"),
        ({"expected_duration": 30.5}, "duration 31.04s, planned 30.50s"),
        ({"integrated_lufs": -14.0 - LOUDNESS_TOLERANCE_LU - 0.2}, "loudness -15.7 LUFS"),
        ({"integrated_lufs": -11.0}, "loudness -11.0 LUFS, target -14.0"),
        ({"caption_boxes": [Box(40, 1300, 720, 80)]}, "caption at (40,1300 720x80)"),
        ({"caption_boxes": [Box(120, 1400, 720, 80)]}, "leaves the Shorts safe area"),
        ({"content_boxes": [("hook:.chip", Box(60, 100, 200, 60))]}, "scene element hook:.chip"),
        ({"frame_stddevs": [42.0, 0.0, 51.0, 2.0]}, "sampled frames [1, 3] are blank"),
        ({"frame_stddevs": []}, "no frames were sampled"),
        ({"head": SLOW_START}, "moov atom is not before the media data"),
        ({"head": b""}, "not fast-start"),
    ],
)
def test_each_bad_render_is_refused_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    reasons = failing(**changes)
    assert len(reasons) == 1, reasons
    assert reason in reasons[0]


def test_a_child_spilling_out_of_its_stage_is_an_overflow() -> None:
    spill = Box(60, 1000, 840, 200)  # inside the safe area, below the stage's 1120 bottom
    assert SAFE_AREA.contains(spill)
    reasons = failing(content_boxes=[("choices:.stage", STAGE), ("choices:.stage > *", spill)])
    assert reasons == ["scene element choices:.stage > * at (60,1000 840x200) overflows its stage"]


def test_a_child_is_checked_against_its_own_scenes_stage() -> None:
    child = Box(60, 900, 840, 150)
    tiny = Box(60, 360, 840, 100)
    boxes = [("hook:.stage", tiny), ("reveal:.stage", STAGE), ("reveal:.stage > *", child)]
    assert check(dataclasses.replace(GOOD, content_boxes=boxes)) == []


def test_subpixel_layout_rounding_is_not_an_overflow() -> None:
    child = Box(STAGE.x, STAGE.y - 0.5, STAGE.width, STAGE.height + 1.0)
    boxes = [("cta:.stage", STAGE), ("cta:.stage > *", child)]
    assert check(dataclasses.replace(GOOD, content_boxes=boxes)) == []
    beyond = Box(STAGE.x, STAGE.y - 2.0, STAGE.width, 100)
    assert (
        "overflows its stage"
        in failing(content_boxes=[("cta:.stage", STAGE), ("cta:.stage > *", beyond)])[0]
    )


def test_the_caption_area_itself_is_inside_the_safe_area() -> None:
    assert check(dataclasses.replace(GOOD, caption_boxes=[CAPTION_AREA])) == []


def test_over_the_shorts_limit_fails_even_as_planned() -> None:
    long = probe()
    long["format"]["duration"] = "60.200000"
    reasons = failing(probe=long, expected_duration=60.2)
    assert reasons == ["duration 60.20s is over the 60s Shorts limit"]


def test_missing_or_extra_streams_are_named() -> None:
    video_only = probe()
    video_only["streams"] = video_only["streams"][:1]
    assert failing(probe=video_only) == ["expected one audio stream, found 0"]
    two_videos = probe()
    two_videos["streams"].append(dict(two_videos["streams"][0]))
    assert failing(probe=two_videos) == ["expected one video stream, found 2"]
    mp3 = probe()
    mp3["streams"][1]["codec_name"] = "mp3"
    assert failing(probe=mp3) == ["audio codec mp3, expected aac"]


def test_every_reason_is_reported_at_once() -> None:
    reasons = failing(
        probe=probe(codec_name="vp9", width=1280),
        integrated_lufs=-30.0,
        frame_stddevs=[0.5],
        head=SLOW_START,
    )
    assert len(reasons) == 5


def test_an_empty_probe_fails_without_crashing() -> None:
    reasons = failing(probe={})
    assert "expected one video stream, found 0" in reasons
    assert "expected one audio stream, found 0" in reasons


# moov_before_mdat


def test_fast_start_file_has_moov_first() -> None:
    assert moov_before_mdat(FAST_START)
    assert moov_before_mdat(FTYP + box(b"free", b"\0" * 8) + box(b"moov"))


def test_mdat_first_is_not_fast_start() -> None:
    assert not moov_before_mdat(SLOW_START)


def test_a_64_bit_box_size_is_followed() -> None:
    big = struct.pack(">I4sQ", 1, b"wide", 16 + 4) + b"\0" * 4
    assert moov_before_mdat(FTYP + big + box(b"moov"))
    mdat64 = struct.pack(">I4sQ", 1, b"mdat", 2**33)
    assert not moov_before_mdat(FTYP + mdat64)


def test_a_head_cut_before_either_box_or_corrupt_is_not_fast_start() -> None:
    assert not moov_before_mdat(FTYP)
    assert not moov_before_mdat(FTYP[:6])
    assert not moov_before_mdat(FTYP + struct.pack(">I4s", 4, b"junk") + box(b"moov"))
    # a box claiming to reach past the head: the walk ends without finding moov
    assert not moov_before_mdat(FTYP + struct.pack(">I4s", 10_000, b"free") + box(b"moov"))


# luma_stddevs


def test_flat_frames_have_no_spread_and_busy_frames_do() -> None:
    w, h = 64, 36
    flat = bytes([16]) * (w * h)
    stripes = bytes((x // 4 % 2) * 235 for _ in range(h) for x in range(w))
    ramp = bytes((x * 4) % 256 for _ in range(h) for x in range(w))
    values = luma_stddevs(flat + stripes + ramp, w, h)
    assert len(values) == 3
    assert values[0] == 0.0
    assert values[1] > MIN_FRAME_STDDEV
    assert values[2] > MIN_FRAME_STDDEV


def test_a_trailing_partial_frame_is_ignored() -> None:
    w, h = 8, 8
    assert len(luma_stddevs(bytes(w * h * 2 + 10), w, h)) == 2
    assert luma_stddevs(b"", w, h) == []
