"""Throughput of the producer API into Kafka, end to end on this machine.

    .venv/bin/python -m tests.bench.api_bench [--requests 20000] [--concurrency 64]
                                              [--client raw|aiohttp] [--null-publisher]

Starts an embedded noida-db broker, serves the API under uvicorn (uvloop + httptools) in a child
process, and drives it from this process (so the load generator never shares the API's event
loop). Reports accepted/s and latency percentiles for single POSTs and for the batch endpoint,
the CPU each process spent per request, and checks the broker's end offsets: "accepted" means
"in Kafka".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.broker import EmbeddedBroker, free_port
from connectors.kafka import KafkaEventProducer, ensure_topics
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.auth import ApiKeyStore
from services.api.deps import build_default_deps
from services.api.status import InMemoryStatusReader
from streams.catalogue import topic
from streams.kafka_auth import KafkaClientConfig
from streams.settings import Settings
from tests.bench.http_load import LoadResult, drive
from tests.bench.procstat import cpu_seconds, descendants, machine_busy_seconds

NAMESPACE = "bench."
PROBLEMS_TOPIC = f"{NAMESPACE}problems.submitted"


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


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.run(coro)
    return uvloop.run(coro)


# --- the API server (child process) ------------------------------------------------------------


class NullPublisher:
    """Acknowledges at once: ``--null-publisher`` measures the HTTP side without Kafka."""

    async def publish_many(self, messages: Any, *, timeout: float | None = None) -> None:
        return None

    async def stop(self) -> None:
        return None


async def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _settings(args.bootstrap, args.data_dir, args.port)
    producer: KafkaEventProducer | NullPublisher
    if args.null_publisher:
        producer = NullPublisher()
    else:
        producer = KafkaEventProducer(KafkaClientConfig(args.bootstrap), linger_ms=args.linger_ms)
        await producer.start()
    deps = await build_default_deps(
        settings, producer, AvroSerde(InMemorySchemaRegistry()), InMemoryStatusReader()
    )
    config = uvicorn.Config(
        create_app(deps),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        proxy_headers=False,  # nothing in front: skip a middleware layer per request
        backlog=4096,
    )
    try:
        # SO_REUSEPORT: with --workers N, N processes bind the port and the kernel spreads
        # connections over them.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", args.port))
        await uvicorn.Server(config).serve(sockets=[sock])
    finally:
        await deps.aclose()
        await producer.stop()


def serve_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--linger-ms", type=int, default=2)
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on exit")
    parser.add_argument("--null-publisher", action="store_true")
    args = parser.parse_args(argv)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        _run(_serve(args))
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT it was stopped with, after a clean shutdown
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)


# --- the load generator (this process) ---------------------------------------------------------


def _percentiles(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {qs[49] * 1000:.1f} ms, p95 {qs[94] * 1000:.1f} ms, p99 {qs[98] * 1000:.1f} ms"


async def _end_offsets(bootstrap: str, name: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(name) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(name) or set()
        offsets = await consumer.end_offsets([TopicPartition(name, p) for p in parts])
        return sum(offsets.values())
    finally:
        await consumer.stop()


async def _measured(
    procs: dict[str, list[int]],
    phase: str,
    url: str,
    bodies: list[bytes],
    args: argparse.Namespace,
    c: int,
) -> tuple[LoadResult, dict[str, float]]:
    """Run one load phase; also return CPU seconds per process group and for the rest."""
    headers = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json"}
    before = {name: cpu_seconds(pids) for name, pids in procs.items()}
    busy = machine_busy_seconds()
    keys = [f"{phase}-{i}" for i in range(len(bodies))] if args.idempotency else None
    result = await drive(url, bodies, headers, c, args.client, keys)
    cpu = {name: cpu_seconds(pids) - before[name] for name, pids in procs.items()}
    cpu["other processes"] = max(0.0, machine_busy_seconds() - busy - sum(cpu.values()))
    return result, cpu


async def _load(args: argparse.Namespace, base: str, procs: dict[str, list[int]]) -> int:
    warm = [json.dumps(_problem(-i)).encode() for i in range(1, 501)]
    await _measured(procs, "warm", f"{base}/v1/problems", warm, args, args.concurrency)

    bodies = [json.dumps(_problem(i)).encode() for i in range(args.requests)]
    single, cpu = await _measured(
        procs, "single", f"{base}/v1/problems", bodies, args, args.concurrency
    )
    per_request = ", ".join(f"{k} {v / len(bodies) * 1e6:.0f} us" for k, v in cpu.items())
    print(
        f"single POST : {len(bodies)} requests, concurrency {args.concurrency}, client "
        f"{args.client}{', idempotency keys' if args.idempotency else ''}, "
        f"statuses {single.statuses}\n"
        f"              {single.count(202) / single.seconds:.0f} accepted/s, "
        f"{_percentiles(single.latencies)}\n"
        f"              CPU per request: {per_request}; wall {single.seconds:.1f} s"
    )

    n: int = args.batch_size
    batches = [
        json.dumps({"problems": [_problem(10_000_000 + b * n + i) for i in range(n)]}).encode()
        for b in range(args.batches)
    ]
    batch, _ = await _measured(
        procs, "batch", f"{base}/v1/problems:batch", batches, args, args.batch_concurrency
    )
    print(
        f"batch POST  : {len(batches)} x {n} problems, concurrency {args.batch_concurrency}, "
        f"statuses {batch.statuses}\n"
        f"              {batch.count(202) * n / batch.seconds:.0f} problems/s, "
        f"{_percentiles(batch.latencies)} per batch"
    )
    return len(warm) + single.count(202) + batch.count(202) * n


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


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-concurrency", type=int, default=4)
    parser.add_argument("--linger-ms", type=int, default=2)
    parser.add_argument("--client", choices=["raw", "aiohttp"], default="raw")
    parser.add_argument(
        "--idempotency", action="store_true", help="send a unique Idempotency-Key per request"
    )
    parser.add_argument("--workers", type=int, default=1, help="API processes (SO_REUSEPORT)")
    parser.add_argument("--profile", type=Path, help="cProfile the API process into this file")
    parser.add_argument(
        "--null-publisher",
        action="store_true",
        help="diagnostic: the API acknowledges without Kafka (isolates the HTTP side)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve_main(argv[1:])
        return
    args = _parse(argv)
    # ignore_cleanup_errors: the stopped broker may still be unlinking its segment files.
    with tempfile.TemporaryDirectory(
        prefix="munjero-api-bench-", ignore_cleanup_errors=True
    ) as tmp:
        root = Path(tmp)
        with EmbeddedBroker(root / "broker") as broker:
            bootstrap = broker.bootstrap_servers
            port = free_port()
            settings = _settings(bootstrap, root / "data", port)
            asyncio.run(
                ensure_topics(
                    KafkaClientConfig(bootstrap), [topic("problems.submitted")], namespace=NAMESPACE
                )
            )
            args.key = ApiKeyStore.load(settings.resolved_api_keys_file).create_key(
                "bench", ["problems:write"]
            )
            cmd = [sys.executable, "-m", "tests.bench.api_bench", "serve"]
            cmd += ["--bootstrap", bootstrap, "--data-dir", str(settings.data_dir)]
            cmd += ["--port", str(port), "--linger-ms", str(args.linger_ms)]
            if args.profile:
                cmd += ["--profile", str(args.profile.resolve())]
            if args.null_publisher:
                cmd.append("--null-publisher")
            env = {**os.environ, "PYTHONPATH": os.getcwd()}
            servers = [subprocess.Popen(cmd, env=env) for _ in range(args.workers)]
            try:
                base = f"http://127.0.0.1:{port}"
                _wait_http(f"{base}/healthz")
                time.sleep(1.0 if args.workers > 1 else 0.0)  # let every worker bind
                api = [p for server in servers for p in descendants(server.pid)]
                broker_pids = [p for p in descendants(os.getpid()) if p not in api]
                procs = {
                    "api": api,
                    "broker": [p for p in broker_pids if p != os.getpid()],
                    "load generator": [os.getpid()],
                }
                accepted = _run(_load(args, base, procs))
            finally:
                for server in servers:
                    server.send_signal(signal.SIGINT)
                for server in servers:
                    server.wait(30)
            in_kafka = asyncio.run(_end_offsets(bootstrap, PROBLEMS_TOPIC))
    print(f"in Kafka    : {in_kafka} records; the API accepted {accepted}")


if __name__ == "__main__":
    main()
