"""Small real media files for tests, made by ffmpeg (never checked in)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def tiny_mp4(path: Path, seconds: float = 1.0) -> Path:
    """A real 108x192 H.264 MP4 of ffmpeg's test pattern."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=108x192:rate=30",
         "-t", f"{seconds:g}", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path
