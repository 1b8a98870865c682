"""Simulated time: a compressed clock so a channel's weeks pass in minutes, and a manual one.

``SimClock`` derives simulated time from a real monotonic clock instead of counting ticks, so
it never drifts and costs nothing while idle: ``now()`` is pure arithmetic and
``sleep_until()`` computes the real wait once and sleeps it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where simulated components read the time and wait for a moment."""

    def now(self) -> datetime:
        """The current (simulated) time, timezone-aware UTC."""
        ...

    async def sleep_until(self, when: datetime) -> None:
        """Return once ``now() >= when``; at once when that moment has passed."""
        ...


def _utc(moment: datetime, name: str) -> datetime:
    # A naive datetime is ambiguous (local time? UTC?); refusing it beats guessing wrong by
    # hours in a clock every metric depends on.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class SimClock:
    """``now() = epoch + (real time elapsed since construction) x speed``.

    ``speed`` 1.0 is real time; 8640 makes a simulated day pass in 10 real seconds. ``real``
    must be a monotonic clock in seconds; ``sleep_until`` waits with asyncio, so for it
    ``real`` must advance like the event loop's clock (the default does).
    """

    def __init__(
        self,
        epoch: datetime,
        speed: float,
        *,
        real: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:  # also rejects NaN
            raise ValueError(f"speed must be > 0, got {speed}")
        self.epoch = _utc(epoch, "epoch")
        self.speed = float(speed)
        self._real = real
        self._start = real()

    def now(self) -> datetime:
        """The simulated time now, UTC."""
        return self.epoch + timedelta(seconds=(self._real() - self._start) * self.speed)

    def real_seconds_until(self, when: datetime) -> float:
        """Real seconds until the simulated moment ``when`` (<= 0 once it has passed)."""
        return (_utc(when, "when") - self.now()).total_seconds() / self.speed

    async def sleep_until(self, when: datetime) -> None:
        """Sleep the real equivalent of the simulated wait until ``when``."""
        remaining = self.real_seconds_until(when)
        # One sleep almost always suffices. The loop only guards the contract now() >= when:
        # asyncio may fire a timer up to its clock resolution early, and timedelta rounds to
        # microseconds, so a second, tiny sleep can be needed.
        while remaining > 0:
            await asyncio.sleep(remaining)
            remaining = self.real_seconds_until(when)


class ManualClock:
    """A clock that moves only when told to (tests): ``advance()`` wakes due sleepers."""

    def __init__(self, start: datetime) -> None:
        self._now = _utc(start, "start")
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        """The time last set by construction or ``advance()``."""
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds) and wake every sleeper whose
        moment has come. Returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError(f"a clock never goes back; got {step}")
        self._now += step
        waiting: list[tuple[datetime, asyncio.Future[None]]] = []
        for when, future in self._sleepers:
            if future.done():  # cancelled sleeper: forget it
                continue
            if when <= self._now:
                future.set_result(None)
            else:
                waiting.append((when, future))
        self._sleepers = waiting
        return self._now

    async def sleep_until(self, when: datetime) -> None:
        """Wait (without polling) until ``advance()`` reaches ``when``."""
        target = _utc(when, "when")
        if target <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((target, future))
        await future

    @property
    def sleepers(self) -> int:
        """How many sleepers wait for a later moment (lets tests await "someone is asleep")."""
        return sum(1 for _, future in self._sleepers if not future.done())
