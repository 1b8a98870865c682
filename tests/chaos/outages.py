"""h. The schema registry unreachable mid-stream, then the API process killed while workers run.

Both parts are real processes: ``munjero registry`` (its SQLite under the work directory),
``munjero worker content`` and ``munjero api``, each SIGKILLed as a crashed pod or node would be.

1. **Registry down.** The content worker drafts a first chunk of problems; when a third of its
   scripts exist the registry is SIGKILLed (connection refused from then on) and the worker is
   restarted by SIGTERM, as a rolling restart would, so its schema cache is cold: it cannot
   decode a single event. A second chunk of problems and some poison bytes arrive during the
   outage (their dead letters need the registry too). After ``outage_s`` the registry starts
   again on the same port. Proven: the worker lived through the outage, nothing was
   dead-lettered or retried because of it (only the poison, each once), every problem has its
   k scripts once, the group's lag is 0; measured: seconds from the registry's return until the
   backlog is drafted.
2. **API killed.** A producer submits problems through ``munjero api`` one by one (an
   ``Idempotency-Key`` each, re-sent after a connection error, as any client should). Midway
   the API is SIGKILLed; it comes back ``outage_s`` later and the producer carries on. Proven:
   every problem the producer meant to submit was accepted and drafted exactly once (the
   re-sent ones included), and the workers, which never talk to the API, kept draining.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from connectors.broker import free_port
from factory.children import kill_group
from services.api.auth import PROBLEMS_WRITE, ApiKeyStore
from streams.catalogue import topic as catalogue_topic
from streams.settings import Settings
from tests.chaos import auditor
from tests.chaos.scenarios import (
    REPO,
    DistinctCounter,
    Factory,
    Proc,
    Report,
    audit_drafting,
    await_drained,
    factory,
    produce_problems,
    read,
    sigterm,
    spawn,
)
from tests.factories import problem_event

HOST = "127.0.0.1"


def _cli(settings: Settings, args: Sequence[str], log: Path) -> Proc:
    """``munjero ARGS`` as a child process in its own process group, output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "factory.cli", *args],
            env={**os.environ, **settings.to_env()},
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# What the DDL Job does in Kubernetes before the API's warehouse check can pass (a child process:
# chdb opens one data directory per process).
_DDL = """
import asyncio
from connectors.warehouse.factory import open_warehouse
from connectors.warehouse.schema import ensure_schema
from streams.settings import Settings

async def main() -> None:
    settings = Settings()
    warehouse = open_warehouse(settings)
    try:
        await ensure_schema(warehouse, settings.clickhouse_database)
    finally:
        await warehouse.close()

asyncio.run(main())
"""


def _create_warehouse_schema(settings: Settings) -> None:
    subprocess.run(
        [sys.executable, "-c", _DDL],
        env={**os.environ, **settings.to_env()},
        cwd=REPO,
        check=True,
        capture_output=True,
    )


async def _answers(url: str, proc: Proc, *, timeout: float) -> None:
    """Wait until ``url`` answers 200 (a process's own probe); fail early if it died."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
            await asyncio.sleep(0.2)  # polling another process's probe: there is no event


def _registry(settings: Settings, work: Path, port: int, tag: str) -> Proc:
    home = settings.model_copy(update={"data_dir": work / "registry"})
    return _cli(
        home, ["registry", "--host", HOST, "--port", str(port)], work / f"registry-{tag}.log"
    )


async def scenario_h(
    settings: Settings,
    work: Path,
    *,
    problems: int,
    poison: int,
    api_problems: int,
    outage_s: float,
    timeout: float,
) -> Report:
    """``settings`` names the broker; the registry is this scenario's own process."""
    report = Report("h (registry down, API killed)")
    port = free_port()
    registry = _registry(settings, work, port, "0")
    settings = settings.model_copy(update={"schema_registry_url": f"http://{HOST}:{port}"})
    try:
        await _answers(f"{settings.schema_registry_url}/subjects", registry, timeout=60)
        async with factory(settings) as f:
            registry, worker = await _registry_outage(
                f, work, report, registry, port, problems=problems, poison=poison,
                outage_s=outage_s, timeout=timeout,
            )  # fmt: skip
            try:
                await _api_killed(
                    f, work, report, problems=api_problems, outage_s=outage_s, timeout=timeout
                )
            finally:
                await asyncio.to_thread(sigterm, worker)
    finally:
        kill_group(registry)
    return report


