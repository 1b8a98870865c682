"""The factory's worker processes: spawned in sessions of their own, stopped in order.

``munjero up`` (factory/supervisor.py) and the chaos tests start workers with ``spawn_worker`` and
stop them with ``stop_processes``: SIGTERM as Kubernetes does, then SIGKILL of the whole process
group after ``WORKER_STOP_TIMEOUT_S``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from connectors.broker import die_with_parent
from factory.topology import worker_group_names
from streams.settings import Settings

log = logging.getLogger(__name__)


#: How long stopping workers get before they are killed: the whole stop must fit in 10 s.
WORKER_STOP_TIMEOUT_S = 6.0


def worker_env(settings: Settings, instance: int = 0) -> dict[str, str]:
    """The environment of a worker child: ours plus every setting, and its replica id."""
    child = settings.model_copy(update={"worker_instance": str(instance)})
    return {**os.environ, **child.to_env()}


def spawn_worker(
    settings: Settings, group: str, log: Path, replica: int = 0
) -> subprocess.Popen[bytes]:
    """One ``munjero worker GROUP`` child process, logging to ``log``.

    In a session of its own: a terminal's Ctrl-C (SIGINT to the foreground process group)
    reaches only this supervisor, which stops the workers first and in order; the workers' own
    children (chromium, ffmpeg, TTS) are theirs to stop. The child dies with this process if
    this process is killed outright."""
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI, fixed argv
            [sys.executable, "-m", "factory.cli", "worker", group],
            env=worker_env(settings, replica),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # only prctl: safe in the forked child
        )


def spawn_workers(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """One process per agent group and replica. On the embedded broker keep one replica per
    group: noida-db orphans partitions when a member leaves mid-commit (docs/broker.md)."""
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return [
        spawn_worker(settings, group, logs / f"worker-{group}-{replica}.log", replica)
        for group in worker_group_names()
        for replica in range(settings.worker_count)
    ]


def stop_processes(
    procs: list[subprocess.Popen[bytes]], timeout: float = WORKER_STOP_TIMEOUT_S
) -> None:
    """SIGTERM each process (as Kubernetes does), then SIGKILL its whole process group if it
    has not exited within ``timeout``. A killed worker loses nothing: what it had not
    committed is read again after the restart."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(proc)


def kill_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """A second Ctrl-C: SIGKILL every worker's process group now."""
    for proc in procs:
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` and everything in its process group (a worker's chromium, ffmpeg)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()
