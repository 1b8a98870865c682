"""Serving and waiting: an HTTP app in the running loop, background tasks tied to an exit
stack, scrape-target announcements, the wait for readiness and for the stop signal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

T = TypeVar("T")
log = logging.getLogger(__name__)


#: How long ``munjero up`` waits for every worker's readiness before naming the laggards.
READY_TIMEOUT_S = 180.0


def announce_target(path: Path, address: str, job: str) -> Callable[[], None]:
    """Announce a scrape target (file_sd format); returns the function that withdraws it."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"targets": [address], "labels": {"job": job}}]))
    tmp.replace(path)
    return lambda: path.unlink(missing_ok=True)


def in_background(
    stack: contextlib.AsyncExitStack,
    name: str,
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
) -> None:
    """Run ``run(stop)`` as a task until ``stack`` closes; then set ``stop`` and let it finish
    (a failure while stopping is logged, never raised over the shutdown of the rest)."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop), name=name)

    async def finish() -> None:
        stop.set()
        try:
            await task
        except Exception:
            log.exception("%s failed while stopping", name)

    stack.push_async_callback(finish)


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the process's signal watch decides when to
    stop. uvicorn would take SIGINT from it while serving and raise it again when it stops:
    with three servers in a process, one Ctrl-C arrived three times, the second of which
    reads as "stop at once" (exit 130)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    # uvicorn's main loop sleeps 0.1 s between checks of ``should_exit`` (and refreshes its
    # Date header every 10th): with three servers, 30 wake-ups a second in an idle process.
    # Here setting ``should_exit`` wakes the loop at once, and the tick is once a second, the
    # Date header's resolution.
    _exit: asyncio.Event | None = None

    @property
    def should_exit(self) -> bool:
        return bool(self.__dict__.get("_should_exit", False))

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self.__dict__["_should_exit"] = value
        if value and self._exit is not None:
            self._exit.set()

    async def main_loop(self) -> None:
        self._exit = asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # uvicorn refreshes the Date on every 10th
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._exit.wait()


async def serve_http(stack: contextlib.AsyncExitStack, app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until ``stack`` closes; return once it accepts connections."""
    server = QuietServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,  # request metrics belong in /metrics, not in the log
            proxy_headers=False,
        )
    )
    serve_task = asyncio.create_task(server.serve(), name=f"http:{port}")

    async def stop_server() -> None:
        server.should_exit = True
        await serve_task

    stack.push_async_callback(stop_server)
    while not server.started:
        if serve_task.done():
            serve_task.result()  # re-raise why it could not bind
            raise RuntimeError("the HTTP server stopped during start-up")
        await asyncio.sleep(0.02)


async def cancel_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_ready(
    api_url: str,
    *,
    timeout: float = 180.0,
    progress: Callable[[float, list[str]], None] | None = None,
) -> list[str]:
    """Wait until the API's deep readiness (broker, registry, ClickHouse and every worker's own
    checks) passes; the names of the checks still failing when ``timeout`` runs out (empty:
    ready). ``progress(elapsed, failing)`` is called about once a second while waiting."""
    started = asyncio.get_running_loop().time()
    failing: list[str] = ["api"]
    async with httpx.AsyncClient(base_url=api_url, timeout=15.0) as client:
        while True:
            elapsed = asyncio.get_running_loop().time() - started
            try:
                response = await client.get("/readyz")
                if response.status_code == 200:
                    return []
                failing = _failing_checks(response.json())
            except (httpx.HTTPError, ValueError):
                failing = ["api"]
            if elapsed >= timeout:
                return failing
            if progress is not None:
                progress(elapsed, failing)
            # Readiness is a remote state with no event to await: ask again shortly.
            await asyncio.sleep(1.0)


def _failing_checks(report: dict[str, Any]) -> list[str]:
    """Names of the failing checks of a ``/readyz`` report; the workers check names the
    workers still starting (``munjero-worker-render``...)."""
    names: list[str] = []
    for name, check in (report.get("checks") or {}).items():
        if check.get("status") == "ok":
            continue
        starting = re.search(r"not ready: ([^;]+)", str(check.get("error", "")))
        if starting:
            names.extend(n.strip() for n in starting.group(1).split(","))
        else:
            names.append(name)
    return sorted(set(names)) or ["unknown"]


class SignalWatch:
    """SIGINT/SIGTERM from the moment it is made: the first sets ``stopped`` (shut down in
    order), a second calls ``on_second`` (stop at once) and exits with 130.

    Made before anything starts, so a Ctrl-C while the factory is still starting, or in the
    instant between the banner and the wait, is an ordered stop too, not a KeyboardInterrupt.
    """

    def __init__(self, on_second: Callable[[], None] | None = None) -> None:
        self.stopped = asyncio.Event()
        self.on_second = on_second
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(sig, self._first)

    def _first(self) -> None:
        self.stopped.set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(sig, self._second)

    def _second(self) -> None:
        if self.on_second is not None:
            self.on_second()
        os._exit(130)  # at once: no unwinding that could wait on anything

    async def unless_stopped(self, work: Awaitable[T]) -> tuple[bool, T | None]:
        """``(True, result)`` when ``work`` finishes first; ``(False, None)`` when a signal
        came first (``work`` is then cancelled)."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stopped.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if task.done():
            return True, task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False, None


async def wait_for_signal(on_second: Callable[[], None] | None = None) -> None:
    """Until SIGINT/SIGTERM: Ctrl-C shuts the factory down in order. A second signal while it
    stops calls ``on_second`` (stop at once) and exits with 130."""
    await SignalWatch(on_second).stopped.wait()