async def _registry_outage(
    f: Factory,
    work: Path,
    report: Report,
    registry: Proc,
    port: int,
    *,
    problems: int,
    poison: int,
    outage_s: float,
    timeout: float,
) -> tuple[Proc, Proc]:
    settings = f.settings
    k = settings.draft_variants_per_problem
    spec = catalogue_topic("problems.submitted")
    half = problems // 2
    # Encoded now: the harness stands for producers that were done before the registry fell.
    first, _ = await produce_problems(f, range(half))
    second = _Prepared(f)
    await second.encode(range(half, problems), poison=poison)
    counter = DistinctCounter(
        settings.kafka_bootstrap_servers or "", settings.topic("scripts.drafted")
    )
    await counter.start()
    worker = spawn(settings, "content", work / "content-0.log")
    try:
        await counter.until(max(1, half * k // 3), timeout=timeout)
        kill_group(registry)
        down = time.monotonic()
        await asyncio.to_thread(sigterm, worker)  # a rolling restart: a cold schema cache
        worker = spawn(settings, "content", work / "content-1.log")
        await second.publish()
        before = len(counter.keys)
        await asyncio.sleep(outage_s)  # the outage itself: what the scenario injects
        report.figures["scripts drafted during the outage"] = len(counter.keys) - before
        report.check(
            worker.poll() is None, f"the worker exited during the outage ({worker.poll()})"
        )
        registry = _registry(settings, work, port, "1")
        await _answers(f"{settings.schema_registry_url}/subjects", registry, timeout=60)
        back = time.monotonic()
        report.figures["registry down (s)"] = round(back - down, 1)
        await counter.until((half + len(second.problems)) * k, timeout=timeout)
        lag = await await_drained(
            settings, "content", [spec.name, *spec.retry_topics], timeout=timeout
        )
        report.figures["registry back -> backlog drafted (s)"] = round(time.monotonic() - back, 1)
    finally:
        await counter.stop()
    report.figures["group lag after the registry outage"] = lag
    report.check(not any(lag.values()), f"lag after the registry outage: {lag}")
    audit_drafting(report, {**first, **second.problems}, await read(f, "scripts.drafted"), k)
    letters = auditor.dead_letters(await read(f, spec.dlq_topic))
    dead = sorted(d.original_key or b"" for d in letters)
    report.figures["dead letters (records / poison)"] = f"{len(letters)} / {len(second.poison)}"
    report.check(dead == sorted(second.poison), "dead letters are not exactly the poison, once")
    tiers = [len(await read(f, name)) for name in spec.retry_topics]
    report.figures["retry tier records"] = tiers
    report.check(not any(tiers), "the outage sent events to retry tiers")
    return registry, worker


class _Prepared:
    """Problems and poison encoded while the registry answers, published later."""

    def __init__(self, f: Factory) -> None:
        self._f = f
        self.problems: dict[str, str] = {}
        self.poison: list[bytes] = []
        self._batch: list[tuple[str, bytes, bytes, tuple[()]]] = []

    async def encode(self, indices: range, *, poison: int) -> None:
        source = self._f.settings.topic("problems.submitted")
        subject = f"{source}-value"
        for i in indices:
            record = problem_event(i)
            self.problems[record["problem_id"]] = record["meta"]["event_id"]
            value = await self._f.serde.encode_async(subject, "ProblemSubmitted", record)
            self._batch.append((source, record["problem_id"].encode(), value, ()))
        for i in range(poison):
            key = f"poison-during-outage-{i}".encode()
            self.poison.append(key)
            self._batch.append((source, key, b"not-avro:" + os.urandom(24), ()))

    async def publish(self) -> None:
        await self._f.producer.publish_many(self._batch, timeout=30)


async def _api_killed(
    f: Factory, work: Path, report: Report, *, problems: int, outage_s: float, timeout: float
) -> None:
    settings = f.settings
    k = settings.draft_variants_per_problem
    home = settings.model_copy(
        update={"data_dir": work / "api", "api_host": HOST, "api_port": free_port()}
    )
    home.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_create_warehouse_schema, home)
    store = ApiKeyStore.load(home.resolved_api_keys_file)
    key = store.create_key("chaos-producer", [PROBLEMS_WRITE])
    url = f"http://{HOST}:{home.api_port}"
    api = _cli(home, ["api"], work / "api-0.log")
    counter = DistinctCounter(
        settings.kafka_bootstrap_servers or "", settings.topic("scripts.drafted")
    )
    await counter.start()
    base = len(await read(f, "scripts.drafted"))
    try:
        await _answers(f"{url}/readyz", api, timeout=120)
        producer = _Producer(url, key)
        wanted = [problem_event(100_000 + i) for i in range(problems)]
        submitting = asyncio.create_task(
            producer.submit(wanted, deadline=time.monotonic() + timeout)
        )
        await producer.until_accepted(problems // 2, timeout=timeout)
        kill_group(api)
        killed = time.monotonic()
        await asyncio.sleep(outage_s)  # the outage itself
        api = _cli(home, ["api"], work / "api-1.log")
        await _answers(f"{url}/readyz", api, timeout=120)
        report.figures["API down (s)"] = round(time.monotonic() - killed, 1)
        await submitting
        report.figures["API: accepted / re-sent after a connection error"] = (
            f"{len(producer.accepted)} / {producer.resent}"
        )
        await counter.until(base + problems * k, timeout=timeout)
        lag = await await_drained(settings, "content", ["problems.submitted"], timeout=timeout)
    finally:
        await counter.stop()
        await asyncio.to_thread(sigterm, api)
    report.figures["group lag after the API outage"] = lag
    report.check(not any(lag.values()), f"lag after the API outage: {lag}")
    report.check(len(producer.accepted) == problems, "the producer could not submit everything")
    scripts = [
        r for r in await read(f, "scripts.drafted")
        if r.record is not None and r.record["problem_id"] in producer.accepted
    ]  # fmt: skip
    drafts = auditor.audit_drafts(producer.accepted, scripts, k)
    report.figures["API problems lost / drafted twice"] = (
        f"{drafts.lost} / {drafts.duplicate_effects}"
    )
    report.check(
        drafts.lost == 0, f"problems accepted by the API and lost: {drafts.lost_problems[:5]}"
    )
    report.check(drafts.duplicate_effects == 0, "a problem submitted through the API drafted twice")


class _Producer:
    """A well-behaved API client: one problem at a time, each with its own idempotency key,
    re-sent after a connection error or a 5xx until the API answers 202 (or replays it)."""

    def __init__(self, url: str, key: str) -> None:
        self._client = httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10.0
        )
        self.accepted: set[str] = set()
        self.resent = 0
        self._progress = asyncio.Condition()

    async def submit(self, records: Sequence[dict[str, Any]], *, deadline: float) -> None:
        try:
            for record in records:
                await self._one(record, deadline)
        finally:
            await self._client.aclose()

    async def _one(self, record: dict[str, Any], deadline: float) -> None:
        body = {k: v for k, v in record.items() if k not in ("meta", "submitted_by")}
        headers = {"Idempotency-Key": f"chaos-h-{record['problem_id']}"}
        while True:
            try:
                answer = await self._client.post("/v1/problems", json=body, headers=headers)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code in (200, 202):
                async with self._progress:
                    self.accepted.add(record["problem_id"])
                    self._progress.notify_all()
                return
            if answer is not None and answer.status_code < 500:
                raise RuntimeError(f"{answer.status_code}: {json.dumps(answer.json())[:300]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{record['problem_id']} not accepted before the deadline")
            self.resent += 1
            await asyncio.sleep(0.5)  # a client's back-off before it tries again

    async def until_accepted(self, count: int, *, timeout: float) -> None:
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: len(self.accepted) >= count), timeout
            )
