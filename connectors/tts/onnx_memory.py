"""Keep an ONNX voice's memory to its model, not to its longest phrase.

onnxruntime's CPU arena keeps every block a run allocated and never gives it back: after a long
Korean phrase Kokoro alone holds ~640 MiB, and with Piper beside it the render worker held
~1 GiB of arena between phrases, on top of chromium and two ffmpeg encodes (peak PSS 1,648 MiB
against the 1.5 GB goal). Asking each run to shrink the arena at its end returns what the run
used: measured with both voices, 430 MiB held between phrases instead of 1,018, for ~3 % more
synthesis time (the next run maps its blocks again). Turning the arena off instead cost 5-20 %.
"""

from __future__ import annotations

import contextlib
import ctypes
from typing import Any

SHRINK = "memory.enable_memory_arena_shrinkage"


def shrinking_run_options() -> Any:
    """Run options that free the CPU arena's unused blocks when the run ends."""
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.add_run_config_entry(SHRINK, "cpu:0")
    return options


def shrink_after_each_run(session: Any) -> None:
    """Make every ``session.run`` of a library we do not call ourselves (Piper) shrink the
    arena at its end, unless the caller passes its own run options."""
    run = session.run
    options = shrinking_run_options()

    def shrinking(output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        return run(output_names, input_feed, run_options or options)

    session.run = shrinking


def release_freed_heap() -> None:
    """Give glibc's freed heap back to the system: loading a voice builds and drops a copy or
    two of its model (Piper patches the graph in memory: ~90 MiB that stays mapped otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
