"""Throughput of the producer API into Kafka, end to end on this machine.

    .venv/bin/python -m tests.bench.api_bench [--requests 20000] [--concurrency 64]

Starts an embedded noida-db broker, serves the API under uvicorn (uvloop + httptools) in a child
process, and drives it from this process with an aiohttp client (so the load generator never
shares the API's event loop). Reports accepted/s and latency percentiles for single POSTs and
for the batch endpoint, then checks the broker's end offsets: "accepted" means "in Kafka".

aiohttp rather than httpx for the load generator: both are async, but httpx spends ~3x the CPU
per request, and on 2 cores every cycle the generator burns is taken from the API under test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer

from connectors.api import (
    ApiKeyStore,
    InMemoryStatusReader,
    build_default_deps,
    create_app,
)
from connectors.broker import EmbeddedBroker, free_port
from connectors.kafka import KafkaEventProducer, ensure_topics
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from streams.catalogue import topic
from streams.settings import Settings

NAMESPACE = "bench."


def _settings(bootstrap: str, data_dir: Path, port: int) -> Settings:
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        data_dir=data_dir,
        topic_namespace=NAMESPACE,
        api_port=port,
        api_max_batch=500,
    )


def _problem(i: int) -> dict[str, Any]:
    return {
        "problem_id": f"bench-{i}",
        "language": "ko",
        "subject": "한국사",
        "question": f"{i}번 문제: 조선을 건국한 인물은 누구인가?",
        "choices": ["이성계", "왕건", "세종", "정도전"],
        "answer_index": 0,
        "explanation": "이성계가 1392년에 조선을 건국했다.",
        "difficulty": "easy",
        "tags": ["조선", "건국"],
    }


# --- the server (child process) ----------------------------------------------------------------


async def _serve(bootstrap: str, data_dir: Path, port: int, linger_ms: int) -> None:
    import uvicorn

    settings = _settings(bootstrap, data_dir, port)
    producer = KafkaEventProducer(bootstrap, linger_ms=linger_ms)
    await producer.start()
    deps = await build_default_deps(
        settings, producer, AvroSerde(InMemorySchemaRegistry()), InMemoryStatusReader()
    )
    config = uvicorn.Config(
        create_app(deps),
        host="127.0.0.1",
        port=port,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        backlog=4096,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await deps.aclose()
        await producer.stop()


def serve_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on exit")
    args = parser.parse_args(argv)
    coro = _serve(args.bootstrap, args.data_dir, args.port, args.linger_ms)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        _run(coro)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT it was stopped with, after a clean shutdown
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- the load generator (this process) ---------------------------------------------------------


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc; Linux only, like the broker)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of ``pids`` so far (exited ones count as 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _percentiles(samples: list[float]) -> dict[str, float]:
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": qs[49] * 1000, "p95_ms": qs[94] * 1000, "p99_ms": qs[98] * 1000}


async def _drive(
    url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """POST every body with ``concurrency`` requests in flight; (seconds, latencies, statuses)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(bodies):
                body = bodies[next_index]
                next_index += 1
                started = time.perf_counter()
                async with session.post(url, data=body) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - started)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, statuses


