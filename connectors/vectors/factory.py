"""Pick the vector store: a Qdrant server URL means production, none means the embedded engine."""

from __future__ import annotations

from pathlib import Path

from connectors.vectors.edge_adapter import EdgeVectorStore
from connectors.vectors.qdrant_client_adapter import QdrantClientVectorStore
from streams.ports.vectors import VectorStore


def open_vector_store(url: str | None, api_key: str | None, path: Path | str) -> VectorStore:
    """``QdrantClientVectorStore`` on the server at ``url`` when it is set, else the embedded
    ``EdgeVectorStore`` under ``path``. Nothing is opened until the first call."""
    if url:
        return QdrantClientVectorStore(url, api_key)
    return EdgeVectorStore(path)
