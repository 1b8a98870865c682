"""Content benchmarks: time to index 1,000 knowledge documents, and scripts drafted per second
with retrieval on. In-process through the real steps (parse, chunk, embed, qdrant-edge,
retrieve, write); Kafka is measured by the other benchmarks.

    python -m tests.bench.content_bench [--documents 1000] [--problems 300] [--embedder e5-small]

It also measures where indexing's limit is: the embedder alone on the same chunks, one document's
chunks per call (as the indexing step embeds) against length-sorted batches across documents.
Equal rates mean batching has nothing left to win: the forward pass is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from agents.draft import DenseIndex, DraftStep, Retriever, calibration_for
from agents.index import IndexStep, embed_sorted
from agents.knowledge.chunking import chunk_blocks
from agents.knowledge.parsing import parse
from connectors.embeddings.factory import open_embedder
from connectors.text.kiwi import KiwiTokenizer
from connectors.vectors.edge_adapter import EdgeVectorStore
from factory.samples import load_sample_problems
from streams import events

SUBJECTS = ("history", "science", "geography", "math", "language", "general")


def documents(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Realistic-length Markdown documents (3 sections of 2 sentences) built from the sample
    bank's explanations, so retrieval has on-topic text in both languages."""
    rng = random.Random(seed)
    bank = load_sample_problems()
    docs = []
    for i in range(n):
        p = bank[i % len(bank)]
        sections = []
        for s in range(3):
            other = bank[rng.randrange(len(bank))]
            sections.append(f"## {p['subject']} {s}\n\n{p['explanation']} {other['explanation']}")
        content = f"# {p['question'][:40]}\n\n" + "\n\n".join(sections)
        docs.append(
            {
                "meta": events.meta(correlation_id=events.new_id()),
                "document_id": f"doc-{i}",
                "title": p["question"][:40],
                "subject": p["subject"],
                "language": p["language"],
                "content_type": "text/markdown",
                "content": content,
                "content_sha256": hashlib.sha256(content.encode()).hexdigest(),
                "tags": [],
                "deleted": False,
                "submitted_by": "bench",
            }
        )
    return docs


async def run(args: argparse.Namespace, path: Path) -> None:
    store = EdgeVectorStore(path)
    embedder = open_embedder(args.embedder)
    index = IndexStep(store=store, embedder=embedder, collection="bench", max_chars=700)
    docs = documents(args.documents)
    started = time.perf_counter()
    chunks = 0
    for doc in docs:
        (emit,) = await index(doc)
        chunks += emit.record["chunk_count"]
    ingest_s = time.perf_counter() - started

    # Primary index only (cross-lingual off): what this bench has always measured.
    retriever = Retriever(
        store,
        [DenseIndex("primary", "bench", embedder)],
        KiwiTokenizer(),
        calibration_for(args.embedder, args.embedder),
        top_k=1,
        min_score=0.5,
    )
    step = DraftStep(k=3, retriever=retriever, grounding_min_score=0.5)
    bank = load_sample_problems()
    problems = []
    for i in range(args.problems):
        p = dict(bank[i % len(bank)])
        p.update(
            meta=events.meta(correlation_id=events.new_id()),
            problem_id=f"p{i}",
            submitted_by="bench",
        )
        problems.append(p)
    started = time.perf_counter()
    scripts = cited = 0
    for p in problems:
        for emit in await step(p):
            scripts += 1
            cited += bool(emit.record["citations"])
    draft_s = time.perf_counter() - started
    await store.close()

    texts = [
        c.embed_text
        for doc in docs
        for c in chunk_blocks(doc["document_id"], parse(doc["content_type"], doc["content"]))
    ]
    per_document = [
        [
            c.embed_text
            for c in chunk_blocks(d["document_id"], parse(d["content_type"], d["content"]))
        ]
        for d in docs[: max(1, len(docs) // 10)]
    ]
    bare = open_embedder(args.embedder, cache_bytes=0)  # no cache: every call is a forward pass
    rates = {}
    sample = [t for d in per_document for t in d]
    started = time.perf_counter()
    for doc_texts in per_document:
        embed_sorted(bare, doc_texts)
    rates["one document per call"] = len(sample) / (time.perf_counter() - started)
    for batch in (8, 32, 64):
        started = time.perf_counter()
        embed_sorted(bare, sample, batch=batch)
        rates[f"across documents, batches of {batch}"] = len(sample) / (
            time.perf_counter() - started
        )

    print(f"embedder:                 {embedder.name}")
    print(
        f"ingest {len(docs):,} documents:   {ingest_s:.1f} s  ({len(docs) / ingest_s:.1f} docs/s, "
        f"{chunks:,} chunks, {chunks / ingest_s:.0f} chunks/s)"
    )
    mean_chars = sum(map(len, texts)) / max(1, len(texts))
    print(f"embedder alone, {len(sample):,} chunks of {mean_chars:.0f} characters on average:")
    for label, rate in rates.items():
        print(f"  {label:<34} {rate:6.1f} chunks/s")
    print(
        f"drafting with retrieval:  {scripts / draft_s:.0f} scripts/s "
        f"({len(problems) / draft_s:.1f} problems/s; {cited / max(scripts, 1):.0%} cite facts)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--embedder", default="e5-small")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="content-bench-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
