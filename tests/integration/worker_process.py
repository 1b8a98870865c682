"""Run ``munjero worker GROUP`` as a real child process for tests (so SIGKILL is real)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.settings import Settings


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MUNJERO_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
            "MUNJERO_SCHEMA_REGISTRY_URL": settings.schema_registry_url or "",
            "MUNJERO_TOPIC_NAMESPACE": settings.topic_namespace,
            "MUNJERO_DATA_DIR": str(settings.data_dir),
            "MUNJERO_RETRY_DELAY_FACTOR": str(settings.retry_delay_factor),
            "MUNJERO_DRAFT_VARIANTS_PER_PROBLEM": str(settings.draft_variants_per_problem),
        }
    )
    return env


def start_worker(settings: Settings, group: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker", group],
            env=settings_env(settings),
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
