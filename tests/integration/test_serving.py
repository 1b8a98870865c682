"""Our uvicorn servers (``factory.serving.QuietServer``): quiet when idle, quick to stop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
import uvicorn

from connectors.broker import free_port
from factory.serving import QuietServer, serve_http
from tests.loop_timers import counting_timers

# Both count or bound time on the loop: with the machine to themselves (phase 2 of make test).
pytestmark = [pytest.mark.integration, pytest.mark.alone]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def _timers_while_idle(server_kind: type[uvicorn.Server], seconds: float) -> int:
    """Timers a serving, idle uvicorn server schedules on the loop within ``seconds``."""
    server = server_kind(uvicorn.Config(_app, port=free_port(), log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)  # uvicorn sets a flag, no event to await
        with counting_timers() as timers:
            await asyncio.sleep(seconds)  # the measurement window (its own timer counts once)
    finally:
        server.should_exit = True
        await task
    return timers.count


async def test_an_idle_server_ticks_once_a_second_not_ten_times() -> None:
    ours = await _timers_while_idle(QuietServer, 1.5)
    uvicorns = await _timers_while_idle(uvicorn.Server, 1.5)
    assert ours <= 3  # the window's own sleep + one tick a second
    assert uvicorns >= 10  # what the override removes (fails if uvicorn stops ticking itself)


async def test_stopping_does_not_wait_for_the_next_tick_and_answers_until_then() -> None:
    port = free_port()
    async with contextlib.AsyncExitStack() as stack:
        await serve_http(stack, _app, "127.0.0.1", port)
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/")
        assert response.text == "ok"
        loop = asyncio.get_running_loop()
        asked = loop.time()
    # The stack's exit set should_exit and awaited the server: well inside the 1 s tick.
    assert loop.time() - asked < 0.9
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/")
