"""Reliability scenarios, each counted by ``tests.chaos.auditor`` (never by the system's metrics).

Each scenario returns a ``Report``: named figures plus ``failures`` (empty = proven). The CI
tests (``tests/integration/test_reliability_*.py``) run them with small numbers; the benchmark
command (``python -m tests.chaos.run --scenario X --full``) with the issue's numbers.

a. Worker SIGKILLs. Rendering costs ~8 s per short, so 20,000 problems cannot all be rendered
   in a benchmark; the scenario kills the two groups whose crash can lose or duplicate work:
   the *content* group (indexing + drafting) is SIGKILLed ``kills`` times while it drafts
   ``problems`` problems (kill moments: random points of its progress, drawn with ``seed``,
   as counted by a live read_committed consumer), and the *publish* group is SIGKILLed
   ``publish_kills`` times while it publishes ``renders`` RenderCompleted events pointing at a
   real tiny MP4 in the artifact store (simulator channel, the default publisher). Then the
   project's ``ClickHouseSink`` ingests everything into a chdb warehouse in this process and
   the auditor checks: no problem without its k scripts, no (problem, arm) with two script ids,
   no render without a short, no render with two video ids, ``count() FINAL`` == distinct
   event ids, ``pipeline_status`` has exactly k scripts per problem.
b. Broker restart: graceful stop (SIGTERM; docs/broker.md defect 3 rules out SIGKILL) of a
   private embedded broker mid-stream, start on the same port and data directory; the
   producer keeps producing (re-sending what was not acknowledged); measured: seconds from the
   restart until the content group's lag on its input is 0 and every problem is drafted.
c. Poison and transient failures: ``tests.chaos.faulty_worker`` fails 5% of event ids once;
   1% of the input are bytes that are not Confluent wire format. Exactly the poison keys must
   be dead-lettered, every transient id must pass through retry tier 1 exactly once and
   succeed, tiers 2 and 3 must stay empty and the group's lag on every tier must end at 0.
d. A ``FaultProxy`` between the content worker and the broker: latency, connection resets and
   a blackhole, one per phase, each during a chunk of problems; recovery = seconds from heal
   until the chunk is drafted; no loss overall.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from connectors.kafka import KafkaEventProducer, ensure_topics
from connectors.registry_client import HttpSchemaRegistry
from factory.children import stop_processes, worker_env
from factory.config import sink_config
from schemas.serializer import AvroSerde, subject_for
from streams.catalogue import topic as catalogue_topic
from streams.events import derived_meta
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.chaos import auditor
from tests.chaos.faultproxy import FaultProxy
from tests.chaos.faulty_worker import STEP_DELAY_ENV, TRANSIENT_RATE_ENV, is_transient
from tests.factories import problem_event

REPO = Path(__file__).resolve().parents[2]
Proc = subprocess.Popen[bytes]


@dataclass
class Report:
    scenario: str
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)

    def render(self) -> str:
        lines = [f"scenario {self.scenario}: {'PASS' if not self.failures else 'FAIL'}"]
        lines += [f"  {name}: {value}" for name, value in self.figures.items()]
        lines += [f"  FAILED: {failure}" for failure in self.failures]
        return "\n".join(lines)


# Processes ------------------------------------------------------------------------------


def spawn(
    settings: Settings,
    group: str,
    log: Path,
    *,
    faulty_rate: float | None = None,
    step_delay_s: float = 0.0,
) -> Proc:
    """``munjero worker GROUP`` (or the fault-injecting variant) as a child process."""
    env = worker_env(settings)
    module = ["factory.cli", "worker"]
    if faulty_rate is not None:
        module = ["tests.chaos.faulty_worker"]
        env[TRANSIENT_RATE_ENV] = str(faulty_rate)
        env[STEP_DELAY_ENV] = str(step_delay_s)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *module, group],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def sigkill(proc: Proc) -> None:
    proc.kill()
    proc.wait()


def sigterm(proc: Proc) -> None:
    """What Kubernetes does to a pod it replaces: SIGTERM, then wait for the exit (its grace
    period; a worker that overstays it is SIGKILLed, as the kubelet would)."""
    stop_processes([proc], timeout=30.0)


# Kafka helpers ----------------------------------------------------------------------------


class DistinctCounter:
    """A live read_committed consumer counting distinct record keys of one topic: the kill
    trigger and progress gauge (the final figures come from a fresh ``auditor`` read)."""

    def __init__(self, bootstrap: str, physical_topic: str) -> None:
        self.bootstrap = bootstrap
        self.keys: set[bytes] = set()
        self._consumer = AIOKafkaConsumer(
            physical_topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            enable_auto_commit=False,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def until(self, target: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.keys) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.keys)} of {target} within {timeout:.0f}s")
            batch = await self._consumer.getmany(timeout_ms=300, max_records=5000)
            for records in batch.values():
                self.keys.update(r.key for r in records if r.key is not None)

    async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
        ends: dict[Any, int] = await self._consumer.end_offsets(partitions)
        return ends

    async def lag(self) -> dict[int, int]:
        """Records per partition the counter has not read yet (its read position against the
        end offsets): tells a stalled producer (0 everywhere) from a stalled reader."""
        assigned = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(assigned)
        return {tp.partition: ends[tp] - await self._consumer.position(tp) for tp in assigned}


@dataclass
class Factory:
    settings: Settings
    serde: AvroSerde
    producer: KafkaEventProducer


@asynccontextmanager
async def factory(settings: Settings) -> AsyncIterator[Factory]:
    bootstrap = settings.kafka_bootstrap_servers or ""
    await ensure_topics(KafkaClientConfig(bootstrap), namespace=settings.topic_namespace)
    registry = HttpSchemaRegistry(settings.schema_registry_url or "")
    producer = KafkaEventProducer(KafkaClientConfig(bootstrap))
    await producer.start()
    try:
        yield Factory(settings, AvroSerde(registry), producer)
    finally:
        await producer.stop()
        await registry.close()


async def produce_problems(
    f: Factory, indices: Iterable[int], *, poison_every: int = 0, retry_until: float = 0.0
) -> tuple[dict[str, str], list[bytes]]:
    """Problems (and every ``poison_every``-th one as poison bytes instead) in batches of 500.
    Returns {problem_id: event_id} and the poison keys. With ``retry_until`` (a monotonic
    deadline), a batch the broker did not acknowledge is sent again (at-least-once)."""
    source = f.settings.topic("problems.submitted")
    subject = subject_for(source)
    problems: dict[str, str] = {}
    poison: list[bytes] = []
    batch: list[tuple[str, bytes, bytes, tuple[()]]] = []

    async def flush() -> None:
        while True:
            try:
                await f.producer.publish_many(batch, timeout=10)
                break
            except Exception:
                if time.monotonic() > retry_until:
                    raise
        batch.clear()

    for i in indices:
        if poison_every and i % poison_every == poison_every - 1:
            key = f"poison-{i}".encode()
            poison.append(key)
            batch.append((source, key, b"not-avro:" + os.urandom(24), ()))
        else:
            record = problem_event(i)
            problems[record["problem_id"]] = record["meta"]["event_id"]
            value = await f.serde.encode_async(subject, "ProblemSubmitted", record)
            batch.append((source, record["problem_id"].encode(), value, ()))
        if len(batch) >= 500:
            await flush()
    if batch:
        await flush()
    return problems, poison


async def read(f: Factory, name: str) -> list[auditor.Audited]:
    return await auditor.read_topic(
        f.settings.kafka_bootstrap_servers or "", f.settings.topic(name), f.serde
    )


async def await_drained(
    settings: Settings, group: str, topics: Sequence[str], *, timeout: float
) -> dict[str, int]:
    """Poll the auditor's lag of ``group`` until it is 0 on every topic (or time out)."""
    bootstrap = settings.kafka_bootstrap_servers or ""
    physical = [settings.topic(t) for t in topics]
    deadline = time.monotonic() + timeout
    while True:
        try:
            lag = await auditor.group_lag(bootstrap, settings.group(group), physical)
        except Exception as exc:  # the broker may be coming back
            lag = {"error": 1, str(exc)[:60]: 1}
        if not any(lag.values()) or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(0.5)  # polling interval of an external state


