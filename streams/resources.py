"""Heavy clients a worker process shares between its agents, opened on first use.

On the embedded default the vector engine keeps its data directory to one process, so the
indexing agent (writer) and the drafting agent (reader) must share one store: they run in one
worker group ("content") and get the store from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams.settings import Settings

if TYPE_CHECKING:
    from connectors.embeddings.port import Embedder
    from connectors.vectors.port import VectorStore


class Resources:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: VectorStore | None = None
        self._embedder: Embedder | None = None

    @property
    def vector_store(self) -> VectorStore:
        if self._store is None:
            from connectors.vectors.factory import open_vector_store

            key = self.settings.qdrant_api_key
            self._store = open_vector_store(
                self.settings.qdrant_url,
                key.get_secret_value() if key else None,
                self.settings.data_dir / "qdrant",
            )
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from connectors.embeddings.factory import open_embedder

            self._embedder = open_embedder(self.settings.embedder)
        return self._embedder

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()
