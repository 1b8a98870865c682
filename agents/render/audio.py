"""The soundtrack: narration with the countdown's silence inserted, optional music ducked under
it, loudness normalised for Shorts (pure argv builders and PCM edits; ``pipeline`` runs them).

Loudness: an EBU R128 measurement (``ebur128``), then a linear gain to the target with a peak
limiter, measured again in the same pass. ffmpeg's ``loudnorm`` does the same job but works at
192 kHz: its two passes took 3 s of a 30 s short's render budget, these take ~0.3 s.
"""

from __future__ import annotations

import re
from pathlib import Path

from agents.render.plan import TAIL_S, Timeline
from streams.ports.render import RenderRejectedError
from streams.ports.tts import SAMPLE_WIDTH, Pcm, Speech, read_pcm, write_wav

TRUE_PEAK_DB = -1.5
# Gain passes at most, and how close to the target a pass must land to stop.
NORMALISE_PASSES = 3
NORMALISE_TOLERANCE_LU = 0.5
OUTPUT_RATE = 48_000
# TTS WAVs carry no channel layout, so ffmpeg cannot up-mix them by name: copy the one channel.
_VOICE_TO_STEREO = "pan=stereo|c0=c0|c1=c0"


def narration_track(speech: Speech, timeline: Timeline) -> bytes:
    """The narration as a WAV with lead-in, the countdown's gap and the tail inserted."""
    pcm = read_pcm(speech.wav)
    rate = pcm.sample_rate

    def silence(seconds: float) -> bytes:
        return b"\0" * (round(seconds * rate) * SAMPLE_WIDTH)

    cut = min(round(timeline.split_s * rate), pcm.frames) * SAMPLE_WIDTH
    samples = b"".join(
        (
            silence(timeline.lead_in_s),
            pcm.samples[:cut],
            silence(timeline.gap_s),
            pcm.samples[cut:],
            silence(TAIL_S),
        )
    )
    return write_wav(Pcm(samples, rate))


def mix_args(
    narration: Path,
    music: Path | None,
    out: Path,
    duration: float,
    *,
    effects: Path | None = None,
    music_gain: float = 0.35,
) -> list[str]:
    """Narration, plus music looped and ducked under the voice, plus sound effects (ticks,
    sting: never ducked, they mark time), as one 48 kHz stereo WAV."""
    args = ["ffmpeg", "-nostdin", "-y", "-hide_banner", "-loglevel", "error", "-i", str(narration)]
    chains = [f"[0:a]aresample={OUTPUT_RATE},{_VOICE_TO_STEREO}" + ("[voice]" if music else "[v0]")]
    inputs = 1
    if music is not None:
        args += ["-stream_loop", "-1", "-i", str(music)]
        music_index = inputs
        inputs += 1
        chains = [
            f"[0:a]aresample={OUTPUT_RATE},{_VOICE_TO_STEREO},asplit=2[voice][key]",
            f"[{music_index}:a]aresample={OUTPUT_RATE},aformat=channel_layouts=stereo,"
            f"volume={music_gain}[bed]",
            # The voice is the side-chain key: music drops ~15 dB while someone speaks.
            "[bed][key]sidechaincompress=threshold=0.015:ratio=12:attack=15:release=350[duck]",
            "[voice][duck]amix=inputs=2:duration=first:normalize=0[v0]",
        ]
    last = "[v0]"
    if effects is not None:
        args += ["-i", str(effects)]
        chains.append(
            f"[{inputs}:a]aresample={OUTPUT_RATE},{_VOICE_TO_STEREO}[fx];"
            f"{last}[fx]amix=inputs=2:duration=first:normalize=0[v1]"
        )
        last = "[v1]"
        inputs += 1
    chains.append(f"{last}anull[mix]")
    graph = ";".join(chains)
    return [*args, "-filter_complex", graph, "-map", "[mix]", "-t", f"{duration:.3f}", str(out)]


def measure_args(path: Path) -> list[str]:
    """EBU R128 measurement (integrated loudness, true peak) printed to stderr."""
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", str(path), "-vn",
        "-af", "ebur128=framelog=verbose:peak=true", "-f", "null", "-",
    ]  # fmt: skip


def parse_ebur128(stderr: str) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) from ebur128's summary."""
    summary = stderr[stderr.rfind("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if "Summary:" not in stderr or integrated is None:
        raise RenderRejectedError("ebur128 printed no loudness summary")
    lufs = float(integrated.group(1))
    return lufs, float(peak.group(1)) if peak else 0.0


def gain_db(measured_lufs: float, target_lufs: float) -> float:
    """Linear gain to the target, bounded: silence (-70 LUFS) must not be amplified 56 dB."""
    if measured_lufs <= -60.0:
        raise RenderRejectedError(f"the soundtrack is silent ({measured_lufs:.1f} LUFS)")
    return max(-30.0, min(30.0, target_lufs - measured_lufs))


def normalise_args(mixed: Path, out: Path, gain: float) -> list[str]:
    """Apply the gain, keep peaks under the ceiling, and measure the result in the same pass."""
    ceiling = 10 ** (TRUE_PEAK_DB / 20)
    graph = (
        f"[0:a]volume={gain:.2f}dB,alimiter=limit={ceiling:.4f}:level=false:attack=2:release=60,"
        "asplit=2[out][probe];[probe]ebur128=framelog=verbose:peak=true,anullsink"
    )
    return [
        "ffmpeg", "-nostdin", "-y", "-hide_banner", "-nostats", "-i", str(mixed),
        "-filter_complex", graph, "-map", "[out]", "-ar", str(OUTPUT_RATE), "-ac", "2", str(out),
    ]  # fmt: skip