async def clickhouse_audit(f: Factory, work: Path, report: Report, tables: Sequence[str]) -> None:
    """Ingest every topic with the project's sink into a private chdb; check double counting."""
    from connectors.warehouse.chdb_adapter import ChdbWarehouse
    from services.sink.sink import ClickHouseSink, end_offsets

    warehouse = ChdbWarehouse(work / "chdb")
    sink = ClickHouseSink(sink_config(f.settings), warehouse, f.serde)
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    db = f.settings.clickhouse_database
    try:
        bootstrap = f.settings.kafka_bootstrap_servers or ""
        await asyncio.wait_for(
            sink.wait_caught_up(await end_offsets(KafkaClientConfig(bootstrap), sink.topics)), 300
        )
        counts = await auditor.clickhouse_counts(warehouse, db, tables)
        status = await auditor.pipeline_status_counts(
            warehouse, db, f.settings.draft_variants_per_problem
        )
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await task
        await warehouse.close()
    for c in counts:
        report.figures[f"ch.{c.table}"] = (
            f"rows={c.rows} final={c.final} distinct_event_ids={c.distinct_ids}"
        )
        report.check(c.double_counted == 0, f"{c.table}: {c.double_counted} double-counted rows")
    report.figures["ch.pipeline_status"] = status
    report.check(status["over"] == 0, f"pipeline_status: {status['over']} problems over-counted")


