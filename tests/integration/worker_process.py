"""Run ``munjero worker GROUP`` as a real child process for tests (so SIGKILL is real)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from streams.settings import Settings
from streams.supervisor import worker_env


def start_worker(settings: Settings, group: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", group],
            env=worker_env(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
