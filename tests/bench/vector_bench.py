"""Filtered vector search latency: the embedded default against qdrant-client's local mode.

    .venv/bin/python -m tests.bench.vector_bench [--points 100000] [--queries 500]
        [--baseline-points 20000] [--baseline-queries 100] [--dim 512] [--seed 7]

Both stores are driven through the ``VectorStore`` port (``asyncio.to_thread`` included), on
persistent data directories, in the same run:

* ``EdgeVectorStore`` (qdrant-edge-py): ``--points`` chunks, then ``--queries`` top-10 queries
  each filtered on subject + language (1/40 of the chunks qualify);
* ``QdrantClientVectorStore`` in local mode: the same on a smaller set, because local mode scores
  by brute force in Python; its figures are also normalised per 1,000 points.

Target: p95 <= 20 ms for the embedded default at 100,000 chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import string
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from connectors.vectors.edge_adapter import EdgeVectorStore
from connectors.vectors.qdrant_client_adapter import QdrantClientVectorStore
from streams.ports.vectors import Chunk, VectorStore

TARGET_P95_MS = 20.0
TARGET_POINTS = 100_000
SUBJECTS = [f"subject-{i:02d}" for i in range(20)]
LANGUAGES = ["ko", "en"]
TAGS = ["quiz", "theory", "example", "exam", "easy", "hard"]
COLLECTION = "bench"
UPSERT_BATCH = 1_000


@dataclass(frozen=True)
class Result:
    name: str
    points: int
    build_s: float
    latencies_ms: np.ndarray

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


def make_chunks(points: int, dim: int, seed: int) -> list[Chunk]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((points, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    letters = np.array(list(string.ascii_lowercase + "     "))
    # One pool of ~200-char texts reused round-robin: realistic payload size, cheap to build.
    texts = ["".join(rng.choice(letters, 200)) for _ in range(256)]
    chunks = []
    for i in range(points):
        tag_count = int(rng.integers(1, 4))
        payload = {
            "document_id": f"doc-{i // 8}",
            "subject": SUBJECTS[int(rng.integers(len(SUBJECTS)))],
            "language": LANGUAGES[int(rng.integers(len(LANGUAGES)))],
            "tags": sorted(set(rng.choice(TAGS, tag_count).tolist())),
            "text": texts[i % len(texts)],
        }
        chunks.append(Chunk(str(uuid.UUID(int=i + 1)), vectors[i].tolist(), payload))
    return chunks


async def measure(
    name: str, store: VectorStore, chunks: list[Chunk], queries: int, dim: int, seed: int
) -> Result:
    try:
        started = time.perf_counter()
        await store.ensure_collection(COLLECTION, dim)
        for start in range(0, len(chunks), UPSERT_BATCH):
            await store.upsert(COLLECTION, chunks[start : start + UPSERT_BATCH])
        build_s = time.perf_counter() - started
        rng = np.random.default_rng(seed + 1)
        probes = rng.standard_normal((queries, dim), dtype=np.float32)
        await store.search(COLLECTION, probes[0].tolist(), subject=SUBJECTS[0], language="ko")
        latencies = []
        for i, probe in enumerate(probes):
            vector = probe.tolist()
            subject, language = SUBJECTS[i % len(SUBJECTS)], LANGUAGES[i % 2]
            t0 = time.perf_counter()
            hits = await store.search(
                COLLECTION, vector, limit=10, subject=subject, language=language
            )
            latencies.append((time.perf_counter() - t0) * 1000)
            if len(hits) != 10 or any(h.payload["subject"] != subject for h in hits):
                raise AssertionError(f"{name}: wrong result for query {i}")
        return Result(name, len(chunks), build_s, np.array(latencies))
    finally:
        await store.close()


def report(result: Result) -> None:
    per_k = result.pct(95) / (result.points / 1000)
    print(
        f"{result.name:<28} points={result.points:>7,} build={result.build_s:6.1f}s "
        f"({result.points / result.build_s:,.0f} pts/s) queries={len(result.latencies_ms)} "
        f"p50={result.pct(50):7.2f}ms p95={result.pct(95):7.2f}ms p99={result.pct(99):7.2f}ms "
        f"p95 per 1k points={per_k:.4f}ms"
    )


async def run(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="vector-bench-") as tmp:
        chunks = make_chunks(args.points, args.dim, args.seed)
        edge = await measure(
            "edge (qdrant-edge-py)",
            EdgeVectorStore(Path(tmp) / "edge"),
            chunks,
            args.queries,
            args.dim,
            args.seed,
        )
        baseline = await measure(
            "qdrant-client local mode",
            QdrantClientVectorStore(path=str(Path(tmp) / "local")),
            chunks[: args.baseline_points],
            args.baseline_queries,
            args.dim,
            args.seed,
        )
    report(edge)
    report(baseline)
    # Local mode is brute force, so its latency grows linearly with the point count.
    projected = baseline.pct(95) * edge.points / baseline.points
    print(
        f"qdrant-client local mode projected to {edge.points:,} points: p95 ~{projected:.0f} ms "
        f"({projected / edge.pct(95):.0f}x the edge p95)"
    )
    met = edge.points >= TARGET_POINTS and edge.pct(95) <= TARGET_P95_MS
    print(f"target p95 <= {TARGET_P95_MS:.0f} ms at 100k: {'MET' if met else 'NOT MET'}")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=TARGET_POINTS)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--baseline-points", type=int, default=20_000)
    parser.add_argument("--baseline-queries", type=int, default=100)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    return 0 if asyncio.run(run(args)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
