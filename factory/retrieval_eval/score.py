"""Score embedding models on the retrieval evaluation set.

    python -m factory.retrieval_eval.score [--models use-m3,e5-small,minilm] [--k 5]

Each model embeds every passage (passage mode) and every query (query mode); passages are
ranked by cosine; recall@k and MRR are reported overall and per slice (ko, en, cross_lingual).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from factory.retrieval_eval.dataset import SliceScore, evaluate, load_passages, load_queries
from streams.ports.embeddings import Embedder


def _use_m3() -> Embedder:
    from connectors.embeddings.use_m3 import UseM3Embedder

    return UseM3Embedder()


def _e5_small() -> Embedder:
    from connectors.embeddings.e5_small import E5SmallEmbedder

    return E5SmallEmbedder()


def _minilm() -> Embedder:
    # The packaged all-MiniLM-L6-v2 needs sentence-transformers + torch, which are not in the
    # lock yet: this candidate is scored only where they are installed.
    from connectors.embeddings.sentence_transformers_adapter import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.packaged_minilm()


CANDIDATES: dict[str, Callable[[], Embedder]] = {
    "use-m3": _use_m3,
    "e5-small": _e5_small,
    "minilm": _minilm,
}


def score(embedder: Embedder, k: int = 5) -> tuple[dict[str, SliceScore], float]:
    """Per-slice scores and the embedding throughput (texts/s)."""
    passages = load_passages()
    queries = load_queries()
    started = time.perf_counter()
    p_vecs = embedder.embed_passages([p.text for p in passages])
    q_vecs = embedder.embed_queries([q.text for q in queries])
    rate = (len(passages) + len(queries)) / (time.perf_counter() - started)
    order = np.argsort(-(q_vecs @ p_vecs.T), axis=1)
    ids = [p.passage_id for p in passages]
    rankings = {q.query_id: [ids[j] for j in order[i]] for i, q in enumerate(queries)}
    return evaluate(rankings, queries, k=k), rate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(CANDIDATES))
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'model':<28} {'slice':<14} {'queries':>7} {'recall@' + str(args.k):>9} {'MRR':>6}")
    for key in args.models.split(","):
        try:
            embedder = CANDIDATES[key]()
        except ImportError as exc:
            print(f"{key:<28} not installed here ({exc.name})")
            continue
        slices, rate = score(embedder, args.k)
        for name, values in slices.items():
            print(
                f"{embedder.name:<28} {name:<14} {int(values['queries']):>7} "
                f"{values['recall_at_k']:>9.3f} {values['mrr']:>6.3f}"
            )
        print(f"{embedder.name:<28} {'throughput':<14} {rate:>7.0f} texts/s")


if __name__ == "__main__":
    main()
