"""The soundtrack (pure parts): narration PCM edits, ebur128 parsing, the loudness gain."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from agents.render import audio
from agents.render.audio import gain_db, narration_track, parse_ebur128
from agents.render.plan import TAIL_S, Timeline
from streams.ports.render import RenderRejectedError
from streams.ports.tts import SAMPLE_WIDTH, Pcm, PhraseTiming, Speech, read_pcm, write_wav

RATE = 16_000


def speech(seconds: float, rate: int = RATE) -> tuple[Speech, list[int]]:
    """A narration whose samples are all non-zero and distinct enough to locate any slice."""
    n = round(seconds * rate)
    values = [(i % 30_000) + 1 for i in range(n)]
    wav = write_wav(Pcm(struct.pack(f"<{n}h", *values), rate))
    return Speech(wav, rate, seconds, (PhraseTiming("x", 0.0, seconds),)), values


def timeline(split_s: float, gap_s: float, lead_in_s: float = 0.25) -> Timeline:
    return Timeline((), (), split_s, gap_s, lead_in_s, 0.0)


def samples(wav: bytes) -> tuple[list[int], int]:
    pcm = read_pcm(wav)
    return list(struct.unpack(f"<{pcm.frames}h", pcm.samples)), pcm.sample_rate


@pytest.mark.parametrize(("split_s", "gap_s", "lead_in_s"), [(1.0, 3.2, 0.25), (0.37, 5.2, 0.1)])
def test_narration_track_inserts_lead_in_countdown_gap_and_tail(
    split_s: float, gap_s: float, lead_in_s: float
) -> None:
    spoken, values = speech(2.0)
    out, rate = samples(narration_track(spoken, timeline(split_s, gap_s, lead_in_s)))
    assert rate == RATE
    lead, cut, gap, tail = (round(s * RATE) for s in (lead_in_s, split_s, gap_s, TAIL_S))
    assert len(out) == lead + len(values) + gap + tail
    assert out[:lead] == [0] * lead
    assert out[lead : lead + cut] == values[:cut]
    assert out[lead + cut : lead + cut + gap] == [0] * gap
    assert out[lead + cut + gap : lead + len(values) + gap] == values[cut:]
    assert out[len(out) - tail :] == [0] * tail


def test_a_split_after_the_end_puts_the_gap_before_the_tail() -> None:
    spoken, values = speech(1.0)
    out, _ = samples(narration_track(spoken, timeline(5.0, 2.0, 0.25)))
    lead, gap, tail = round(0.25 * RATE), 2 * RATE, round(TAIL_S * RATE)
    assert out[lead : lead + len(values)] == values
    assert out[lead + len(values) :] == [0] * (gap + tail)


def test_the_cut_lands_on_a_whole_sample() -> None:
    spoken, values = speech(0.5, rate=22_050)
    # 0.1234 s at 22.05 kHz is 2720.97 samples: the cut must not split a 16-bit sample.
    out, rate = samples(narration_track(spoken, timeline(0.1234, 1.0, 0.0)))
    assert rate == 22_050
    cut = round(0.1234 * rate)
    assert out[:cut] == values[:cut]
    assert out[cut : cut + rate] == [0] * rate
    assert out[cut + rate : cut + rate + len(values) - cut] == values[cut:]


def test_narration_track_is_a_valid_wav_of_the_planned_length() -> None:
    spoken, _ = speech(1.5)
    wav = narration_track(spoken, timeline(0.7, 3.2))
    pcm = read_pcm(wav)
    assert len(pcm.samples) % SAMPLE_WIDTH == 0
    assert pcm.frames / RATE == pytest.approx(0.25 + 1.5 + 3.2 + TAIL_S, abs=1 / RATE)


# ebur128 as ffmpeg 5.1 prints it with framelog=verbose: per-frame lines, then the summary.
EBUR128 = """\
Input #0, wav, from 'mixed.wav':
  Duration: 00:00:31.04, bitrate: 1536 kb/s
  Stream #0:0: Audio: pcm_s16le ([1][0][0][0] / 0x0001), 48000 Hz, stereo, s16, 1536 kb/s
Stream mapping:
  Stream #0:0 -> #0:0 (pcm_s16le (native) -> pcm_s16le (native))
Output #0, null, to 'pipe:':
  Stream #0:0: Audio: pcm_s16le, 48000 Hz, stereo, s16, 1536 kb/s
