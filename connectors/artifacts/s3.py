"""The production artifact store: any S3-compatible service through boto3.

S3 makes a PUT and a completed multipart upload visible all at once, so atomicity comes from
the service; a failed multipart upload is aborted by boto3's transfer manager. The SHA-256 is
computed before the upload and stored as user metadata (``x-amz-meta-sha256``); ``head``
ignores objects without it, because only this store's writes are known to carry the right one.

boto3 is synchronous: every call runs in ``asyncio.to_thread`` on one client, created lazily
(creating it reads config files and costs ~100 ms) and shared, as boto3 clients are
thread-safe. botocore retries transient failures itself ("standard" mode); what still fails
is raised as ``ArtifactStoreUnavailableError`` so the event goes to a retry tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
)

from connectors.artifacts.uris import key_under
from streams.ports.artifact_keys import check_key
from streams.ports.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStoreError,
    ArtifactStoreRefusedError,
    ArtifactStoreUnavailableError,
    StoredArtifact,
)

_T = TypeVar("_T")
_MB = 1024 * 1024
_CHUNK = _MB
_SHA256_META = "sha256"
# Codes S3 (and compatible services) use for "try again"; any 5xx is treated the same way.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "ServiceUnavailable",
        "RequestLimitExceeded",
        # A download pins the ETag it started with; an overwrite in between fails it.
        "PreconditionFailed",
    }
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_TOO_MANY_REQUESTS = 429
_SERVER_ERROR = 500


class S3ArtifactStore:
    """``ArtifactStore`` on bucket ``bucket``; every key is stored under ``prefix``."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
        multipart_threshold: int = 64 * _MB,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 artifact store needs a bucket name")
        self._bucket = bucket
        prefix = prefix.strip("/")
        self._prefix = f"{check_key(prefix)}/" if prefix else ""
        self._endpoint_url = endpoint_url
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._config = Config(
            region_name=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": max_attempts},
            # Custom endpoints (MinIO, moto, Ceph) rarely have wildcard DNS for virtual hosts.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            max_pool_connections=20,
        )
        self._transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            # Parts of at least 5 MiB are an S3 rule (except the last one).
            multipart_chunksize=max(5 * _MB, min(multipart_threshold, 64 * _MB)),
            max_concurrency=8,
        )
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    def uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{self._object_key(key)}"

    async def put_file(self, key: str, path: Path, *, content_type: str) -> StoredArtifact:
        check_key(key)
        return await self._run(self._put_sync, key, Path(path), content_type)

    async def head(self, key: str) -> StoredArtifact | None:
        check_key(key)
        return await self._run(self._head_sync, key)

    async def get_bytes(self, key: str) -> bytes:
        check_key(key)
        return await self._run(self._get_sync, key)

    async def open_path(self, key: str, dest: Path) -> Path:
        check_key(key)
        return await self._run(self._download_sync, key, Path(dest))

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run(
            lambda: self._s3().delete_object(Bucket=self._bucket, Key=self._object_key(key))
        )

    async def check(self) -> None:
        def head_bucket() -> None:
            try:
                self._s3().head_bucket(Bucket=self._bucket)
            except ClientError as exc:
                if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                    # head_bucket has no body, so the service cannot say "NoSuchBucket".
                    raise ArtifactStoreRefusedError(
                        f"S3 bucket {self._bucket} does not exist"
                    ) from exc
                raise

        await self._run(head_bucket)

    async def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (development and tests; production buckets are
        provisioned with their lifecycle and access policies elsewhere)."""

        def create() -> None:
            args: dict[str, Any] = {"Bucket": self._bucket}
            if self._region != "us-east-1":
                # us-east-1 is the one region that refuses an explicit location constraint.
                args["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
            try:
                self._s3().create_bucket(**args)
            except ClientError as exc:
                if _code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        await self._run(create)

    def key_for_uri(self, uri: str) -> str | None:
        # ``uri("")`` would fail the key check: derive the bucket/prefix base from a real key.
        return key_under(self.uri("k")[:-1], uri)

    async def close(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    # --- blocking implementation -------------------------------------------------------------

    def _s3(self) -> Any:
        with self._client_lock:
            if self._client is None:
                # A private session: boto3's default session is not thread-safe.
                session = boto3.session.Session(
                    aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key,
                    region_name=self._region,
                )
                self._client = session.client(
                    "s3", endpoint_url=self._endpoint_url, config=self._config
                )
            return self._client

    def _object_key(self, key: str) -> str:
        return f"{self._prefix}{key}"

    def _put_sync(self, key: str, source: Path, content_type: str) -> StoredArtifact:
        try:
            before = os.stat(source)
            digest = _sha256_file(source)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ArtifactStoreRefusedError(f"cannot store {key}: {source} is not a file") from exc
        self._s3().upload_file(
            str(source),
            self._bucket,
            self._object_key(key),
            ExtraArgs={"ContentType": content_type, "Metadata": {_SHA256_META: digest}},
            Config=self._transfer,
        )
        after = os.stat(source)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            # The hash was taken before the upload read the file: a writer in between would
            # leave an object whose metadata lies. Remove it rather than publish it.
            self._s3().delete_object(Bucket=self._bucket, Key=self._object_key(key))
            raise ArtifactIntegrityError(f"cannot store {key}: {source} changed during upload")
        return StoredArtifact(
            key=key,
            uri=self.uri(key),
            sha256=digest,
            size_bytes=before.st_size,
            content_type=content_type,
        )

    def _head_sync(self, key: str) -> StoredArtifact | None:
        try:
            response = self._s3().head_object(Bucket=self._bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                return None
            raise
        return self._artifact(key, response)

    def _get_sync(self, key: str) -> bytes:
        try:
            response = self._s3().get_object(Bucket=self._bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                raise ArtifactNotFoundError(f"no artifact under {key}") from exc
            raise
        # Metadata and body come from one response, so they describe the same object.
        artifact = self._artifact(key, response)
        with contextlib.closing(response["Body"]) as body:
            data: bytes = body.read()
        if artifact is None:
            raise ArtifactNotFoundError(f"{key} exists but was not written by an artifact store")
        _verify(key, hashlib.sha256(data).hexdigest(), artifact.sha256)
        return data

    def _download_sync(self, key: str, dest: Path) -> Path:
        artifact = self._head_sync(key)
        if artifact is None:
            raise ArtifactNotFoundError(f"no artifact under {key}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Download beside ``dest`` and rename: ``dest`` never holds a partial file.
        tmp = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex}")
        try:
            self._s3().download_file(
                self._bucket, self._object_key(key), str(tmp), Config=self._transfer
            )
            _verify(key, _sha256_file(tmp), artifact.sha256)
            os.replace(tmp, dest)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND_CODES:
                raise ArtifactNotFoundError(f"artifact {key} was deleted during download") from exc
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return dest

    def _artifact(self, key: str, response: dict[str, Any]) -> StoredArtifact | None:
        digest = response.get("Metadata", {}).get(_SHA256_META)
        if not digest:
            return None
        return StoredArtifact(
            key=key,
            uri=self.uri(key),
            sha256=digest,
            size_bytes=int(response["ContentLength"]),
            content_type=response.get("ContentType", "application/octet-stream"),
        )

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        try:
            return await asyncio.to_thread(fn, *args)
        except ArtifactStoreError:
            raise
        except (ClientError, BotoCoreError, S3UploadFailedError, OSError) as exc:
            raise _translate(exc, self._bucket) from exc


def _translate(exc: BaseException, bucket: str) -> ArtifactStoreError:
    """The project's error for a boto3/botocore failure: retriable unless retrying is futile."""
    if isinstance(exc, S3UploadFailedError) and exc.__context__ is not None:
        # boto3 wraps the upload's ClientError without ``from``: the code is on the context.
        return _translate(exc.__context__, bucket)
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = _code(exc)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        text = f"S3 bucket {bucket}: {code} ({status}): {message}"
        if status >= _SERVER_ERROR or status == _TOO_MANY_REQUESTS or code in _TRANSIENT_CODES:
            return ArtifactStoreUnavailableError(text)
        return ArtifactStoreRefusedError(text)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ArtifactStoreRefusedError(f"S3 bucket {bucket}: {exc}")
    if isinstance(exc, ConnectionError | HTTPClientError | IncompleteReadError | OSError):
        return ArtifactStoreUnavailableError(f"S3 bucket {bucket}: {exc}")
    # Any other botocore error is a configuration or programming mistake (bad parameter,
    # unknown region, invalid endpoint URL): retrying repeats it.
    return ArtifactStoreRefusedError(f"S3 bucket {bucket}: {exc}")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(key: str, digest: str, expected: str) -> None:
    if digest != expected:
        raise ArtifactIntegrityError(
            f"artifact {key}: bytes hash to {digest}, stored SHA-256 is {expected}"
        )
