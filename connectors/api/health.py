"""Liveness and readiness.

Liveness (``/healthz``) touches nothing: a process that can answer is alive, and restarting it
because the broker is down would not help. Readiness (``/readyz``) runs named checks that do the
real thing (produce to the broker, query the warehouse) so a load balancer stops routing to an
instance that would only answer 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.api.ports import Publisher
from connectors.api.records import API_PRODUCER
from streams import catalogue
from streams.catalogue import TopicSpec

HEALTH_TOPIC = catalogue.HEALTH_TOPIC.name


@dataclass(frozen=True)
class ReadinessCheck:
    """A named dependency probe: returns when healthy, raises when not."""

    name: str
    check: Callable[[], Awaitable[None]]
    timeout_s: float = 2.0


async def _timed(check: ReadinessCheck) -> dict[str, Any]:
    started = time.perf_counter()
    error: str | None = None
    try:
        await asyncio.wait_for(check.check(), check.timeout_s)
    except TimeoutError:
        error = f"no answer within {check.timeout_s}s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    result: dict[str, Any] = {"status": "fail" if error else "ok", "latency_ms": latency_ms}
    if error:
        result["error"] = error
    return result


async def run_checks(checks: Sequence[ReadinessCheck]) -> tuple[bool, dict[str, Any]]:
    """Run every check concurrently (the slowest bounds the probe, not the sum)."""
    results = await asyncio.gather(*(_timed(c) for c in checks))
    by_name = {c.name: r for c, r in zip(checks, results, strict=True)}
    ready = all(r["status"] == "ok" for r in results)
    return ready, {"status": "ready" if ready else "unready", "checks": by_name}


def broker_canary_check(
    publisher: Publisher, topic: str, *, timeout_s: float = 2.0, name: str = "broker"
) -> ReadinessCheck:
    """A check that produces a tiny record to ``topic`` and waits for the broker's ack.

    A metadata request would pass while the partition leader cannot accept writes; producing is
    what the API needs, so that is what is tested. ``topic`` must exist (see ``health_topic_spec``).
    """

    async def canary() -> None:
        value = orjson.dumps({"producer": API_PRODUCER, "at_ms": int(time.time() * 1000)})
        await publisher.publish_many([(topic, b"canary", value, ())], timeout=timeout_s)

    return ReadinessCheck(name, canary, timeout_s=timeout_s + 0.5)


def health_topic_spec() -> TopicSpec:
    """The canary topic, as declared in the topic catalogue."""
    return catalogue.HEALTH_TOPIC