async def _end_offsets(bootstrap: str, name: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        parts = consumer.partitions_for_topic(name) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(name) or set()
        offsets = await consumer.end_offsets([TopicPartition(name, p) for p in parts])
        return sum(offsets.values())
    finally:
        await consumer.stop()


async def _load(
    args: argparse.Namespace, base: str, key: str, bootstrap: str, procs: dict[str, list[int]]
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    warm = [json.dumps(_problem(-i)).encode() for i in range(1, 501)]
    await _drive(f"{base}/v1/problems", warm, headers, args.concurrency)

    bodies = [json.dumps(_problem(i)).encode() for i in range(args.requests)]
    cpu_before = {name: _cpu_seconds(pids) for name, pids in procs.items()}
    seconds, lat, statuses = await _drive(f"{base}/v1/problems", bodies, headers, args.concurrency)
    cpu = {name: _cpu_seconds(pids) - cpu_before[name] for name, pids in procs.items()}
    single = {
        "requests": len(bodies),
        "concurrency": args.concurrency,
        "statuses": statuses,
        "accepted_per_s": statuses.get(202, 0) / seconds,
        **_percentiles(lat),
        # CPU per request of each process: where the two cores went.
        "cpu_us_per_request": {k: v / len(bodies) * 1e6 for k, v in cpu.items()},
        "wall_s": seconds,
    }

    n = args.batch_size
    batches = [
        json.dumps({"problems": [_problem(10_000_000 + b * n + i) for i in range(n)]}).encode()
        for b in range(args.batches)
    ]
    b_seconds, b_lat, b_statuses = await _drive(
        f"{base}/v1/problems:batch", batches, headers, args.batch_concurrency
    )
    batch = {
        "batches": len(batches),
        "batch_size": n,
        "concurrency": args.batch_concurrency,
        "statuses": b_statuses,
        "problems_per_s": b_statuses.get(202, 0) * n / b_seconds,
        **_percentiles(b_lat),
    }
    in_kafka = await _end_offsets(bootstrap, f"{NAMESPACE}problems.submitted")
    expected = len(warm) + statuses.get(202, 0) + b_statuses.get(202, 0) * n
    return {"single": single, "batch": batch, "in_kafka": in_kafka, "expected": expected}


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-concurrency", type=int, default=4)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--profile", type=Path, help="cProfile the API process into this file")
    args = parser.parse_args(argv)

    # ignore_cleanup_errors: the stopped broker may still be unlinking its segment files.
    with tempfile.TemporaryDirectory(
        prefix="munjero-api-bench-", ignore_cleanup_errors=True
    ) as tmp:
        root = Path(tmp)
        broker = EmbeddedBroker(root / "broker")
        broker.start()
        try:
            port = free_port()
            settings = _settings(broker.bootstrap_servers, root / "data", port)
            asyncio.run(
                ensure_topics(
                    broker.bootstrap_servers, [topic("problems.submitted")], namespace=NAMESPACE
                )
            )
            key = ApiKeyStore.load(settings.resolved_api_keys_file).create_key(
                "bench", ["problems:write"]
            )
            cmd = [
                sys.executable,
                "-m",
                "tests.bench.api_bench",
                "serve",
                "--bootstrap",
                broker.bootstrap_servers,
                "--data-dir",
                str(settings.data_dir),
                "--port",
                str(port),
                "--linger-ms",
                str(args.linger_ms),
            ]
            if args.profile:
                cmd += ["--profile", str(args.profile.resolve())]
            server = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": os.getcwd()})
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_http(f"{base}/healthz")
                server_pids = _descendants(server.pid)
                broker_pids = [p for p in _descendants(os.getpid()) if p not in server_pids]
                procs = {
                    "api": server_pids,
                    "broker": [p for p in broker_pids if p != os.getpid()],
                    "load generator": [os.getpid()],
                }
                result = _run(_load(args, base, key, broker.bootstrap_servers, procs))
            finally:
                server.send_signal(signal.SIGINT)
                server.wait(30)
        finally:
            broker.stop()

    s, b = result["single"], result["batch"]
    print(
        f"single POST  : {s['requests']} requests, concurrency {s['concurrency']}, "
        f"statuses {s['statuses']}\n"
        f"               {s['accepted_per_s']:.0f} accepted/s, "
        f"p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms"
    )
    cpu = ", ".join(f"{k} {v:.0f} us" for k, v in s["cpu_us_per_request"].items())
    print(f"               CPU per request: {cpu} (wall {s['wall_s']:.1f} s)")
    print(
        f"batch POST   : {b['batches']} x {b['batch_size']} problems, concurrency "
        f"{b['concurrency']}, statuses {b['statuses']}\n"
        f"               {b['problems_per_s']:.0f} problems/s, "
        f"p50 {b['p50_ms']:.1f} ms, p95 {b['p95_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms per batch"
    )
    print(f"in Kafka     : {result['in_kafka']} records (expected {result['expected']})")


if __name__ == "__main__":
    main()