def audit_drafting(
    report: Report, problems: dict[str, str], scripts: Sequence[auditor.Audited], k: int
) -> auditor.DraftAudit:
    drafts = auditor.audit_drafts(problems, scripts, k)
    report.figures["problems"] = drafts.problems
    report.figures["scripts (records / distinct)"] = (
        f"{drafts.scripts_records} / {drafts.scripts_distinct}"
    )
    report.figures["lost problems"] = drafts.lost
    report.figures["duplicated drafts (problem, arm)"] = drafts.duplicate_effects
    report.check(drafts.lost == 0, f"lost problems: {drafts.lost_problems[:5]}")
    report.check(drafts.duplicate_effects == 0, "a (problem, arm) has two script ids")
    return drafts


# a. SIGKILL ---------------------------------------------------------------------------------


async def scenario_a(
    settings: Settings,
    work: Path,
    *,
    problems: int,
    kills: int,
    renders: int,
    publish_kills: int,
    seed: int = 7,
    timeout: float = 600,
    stop: Callable[[Proc], None] = sigkill,
    name: str = "a",
) -> Report:
    report = Report(name)
    rng = random.Random(seed)
    k = settings.draft_variants_per_problem
    async with factory(settings) as f:
        produced, _ = await produce_problems(f, range(problems))
        total = problems * k
        thresholds = sorted(rng.sample(range(1, total), kills))
        started = time.monotonic()
        report.figures["content kills"] = await _kill_while(
            settings, "content", work, thresholds, total, settings.topic("scripts.drafted"),
            timeout, stop,
        )  # fmt: skip
        report.figures["content seconds"] = round(time.monotonic() - started, 1)

        render_ids = await _produce_renders(f, work, renders)
        thresholds = sorted(rng.sample(range(1, renders), publish_kills)) if publish_kills else []
        started = time.monotonic()
        report.figures["publish kills"] = await _kill_while(
            settings, "publish", work, thresholds, renders, settings.topic("shorts.published"),
            timeout, stop,
        )  # fmt: skip
        report.figures["publish seconds"] = round(time.monotonic() - started, 1)

        audit_drafting(report, produced, await read(f, "scripts.drafted"), k)
        published = auditor.audit_publish(render_ids, await read(f, "shorts.published"))
        report.figures["renders"] = published.renders
        report.figures["shorts records"] = published.shorts_records
        report.figures["lost renders"] = len(published.lost_renders)
        report.figures["shorts published twice"] = len(published.published_twice)
        report.check(not published.lost_renders, f"renders lost: {published.lost_renders[:5]}")
        report.check(
            not published.published_twice, f"published twice: {published.published_twice[:5]}"
        )
        await clickhouse_audit(
            f, work, report, ["problems_submitted", "scripts_drafted", "shorts_published"]
        )
    return report


