"""The embedded artifact store: a directory tree, one file per key plus a JSON sidecar.

Crash safety. An object is written to a hidden temp file in its final directory, fsynced and
``os.replace``d into place; then its sidecar (SHA-256, content type, size) is written the same
way. The sidecar also records the object file's inode, size and mtime, and ``head`` reports an
object only when the sidecar matches the file currently in place. So whatever point a crash
(or a concurrent ``put_file`` of the same key) interrupts:

* temp file left over     -> hidden name, never a key: invisible;
* object without sidecar  -> ``head`` says ``None``: a cache miss, the next put repairs it;
* new object, old sidecar -> the inode differs: ``None`` again, never a wrong SHA-256.

Concurrent puts of one key copy in parallel but commit (object rename + sidecar) under a
per-key ``flock``: otherwise the last sidecar written could belong to an object that another
writer has already replaced, and ``head`` would miss that key until the next put.

The price of the inode binding: a copied or restored tree (new inodes) reads as empty and is
re-rendered; it never reports wrong bytes. Blocking I/O runs in ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import unquote, urlsplit

from connectors.artifacts.uris import key_under
from streams.ports.artifact_keys import check_key
from streams.ports.artifacts import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStoreRefusedError,
    ArtifactStoreUnavailableError,
    StoredArtifact,
)

_T = TypeVar("_T")
# Large enough that hashing, not syscalls, dominates; small enough to stay out of the way.
_CHUNK = 1024 * 1024
_SIDECAR_VERSION = 1


class LocalArtifactStore:
    """``ArtifactStore`` in a directory: ``root/<key>`` and ``root/<dir>/.<name>.meta.json``."""

    def __init__(self, root: Path) -> None:
        # Absolute once, so a later chdir cannot move the store and URIs stay valid.
        self._root = Path(root).absolute()

    @property
    def root(self) -> Path:
        return self._root

    def object_path(self, key: str) -> Path:
        """Where ``key``'s bytes live (tests simulate crashes through it)."""
        return self._root / check_key(key)

    def sidecar_path(self, key: str) -> Path:
        """Where ``key``'s metadata lives: hidden, so no valid key can name it."""
        target = self.object_path(key)
        return target.with_name(f".{target.name}.meta.json")

    async def put_file(self, key: str, path: Path, *, content_type: str) -> StoredArtifact:
        check_key(key)
        return await _run(self._put_sync, key, Path(path), content_type)

    async def head(self, key: str) -> StoredArtifact | None:
        check_key(key)
        return await _run(self._head_sync, key)

    async def get_bytes(self, key: str) -> bytes:
        check_key(key)
        return await _run(self._get_sync, key)

    async def open_path(self, key: str, dest: Path) -> Path:
        check_key(key)
        return await _run(self._download_sync, key, Path(dest))

    async def delete(self, key: str) -> None:
        check_key(key)
        await _run(self._delete_sync, key)

    async def check(self) -> None:
        await _run(self._check_sync)

    def key_for_uri(self, uri: str) -> str | None:
        parts = urlsplit(uri)
        if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
            return None
        return key_under(self.root.as_posix().rstrip("/") + "/", unquote(parts.path))

    async def close(self) -> None:
        """Nothing is held open between calls."""

    # --- blocking implementation -------------------------------------------------------------

    def _put_sync(self, key: str, source: Path, content_type: str) -> StoredArtifact:
        target = self.object_path(key)
        try:
            src = source.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ArtifactStoreRefusedError(f"cannot store {key}: {source} is not a file") from exc
        with src:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError) as exc:
                raise ArtifactStoreRefusedError(
                    f"cannot store {key}: a parent of it is an object, not a directory"
                ) from exc
            tmp = _temp_name(target)
            try:
                with tmp.open("xb") as out:
                    digest = _copy_hashing(src, out)
                    out.flush()
                    os.fsync(out.fileno())
                    stat = os.fstat(out.fileno())
                meta = {
                    "version": _SIDECAR_VERSION,
                    "sha256": digest,
                    "size_bytes": stat.st_size,
                    "content_type": content_type,
                    "inode": stat.st_ino,
                    "mtime_ns": stat.st_mtime_ns,
                }
                with self._key_lock(key):
                    os.replace(tmp, target)
                    _write_atomically(self.sidecar_path(key), json.dumps(meta).encode())
            except IsADirectoryError as exc:
                raise ArtifactStoreRefusedError(
                    f"cannot store {key}: it is a directory of other objects"
                ) from exc
            finally:
                _unlink_quietly(tmp)
        # Both renames are durable only once the directory entry is on disk.
        _fsync_dir(target.parent)
        return self._artifact(key, meta)

    def _head_sync(self, key: str) -> StoredArtifact | None:
        try:
            stat = os.stat(self.object_path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        meta = self._matching_meta(key, stat)
        return None if meta is None else self._artifact(key, meta)

    def _get_sync(self, key: str) -> bytes:
        with self._open_complete(key) as (src, meta):
            data = src.read()
        _verify(key, hashlib.sha256(data).hexdigest(), meta)
        return data

    def _download_sync(self, key: str, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temp_name(dest)
        try:
            with self._open_complete(key) as (src, meta), tmp.open("xb") as out:
                digest = _copy_hashing(src, out)
                out.flush()
                os.fsync(out.fileno())
            _verify(key, digest, meta)
            os.replace(tmp, dest)
        finally:
            _unlink_quietly(tmp)
        return dest

    def _delete_sync(self, key: str) -> None:
        # Sidecar first: from that moment ``head`` misses, and a crash before the object goes
        # leaves an invisible file that the next put of the key overwrites.
        target = self.object_path(key)
        if not target.parent.is_dir():
            return
        with self._key_lock(key):
            _unlink_quietly(self.sidecar_path(key))
            _unlink_quietly(target)
        # Empty fan-out directories stay: removing them would race with a concurrent put
        # that has just created them.

    def _check_sync(self) -> None:
        self._root.mkdir(parents=True, exist_ok=True)
        _write_atomically(self._root / f".check-{uuid.uuid4().hex}", b"ok", keep=False)

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        """Hold the key's commit lock (across processes too: ``flock`` on a hidden file).

        The lock file is never removed: unlinking it would let two writers lock two different
        files of the same name.
        """
        target = self.object_path(key)
        fd = os.open(target.with_name(f".{target.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _open_complete(self, key: str) -> Iterator[tuple[IO[bytes], dict[str, Any]]]:
        """Open the object and yield ``(file, meta)`` when the sidecar matches *this* file.

        Checking the open descriptor, not the path, means a concurrent put cannot swap the
        bytes between the check and the read.
        """
        try:
            src = self.object_path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ArtifactNotFoundError(f"no artifact under {key}") from exc
        with src:
            meta = self._matching_meta(key, os.fstat(src.fileno()))
            if meta is None:
                raise ArtifactNotFoundError(f"no complete artifact under {key}")
            yield src, meta

    def _matching_meta(self, key: str, stat: os.stat_result) -> dict[str, Any] | None:
        try:
            meta = json.loads(self.sidecar_path(key).read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            # Absent or unreadable sidecar: the object is not known to be complete.
            return None
        if not isinstance(meta, dict):
            return None
        bound = (meta.get("inode"), meta.get("size_bytes"), meta.get("mtime_ns"))
        if bound != (stat.st_ino, stat.st_size, stat.st_mtime_ns):
            return None
        return meta

    def _artifact(self, key: str, meta: dict[str, Any]) -> StoredArtifact:
        return StoredArtifact(
            key=key,
            uri=self.object_path(key).as_uri(),
            sha256=str(meta["sha256"]),
            size_bytes=int(meta["size_bytes"]),
            content_type=str(meta["content_type"]),
        )


async def _run(fn: Callable[..., _T], *args: Any) -> _T:
    try:
        return await asyncio.to_thread(fn, *args)
    except OSError as exc:
        # Disk full, I/O errors, a vanished mount: more often passing than not, and the retry
        # tiers still end in the DLQ when they are not.
        raise ArtifactStoreUnavailableError(f"local artifact store: {exc}") from exc


def _temp_name(target: Path) -> Path:
    # Same directory as the target, so os.replace is a rename within one file system (atomic);
    # a leading dot, so no valid key can ever name it.
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")


def _copy_hashing(src: IO[bytes], out: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest()


def _verify(key: str, digest: str, meta: dict[str, Any]) -> None:
    if digest != meta["sha256"]:
        raise ArtifactIntegrityError(
            f"artifact {key}: bytes hash to {digest}, stored SHA-256 is {meta['sha256']}"
        )


def _write_atomically(target: Path, data: bytes, *, keep: bool = True) -> None:
    tmp = _temp_name(target)
    try:
        with tmp.open("xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if keep:
            os.replace(tmp, target)
    finally:
        _unlink_quietly(tmp)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()
