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


class CachingEmbedder:
    """Wraps an embedder with a bounded LRU keyed by content hash."""

    def __init__(self, inner: Embedder, capacity: int = 100_000) -> None:
        self._inner = inner
        self._capacity = capacity
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
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
                found[content_key(self.name, kind, text)] = vector
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        for key, vector in found.items():
            self._put(key, vector)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([found[key] for key in keys]).astype(np.float32, copy=False)

    def _put(self, key: bytes, vector: Vectors) -> None:
        self._cache[key] = vector
        self._cache.move_to_end(key)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