async def _kill_while(
    settings: Settings,
    group: str,
    work: Path,
    thresholds: Sequence[int],
    total: int,
    output_topic: str,
    timeout: float,
    stop: Callable[[Proc], None] = sigkill,
) -> int:
    """Run ``group``; stop it with ``stop`` (SIGKILL by default) and start it again each time
    the distinct outputs pass the next threshold; return once ``total`` distinct outputs
    exist. Returns the stops made."""
    counter = DistinctCounter(settings.kafka_bootstrap_servers or "", output_topic)
    await counter.start()
    log = work / f"{group}-0.log"
    proc = spawn(settings, group, log)
    kills = 0
    deadline = time.monotonic() + timeout
    try:
        for threshold in [*thresholds, total]:
            try:
                await counter.until(threshold, timeout=deadline - time.monotonic())
            except TimeoutError as exc:
                evidence = await _stall_evidence(counter, proc, log, settings.group(group))
                raise TimeoutError(f"{exc}; {evidence}") from None
            if threshold == total:
                break
            await asyncio.to_thread(stop, proc)
            kills += 1
            log = work / f"{group}-{kills}.log"
            proc = spawn(settings, group, log)
    finally:
        await counter.stop()
        stop_processes([proc])
    return kills


async def _stall_evidence(counter: DistinctCounter, proc: Proc, log: Path, group: str) -> str:
    """What a stalled run leaves to diagnose it from CI's output alone: whether the worker
    lives, whether the counter or the worker is behind, the group as the broker sees it, and
    the worker's last words."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    loud = [line for line in lines if '"level":"INFO"' not in line][-12:]
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=counter.bootstrap)
        await admin.start()
        try:
            members = (await admin.describe_consumer_groups([group]))[0].groups[0][5]
            committed = await admin.list_consumer_group_offsets(group)
            ends = await counter.end_offsets(list(committed))
            per_topic: dict[str, list[int]] = {}
            for tp, meta in committed.items():
                seen = per_topic.setdefault(tp.topic, [0, 0])
                seen[0] += max(meta.offset, 0)
                seen[1] += ends[tp]
            described = f"{len(members)} member(s), committed/end per topic {per_topic}"
        finally:
            await admin.close()
    except Exception as exc:  # evidence only: never hide the timeout behind another error
        described = f"describe failed: {exc!r}"
    return (
        f"worker {log.name} exit={proc.poll()} unread={await counter.lag()} group={described} "
        f"log lines={len(lines)}; last log line: {lines[-1][:400] if lines else '-'}; "
        "warnings and errors:\n" + "\n".join(line[:600] for line in loud)
    )


async def _produce_renders(f: Factory, work: Path, count: int) -> list[str]:
    """``count`` RenderCompleted events, all pointing at one real tiny MP4 in the artifact
    store the publish worker reads (``settings.data_dir/artifacts``)."""
    from connectors.artifacts.local import LocalArtifactStore
    from streams.ports.artifact_keys import content_key
    from tests.drafts import drafted
    from tests.media import tiny_mp4

    video = await asyncio.to_thread(tiny_mp4, work / "short.mp4")
    store = LocalArtifactStore(f.settings.data_dir / "artifacts")
    stored = await store.put_file(
        content_key("renders", "cd" * 32, "short.mp4"), video, content_type="video/mp4"
    )
    physical = f.settings.topic("renders.completed")
    render_ids: list[str] = []
    batch = []
    for i in range(count):
        script = drafted(problem_event(100_000 + i), k=1)[0]
        meta = derived_meta(script, "render")
        render = {
            "meta": meta, "render_id": meta["event_id"], "script_id": script["script_id"],
            "problem_id": script["problem_id"], "experiment_id": script["experiment_id"],
            "arm_id": script["arm_id"], "uri": stored.uri, "sha256": stored.sha256,
            "duration_seconds": 1.0, "width": 108, "height": 192,
            "size_bytes": stored.size_bytes, "render_ms": 10, "template_version": "chaos",
            "cache_hit": False, "artifact_key": stored.key, "language": "ko",
            "title": f"chaos {i}", "description": "chaos", "voice": "offline",
            "voice_fallback_reason": None, "caption_srt_key": "", "caption_vtt_key": "",
        }  # fmt: skip
        value = await f.serde.encode_async(subject_for(physical), "RenderCompleted", render)
        batch.append((physical, render["render_id"].encode(), value, ()))
        render_ids.append(render["render_id"])
    await f.producer.publish_many(batch, timeout=30)
    return render_ids


# i. Rolling restart ---------------------------------------------------------------------


async def scenario_i(
    settings: Settings, work: Path, *, problems: int, terms: int, renders: int, timeout: float
) -> Report:
    """Scenario a's stream and audit, each worker group SIGTERMed ``terms`` times in turn as a
    Kubernetes rolling restart does (the render group's stop, which abandons a render in
    flight, is tests/integration/test_stop_abandons_render.py)."""
    return await scenario_a(
        settings, work, problems=problems, kills=terms, renders=renders, publish_kills=terms,
        timeout=timeout, stop=sigterm, name="i (SIGTERM, rolling restart)",
    )  # fmt: skip


# b. Broker restart ------------------------------------------------------------------------


async def scenario_b(
    settings: Settings, work: Path, *, problems: int, restart_at: float = 0.3, timeout: float = 300
) -> Report:
    """``settings`` must not name a broker: this scenario starts (and restarts) its own."""
    from connectors.broker import EmbeddedBroker

    report = Report("b")
    k = settings.draft_variants_per_problem
    broker = EmbeddedBroker(work / "broker")
    await asyncio.to_thread(broker.start)
    settings = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
    try:
        async with factory(settings) as f:
            proc = spawn(settings, "content", work / "content.log")
            counter = DistinctCounter(broker.bootstrap_servers, settings.topic("scripts.drafted"))
            await counter.start()
            deadline = time.monotonic() + timeout
            # A stream: the producer keeps going through the restart, re-sending what the
            # broker did not acknowledge.
            producing = asyncio.create_task(
                produce_problems(f, range(problems), retry_until=deadline)
            )
            try:
                await counter.until(int(problems * k * restart_at), timeout=timeout)
                down = time.monotonic()
                await asyncio.to_thread(broker.stop)
                await asyncio.to_thread(broker.start)
                up = time.monotonic()
                report.figures["broker down seconds"] = round(up - down, 1)
                produced, _ = await asyncio.wait_for(producing, deadline - time.monotonic())
                try:
                    await counter.until(problems * k, timeout=deadline - time.monotonic())
                except TimeoutError as exc:  # stuck: report the figures, not a traceback
                    report.check(False, f"the backlog never drained: {exc}")
                lag = await await_drained(
                    settings, "content", ["problems.submitted"], timeout=deadline - up
                )
                drained = time.monotonic() - up
            finally:
                producing.cancel()
                await counter.stop()
                stop_processes([proc])
            report.figures["drain seconds after restart"] = round(drained, 1)
            report.figures["lag at end"] = lag
            report.check(not any(lag.values()), f"lag did not return to 0: {lag}")
            report.check(drained <= 60, f"drained in {drained:.1f}s > 60s")
            audit_drafting(report, produced, await read(f, "scripts.drafted"), k)
    finally:
        await asyncio.to_thread(broker.stop)
    return report


# c. Poison and transient failures -----------------------------------------------------------


async def scenario_c(
    settings: Settings,
    work: Path,
    *,
    problems: int,
    poison_every: int = 100,
    transient_rate: float = 0.05,
    timeout: float = 300,
) -> Report:
    report = Report("c")
    k = settings.draft_variants_per_problem
    spec = catalogue_topic("problems.submitted")
    async with factory(settings) as f:
        produced, poison = await produce_problems(f, range(problems), poison_every=poison_every)
        transient = {pid for pid, eid in produced.items() if is_transient(eid, transient_rate)}
        report.figures["problems / poison / transient"] = (
            f"{len(produced)} / {len(poison)} / {len(transient)}"
        )
        proc = spawn(settings, "content", work / "content.log", faulty_rate=transient_rate)
        counter = DistinctCounter(
            settings.kafka_bootstrap_servers or "", settings.topic("scripts.drafted")
        )
        await counter.start()
        started = time.monotonic()
        try:
            await counter.until(len(produced) * k, timeout=timeout)
            lag = await await_drained(
                settings,
                "content",
                [spec.name, *spec.retry_topics],
                timeout=timeout - (time.monotonic() - started),
            )
        finally:
            await counter.stop()
            stop_processes([proc])
        report.figures["seconds"] = round(time.monotonic() - started, 1)
        report.figures["group lag (event topic + tiers)"] = lag
        report.check(not any(lag.values()), f"retry topics not drained: {lag}")

        audit_drafting(report, produced, await read(f, "scripts.drafted"), k)
        letters = auditor.dead_letters(await read(f, spec.dlq_topic))
        dead_keys = sorted({d.original_key or b"" for d in letters})
        report.figures["dead letters (records / distinct / expected)"] = (
            f"{len(letters)} / {len(dead_keys)} / {len(poison)}"
        )
        report.figures["dead letter classes"] = sorted({d.error_class for d in letters})
        report.check(dead_keys == sorted(poison), "dead letters are not exactly the poison")
        report.check(all(d.fatal and d.attempts == 1 for d in letters), "a retried dead letter")
        tiers = [await read(f, name) for name in spec.retry_topics]
        tier_keys = [{(r.key or b"").decode() for r in tier} for tier in tiers]
        report.figures["retry tier records"] = [len(t) for t in tiers]
        report.check(tier_keys[0] == transient, "retry tier 1 is not exactly the transient ids")
        report.check(all(not t for t in tiers[1:]), "an event needed a second retry")
    return report


# d. Fault proxy ----------------------------------------------------------------------------


async def scenario_d(
    settings: Settings,
    work: Path,
    *,
    chunk: int,
    latency_s: float = 0.2,
    blackhole_s: float = 5.0,
    timeout: float = 300,
) -> Report:
    report = Report("d")
    k = settings.draft_variants_per_problem
    bootstrap = settings.kafka_bootstrap_servers or ""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    async with factory(settings) as f, FaultProxy(host, int(port)) as proxy:
        worker_settings = settings.model_copy(update={"kafka_bootstrap_servers": proxy.address})
        proc = spawn(worker_settings, "content", work / "content.log")
        counter = DistinctCounter(bootstrap, settings.topic("scripts.drafted"))
        await counter.start()
        produced: dict[str, str] = {}
        try:
            # Warm-up chunk: the worker is up and its connections go through the proxy.
            done, _ = await produce_problems(f, range(chunk))
            produced |= done
            await counter.until(len(produced) * k, timeout=timeout)
            report.figures["proxy connections after warm-up"] = proxy.live_connections
            report.check(proxy.live_connections > 0, "the worker does not use the proxy")
            faults = ["latency", "reset", "blackhole"]
            for n, fault in enumerate(faults, start=1):
                # The fault is on before the chunk exists: the worker meets it on that chunk.
                if fault == "latency":
                    proxy.latency(latency_s)
                elif fault == "blackhole":
                    proxy.blackhole()
                held = len(counter.keys)
                done, _ = await produce_problems(f, range(n * chunk, (n + 1) * chunk))
                produced |= done
                target = len(produced) * k
                if fault == "latency":
                    await counter.until(min(target, held + 1), timeout=timeout)
                elif fault == "reset":
                    resets = 0
                    for _ in range(3):  # reset, wait for progress, reset again
                        resets += proxy.reset()
                        await counter.until(min(target, len(counter.keys) + 1), timeout=timeout)
                    report.figures["connections reset"] = resets
                else:
                    await asyncio.sleep(blackhole_s)  # the fault's duration
                    with contextlib.suppress(TimeoutError):
                        await counter.until(target, timeout=0.5)  # what got through, if any
                    leaked = len(counter.keys) - held
                    report.figures["scripts drafted during blackhole"] = leaked
                    report.check(leaked == 0, f"{leaked} scripts got through the blackhole")
                proxy.heal()
                healed = time.monotonic()
                await counter.until(target, timeout=timeout)
                report.figures[f"recovery after {fault} (s)"] = round(time.monotonic() - healed, 1)
            lag = await await_drained(settings, "content", ["problems.submitted"], timeout=60)
        finally:
            await counter.stop()
            stop_processes([proc])
        report.figures["group lag at end"] = lag
        report.check(not any(lag.values()), f"lag at end: {lag}")
        report.figures["proxy connections total"] = proxy.connections_total
        audit_drafting(report, produced, await read(f, "scripts.drafted"), k)
    return report


# The API as a process (e, f) ------------------------------------------------------------------


@asynccontextmanager
async def api_process(settings: Settings, work: Path) -> AsyncIterator[tuple[Proc, str, str]]:
    """``tests.chaos.api_server`` as a child; yields (process, base url, API key)."""
    ready = work / "api.ready"
    ready.unlink(missing_ok=True)
    with (work / "api.log").open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.chaos.api_server", str(ready)],
            env=worker_env(settings),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; see {work / 'api.log'}")
            await asyncio.sleep(0.05)  # polling a file another process writes
        url, key = ready.read_text().split()
        yield proc, url, key
    finally:
        stop_processes([proc])


# f. Soak --------------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    return memory_kb(pid)["VmRSS"]


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and its parts: RssAnon (heap, the part a leak grows) and RssFile (mapped file
    pages the kernel can reclaim, such as the embedded vector store's segments)."""
    out = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name = line.split(":", 1)[0]
        if name in out:
            out[name] = int(line.split()[1])
    return out


