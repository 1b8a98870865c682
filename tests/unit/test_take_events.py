"""Our agents' batching (``HoldingStream.take_events``): Faust's, minus the idle timer.

Faust's ``take_events`` re-arms its ``within`` timeout in a loop even when nothing arrives: each
agent of an idle worker woke 20 times a second. Ours waits for the first event without a timer
and still batches as Faust does. The streams here run on in-memory channels of a real Faust app
(its broker is never contacted).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from typing import Any

import faust
import pytest

from streams.app import HoldingStream
from tests.loop_timers import counting_timers

WITHIN = 0.05
# faust-streaming 0.15.3's Stream.take_events, which HoldingStream.take_events copies with one
# change. If this fails, Faust changed it: compare the two again, then update the digest.
FAUST_TAKE_EVENTS_SHA256 = "607d48aead118ba8ea868718a0df87de1c5fcecd10ec542c659b448796728e08"


def test_faust_take_events_is_the_one_we_copied() -> None:
    source = inspect.getsource(faust.Stream.take_events)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_TAKE_EVENTS_SHA256


@pytest.fixture
def app() -> faust.App:
    app = faust.App(
        "take-events-test",
        broker="kafka://127.0.0.1:9",  # never contacted: the streams read in-memory channels
        store="memory://",
        web_enabled=False,
    )
    app.flow_control.resume()
    return app


class Batches:
    """Runs ``stream.take_events`` in a task, collecting each batch's values."""

    def __init__(self, stream: faust.Stream[Any], max_: int) -> None:
        self.stream = stream
        self.max = max_
        self.values: list[list[Any]] = []
        self.arrived = asyncio.Condition()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async for batch in self.stream.take_events(self.max, within=WITHIN):
            async with self.arrived:
                self.values.append([event.value for event in batch])
                self.arrived.notify_all()

    async def __aenter__(self) -> Batches:
        await self.stream.start()
        self.task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.stream.stop()

    async def until(self, count: int) -> list[list[Any]]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.values) >= count), 10)
        return self.values


def _stream(kind: type[faust.Stream[Any]], app: faust.App) -> faust.Stream[Any]:
    """A stream of ``kind`` over a fresh in-memory channel (its iterator, as ``app.stream``
    makes it: what is sent to ``stream.channel`` is what the stream reads)."""
    return kind(app.channel().__aiter__(), app=app)


async def _timers_while_idle(stream: faust.Stream[Any], seconds: float) -> int:
    """Timers scheduled on the loop while ``stream``'s batching waits with nothing to read."""
    async with Batches(stream, 3):
        await asyncio.sleep(0.05)  # started and waiting
        with counting_timers() as timers:
            # This sleep is the measurement window itself (its own timer counts once).
            await asyncio.sleep(seconds)
    return timers.count


async def test_an_idle_stream_sets_no_timers_where_fausts_wakes_every_within(
    app: faust.App,
) -> None:
    ours = await _timers_while_idle(_stream(HoldingStream, app), 0.5)
    fausts = await _timers_while_idle(_stream(faust.Stream, app), 0.5)
    assert ours <= 1  # the window's own sleep
    assert fausts >= 5  # 0.5 s / 0.05 s: what the override removes (fails if Faust stops it)


async def test_batches_as_faust_does_a_lone_event_then_full_batches_then_the_rest(
    app: faust.App,
) -> None:
    stream = _stream(HoldingStream, app)
    channel: Any = stream.channel
    async with Batches(stream, 3) as batches:
        await channel.send(value=b"a")
        assert await batches.until(1) == [[b"a"]]  # alone: yielded once ``within`` has passed
        for value in (b"b", b"c", b"d", b"e"):
            await channel.send(value=value)
        assert await batches.until(3) == [[b"a"], [b"b", b"c", b"d"], [b"e"]]
