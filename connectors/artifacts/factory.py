"""Pick the artifact store: an ``s3://`` URL means production, none means a local directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from connectors.artifacts.local import LocalArtifactStore
from connectors.artifacts.s3 import S3ArtifactStore
from streams.ports.artifacts import ArtifactStore, InvalidArtifactKeyError

if TYPE_CHECKING:
    from streams.settings import Settings


def open_artifact_store(
    url: str | None,
    *,
    local_root: Path,
    access_key: str | None = None,
    secret_key: str | None = None,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
) -> ArtifactStore:
    """``S3ArtifactStore`` for ``s3://bucket[/prefix]``, ``LocalArtifactStore(local_root)`` for
    ``None`` or ``""``. Any other URL raises ``ValueError``. Nothing is contacted yet."""
    if not url:
        return LocalArtifactStore(local_root)
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"artifact store URL {url!r} is not supported: use s3://bucket[/prefix],"
            " or leave it unset for the local directory store"
        )
    try:
        return S3ArtifactStore(
            parts.netloc,
            endpoint_url=endpoint_url,
            region=region,
            access_key=access_key,
            secret_key=secret_key,
            prefix=parts.path,
        )
    except InvalidArtifactKeyError as exc:
        # A bad prefix is a configuration mistake, reported like any other bad URL.
        raise ValueError(f"artifact store URL {url!r} has an invalid prefix: {exc}") from exc


def artifact_store_for(settings: Settings) -> ArtifactStore:
    """The store the settings describe (``data_dir/artifacts`` when no URL is set)."""
    secret = settings.artifacts_secret_key
    return open_artifact_store(
        settings.artifacts_url,
        local_root=settings.data_dir / "artifacts",
        access_key=settings.artifacts_access_key,
        secret_key=secret.get_secret_value() if secret else None,
        endpoint_url=settings.artifacts_endpoint_url,
    )
