"""Pick the embedder named in the settings, wrapped in the content-hash cache."""

from __future__ import annotations

from connectors.embeddings.cache import CachingEmbedder
from streams.ports.embeddings import Embedder

EMBEDDERS = ("e5-small", "use-m3")


def open_embedder(name: str, cache_bytes: int = 8 << 20) -> Embedder:
    """The embedder ``name`` behind a cache of at most ``cache_bytes``; ``ValueError`` names
    the choices for an unknown one."""
    if name == "e5-small":
        from connectors.embeddings.e5_small import E5SmallEmbedder

        return CachingEmbedder(E5SmallEmbedder(), cache_bytes)
    if name == "use-m3":
        from connectors.embeddings.use_m3 import UseM3Embedder

        return CachingEmbedder(UseM3Embedder(), cache_bytes)
    raise ValueError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}")
