"""Client-side long polling: an empty fetch waits before the next one (docs/broker.md, defect 5).

A Kafka broker holds a fetch that finds no data for up to ``fetch.max.wait.ms``. The embedded
noida-db answers at once, so every idle aiokafka consumer (Faust's included) spins: ~3,700
fetches/s and ~80 % of a core each. This module restores the broker's contract on the client:
after a fetch that returned no records, the fetch task waits out the rest of the wait before it
returns, exactly as if the broker had held the request. A fetch that returns data returns at
once, so a flowing stream gains no latency; an idle partition sees new data at most
``idle_wait_ms`` late.

aiokafka has no public hook for this; the one place it patches is
``aiokafka.consumer.fetcher.Fetcher._proc_fetch_request`` (one fetch round trip per broker
node), and ``tests/unit/test_idle_fetch.py`` fails if that method changes its shape.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.consumer import fetcher as _fetcher

#: aiokafka's background fetch routine also re-checks every ``consumer_timeout_ms`` (200 ms by
#: default), though its wait ends by itself on new records, a rebalance or records consumed: on
#: an idle consumer that was ~5 wake-ups a second for nothing. Every long-lived consumer of ours
#: (Faust's included, ``streams.app``) passes this instead.
CONSUMER_TIMEOUT_MS = 1000

#: The patched method's parameters; the test compares them with the library's.
EXPECTED_PARAMETERS = ("self", "assignment", "node_id", "request")

_ORIGINAL: Callable[..., Awaitable[bool]] = _fetcher.Fetcher._proc_fetch_request
_state = {"idle_wait_s": 0.25, "installed": False}


def idle_wait_s() -> float:
    """The wait after an empty fetch now in force (seconds)."""
    return float(_state["idle_wait_s"])


async def _proc_fetch_request_waiting(
    self: Any, assignment: Any, node_id: Any, request: Any
) -> bool:
    started = time.monotonic()
    got_records: bool = await _ORIGINAL(self, assignment, node_id, request)
    if got_records or self._closed:
        return got_records
    # Never longer than the consumer asked the broker to wait (Faust asks 1.5 s; our setting
    # is the ceiling so an idle-then-busy stream starts quickly).
    wait = min(idle_wait_s(), self._fetch_max_wait_ms / 1000) - (time.monotonic() - started)
    if wait > 0:
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            # Same contract as the original: a cancelled fetch (close, lost assignment) is
            # simply a fetch whose result nobody wants.
            return False
    return got_records


def honour_fetch_max_wait(idle_wait_ms: int) -> None:
    """Make every aiokafka consumer of this process wait ``idle_wait_ms`` after an empty fetch.

    Idempotent; a later call changes the wait. 0 restores busy fetching (a real Kafka broker
    waits by itself, so the client wait is then redundant but harmless).
    """
    _check_library_shape()
    _state["idle_wait_s"] = max(0, idle_wait_ms) / 1000
    if not _state["installed"]:
        setattr(  # noqa: B010 - patching a library method on purpose, in this one place
            _fetcher.Fetcher, "_proc_fetch_request", _proc_fetch_request_waiting
        )
        _state["installed"] = True


def _check_library_shape() -> None:
    parameters = tuple(inspect.signature(_ORIGINAL).parameters)
    if parameters != EXPECTED_PARAMETERS or not inspect.iscoroutinefunction(_ORIGINAL):
        raise RuntimeError(
            "aiokafka's Fetcher._proc_fetch_request changed shape "
            f"({parameters}); review streams/idle_fetch.py before upgrading"
        )
