"""The content-hash cache and normalisation, with a counting fake embedder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from connectors.embeddings.cache import ENTRY_OVERHEAD_BYTES, CachingEmbedder, content_key
from streams.ports.embeddings import Vectors, normalise


class CountingEmbedder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    @property
    def name(self) -> str:
        return "fake@1"

    @property
    def dim(self) -> int:
        return 3

    def _vec(self, kind: str, texts: Sequence[str]) -> Vectors:
        self.calls.append((kind, list(texts)))
        return normalise([[len(t), 1.0, 2.0 if kind == "query" else 0.0] for t in texts])

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._vec("query", texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._vec("passage", texts)


def test_normalise_gives_unit_rows_and_keeps_zero_rows() -> None:
    out = normalise([[3.0, 4.0], [0.0, 0.0]])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(out[1], [0.0, 0.0])


def test_repeated_texts_are_embedded_once() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner)
    first = cached.embed_passages(["a", "bb", "a"])
    second = cached.embed_passages(["bb", "a"])
    assert inner.calls == [("passage", ["a", "bb"])]
    np.testing.assert_array_equal(first[1], second[0])
    np.testing.assert_array_equal(first[0], first[2])
    assert (cached.hits, cached.misses) == (3, 2)


def test_query_and_passage_vectors_are_cached_apart() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner)
    q = cached.embed_queries(["same"])
    p = cached.embed_passages(["same"])
    assert len(inner.calls) == 2
    assert not np.array_equal(q, p)
    assert content_key("m", "query", "x") != content_key("m", "passage", "x")
    assert content_key("m1", "query", "x") != content_key("m2", "query", "x")


def test_lru_evicts_the_oldest_and_a_batch_larger_than_capacity_still_answers() -> None:
    inner = CountingEmbedder()
    entry = 3 * 4 + ENTRY_OVERHEAD_BYTES  # a 3-d float32 vector and its bookkeeping
    cached = CachingEmbedder(inner, max_bytes=2 * entry)
    out = cached.embed_passages(["a", "bb", "ccc"])
    assert out.shape == (3, 3)
    cached.embed_passages(["a"])  # evicted: embedded again
    assert inner.calls[-1] == ("passage", ["a"])
    assert cached.embed_passages([]).shape == (0, 3)


class WideEmbedder(CountingEmbedder):
    """384-d like e5-small, each batch one array (as the real models return)."""

    @property
    def dim(self) -> int:
        return 384

    def _vec(self, kind: str, texts: Sequence[str]) -> Vectors:
        self.calls.append((kind, list(texts)))
        rows = np.random.default_rng(len(self.calls)).random((len(texts), 384))
        return normalise(rows)


def test_the_cache_holds_at_most_its_byte_budget_however_many_texts_pass() -> None:
    budget = 1 << 20
    cached = CachingEmbedder(WideEmbedder(), max_bytes=budget)
    for start in range(0, 5_000, 50):
        cached.embed_passages([f"text {i}" for i in range(start, start + 50)])
        assert cached.bytes <= budget
    held = list(cached._cache.values())
    # Full, not emptied by eviction, and each entry owns its bytes: no row view keeps a
    # whole evicted batch alive behind the count.
    assert cached.bytes > budget - (384 * 4 + ENTRY_OVERHEAD_BYTES)
    assert all(v.base is None for v in held)
    assert cached.bytes == sum(v.nbytes + ENTRY_OVERHEAD_BYTES for v in held)
    # The most recent texts are the ones kept.
    before = len(cached._inner.calls)  # type: ignore[attr-defined]
    cached.embed_passages(["text 4999"])
    assert len(cached._inner.calls) == before  # type: ignore[attr-defined]


def test_a_zero_budget_caches_nothing_and_still_answers() -> None:
    inner = CountingEmbedder()
    cached = CachingEmbedder(inner, max_bytes=0)
    assert cached.embed_passages(["a"]).shape == (1, 3)
    assert cached.embed_passages(["a"]).shape == (1, 3)
    assert len(inner.calls) == 2
    assert cached.bytes == 0
