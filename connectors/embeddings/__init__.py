"""Sentence embedders behind one port. Adapters load models that PyPI packages ship (offline)."""

from connectors.embeddings.port import Embedder

__all__ = ["Embedder"]
