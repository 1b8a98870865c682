"""Run ffmpeg/ffprobe. A process killed by a signal or a timeout is a crash (retriable); a
non-zero exit is an error in what we asked for (fatal), reported with ffmpeg's own words.

A signal is never a verdict on the input: ffmpeg that receives SIGINT/SIGTERM either dies by
it or, once its own handler is installed, exits 255 (ffmpeg's "received a signal" code), so
both are crashes. Children run in a session of their own, so a terminal's Ctrl-C (SIGINT to
the foreground process group) reaches the worker, which decides what stops when, and never
ffmpeg directly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Sequence
from typing import Any

from connectors.broker import die_with_parent
from streams.ports.render import RenderCrashedError, RenderRejectedError

STDERR_TAIL = 2000
# ffmpeg exits 255 when its signal handler caught SIGINT/SIGTERM (fftools: received_nb_signals).
SIGNALLED_EXIT = 255


async def run(args: Sequence[str], *, timeout_s: float, stdin: bytes | None = None) -> bytes:
    """Run ``args`` (no shell), return stdout."""
    out, _ = await run_full(args, timeout_s=timeout_s, stdin=stdin)
    return out


async def run_full(
    args: Sequence[str], *, timeout_s: float, stdin: bytes | None = None
) -> tuple[bytes, bytes]:
    """Run ``args`` (no shell), return stdout and stderr (ffmpeg reports analyses there)."""
    if shutil.which(args[0]) is None:
        raise RenderCrashedError(f"{args[0]} is not installed (run tools/setup.sh)")
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Its own session: a terminal's Ctrl-C reaches the worker, which decides; and gone with
        # the worker if that is SIGKILLed (a second Ctrl-C), never an orphan encode.
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate(stdin)
    except TimeoutError:
        await _kill(proc)
        raise RenderCrashedError(f"{args[0]} timed out after {timeout_s:g}s") from None
    except BaseException:
        await _kill(proc)  # cancelled (job timeout, shutdown): never leave ffmpeg running
        raise
    code = proc.returncode
    if code is not None and code < 0:
        raise RenderCrashedError(f"{args[0]} was killed by signal {-code}")
    if code == SIGNALLED_EXIT:
        raise RenderCrashedError(f"{args[0]} was interrupted by a signal (exit {code})")
    if code != 0:
        tail = err.decode(errors="replace")[-STDERR_TAIL:].strip()
        raise RenderRejectedError(f"{args[0]} failed (exit {code}): {tail}")
    return out, err


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def probe(path: str, *, timeout_s: float = 30) -> dict[str, Any]:
    out = await run(
        [
            "ffprobe", "-v", "error", "-print_format", "json",
            "-show_format", "-show_streams", path,
        ],
        timeout_s=timeout_s,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


class Ffmpeg:
    """The ``MediaTool`` port over the ffmpeg and ffprobe binaries."""

    run = staticmethod(run)
    run_full = staticmethod(run_full)
    probe = staticmethod(probe)
