"""One contract for the ``ArtifactStore`` port, run against both adapters.

* ``local``: ``LocalArtifactStore`` on the test's own directory.
* ``s3``: ``S3ArtifactStore`` over HTTP against moto's S3-compatible server, started in this
  process on a free port; each test gets its own bucket. The multipart threshold is lowered so
  the large-file test exercises multipart upload and ranged download.

After the contract, each adapter's own failure modes: crash leftovers for the local store,
missing buckets and unreachable endpoints for S3.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from connectors.artifacts.local import LocalArtifactStore
from connectors.artifacts.s3 import S3ArtifactStore, _translate
from streams.errors import FatalError, RetriableError
from streams.ports.artifact_keys import content_key
from streams.ports.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStore,
    ArtifactStoreRefusedError,
    ArtifactStoreUnavailableError,
    InvalidArtifactKeyError,
)

pytestmark = pytest.mark.integration

MB = 1024 * 1024
# Low enough that the 20 MB test file goes up in three parts.
MULTIPART_THRESHOLD = 8 * MB
DIGEST = hashlib.sha256(b"render spec v1").hexdigest()
KEY = content_key("renders", DIGEST, "short.mp4")
BAD_KEYS = ["", "/abs/short.mp4", "../escape.mp4", "renders//x.mp4", "renders\\x.mp4", "a/./b"]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free port (port 0: the OS picks, the server reports it)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_store(
    endpoint: str,
    bucket: str,
    *,
    prefix: str = "",
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_attempts: int = 3,
) -> S3ArtifactStore:
    return S3ArtifactStore(
        bucket,
        endpoint_url=endpoint,
        access_key="testing",
        secret_key="testing",
        prefix=prefix,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_attempts=max_attempts,
        multipart_threshold=MULTIPART_THRESHOLD,
    )


def raw_client(endpoint: str) -> Any:
    """A plain boto3 client, to look at or write objects behind the adapter's back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def unique_bucket() -> str:
    return f"artifacts-{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ArtifactStore]:
    if request.param == "local":
        adapter: ArtifactStore = LocalArtifactStore(tmp_path / "store")
    else:
        s3 = s3_store(request.getfixturevalue("s3_endpoint"), unique_bucket())
        await s3.ensure_bucket()
        adapter = s3
    yield adapter
    await adapter.close()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the contract --------------------------------------------------------------------------


async def test_implements_the_port(store: ArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)


async def test_put_then_head_reports_what_was_stored(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096)
    stored = await store.put_file(KEY, write(tmp_path / "in.mp4", data), content_type="video/mp4")

    assert stored.key == KEY
    assert stored.sha256 == sha(data)
    assert stored.size_bytes == len(data)
    assert stored.content_type == "video/mp4"
    assert stored.uri.startswith(("file:///", "s3://"))
    assert stored.uri.endswith(KEY)
    assert await store.head(KEY) == stored


