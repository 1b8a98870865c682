"""A signal is not a verdict: ffmpeg interrupted by SIGINT/SIGTERM is a crash (retriable), never
a rejection of the input, and it runs in a session of its own so a terminal's Ctrl-C does not
reach it."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.media import ffmpeg
from streams.errors import RetriableError
from streams.ports.render import RenderCrashedError, RenderRejectedError
from tests.integration.kafka_helpers import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def sigint_not_ignored() -> Iterator[None]:
    """A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored
    across exec: ffmpeg would never see the test's SIGINT. Run as a foreground job would."""
    before = signal.getsignal(signal.SIGINT)
    if before == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _pid_with(token: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def _catches(pid: int, sig: signal.Signals) -> bool:
    """Has ``pid`` installed its own handler for ``sig`` (the SigCgt mask of /proc)?"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False


async def _interrupted(sig: signal.Signals, *, after_handler: bool) -> BaseException:
    token = uuid.uuid4().hex
    args = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
        # -re: at the input's own pace, so ffmpeg is still running when the signal comes
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:duration=120",
        "-metadata", f"title={token}", "-f", "null", "-",
    ]  # fmt: skip
    task = asyncio.create_task(ffmpeg.run(args, timeout_s=60))
    found: list[int] = []

    def started() -> bool:
        pid = _pid_with(token)
        if pid is not None:
            found.append(pid)
        return bool(found)

    await wait_for(started, timeout=20)
    pid = found[0]
    if after_handler:  # ffmpeg's own handler turns the signal into exit code 255
        await wait_for(lambda: _catches(pid, sig), timeout=20)
    assert os.getsid(pid) != os.getsid(0)  # its own session: not in the terminal's group
    os.kill(pid, sig)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is what we assert next
        await task
    return caught.value


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("after_handler", [False, True], ids=["dies-by-signal", "exits-255"])
async def test_ffmpeg_stopped_by_a_signal_is_a_retriable_crash(
    sig: signal.Signals, after_handler: bool
) -> None:
    error = await _interrupted(sig, after_handler=after_handler)
    assert isinstance(error, RenderCrashedError)
    assert isinstance(error, RetriableError)
    assert not isinstance(error, RenderRejectedError)


async def test_ffmpeg_refusing_its_input_is_still_a_rejection(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_bytes(b"garbage")
    with pytest.raises(RenderRejectedError, match="exit 1"):
        await ffmpeg.run(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(bad), "-f", "null", "-"],
            timeout_s=30,
        )