def mapped_kb(pid: int, store: Path) -> tuple[int, int, int]:
    """(resident kB of mapped files under ``store``, of other mapped files, how many file
    mappings): what the file-backed part of RSS is made of."""
    inside = outside = mappings = 0
    path = ""
    prefix = str(store.resolve())
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(None, 5)
        if len(head) >= 5 and "-" in head[0] and ":" in head[3]:  # a mapping's header line
            path = head[5].strip() if len(head) == 6 else ""
            mappings += path.startswith("/")
        elif line.startswith("Rss:") and path.startswith("/"):
            if path.startswith(prefix):
                inside += int(line.split()[1])
            else:
                outside += int(line.split()[1])
    return inside, outside, mappings


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Growth:
    name: str
    rss_start_kb: float
    rss_end_kb: float
    fds_start: float
    fds_end: int

    @property
    def rss_growth(self) -> float:
        return (self.rss_end_kb - self.rss_start_kb) / self.rss_start_kb


def growth(name: str, samples: Sequence[tuple[int, int]], warmup: float = 0.2) -> Growth:
    """First 10% after the warm-up vs the last 10% of (rss kB, fds) samples: mean RSS of each,
    the highest fd count of the first window vs the highest of the last."""
    steady = list(samples[int(len(samples) * warmup) :])
    window = max(1, len(steady) // 10)
    first, last = steady[:window], steady[-window:]
    return Growth(
        name,
        sum(r for r, _ in first) / len(first),
        sum(r for r, _ in last) / len(last),
        max(fd for _, fd in first),
        max(fd for _, fd in last),
    )


async def scenario_f(
    settings: Settings,
    work: Path,
    *,
    seconds: float,
    rate: float = 10.0,
    sample_every: float = 1.0,
    max_rss_growth: float = 0.10,
    fd_slack: int = 4,
    mapping_slack: int = 16,
) -> Report:
    """POST problems to the API process at ``rate`` per second for ``seconds`` while the content
    worker drafts them; sample RSS and open fds of both processes every ``sample_every`` s.

    The memory bound is on anonymous memory (RssAnon: heap and allocator arenas), where a leak
    lives. File-backed pages are mapped files' pages, which the kernel can reclaim: the content
    worker maps the embedded vector store's files (qdrant-edge keeps vectors and its write-ahead
    log in mmapped files, and every problem adds a point to the near-duplicate index) and the
    embedding models' weights (pages fault in as new tokens are met). Their growth is reported,
    split between the store and the rest (from /proc/<pid>/smaps); a leak of mappings shows as
    the number of file mappings growing, which is checked. VmRSS is reported beside them."""
    import httpx

    report = Report("f")
    k = settings.draft_variants_per_problem
    async with factory(settings) as f, api_process(settings, work) as (api, url, key):
        worker = spawn(settings, "content", work / "content.log")
        counter = DistinctCounter(
            settings.kafka_bootstrap_servers or "", settings.topic("scripts.drafted")
        )
        await counter.start()
        samples: dict[str, list[tuple[int, int]]] = {"api": [], "content worker": []}
        parts: dict[str, list[tuple[int, int]]] = {"api": [], "content worker": []}
        store = settings.data_dir / "qdrant"
        maps: dict[str, list[tuple[int, int, int]]] = {"api": [], "content worker": []}
        procs = {"api": api, "content worker": worker}
        accepted: dict[str, str] = {}
        errors = 0
        try:
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as client:
                # The worker is ready once it drafted the first problem: sampling starts then.
                first = problem_event(0)
                r = await client.post("/v1/problems", json=_body(first))
                if r.status_code != 202:
                    raise RuntimeError(f"the API refused a valid problem: {r.status_code} {r.text}")
                accepted[first["problem_id"]] = ""
                await counter.until(k, timeout=120)
                started = time.monotonic()
                next_sample = started
                sent = 1
                while (now := time.monotonic()) - started < seconds:
                    due = int((now - started) * rate) + 1
                    while sent < due:
                        problem = problem_event(sent)
                        r = await client.post("/v1/problems", json=_body(problem))
                        if r.status_code == 202:
                            accepted[problem["problem_id"]] = ""
                        else:
                            errors += 1
                        sent += 1
                    if now >= next_sample:
                        for name, proc in procs.items():
                            mem = memory_kb(proc.pid)
                            samples[name].append((mem["VmRSS"], open_fds(proc.pid)))
                            parts[name].append((mem["RssAnon"], mem["RssFile"]))
                            maps[name].append(mapped_kb(proc.pid, store))
                        next_sample += sample_every
                    await asyncio.sleep(min(1 / rate, 0.05))  # pacing the steady rate
            await counter.until(len(accepted) * k, timeout=120)
        finally:
            await counter.stop()
            stop_processes([worker])
        report.figures["problems accepted / errors"] = f"{len(accepted)} / {errors}"
        report.check(errors == 0, f"{errors} submissions not accepted")
        for name, series in samples.items():
            g = growth(name, series)
            anon = growth(name, [(a, 0) for a, _ in parts[name]])
            in_store = growth(name, [(i, m) for i, _, m in maps[name]])
            elsewhere = growth(name, [(o, 0) for _, o, _ in maps[name]])
            report.figures[f"{name} VmRSS MB start -> end"] = (
                f"{g.rss_start_kb / 1024:.1f} -> {g.rss_end_kb / 1024:.1f} ({g.rss_growth:+.1%})"
            )
            report.figures[f"{name} anon MB start -> end"] = (
                f"{anon.rss_start_kb / 1024:.1f} -> {anon.rss_end_kb / 1024:.1f} "
                f"({anon.rss_growth:+.1%})"
            )
            report.figures[f"{name} mapped files MB start -> end (vector store; other)"] = (
                f"{in_store.rss_start_kb / 1024:.1f} -> {in_store.rss_end_kb / 1024:.1f}; "
                f"{elsewhere.rss_start_kb / 1024:.1f} -> {elsewhere.rss_end_kb / 1024:.1f}"
            )
            report.figures[f"{name} file mappings start -> end"] = (
                f"{in_store.fds_start} -> {in_store.fds_end}"
            )
            report.figures[f"{name} fds start -> end"] = f"{g.fds_start} -> {g.fds_end}"
            report.check(
                anon.rss_growth < max_rss_growth, f"{name} anon memory grew {anon.rss_growth:.1%}"
            )
            report.check(
                in_store.fds_end <= in_store.fds_start + mapping_slack,
                f"{name} file mappings grew {in_store.fds_start} -> {in_store.fds_end}",
            )
            report.check(g.fds_end <= g.fds_start + fd_slack, f"{name} fds grew")
        report.figures["samples"] = len(samples["api"])
        audit_drafting(report, dict.fromkeys(accepted, ""), await read(f, "scripts.drafted"), k)
    return report


def _body(problem: dict[str, Any]) -> dict[str, Any]:
    fields = ("problem_id", "language", "subject", "question", "choices", "answer_index",
              "explanation", "difficulty", "tags")  # fmt: skip
    return {name: problem[name] for name in fields if problem.get(name) is not None}