async def test_get_bytes_round_trips(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    key = content_key("storyboards", DIGEST, "sheet.jpg")
    await store.put_file(key, write(tmp_path / "sheet.jpg", data), content_type="image/jpeg")

    assert await store.get_bytes(key) == data


async def test_missing_key_is_a_cache_miss(store: ArtifactStore, tmp_path: Path) -> None:
    assert await store.head(KEY) is None
    with pytest.raises(ArtifactNotFoundError):
        await store.get_bytes(KEY)
    with pytest.raises(ArtifactNotFoundError):
        await store.open_path(KEY, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


async def test_putting_identical_content_twice_is_idempotent(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = write(tmp_path / "in.mp4", os.urandom(10_000))
    first = await store.put_file(KEY, source, content_type="video/mp4")
    second = await store.put_file(KEY, source, content_type="video/mp4")

    assert first == second
    assert await store.head(KEY) == first


async def test_concurrent_puts_of_one_key_leave_one_complete_object(
    store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    source = write(tmp_path / "in.mp4", data)
    await asyncio.gather(*(store.put_file(KEY, source, content_type="video/mp4") for _ in range(4)))

    head = await store.head(KEY)
    assert head is not None
    assert head.sha256 == sha(data)
    assert await store.get_bytes(KEY) == data


async def test_overwrite_replaces_bytes_and_metadata(store: ArtifactStore, tmp_path: Path) -> None:
    await store.put_file(KEY, write(tmp_path / "a", b"first version"), content_type="video/mp4")
    newer = b"second, longer version"
    await store.put_file(KEY, write(tmp_path / "b", newer), content_type="video/webm")

    head = await store.head(KEY)
    assert head is not None
    assert (head.sha256, head.size_bytes, head.content_type) == (
        sha(newer),
        len(newer),
        "video/webm",
    )
    assert await store.get_bytes(KEY) == newer


async def test_large_file_round_trips_with_the_right_digest(
    store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(20 * MB + 123)
    stored = await store.put_file(KEY, write(tmp_path / "big.mp4", data), content_type="video/mp4")
    assert stored.sha256 == sha(data)

    head = await store.head(KEY)
    assert head is not None
    assert (head.sha256, head.size_bytes) == (sha(data), len(data))
    out = await store.open_path(KEY, tmp_path / "download" / "big.mp4")
    assert out == tmp_path / "download" / "big.mp4"
    assert sha(out.read_bytes()) == sha(data)


async def test_open_path_writes_identical_bytes_and_replaces_dest(
    store: ArtifactStore, tmp_path: Path
) -> None:
    data = os.urandom(50_000)
    await store.put_file(KEY, write(tmp_path / "in.mp4", data), content_type="video/mp4")
    dest = write(tmp_path / "work" / "short.mp4", b"stale content from an earlier run")

    assert await store.open_path(KEY, dest) == dest
    assert dest.read_bytes() == data
    # Only ``dest`` is left: the download's temp file is gone.
    assert sorted(p.name for p in dest.parent.iterdir()) == ["short.mp4"]


async def test_delete_makes_head_miss_and_is_idempotent(
    store: ArtifactStore, tmp_path: Path
) -> None:
    await store.put_file(KEY, write(tmp_path / "in.mp4", b"bytes"), content_type="video/mp4")
    await store.delete(KEY)

    assert await store.head(KEY) is None
    with pytest.raises(ArtifactNotFoundError):
        await store.get_bytes(KEY)
    await store.delete(KEY)


async def test_keys_do_not_collide(store: ArtifactStore, tmp_path: Path) -> None:
    other = content_key("renders", DIGEST, "storyboard.jpg")
    await store.put_file(KEY, write(tmp_path / "a", b"video"), content_type="video/mp4")
    await store.put_file(other, write(tmp_path / "b", b"jpeg"), content_type="image/jpeg")
    await store.delete(KEY)

    assert await store.get_bytes(other) == b"jpeg"


@pytest.mark.parametrize("bad_key", BAD_KEYS)
async def test_bad_keys_are_refused_as_fatal(
    store: ArtifactStore, tmp_path: Path, bad_key: str
) -> None:
    source = write(tmp_path / "src" / "in.mp4", b"bytes")
    calls = {
        "put_file": lambda: store.put_file(bad_key, source, content_type="video/mp4"),
        "head": lambda: store.head(bad_key),
        "get_bytes": lambda: store.get_bytes(bad_key),
        "open_path": lambda: store.open_path(bad_key, tmp_path / "out"),
        "delete": lambda: store.delete(bad_key),
    }
    for name, call in calls.items():
        with pytest.raises(InvalidArtifactKeyError) as info:
            await call()
        assert isinstance(info.value, FatalError), name
    # Nothing escaped the store (the local store's root is tmp_path/store).
    assert not (tmp_path / "escape.mp4").exists()
    assert not (tmp_path / "out").exists()


async def test_missing_source_file_is_fatal(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactStoreRefusedError) as info:
        await store.put_file(KEY, tmp_path / "never-rendered.mp4", content_type="video/mp4")
    assert isinstance(info.value, FatalError)
    assert await store.head(KEY) is None


async def test_check_passes_on_a_usable_store(store: ArtifactStore) -> None:
    await store.check()


# --- local store: crash leftovers ----------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


async def test_local_leftover_temp_file_is_not_an_object(
    local: LocalArtifactStore, tmp_path: Path
) -> None:
    # A crash mid-copy leaves the hidden temp file, with or without a sidecar next to it.
    target = local.object_path(KEY)
    write(target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}"), b"half of a vid")

    assert await local.head(KEY) is None
    with pytest.raises(ArtifactNotFoundError):
        await local.get_bytes(KEY)
    # The next put is not disturbed by the leftover.
    data = b"the whole video"
    await local.put_file(KEY, write(tmp_path / "in.mp4", data), content_type="video/mp4")
    assert await local.get_bytes(KEY) == data


async def test_local_object_without_sidecar_is_not_reported(local: LocalArtifactStore) -> None:
    # A crash after the object's rename but before its sidecar's.
    write(local.object_path(KEY), b"complete bytes, unknown digest")

    assert await local.head(KEY) is None
    with pytest.raises(ArtifactNotFoundError):
        await local.get_bytes(KEY)


async def test_local_new_object_with_the_old_sidecar_is_not_reported(
    local: LocalArtifactStore, tmp_path: Path
) -> None:
    # An overwrite that crashed between the object's rename and the new sidecar's: the old
    # sidecar (right size, wrong digest) must not vouch for the new bytes.
    await local.put_file(KEY, write(tmp_path / "a", b"version one"), content_type="video/mp4")
    target = local.object_path(KEY)
    tmp = write(target.with_name(f".{target.name}.tmp-crash"), b"version two")
    os.replace(tmp, target)

    assert await local.head(KEY) is None
    with pytest.raises(ArtifactNotFoundError):
        await local.get_bytes(KEY)


async def test_local_bytes_changed_in_place_fail_the_digest_check(
    local: LocalArtifactStore, tmp_path: Path
) -> None:
    # Bit rot, or a tool that rewrote the file and restored its timestamps: same inode, size
    # and mtime, so head still vouches for it, but reads check the bytes themselves.
    await local.put_file(KEY, write(tmp_path / "a", b"original bytes"), content_type="video/mp4")
    target = local.object_path(KEY)
    stat = target.stat()
    with target.open("r+b") as f:
        f.write(b"O")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    with pytest.raises(ArtifactIntegrityError):
        await local.get_bytes(KEY)
    with pytest.raises(ArtifactIntegrityError):
        await local.open_path(KEY, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


async def test_local_check_fails_when_the_root_is_unusable(tmp_path: Path) -> None:
    blocker = write(tmp_path / "not-a-dir", b"a file where the root should be")
    with pytest.raises(ArtifactStoreUnavailableError):
        await LocalArtifactStore(blocker).check()


# --- S3 store: its own failure modes -------------------------------------------------------


def closed_port() -> int:
    """A port nothing listens on: bound to learn a free number, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_s3_missing_bucket_fails_check_as_fatal(s3_endpoint: str, tmp_path: Path) -> None:
    store = s3_store(s3_endpoint, unique_bucket())
    try:
        with pytest.raises(ArtifactStoreRefusedError, match="does not exist") as info:
            await store.check()
        assert isinstance(info.value, FatalError)
        with pytest.raises(ArtifactStoreRefusedError, match="NoSuchBucket"):
            await store.put_file(KEY, write(tmp_path / "in", b"x"), content_type="video/mp4")
    finally:
        await store.close()


async def test_s3_unreachable_endpoint_is_retriable(tmp_path: Path) -> None:
    store = s3_store(
        f"http://127.0.0.1:{closed_port()}",
        unique_bucket(),
        connect_timeout=0.5,
        read_timeout=0.5,
        max_attempts=1,
    )
    try:
        with pytest.raises(ArtifactStoreUnavailableError) as info:
            await store.check()
        assert isinstance(info.value, RetriableError)
        with pytest.raises(ArtifactStoreUnavailableError):
            await store.head(KEY)
        with pytest.raises(ArtifactStoreUnavailableError):
            await store.put_file(KEY, write(tmp_path / "in", b"x"), content_type="video/mp4")
    finally:
        await store.close()


async def test_s3_large_upload_is_multipart(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = unique_bucket()
    store = s3_store(s3_endpoint, bucket, prefix="shorts")
    await store.ensure_bucket()
    try:
        await store.put_file(
            KEY, write(tmp_path / "big", os.urandom(20 * MB)), content_type="video/mp4"
        )
        raw = raw_client(s3_endpoint)
        head = raw.head_object(Bucket=bucket, Key=f"shorts/{KEY}")
        # A multipart ETag ends in "-<parts>"; 20 MB over 8 MB parts is three.
        assert head["ETag"].strip('"').endswith("-3")
        raw.close()
    finally:
        await store.close()


async def test_s3_prefix_isolates_stores_in_one_bucket(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = unique_bucket()
    staging = s3_store(s3_endpoint, bucket, prefix="staging")
    prod = s3_store(s3_endpoint, bucket, prefix="prod/")
    await staging.ensure_bucket()
    try:
        await staging.put_file(KEY, write(tmp_path / "in", b"x"), content_type="video/mp4")
        assert await prod.head(KEY) is None
        head = await staging.head(KEY)
        assert head is not None
        assert head.uri == f"s3://{bucket}/staging/{KEY}"
    finally:
        await staging.close()
        await prod.close()


async def test_s3_object_without_digest_metadata_is_a_miss(s3_endpoint: str) -> None:
    # Written by another tool: its bytes may be fine, but nothing vouches for a SHA-256.
    bucket = unique_bucket()
    store = s3_store(s3_endpoint, bucket)
    await store.ensure_bucket()
    raw = raw_client(s3_endpoint)
    try:
        raw.put_object(Bucket=bucket, Key=KEY, Body=b"foreign")
        assert await store.head(KEY) is None
        with pytest.raises(ArtifactNotFoundError):
            await store.get_bytes(KEY)
    finally:
        raw.close()
        await store.close()


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("SlowDown", 503, ArtifactStoreUnavailableError),
        ("InternalError", 500, ArtifactStoreUnavailableError),
        ("RequestTimeout", 400, ArtifactStoreUnavailableError),
        ("AccessDenied", 403, ArtifactStoreRefusedError),
        ("NoSuchBucket", 404, ArtifactStoreRefusedError),
        ("InvalidAccessKeyId", 403, ArtifactStoreRefusedError),
    ],
)
def test_s3_service_errors_map_to_retriable_or_fatal(
    code: str, status: int, expected: type[Exception]
) -> None:
    # Real services return these; moto cannot be made to, so the mapping is checked on the
    # error boto3 would raise.
    error = ClientError(
        {"Error": {"Code": code, "Message": "msg"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )
    translated = _translate(error, "bucket")
    assert type(translated) is expected
    assert code in str(translated)
