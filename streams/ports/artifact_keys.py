"""Artifact keys: the one place that decides which strings may name a stored object.

Keys are relative POSIX paths such as ``renders/ab/<digest>/short.mp4``. The same rule holds
for every adapter, so a key accepted by the embedded store is accepted in production and the
other way round.
"""

from __future__ import annotations

import re

from streams.ports.artifacts import InvalidArtifactKeyError

# A segment is a plain file name. A leading dot is refused so that no key can collide with the
# local store's hidden temp files and sidecars, and ``.``/``..`` cannot be spelled at all. The
# narrow charset keeps keys safe as file names and as S3 keys without URL-encoding surprises.
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._=-]*")
# Most file systems refuse longer names; S3 refuses keys longer than 1024 bytes, and the
# production prefix needs some of that room.
_MAX_SEGMENT = 200
_MAX_KEY = 900
_HEX = re.compile(r"[0-9a-f]+")


def check_key(key: str) -> str:
    """Return ``key`` unchanged, or raise ``InvalidArtifactKeyError`` saying what is wrong."""
    if not isinstance(key, str) or not key:
        raise InvalidArtifactKeyError(f"artifact key {key!r} is empty or not a string")
    if "\\" in key:
        raise InvalidArtifactKeyError(f"artifact key {key!r} contains a backslash")
    if key.startswith("/"):
        raise InvalidArtifactKeyError(f"artifact key {key!r} is absolute")
    if len(key.encode()) > _MAX_KEY:
        raise InvalidArtifactKeyError(f"artifact key is longer than {_MAX_KEY} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidArtifactKeyError(f"artifact key {key!r} has an empty segment")
        if segment in (".", ".."):
            raise InvalidArtifactKeyError(f"artifact key {key!r} contains {segment!r}")
        if len(segment) > _MAX_SEGMENT or not _SEGMENT.fullmatch(segment):
            raise InvalidArtifactKeyError(
                f"artifact key {key!r}: segment {segment!r} must match {_SEGMENT.pattern}"
                f" and be at most {_MAX_SEGMENT} characters"
            )
    return key


def content_key(kind: str, digest: str, filename: str) -> str:
    """The key of ``filename`` produced for content ``digest``: ``<kind>/<dd>/<digest>/<filename>``.

    ``dd`` is the digest's first two hex characters: a fan-out level that keeps any one
    directory (local store) or listing page (S3) small. The digest is lowercased so one content
    always maps to one key, which is what makes ``head`` usable as a render cache.
    """
    normalized = digest.lower()
    if len(normalized) < 2 or not _HEX.fullmatch(normalized):
        raise InvalidArtifactKeyError(f"digest {digest!r} is not a hex string of 2+ characters")
    for part, value in (("kind", kind), ("filename", filename)):
        if "/" in value:
            raise InvalidArtifactKeyError(f"{part} {value!r} must be a single path segment")
    return check_key(f"{kind}/{normalized[:2]}/{normalized}/{filename}")
