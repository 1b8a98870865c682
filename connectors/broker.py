"""The embedded Kafka-protocol broker: PyPI ``noida-db`` run as a child process.

Started by the CLI only when no bootstrap servers are configured. It binds a free loopback port,
keeps its log under its own data directory, and is stopped (SIGTERM, then SIGKILL) on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from streams.errors import BrokerUnavailableError

PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (a small race with other binders is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def noida_binary() -> str:
    """Path of the ``noida-db`` server binary shipped inside the PyPI package.

    The binary itself (not the package's Python launcher, which would be a second process) so
    that the parent-death signal below reaches the server.
    """
    import noida_db

    binary = Path(noida_db.__file__).parent / "noida-db"
    if binary.exists():
        return str(binary)
    found = shutil.which("noida-db")
    if found is None:
        raise FileNotFoundError("noida-db is not installed; run `make setup`")
    return found


# Loaded here, in the parent: a dlopen in a forked child of a threaded process can deadlock.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None


def die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the process that started it dies, so a
    hard-killed CLI or test run never leaves an orphan broker holding its port."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    """A noida-db Kafka broker owned by this process."""

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start the broker and block until its Kafka port accepts connections."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            noida_binary(),
            "start",
            "--only",
            "kafka",
            "--host",
            self.host,
            "--kafka-port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        log = self.log_path.open("ab")
        # Own process group: Ctrl-C in the terminal reaches us, and we stop it in order.
        self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # only prctl: safe in the forked child
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerUnavailableError(
                    f"noida-db exited with {self._proc.returncode}; see {self.log_path}"
                )
            if _answers(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerUnavailableError(f"noida-db did not answer within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (the broker flushes its log on SIGTERM); kill if it hangs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """SIGKILL: for fault-injection tests."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._proc = None

    async def wait_ready(self, timeout: float = 20.0) -> None:
        """Async variant of the readiness wait, for callers already in an event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answers(self.host, self.port):
                return
            await asyncio.sleep(0.05)
        raise BrokerUnavailableError(f"broker at {self.bootstrap_servers} did not answer")

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
