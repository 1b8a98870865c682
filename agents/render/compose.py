"""The ffmpeg commands around the motion graph (pure: argv in, no I/O): the encoding settings,
and the join of the independently encoded parts with the soundtrack into the MP4.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Encoding:
    preset: str = "ultrafast"
    # 22, not 20: x264's time follows the bits it writes, and 20 -> 22 cut a part's encode by
    # ~15 % (4.4 -> 3.5 MB) for an SSIM against a lossless encode of 0.9956 -> 0.9954.
    crf: int = 22
    audio_bitrate: str = "160k"
    parts: int = 2  # independent encodes run at once (motion.parts); the core count suits


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
