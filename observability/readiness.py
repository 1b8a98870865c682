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
from pathlib import Path
from typing import Any

import httpx
import orjson

from streams import catalogue
from streams.catalogue import TopicSpec
from streams.ports.producer import Publisher

HEALTH_TOPIC = catalogue.HEALTH_TOPIC.name


@dataclass(frozen=True)
class ReadinessCheck:
    """A named dependency probe: returns when healthy, raises when not."""

    name: str
    # Returns when healthy (optionally a dict of details, e.g. a worker's own checks), raises
    # when not.
    check: Callable[[], Awaitable[object]]
    timeout_s: float = 2.0


async def _timed(check: ReadinessCheck) -> dict[str, Any]:
    started = time.perf_counter()
    error: str | None = None
    details: object = None
    try:
        details = await asyncio.wait_for(check.check(), check.timeout_s)
    except TimeoutError:
        error = f"no answer within {check.timeout_s}s"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    result: dict[str, Any] = {"status": "fail" if error else "ok", "latency_ms": latency_ms}
    if error:
        result["error"] = error
    if isinstance(details, dict) and details:
        result["details"] = details
    return result


async def run_checks(checks: Sequence[ReadinessCheck]) -> tuple[bool, dict[str, Any]]:
    """Run every check concurrently (the slowest bounds the probe, not the sum)."""
    results = await asyncio.gather(*(_timed(c) for c in checks))
    by_name = {c.name: r for c, r in zip(checks, results, strict=True)}
    ready = all(r["status"] == "ok" for r in results)
    return ready, {"status": "ready" if ready else "unready", "checks": by_name}


def broker_canary_check(
    publisher: Publisher,
    topic: str,
    *,
    source: str,
    timeout_s: float = 2.0,
    name: str = "broker",
) -> ReadinessCheck:
    """A check that produces a tiny record to ``topic`` and waits for the broker's ack.

    A metadata request would pass while the partition leader cannot accept writes; producing is
    what the API needs, so that is what is tested. ``topic`` must exist (see ``health_topic_spec``).
    """

    async def canary() -> None:
        value = orjson.dumps({"producer": source, "at_ms": int(time.time() * 1000)})
        await publisher.publish_many([(topic, b"canary", value, ())], timeout=timeout_s)

    return ReadinessCheck(name, canary, timeout_s=timeout_s + 0.5)


def health_topic_spec() -> TopicSpec:
    """The canary topic, as declared in the topic catalogue."""
    return catalogue.HEALTH_TOPIC


def warehouse_write_check(warehouse: Any, database: str, *, source: str) -> ReadinessCheck:
    """ClickHouse accepts a write: one row into a probe table that keeps a day of rows."""
    from warehouse.tables import ident

    table = f"{ident(database)}.readiness_probe"
    created: list[bool] = []

    async def write() -> None:
        if not created:
            await warehouse.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (at DateTime64(3, 'UTC'), source String) "
                "ENGINE = MergeTree ORDER BY at TTL toDateTime(at) + INTERVAL 1 DAY"
            )
            created.append(True)
        await warehouse.execute(
            # The table name is a validated identifier; the value is a server-side parameter.
            f"INSERT INTO {table} VALUES (now64(3), {{source:String}})",  # noqa: S608
            {"source": source},
        )

    return ReadinessCheck("clickhouse", write, timeout_s=3.0)


def vector_search_check(settings: Any) -> ReadinessCheck:
    """A Qdrant server answers a search on the knowledge collection (a zero vector of the
    collection's own dimension: the probe needs no embedding model)."""

    async def search() -> None:
        from qdrant_client import AsyncQdrantClient

        key = settings.qdrant_api_key
        client = AsyncQdrantClient(
            url=settings.qdrant_url, api_key=key.get_secret_value() if key else None
        )
        try:
            info = await client.get_collection(settings.qdrant_collection)
            vectors: Any = info.config.params.vectors
            size = vectors.size if hasattr(vectors, "size") else next(iter(vectors.values())).size
            await client.query_points(settings.qdrant_collection, query=[0.0] * size, limit=1)
        finally:
            await client.close()

    return ReadinessCheck("qdrant", search, timeout_s=3.0)


def workers_check(
    targets_dir: Path, *, expected: Sequence[str], timeout_s: float = 3.0
) -> ReadinessCheck:
    """Every worker announced in ``targets_dir`` answers its own ``/readyz`` (vector search,
    browser launch, ...) and every ``expected`` job has announced itself."""

    async def workers() -> dict[str, Any]:
        found = [(job, addr) for job, addr in read_targets(targets_dir) if job in expected]
        async with httpx.AsyncClient(timeout=timeout_s - 0.5) as client:
            answers = await asyncio.gather(
                *(client.get(f"http://{addr}/readyz") for _, addr in found),
                return_exceptions=True,
            )
        details: dict[str, Any] = {}
        failing = [job for job in expected if job not in {j for j, _ in found}]
        for (job, addr), answer in zip(found, answers, strict=True):
            if isinstance(answer, BaseException):
                details[f"{job}@{addr}"] = {"status": "fail", "error": repr(answer)[:200]}
                failing.append(job)
                continue
            body = answer.json() if answer.content else {}
            details[f"{job}@{addr}"] = body.get("checks", body)
            if answer.status_code != 200:
                failing.append(job)
        if failing:
            raise RuntimeError(f"not ready: {', '.join(sorted(set(failing)))}; {details}"[:600])
        return details

    return ReadinessCheck("workers", workers, timeout_s=timeout_s)


def read_targets(directory: Path) -> list[tuple[str, str]]:
    """``(job, host:port)`` of every target announced in ``directory``, in the Prometheus
    ``file_sd`` format Prometheus reads too (``[{"targets": [...], "labels": {"job": ...}}]``).

    Unreadable or half-written files are skipped: a process replaces its file atomically, and
    the next call reads it again."""
    found: list[tuple[str, str]] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            groups = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        for group in groups if isinstance(groups, list) else ():
            if isinstance(group, dict):
                job = str((group.get("labels") or {}).get("job", "munjero"))
                found += [(job, str(address)) for address in group.get("targets") or ()]
    return found
