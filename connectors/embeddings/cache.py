"""Embeddings cached by content hash: re-indexing an unchanged chunk, or drafting the same
problem again, costs a dictionary lookup instead of a forward pass."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from streams.ports.embeddings import Embedder, Vectors


def content_key(model: str, kind: str, text: str) -> bytes:
    """The cache key: the model's name is part of it, so changing models never mixes vectors."""
    return hashlib.sha256(f"{model}\x1f{kind}\x1f{text}".encode()).digest()


# What one entry costs beyond its vector's bytes: the 32-byte key object, the OrderedDict
# node and the ndarray header, measured with tracemalloc at ~230 bytes; rounded up.
ENTRY_OVERHEAD_BYTES = 256


class CachingEmbedder:
    """Wraps an embedder with an LRU keyed by content hash, bounded in bytes.

    Bytes, not entries: the 30-minute soak showed an entry-count bound (100,000 vectors, about
    400 MB for two embedders) growing the worker for hours before it would plateau. The cache
    earns its keep on redelivered batches and re-posted documents, which a few MB covers.
    """

    def __init__(self, inner: Embedder, max_bytes: int = 8 << 20) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._cached("query", texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._cached("passage", texts)

    def _cached(self, kind: str, texts: Sequence[str]) -> Vectors:
        keys = [content_key(self.name, kind, text) for text in texts]
        found = {key: self._cache[key] for key in keys if key in self._cache}
        todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in found))
        if todo:
            embed = self._inner.embed_queries if kind == "query" else self._inner.embed_passages
            for text, vector in zip(todo, embed(todo), strict=True):
                # A copy: a row view would keep its whole batch's array alive after eviction.
                found[content_key(self.name, kind, text)] = np.array(vector, dtype=np.float32)
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        for key, vector in found.items():
            self._put(key, vector)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def _put(self, key: bytes, vector: Vectors) -> None:
        if key in self._cache:
            self._cache.move_to_end(key)
            return
        self._cache[key] = vector
        self.bytes += vector.nbytes + ENTRY_OVERHEAD_BYTES
        while self.bytes > self._max_bytes and self._cache:
            _, old = self._cache.popitem(last=False)
            self.bytes -= old.nbytes + ENTRY_OVERHEAD_BYTES