[Parsed_ebur128_0 @ 0x55f1c3a0c2c0] t: 0.0999792  TARGET:-23 LUFS    M:-120.7 S:-120.7     \
I: -70.0 LUFS       LRA:   0.0 LU  FTPK: -inf dBFS  TPK: -inf dBFS
[Parsed_ebur128_0 @ 0x55f1c3a0c2c0] t: 30.9999    TARGET:-23 LUFS    M: -18.9 S: -19.6     \
I: -19.8 LUFS       LRA:   4.1 LU  FTPK: -5.2 dBFS  TPK: -3.1 dBFS
[Parsed_ebur128_0 @ 0x55f1c3a0c2c0] Summary:

  Integrated loudness:
    I:         -19.8 LUFS
    Threshold: -30.1 LUFS

  Loudness range:
    LRA:         4.1 LU
    Threshold: -40.2 LUFS
    LRA low:   -22.4 LUFS
    LRA high:  -18.3 LUFS

  True peak:
    Peak:       -3.1 dBFS
size=N/A time=00:00:31.04 bitrate=N/A speed= 412x
"""


def test_parse_ebur128_reads_the_summary_not_the_frame_log() -> None:
    assert parse_ebur128(EBUR128) == (-19.8, -3.1)


def test_parse_ebur128_takes_the_last_summary() -> None:
    second = EBUR128.replace("-19.8 LUFS\n    Threshold", "-14.1 LUFS\n    Threshold").replace(
        "Peak:       -3.1", "Peak:       -1.6"
    )
    assert parse_ebur128(EBUR128 + second) == (-14.1, -1.6)


def test_parse_ebur128_handles_silence() -> None:
    silent = EBUR128.replace("I:         -19.8", "I:         -70.0").replace(
        "Peak:       -3.1", "Peak:       -inf"
    )
    lufs, peak = parse_ebur128(silent)
    assert lufs == -70.0
    assert peak == float("-inf")


def test_parse_ebur128_without_a_peak_reports_zero() -> None:
    no_peak = EBUR128[: EBUR128.index("  True peak:")]
    assert parse_ebur128(no_peak) == (-19.8, 0.0)


@pytest.mark.parametrize(
    "stderr",
    ["", "mixed.wav: No such file or directory\n", EBUR128[: EBUR128.index("Summary:")]],
)
def test_parse_ebur128_without_a_summary_is_rejected(stderr: str) -> None:
    with pytest.raises(RenderRejectedError, match="no loudness summary"):
        parse_ebur128(stderr)


@pytest.mark.parametrize(
    ("measured", "target", "gain"),
    [
        (-19.8, -14.0, 5.8),
        (-14.0, -14.0, 0.0),
        (-8.0, -14.0, -6.0),
        (-50.0, -14.0, 30.0),  # bounded: quiet speech is not boosted 36 dB
        (20.0, -14.0, -30.0),
        (-59.9, -14.0, 30.0),
    ],
)
def test_gain_reaches_the_target_within_bounds(measured: float, target: float, gain: float) -> None:
    assert gain_db(measured, target) == pytest.approx(gain)


@pytest.mark.parametrize("measured", [-60.0, -70.0, float("-inf")])
def test_a_silent_soundtrack_is_rejected(measured: float) -> None:
    with pytest.raises(RenderRejectedError, match="silent"):
        gain_db(measured, -14.0)


def test_mix_without_music_upmixes_the_voice_only(tmp_path: Path) -> None:
    args = audio.mix_args(tmp_path / "n.wav", None, tmp_path / "m.wav", 31.04)
    assert [args[i + 1] for i, a in enumerate(args) if a == "-i"] == [str(tmp_path / "n.wav")]
    assert args[args.index("-t") + 1] == "31.040"
    assert "pan=stereo|c0=c0|c1=c0" in args[args.index("-filter_complex") + 1]


def test_mix_with_music_ducks_it_under_the_voice(tmp_path: Path) -> None:
    args = audio.mix_args(tmp_path / "n.wav", tmp_path / "bed.mp3", tmp_path / "m.wav", 20.0)
    assert [args[i + 1] for i, a in enumerate(args) if a == "-i"] == [
        str(tmp_path / "n.wav"),
        str(tmp_path / "bed.mp3"),
    ]
    assert args[args.index("-stream_loop") + 1] == "-1"
    assert "sidechaincompress" in args[args.index("-filter_complex") + 1]


def test_normalise_applies_the_gain_under_the_true_peak_ceiling(tmp_path: Path) -> None:
    args = audio.normalise_args(tmp_path / "m.wav", tmp_path / "o.wav", 5.8)
    graph = args[args.index("-filter_complex") + 1]
    assert "volume=5.80dB" in graph
    assert f"limit={10 ** (audio.TRUE_PEAK_DB / 20):.4f}" in graph
    assert "ebur128" in graph  # the result is measured in the same pass
