"""A worker that fails on purpose: ``python -m tests.chaos.faulty_worker GROUP``.

It is ``munjero worker GROUP`` (``factory.worker.run_worker``: the real Faust app, agents,
processors, retry tiers and dead letters), except that each processor's ``step`` is wrapped so
that a deterministic share of events raises ``RetriableError`` on their *first* attempt only.

Deterministic across restarts: whether an event is chosen depends only on its
``meta.event_id`` (``is_transient``), and "first attempt" is the ``x-munjero-attempt`` header of
the delivery (0 on the event topic, >= 1 on a retry tier), read from the ``Message`` the
processor is handling. So a replay of the event topic after a crash fails the same events
again and a retry tier never does: every transient event succeeds on its first retry.

``MUNJERO_CHAOS_TRANSIENT_RATE`` (default 0.05) sets the share; ``MUNJERO_CHAOS_STEP_DELAY_S``
(default 0) makes every step take that much longer, so a batch is still in flight when a test
stops the worker. Poison events need no help
from the worker: the scenario produces bytes that are not Confluent wire format straight to the
input topic, and the real processor dead-letters them (``SerializationError`` is fatal).
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import os
import sys
from collections.abc import Sequence
from typing import Any

TRANSIENT_RATE_ENV = "MUNJERO_CHAOS_TRANSIENT_RATE"
STEP_DELAY_ENV = "MUNJERO_CHAOS_STEP_DELAY_S"
_attempts: contextvars.ContextVar[int] = contextvars.ContextVar("chaos_attempts", default=0)


def is_transient(event_id: str, rate: float) -> bool:
    """Whether ``event_id`` is one of the ``rate`` share of events that fail once."""
    digest = hashlib.sha256(f"chaos-transient:{event_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 1_000_000 < int(rate * 1_000_000)


def wrap_processor(processor: Any, rate: float, delay_s: float = 0.0) -> None:
    """Make ``processor``'s step fail once for the chosen events, and take ``delay_s`` longer
    (instance attributes only)."""
    from streams.errors import RetriableError

    step = processor.step
    one = processor._one

    async def one_with_attempts(msg: Any) -> Any:
        token = _attempts.set(msg.attempts)
        try:
            return await one(msg)
        finally:
            _attempts.reset(token)

    async def flaky_step(record: dict[str, Any]) -> Sequence[Any]:
        event_id = str((record.get("meta") or {}).get("event_id"))
        if _attempts.get() == 0 and is_transient(event_id, rate):
            raise RetriableError(f"chaos: injected transient failure of {event_id}")
        if delay_s:
            await asyncio.sleep(delay_s)  # the injected slowness itself
        outputs: Sequence[Any] = await step(record)
        return outputs

    processor._one = one_with_attempts
    processor.step = flaky_step


def main(argv: Sequence[str]) -> None:
    from factory import worker
    from streams.settings import Settings

    rate = float(os.environ.get(TRANSIENT_RATE_ENV, "0.05"))
    delay_s = float(os.environ.get(STEP_DELAY_ENV, "0"))
    original = worker.build_worker_app

    def build_faulty(settings: Settings, group: str) -> Any:
        app, processors, resources = original(settings, group)
        for processor in processors:
            wrap_processor(processor, rate, delay_s)
        return app, processors, resources

    worker.build_worker_app = build_faulty  # run_worker looks it up by its module name
    worker.run_worker(Settings(), argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])
