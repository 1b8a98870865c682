"""API keys: issued once in plaintext, stored only as hashes, checked in constant time.

A key looks like ``mj_<key_id>_<secret>``. The ``key_id`` is public (it names the key in logs and
in the key file) and makes lookup a dict access; only the secret part is sensitive.

Why SHA-256 and not bcrypt/argon2: the secret is 32 random bytes (256 bits), so even a leaked key
file cannot be brute-forced whatever the hash speed. Slow KDFs exist to protect low-entropy human
passwords; here they would only add ~100 ms of CPU to every request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.api.errors import Forbidden, Unauthenticated

PROBLEMS_WRITE = "problems:write"
KNOWLEDGE_WRITE = "knowledge:write"
PROBLEMS_READ = "problems:read"
DASHBOARD_READ = "dashboard:read"
SCOPES = frozenset({PROBLEMS_WRITE, KNOWLEDGE_WRITE, PROBLEMS_READ, DASHBOARD_READ})

KEY_PREFIX = "mj"
FILE_VERSION = 1
# How often a running API notices keys created or disabled by the CLI in the same file.
RELOAD_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: the producer a key was issued to, and what it may do."""

    key_id: str
    producer: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        """Raise ``Forbidden`` (403) unless this principal holds ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(f"API key {self.key_id} lacks the {scope!r} scope")


@dataclass(frozen=True)
class _Entry:
    key_id: str
    producer: str
    sha256: str
    scopes: frozenset[str]
    created_at: str
    disabled: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "producer": self.producer,
            "sha256": self.sha256,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at,
            "disabled": self.disabled,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> _Entry:
        return cls(
            key_id=str(raw["key_id"]),
            producer=str(raw["producer"]),
            sha256=str(raw["sha256"]),
            scopes=frozenset(str(s) for s in raw.get("scopes", ())),
            created_at=str(raw.get("created_at", "")),
            disabled=bool(raw.get("disabled", False)),
        )


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_credential(value: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of ``mj_<key_id>_<secret>`` (``Bearer`` prefix allowed), or None."""
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    prefix, _, rest = value.partition("_")
    # The secret is urlsafe base64 and may itself contain "_": split once after the key id.
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


class ApiKeyStore:
    """The hashed keys of one JSON file; reloads itself when the file changes."""

    def __init__(self, path: Path, entries: Iterable[_Entry] = ()) -> None:
        self.path = path
        self._by_id = {e.key_id: e for e in entries}
        self._stamp = self._file_stamp()
        self._checked_at = time.monotonic()

    @classmethod
    def load(cls, path: Path) -> ApiKeyStore:
        """The store backed by ``path``; a missing file is an empty store."""
        return cls(path, _read(path))

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _maybe_reload(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked_at < RELOAD_INTERVAL_S:
            return
        self._checked_at = now
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self._by_id = {e.key_id: e for e in _read(self.path)}

    def authenticate(self, credential: str | None) -> Principal:
        """The principal of ``credential`` (``Bearer <key>`` or a bare key).

        Raises ``Unauthenticated`` (401) for a missing, malformed, unknown or disabled key.
        """
        if not credential:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        parsed = parse_credential(credential)
        if parsed is None:
            raise Unauthenticated("malformed API key: expected mj_<key_id>_<secret>")
        key_id, secret = parsed
        self._maybe_reload()
        entry = self._by_id.get(key_id)
        if entry is None:
            # A key minted by the CLI a moment ago: look at the file once before refusing.
            self._maybe_reload(force=True)
            entry = self._by_id.get(key_id)
        # compare_digest: the time taken must not reveal how many leading characters matched.
        if entry is None or not hmac.compare_digest(_digest(secret), entry.sha256):
            raise Unauthenticated("invalid API key")
        if entry.disabled:
            raise Unauthenticated(f"API key {key_id} is disabled")
        return Principal(entry.key_id, entry.producer, entry.scopes)

    def create_key(self, producer: str, scopes: Iterable[str]) -> str:
        """Issue a key for ``producer``; store its hash; return the plaintext (shown once)."""
        wanted = frozenset(scopes)
        unknown = wanted - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")
        if not producer.strip():
            raise ValueError("producer must not be empty")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        entry = _Entry(
            key_id=key_id,
            producer=producer.strip(),
            sha256=_digest(secret),
            scopes=wanted,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            disabled=False,
        )
        with _locked(self.path):
            # Re-read under the lock: another process may have added keys since we loaded.
            entries = {e.key_id: e for e in _read(self.path)}
            entries[key_id] = entry
            _write(self.path, entries.values())
        self._by_id = entries
        self._stamp = self._file_stamp()
        return f"{KEY_PREFIX}_{key_id}_{secret}"

    def disable_key(self, key_id: str) -> None:
        """Revoke a key; running APIs notice within ``RELOAD_INTERVAL_S``."""
        with _locked(self.path):
            entries = {e.key_id: e for e in _read(self.path)}
            old = entries.get(key_id)
            if old is None:
                raise KeyError(f"no API key {key_id!r}")
            entries[key_id] = dataclasses.replace(old, disabled=True)
            _write(self.path, entries.values())
        self._by_id = entries
        self._stamp = self._file_stamp()


def _read(path: Path) -> list[_Entry]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [_Entry.from_json(item) for item in raw.get("keys", [])]


def _write(path: Path, entries: Iterable[_Entry]) -> None:
    """Atomic replace of a 0600 file: readers never see half a file, others never read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(
        {"version": FILE_VERSION, "keys": [e.to_json() for e in entries]}, indent=2
    ).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # O_CREAT's mode passes through the umask: pin it exactly
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers across processes (two CLI invocations at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
