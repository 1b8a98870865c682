"""The operations endpoint of a worker process: ``/metrics``, ``/healthz``, ``/readyz``.

A plain threaded HTTP server, so a scrape or a probe is answered even while the worker's event
loop is busy. Readiness checks are coroutines bound to the worker's loop (they use its browser,
vector store, ...) and run there through ``run_coroutine_threadsafe`` with a deadline.

On the embedded default the server binds a free port and announces itself in
``data_dir/targets/<name>.json`` in Prometheus ``file_sd`` format; the local Prometheus of
``munjero up`` and the API's deep ``/readyz`` read those files. In Kubernetes the port is fixed
(``MUNJERO_METRICS_PORT=9100``) and probes use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from observability.readiness import ReadinessCheck, run_checks


class ProcessServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        checks: Sequence[ReadinessCheck] = (),
        loop_getter: Callable[[], asyncio.AbstractEventLoop | None] = lambda: None,
        targets_dir: Path | None = None,
        job: str = "munjero",
        labels: dict[str, str] | None = None,
        refresh_s: float = 10.0,
    ) -> None:
        self.checks = list(checks)
        self._loop_getter = loop_getter
        self._targets_dir = targets_dir
        self.job = job
        self._labels = labels or {}
        self._httpd = ThreadingHTTPServer((host, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"{job}-ops", daemon=True
        )
        self._target_file: Path | None = None
        self._refresh_s = refresh_s
        self._latest: tuple[bool, dict[str, Any], float] | None = None
        self._stopping = threading.Event()
        self._checker = threading.Thread(
            target=self._refresh_forever, name=f"{job}-checks", daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        if self.checks:
            self._checker.start()
        if self._targets_dir is not None:
            self._targets_dir.mkdir(parents=True, exist_ok=True)
            path = self._targets_dir / f"{self.job}-{os.getpid()}.json"
            doc = [{"targets": [self.address], "labels": {"job": self.job, **self._labels}}]
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc))
            tmp.replace(path)  # readers never see half a file
            self._target_file = path

    def stop(self) -> None:
        self._stopping.set()
        if self._target_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._target_file.unlink()
        if self._thread.is_alive():  # shutdown() waits for serve_forever: only if it runs
            self._httpd.shutdown()
        self._httpd.server_close()

    def readiness(self, timeout: float = 10.0) -> tuple[bool, dict[str, Any]]:
        """The latest result of the checks (they run every ``refresh_s`` in the background, so
        a probe is answered at once even when a check takes seconds, like a browser launch)."""
        if not self.checks:
            return True, {"status": "ready", "checks": {}}
        latest = self._latest
        if latest is None:
            return False, {"status": "unready", "checks": {}, "error": "not checked yet"}
        ready, report, at = latest
        return ready, {**report, "checked_s_ago": round(time.monotonic() - at, 1)}

    def check_now(self, timeout: float = 15.0) -> tuple[bool, dict[str, Any]]:
        """Run every check on the worker's loop now and remember the result."""
        loop = self._loop_getter()
        if loop is None or not loop.is_running():
            result: tuple[bool, dict[str, Any]] = (
                False,
                {"status": "unready", "checks": {}, "error": "worker loop not running"},
            )
        else:
            future = asyncio.run_coroutine_threadsafe(run_checks(self.checks), loop)
            try:
                result = future.result(timeout)
            except TimeoutError:
                future.cancel()
                result = (False, {"status": "unready", "checks": {}, "error": "checks timed out"})
        self._latest = (result[0], result[1], time.monotonic())
        return result

    def _refresh_forever(self) -> None:
        while not self._stopping.is_set():
            self.check_now()
            self._stopping.wait(self._refresh_s)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b'{"status":"ok"}', "application/json")
                elif path == "/readyz":
                    ready, body = server.readiness()
                    self._send(200 if ready else 503, orjson.dumps(body), "application/json")
                else:
                    self._send(404, b'{"detail":"not found"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # probes every few seconds are not log events

        return Handler
