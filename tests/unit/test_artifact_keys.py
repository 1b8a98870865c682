"""Artifact keys: which strings may name an object, and where content-addressed keys go."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from connectors.artifacts.factory import open_artifact_store
from connectors.artifacts.local import LocalArtifactStore
from connectors.artifacts.s3 import S3ArtifactStore
from streams.errors import FatalError
from streams.ports.artifact_keys import check_key, content_key
from streams.ports.artifacts import InvalidArtifactKeyError

DIGEST = hashlib.sha256(b"render spec").hexdigest()


def test_content_key_fans_out_by_the_first_two_hex_characters() -> None:
    key = content_key("renders", DIGEST, "short.mp4")
    assert key == f"renders/{DIGEST[:2]}/{DIGEST}/short.mp4"


def test_content_key_lowercases_the_digest_so_one_content_has_one_key() -> None:
    assert content_key("renders", DIGEST.upper(), "short.mp4") == content_key(
        "renders", DIGEST, "short.mp4"
    )


@pytest.mark.parametrize(
    ("kind", "digest", "filename"),
    [
        ("renders", "not-hex", "short.mp4"),
        ("renders", "a", "short.mp4"),
        ("renders", "", "short.mp4"),
        ("renders/x", DIGEST, "short.mp4"),
        ("renders", DIGEST, "frames/0001.jpg"),
        ("renders", DIGEST, ".."),
        ("", DIGEST, "short.mp4"),
        ("renders", DIGEST, ""),
    ],
)
def test_content_key_refuses_parts_that_would_break_the_layout(
    kind: str, digest: str, filename: str
) -> None:
    with pytest.raises(InvalidArtifactKeyError):
        content_key(kind, digest, filename)


@pytest.mark.parametrize(
    "key",
    [
        "renders/ab/abcdef/short.mp4",
        "storyboards/0f/0f12/sheet-01.jpg",
        "a",
        "x/y_z/v1.2/file=1.bin",
    ],
)
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "renders/../secrets",
        "..",
        "renders/./x",
        "renders//x",
        "renders/x/",
        "renders\\x",
        "renders/.hidden",
        "renders/x y",
        "renders/\x00",
        "renders/한글.mp4",
        "a/" + "b" * 201,
        "a/" * 460 + "b",
    ],
)
def test_bad_keys_are_fatal(key: str) -> None:
    with pytest.raises(InvalidArtifactKeyError) as info:
        check_key(key)
    # The type routes the event: a bad key goes to the DLQ, never to a retry tier.
    assert isinstance(info.value, FatalError)


def test_factory_without_url_is_the_local_store(tmp_path: Path) -> None:
    for url in (None, ""):
        store = open_artifact_store(url, local_root=tmp_path)
        assert isinstance(store, LocalArtifactStore)
        assert store.root == tmp_path


def test_factory_parses_bucket_and_prefix(tmp_path: Path) -> None:
    store = open_artifact_store("s3://media-bucket/prod/shorts/", local_root=tmp_path)
    assert isinstance(store, S3ArtifactStore)
    assert store.bucket == "media-bucket"
    assert store.uri("renders/ab/abc/short.mp4") == (
        "s3://media-bucket/prod/shorts/renders/ab/abc/short.mp4"
    )
    bare = open_artifact_store("s3://media-bucket", local_root=tmp_path)
    assert isinstance(bare, S3ArtifactStore)
    assert bare.uri("a/b") == "s3://media-bucket/a/b"


@pytest.mark.parametrize(
    "url", ["file:///tmp/x", "gs://bucket", "s3://", "s3:///prefix", "/tmp/dir", "s3://b/../x"]
)
def test_factory_refuses_other_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="artifact store URL"):
        open_artifact_store(url, local_root=tmp_path)
