"""Analysts beside ingestion: end-to-end ingestion lag with and without analyst queries.

    .venv/bin/python -m tests.bench.analyst_bench [--seconds 60] [--rate 500] [--preload 300000]

Run it alone (it starts the whole factory and loads both cores). It:

1. starts ``munjero up --without-monitoring`` (its own process, a fresh data directory) and
   reads the banner: Kafka, the schema registry and ``ClickHouse http://analyst:...``;
2. as the ``analyst``, with clickhouse-connect, runs every dashboard query and tries an insert,
   which must be refused with ClickHouse's readonly code 164;
3. preloads ``--preload`` ``metrics.observed`` events (a topic only the sink consumes, so no
   worker renders anything) and waits until the sink has committed them;
4. produces ``--rate`` events/s for two phases of ``--seconds`` each: A without queries, B with
   back-to-back analyst queries (every dashboard plus scans of ``metrics_observed``) from
   ``--clients`` clickhouse-connect clients in another process;
5. reports end-to-end lag per phase: from an event's send to the moment the sink's consumer
   group has committed past it. The sink commits only once the batch's inserts succeeded, so
   that is "queryable in ClickHouse"; the watcher asks Kafka every 100 ms, not ClickHouse, so
   measuring adds no load to what is measured.

Pass: phase B's p95 and max lag within 2 s of phase A's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from connectors.registry_client import HttpSchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from tests import sample_events as samples
from tests.bench.procstat import cpu_seconds, descendants, machine_busy_seconds
from warehouse import dashboards

TOPIC = "metrics.observed"
SINK_GROUP = "munjero.sink"
DB = "munjero"
ALLOWED_EXTRA_S = 2.0
SCANS = (
    "SELECT arm_id, window, count() AS n, avg(views) AS mean_views, quantile(0.9)(views) AS p90 "
    "FROM metrics_observed GROUP BY arm_id, window ORDER BY arm_id, window",
    "SELECT count() AS n, uniqExact(event_id) AS events, max(observed_at) AS last "
    "FROM metrics_observed",
    "SELECT short_id, argMax(views, observed_at) AS views FROM metrics_observed "
    "GROUP BY short_id ORDER BY views DESC LIMIT 20",
)


# -- the factory -------------------------------------------------------------------------


@dataclass
class Factory:
    proc: subprocess.Popen[str]
    kafka: str
    registry: str
    clickhouse: str  # http://analyst:<password>@127.0.0.1:<port>


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_factory(data_dir: Path, log: Path, timeout: float = 240.0) -> Factory:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUNJERO_")}
    env.update(
        MUNJERO_DATA_DIR=str(data_dir),
        MUNJERO_API_PORT=str(_free_port()),
        MUNJERO_CLICKHOUSE_HTTP_PORT="0",
        COLUMNS="250",  # the banner's lines unwrapped
    )
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "factory.cli", "up", "--without-monitoring"],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    banner: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"munjero up ended before its banner; see {log}")
        found = re.match(r"\s+(Kafka|Schema registry|ClickHouse)\s+(\S+)", line)
        if found:
            banner[found.group(1)] = found.group(2)
        if line.startswith("Ctrl-C to stop"):
            break
    # Keep draining the banner pipe so the factory never blocks on a full one.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return Factory(proc, banner["Kafka"], banner["Schema registry"], banner["ClickHouse"])


def stop_factory(factory: Factory) -> None:
    factory.proc.send_signal(signal.SIGINT)
    try:
        factory.proc.wait(90)
    except subprocess.TimeoutExpired:
        factory.proc.kill()
        factory.proc.wait()


# -- the analyst (a process of its own: its decoding must not slow the measurement) ------


def _client(url: str) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=url, database=DB)


def analyst_checks(url: str) -> list[str]:
    """Every dashboard query through clickhouse-connect, and a refused insert."""
    from clickhouse_connect.driver.exceptions import DatabaseError

    client = _client(url)
    lines = []
    for name in dashboards.names():
        started = time.perf_counter()
        rows = client.query(
            dashboards.query_text(name), parameters=dashboards.resolve(name, {}, DB)
        ).result_rows
        lines.append(
            f"  dashboard {name:<16} {len(rows):>5} rows  {time.perf_counter() - started:.3f}s"
        )
    try:
        client.insert("metrics_observed", [["x"]], column_names=["event_id"])
        lines.append("  insert as analyst: ACCEPTED (wrong)")
    except DatabaseError as exc:
        lines.append(f"  insert as analyst: refused, ClickHouse code {getattr(exc, 'code', '?')}")
    client.close()
    return lines


def analyst_load(url: str, seconds: float, clients: int) -> None:
    """Back-to-back queries from ``clients`` threads for ``seconds``; prints a summary.

    The clients connect first (imports, clickhouse-connect's ``system.settings`` read), print
    ``ready`` and wait for a line on stdin: the measured phase sees queries only, not the
    start-up of this process."""
    queries: list[tuple[str, dict[str, str] | None]] = [
        (dashboards.query_text(n), dashboards.resolve(n, {}, DB)) for n in dashboards.names()
    ] + [(sql, None) for sql in SCANS]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    connected = [_client(url) for _ in range(clients)]
    print("ready", flush=True)
    sys.stdin.readline()
    until = time.monotonic() + seconds

    def loop(offset: int) -> None:
        client = connected[offset]
        i = offset * 3
        while time.monotonic() < until:
            sql, params = queries[i % len(queries)]
            started = time.perf_counter()
            try:
                client.query(sql, parameters=params)
            except Exception as exc:  # report, keep querying
                with lock:
                    errors.append(str(exc).splitlines()[0][:120])
            with lock:
                latencies.append(time.perf_counter() - started)
            i += 1
        client.close()

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    print(
        f"queries={len(latencies)} errors={len(errors)} "
        f"p50={_pct(latencies, 0.5):.3f} p95={_pct(latencies, 0.95):.3f} "
        f"max={latencies[-1] if latencies else 0:.3f}"
    )
    for message in sorted(set(errors))[:5]:
        print(f"error: {message}")


# -- ingestion and its lag ----------------------------------------------------------------


@dataclass
class Phase:
    name: str
    lags: list[float] = field(default_factory=list)
    worst_at: float = 0.0  # when the worst-lagged event was sent, seconds into the phase
    started: float = 0.0  # time.time() at the phase's start
    sent: int = 0
    machine_busy_s: float = 0.0
    factory_cpu_s: float = 0.0
    wall_s: float = 0.0


def _metrics_event(n: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    short = {
        "meta": {"event_id": f"bench-short-{n % 2000}", "correlation_id": "bench",
                 "occurred_at": now},
        "short_id": f"bench-short-{n % 2000}", "video_id": f"sim-{n % 2000:011d}",
        "experiment_id": "hook-cta-v1", "arm_id": samples.ARMS[n % 3],
    }  # fmt: skip
    record = samples.metrics_observed(short, samples.WINDOWS[n % 3], n % 3)[2]
    record["meta"] = {**record["meta"], "event_id": str(uuid.uuid4()), "occurred_at": now}
    record["observed_at"] = now
    return record


class Ingestion:
    """A producer of ``metrics.observed`` and a watcher of the sink's committed offsets."""

    def __init__(self, bootstrap: str, registry: str) -> None:
        self.bootstrap = bootstrap
        self.serde = AvroSerde(HttpSchemaRegistry(registry))
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.pending: dict[int, list[tuple[int, float, Phase]]] = {}  # partition -> sent
        self.n = 0

    async def start(self) -> None:
        await self.producer.start()
        await self.admin.start()

    async def stop(self) -> None:
        await self.producer.stop()
        await self.admin.close()

    async def _encode(self) -> tuple[bytes, bytes]:
        record = _metrics_event(self.n)
        self.n += 1
        value = await self.serde.encode_async(subject_for(TOPIC), "MetricsObserved", record)
        return record["short_id"].encode(), value

    async def preload(self, count: int) -> None:
        futures = []
        for _ in range(count):
            key, value = await self._encode()
            futures.append(await self.producer.send(TOPIC, value, key=key))
        await asyncio.gather(*futures)
        ends = await self._ends()
        while any(c < ends.get(p, 0) for p, c in (await self._committed_all(ends)).items()):
            await asyncio.sleep(0.5)  # bench-only: no event to await in another process

    async def _ends(self) -> dict[int, int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(TOPIC) or set()
            ends = await consumer.end_offsets([TopicPartition(TOPIC, p) for p in parts])
            return {tp.partition: offset for tp, offset in ends.items()}
        finally:
            await consumer.stop()

    async def _committed(self) -> dict[int, int]:
        offsets = await self.admin.list_consumer_group_offsets(SINK_GROUP)
        return {tp.partition: m.offset for tp, m in offsets.items() if tp.topic == TOPIC}

    async def _committed_all(self, ends: dict[int, int]) -> dict[int, int]:
        committed = await self._committed()
        return {p: committed.get(p, -1) for p in ends}

    async def produce(self, phase: Phase, seconds: float, rate: int) -> None:
        tick = 0.05
        per_tick = max(1, round(rate * tick))
        started = time.monotonic()
        phase.started = time.time()
        while time.monotonic() - started < seconds:
            due = started + (phase.sent // per_tick + 1) * tick
            batch = []
            for _ in range(per_tick):
                key, value = await self._encode()
                batch.append((time.time(), await self.producer.send(TOPIC, value, key=key)))
            for sent_at, future in batch:
                meta = await future
                self.pending.setdefault(meta.partition, []).append((meta.offset, sent_at, phase))
            phase.sent += per_tick
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            committed = await self._committed()
            now = time.time()
            for partition, sent in self.pending.items():
                done = committed.get(partition, -1)
                while sent and sent[0][0] < done:
                    _, sent_at, phase = sent.pop(0)
                    if not phase.lags or now - sent_at > max(phase.lags):
                        phase.worst_at = sent_at - phase.started
                    phase.lags.append(now - sent_at)
            await asyncio.sleep(0.1)

    def outstanding(self) -> int:
        return sum(len(sent) for sent in self.pending.values())


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(args: argparse.Namespace, factory: Factory) -> list[Phase]:
    ingestion = Ingestion(factory.kafka, factory.registry)
    await ingestion.start()
    try:
        started = time.monotonic()
        await ingestion.preload(args.preload)
        print(f"preloaded {args.preload:,} events in {time.monotonic() - started:.1f}s")
        stop = asyncio.Event()
        watcher = asyncio.create_task(ingestion.watch(stop))
        await ingestion.produce(Phase("warm-up"), 5.0, args.rate)
        phases = [Phase("A: no analyst queries"), Phase("B: back-to-back analyst queries")]
        for phase in phases:
            load = None
            if phase is phases[1]:
                load = subprocess.Popen(
                    [sys.executable, "-m", "tests.bench.analyst_bench", "--analyst-load",
                     factory.clickhouse, "--seconds", str(args.seconds + 2),
                     "--clients", str(args.clients)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert load.stdin is not None
                assert load.stdout is not None
                ready = await asyncio.to_thread(load.stdout.readline)
                assert ready.strip() == "ready", ready
                load.stdin.write("go\n")
                load.stdin.flush()
            pids = descendants(factory.proc.pid)
            busy0, cpu0, t0 = machine_busy_seconds(), cpu_seconds(pids), time.monotonic()
            await ingestion.produce(phase, args.seconds, args.rate)
            phase.wall_s = time.monotonic() - t0
            phase.machine_busy_s = machine_busy_seconds() - busy0
            phase.factory_cpu_s = cpu_seconds(pids) - cpu0
            if load is not None:
                # Off the loop: the watcher keeps timing commits while the load finishes.
                out, _ = await asyncio.to_thread(load.communicate, None, 120)
                print(f"analyst load ({args.clients} clients): {out.strip()}")
        deadline = time.monotonic() + 60
        while ingestion.outstanding() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await watcher
        return phases
    finally:
        await ingestion.stop()


def report(phases: list[Phase]) -> bool:
    print(f"\n{'phase':<34}{'sent':>7}{'landed':>8}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}"
          f"{'max s':>8}{'machine cores':>15}{'factory cores':>15}")  # fmt: skip
    for p in phases:
        print(
            f"{p.name:<34}{p.sent:>7}{len(p.lags):>8}{_pct(p.lags, 0.5):>8.3f}"
            f"{_pct(p.lags, 0.95):>8.3f}{_pct(p.lags, 0.99):>8.3f}"
            f"{max(p.lags, default=float('nan')):>8.3f}"
            f"{p.machine_busy_s / p.wall_s:>15.2f}{p.factory_cpu_s / p.wall_s:>15.2f}"
            f"   worst sent at {p.worst_at:.1f}s"
        )
    a, b = phases
    ok = all(len(p.lags) == p.sent for p in phases)
    for label, fn in (("p95", lambda p: _pct(p.lags, 0.95)), ("max", lambda p: max(p.lags))):
        delta = fn(b) - fn(a)
        within = delta <= ALLOWED_EXTRA_S
        ok = ok and within
        print(f"lag {label} with queries - without: {delta:+.3f}s "
              f"({'within' if within else 'NOT within'} {ALLOWED_EXTRA_S:g}s)")  # fmt: skip
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=500, help="events/s during the phases")
    parser.add_argument("--preload", type=int, default=300_000)
    parser.add_argument("--clients", type=int, default=2, help="analyst clients in phase B")
    parser.add_argument("--analyst-load", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.analyst_load:
        analyst_load(args.analyst_load, args.seconds, args.clients)
        return
    with tempfile.TemporaryDirectory(prefix="analyst-bench-", ignore_cleanup_errors=True) as tmp:
        log = Path(tmp) / "factory.log"
        started = time.monotonic()
        factory = start_factory(Path(tmp) / "data", log)
        try:
            print(f"munjero up ready in {time.monotonic() - started:.1f}s; "
                  f"ClickHouse {re.sub(r':[^:@/]+@', ':***@', factory.clickhouse)}")  # fmt: skip
            print("as the analyst, while the factory runs:")
            for line in analyst_checks(factory.clickhouse):
                print(line)
            phases = asyncio.run(measure(args, factory))
        finally:
            stop_factory(factory)
    ok = report(phases)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
