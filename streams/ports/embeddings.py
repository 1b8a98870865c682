"""The embedder port.

Queries and passages are separate calls because some models (E5) embed them differently; the
others treat both alike. Vectors are L2-normalised float32 rows, so cosine is a dot product.
Calls are CPU-bound and synchronous: async callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """A sentence embedding model."""

    @property
    def name(self) -> str:
        """Stable id of model + version: part of every cache key."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimensionality."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Normalised vectors for search queries, one row per text."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        """Normalised vectors for indexed passages, one row per text."""
        ...


def normalise(vectors: npt.ArrayLike) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    normed: Vectors = np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)
    return normed
