"""Counting the timers code schedules on the running event loop: each one is a wake-up of an
otherwise idle process (what the idle-CPU work measures, docs/broker.md)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any


class Timers:
    count = 0


@contextlib.contextmanager
def counting_timers() -> Iterator[Timers]:
    """Every ``loop.call_at`` (``call_later`` and ``asyncio.sleep``/timeouts go through it)
    on the running loop while inside the block."""
    loop = asyncio.get_running_loop()
    timers = Timers()
    original: Callable[..., asyncio.TimerHandle] = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.count += 1
        return original(when, callback, *args, **kwargs)

    loop.call_at = counting  # type: ignore[method-assign,assignment]
    try:
        yield timers
    finally:
        loop.call_at = original  # type: ignore[method-assign,assignment]
