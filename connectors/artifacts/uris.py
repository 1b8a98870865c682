"""Artifact URIs back to store keys (shared by the store adapters)."""

from __future__ import annotations

from streams.ports.artifact_keys import check_key
from streams.ports.artifacts import InvalidArtifactKeyError


def key_under(base: str, path: str) -> str | None:
    """The key of ``path`` below ``base``, or None when it is outside it or not a valid key."""
    if not path.startswith(base):
        return None
    try:
        # check_key refuses "..", absolute and hidden segments: no escape from the root.
        return check_key(path[len(base) :])
    except InvalidArtifactKeyError:
        return None
