"""Run ``munjero worker GROUP`` as a real child process for tests (so SIGKILL is real): the
supervisor's own spawn and stop, so tests start workers exactly as ``munjero up`` does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streams.settings import Settings
from streams.supervisor import spawn_worker, stop_processes


def start_worker(settings: Settings, group: str, log: Path) -> subprocess.Popen[bytes]:
    return spawn_worker(settings, group, log)


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    stop_processes([proc], timeout)
