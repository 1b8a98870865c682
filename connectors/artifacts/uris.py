"""Artifact URIs back to store keys: events carry URIs, stores are addressed by key."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from connectors.artifacts.keys import check_key
from connectors.artifacts.local import LocalArtifactStore
from connectors.artifacts.port import ArtifactStore, InvalidArtifactKeyError


@runtime_checkable
class _UriStore(Protocol):
    """A store that names its objects ``<base><key>`` (``S3ArtifactStore``); matched by shape
    so the API does not import boto3 just to recognise it."""

    def uri(self, key: str) -> str: ...


def key_for_uri(store: ArtifactStore, uri: str) -> str | None:
    """The store key whose URI is ``uri``, or None when ``uri`` is not an object of this store
    (another bucket, a path outside the root, a malformed key)."""
    if isinstance(store, LocalArtifactStore):
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        base = store.root.as_posix().rstrip("/") + "/"
        path = unquote(parts.path)
    elif isinstance(store, _UriStore):
        # ``uri("")`` would fail the key check: derive the bucket/prefix base from a real key.
        base, path = store.uri("k")[:-1], uri
    else:
        return None
    if not path.startswith(base):
        return None
    try:
        # check_key refuses "..", absolute and hidden segments: no escape from the root.
        return check_key(path[len(base) :])
    except InvalidArtifactKeyError:
        return None
