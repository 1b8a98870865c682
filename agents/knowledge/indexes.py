"""The embedded copies of the knowledge base, shared by the indexing and the drafting steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.ports.embeddings import Embedder

Role = Literal["primary", "cross"]


@dataclass(frozen=True)
class DenseIndex:
    """One embedded copy of the knowledge base: the collection and the embedder that fills it.

    ``role`` is "primary" (the within-language index, e.g. e5-small: the best Korean ranking)
    or "cross" (a cross-lingual embedder such as USE-m3, whose Korean and English vectors share
    one space). Every chunk is written to every index under the same chunk id.
    """

    role: Role
    collection: str
    embedder: Embedder
