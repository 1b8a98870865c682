"""The artifact store port: where the render step keeps MP4s and storyboard JPEGs.

Two adapters sit behind it: ``LocalArtifactStore`` (a directory, the embedded default) and
``S3ArtifactStore`` (any S3-compatible service). Both pass the same contract suite
(``tests/integration/test_artifact_store_contract.py``).

Objects are content-addressed (``keys.content_key``), so writing a key twice writes the same
bytes and ``head`` doubles as the render cache lookup. Every object carries the SHA-256 of its
bytes, computed by the store rather than trusted from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from streams.errors import FatalError, MunjeroError, RetriableError


class ArtifactStoreError(MunjeroError):
    """Root of the artifact store's failures."""


class InvalidArtifactKeyError(ArtifactStoreError, FatalError):
    """The key is not a safe relative POSIX path; no retry can make it one."""


class ArtifactNotFoundError(ArtifactStoreError, FatalError):
    """``get_bytes``/``open_path`` of a key that holds no complete object."""


class ArtifactStoreRefusedError(ArtifactStoreError, FatalError):
    """The backend refused the request for a reason a retry cannot fix (access denied, no such
    bucket, bad credentials, a key that clashes with a directory, a missing source file)."""


class ArtifactStoreUnavailableError(ArtifactStoreError, RetriableError):
    """The backend failed or could not be reached (5xx, throttling, connection errors, I/O
    errors); the same call may succeed later."""


class ArtifactIntegrityError(ArtifactStoreError, RetriableError):
    """Bytes read back do not hash to the stored SHA-256.

    Retriable on purpose: the usual cause is a concurrent overwrite between two reads, which a
    retry resolves; real corruption exhausts the retry tiers and lands in the DLQ anyway.
    """


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """A complete object in the store. ``sha256`` is lowercase hex of exactly ``size_bytes``."""

    key: str
    uri: str
    sha256: str
    size_bytes: int
    content_type: str


@runtime_checkable
class ArtifactStore(Protocol):
    """A key -> bytes store whose objects appear all at once, with their SHA-256."""

    async def put_file(self, key: str, path: Path, *, content_type: str) -> StoredArtifact:
        """Store the file at ``path`` under ``key``, replacing any object there.

        Atomic: a reader (``head``, ``get_bytes``, ``open_path``) sees the old object or the
        new one, never a partial one. The SHA-256 is computed by the store and kept with the
        object. Raises ``InvalidArtifactKeyError`` for a bad key.
        """
        ...

    async def head(self, key: str) -> StoredArtifact | None:
        """The complete object under ``key``, or ``None`` when there is none (a cache miss)."""
        ...

    async def get_bytes(self, key: str) -> bytes:
        """The object's bytes, checked against its SHA-256. For small objects (storyboards);
        use ``open_path`` for videos. Raises ``ArtifactNotFoundError`` when absent."""
        ...

    async def open_path(self, key: str, dest: Path) -> Path:
        """Download the object to ``dest`` (replaced atomically) and return ``dest``.

        The bytes are checked against the stored SHA-256 before ``dest`` appears. Raises
        ``ArtifactNotFoundError`` when absent.
        """
        ...

    async def delete(self, key: str) -> None:
        """Remove the object under ``key``. Deleting an absent key is not an error."""
        ...

    def key_for_uri(self, uri: str) -> str | None:
        """The key whose URI is ``uri`` (events carry URIs, the store is addressed by key), or
        None when ``uri`` is not an object of this store (another bucket, a path outside the
        root, a malformed key)."""
        ...

    async def check(self) -> None:
        """Raise an ``ArtifactStoreError`` unless the store can be read and written now."""
        ...

    async def close(self) -> None:
        """Release connections. Nothing may be called afterwards."""
        ...
