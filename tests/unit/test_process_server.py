"""A worker's operations endpoint: metrics, liveness, and readiness checks run on the worker's
own event loop."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from observability.process_server import ProcessServer
from observability.readiness import ReadinessCheck, read_targets
from streams.telemetry import metrics


@pytest.fixture
def worker_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_metrics_health_and_readiness_answer(
    worker_loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    state = {"healthy": True}
    seen_loops: list[asyncio.AbstractEventLoop] = []

    async def probe() -> None:
        seen_loops.append(asyncio.get_running_loop())
        if not state["healthy"]:
            raise RuntimeError("browser would not launch")

    server = ProcessServer(
        checks=[ReadinessCheck("browser", probe)],
        loop_getter=lambda: worker_loop,
        targets_dir=tmp_path / "targets",
        job="munjero-worker-render",
        labels={"group": "render"},
    )
    server.start()
    try:
        metrics.EVENTS_IN.labels("test-agent", "problems.submitted").inc()
        base = f"http://{server.address}"
        scraped = httpx.get(f"{base}/metrics").text
        assert 'munjero_events_in_total{agent="test-agent",topic="problems.submitted"}' in scraped
        assert httpx.get(f"{base}/healthz").status_code == 200
        server.check_now()  # the background refresh may not have run yet
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["browser"]["status"] == "ok"
        # Ran on the worker's loop, not the HTTP thread's.
        assert set(seen_loops) == {worker_loop}
        assert seen_loops[-1] is worker_loop
        state["healthy"] = False
        server.check_now()
        unready = httpx.get(f"{base}/readyz")
        assert unready.status_code == 503
        assert "browser would not launch" in unready.json()["checks"]["browser"]["error"]
        assert httpx.get(f"{base}/nope").status_code == 404
        # Announced for discovery, in Prometheus file_sd format.
        assert read_targets(tmp_path / "targets") == [("munjero-worker-render", server.address)]
        (announced,) = (tmp_path / "targets").glob("*.json")
        assert json.loads(announced.read_text())[0]["labels"]["group"] == "render"
    finally:
        server.stop()
    assert read_targets(tmp_path / "targets") == []  # withdrawn on stop


def test_readiness_fails_while_the_worker_loop_is_not_running() -> None:
    async def never() -> None:  # pragma: no cover - must not be reached
        raise AssertionError

    server = ProcessServer(checks=[ReadinessCheck("x", never)], loop_getter=lambda: None)
    assert server.readiness()[1]["error"] == "not checked yet"
    ready, body = server.check_now()
    assert not ready
    assert body["error"] == "worker loop not running"
    server.stop()
