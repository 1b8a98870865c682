"""Sentence embedders behind one port. Adapters load models that PyPI packages ship (offline)."""

from streams.ports.embeddings import Embedder

__all__ = ["Embedder"]
