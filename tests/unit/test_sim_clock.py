"""The compressed simulation clock and the manual test clock."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.simulator.clock import ManualClock, SimClock

EPOCH = datetime(2025, 3, 1, tzinfo=UTC)


class FakeReal:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_now_is_epoch_plus_scaled_real_elapsed() -> None:
    real = FakeReal()
    clock = SimClock(EPOCH, 8640.0, real=real)
    assert clock.now() == EPOCH
    real.t += 10.0
    assert clock.now() == EPOCH + timedelta(days=1)  # 8640 x 10 s = one day
    real.t += 0.5
    assert clock.now() == EPOCH + timedelta(days=1, hours=1.2)
    assert clock.real_seconds_until(EPOCH + timedelta(days=2)) == pytest.approx(9.5)


def test_speed_one_is_real_time() -> None:
    real = FakeReal()
    clock = SimClock(EPOCH, 1.0, real=real)
    real.t += 42.25
    assert clock.now() == EPOCH + timedelta(seconds=42.25)


def test_epoch_is_normalised_to_utc_and_bad_arguments_refused() -> None:
    from datetime import timezone

    kst = timezone(timedelta(hours=9))
    clock = SimClock(datetime(2025, 3, 1, 9, tzinfo=kst), 2.0, real=FakeReal())
    assert clock.now() == EPOCH
    assert clock.now().utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2025, 3, 1), 1.0)  # naive on purpose
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="speed"):
            SimClock(EPOCH, bad)


@pytest.mark.alone  # bounds a time: not beside the parallel phase
async def test_sleep_until_sleeps_the_real_equivalent() -> None:
    clock = SimClock(EPOCH, 3600.0)  # one simulated hour per real second
    target = clock.now() + timedelta(minutes=3)  # 3 simulated minutes = 50 ms real
    started = time.monotonic()
    await clock.sleep_until(target)
    elapsed = time.monotonic() - started
    assert clock.now() >= target
    assert 0.045 <= elapsed < 1.0


@pytest.mark.alone  # bounds a time: not beside the parallel phase
async def test_sleep_until_a_past_moment_returns_at_once() -> None:
    clock = SimClock(EPOCH, 1.0)
    started = time.monotonic()
    await clock.sleep_until(EPOCH - timedelta(days=1))
    assert time.monotonic() - started < 0.05


async def test_manual_clock_wakes_sleepers_when_advanced_past_their_moment() -> None:
    clock = ManualClock(EPOCH)
    woke: list[str] = []

    async def sleeper(name: str, hours: float) -> None:
        await clock.sleep_until(EPOCH + timedelta(hours=hours))
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("a", 1)), asyncio.create_task(sleeper("b", 3))]
    while clock.sleepers < 2:  # yield (no timing) until both tasks reach their await
        await asyncio.sleep(0)
    assert clock.advance(timedelta(hours=2)) == EPOCH + timedelta(hours=2)
    await tasks[0]
    assert woke == ["a"]
    assert not tasks[1].done()
    clock.advance(3600.0)
    await tasks[1]
    assert woke == ["a", "b"]
    assert clock.sleepers == 0


async def test_manual_clock_past_moment_cancel_and_no_going_back() -> None:
    clock = ManualClock(EPOCH)
    await clock.sleep_until(EPOCH)  # already due: returns without waiting
    task = asyncio.create_task(clock.sleep_until(EPOCH + timedelta(hours=1)))
    while clock.sleepers < 1:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    clock.advance(timedelta(hours=2))  # a cancelled sleeper is simply forgotten
    assert clock.sleepers == 0
    with pytest.raises(ValueError, match="never goes back"):
        clock.advance(-1.0)
