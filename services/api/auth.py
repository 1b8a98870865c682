"""API keys: issued once in plaintext, stored only as hashes, checked in constant time; they
can expire and be revoked, and every API process sees a revocation on its next request.

A key looks like ``mj_<key_id>_<secret>``. The ``key_id`` is public (it names the key in logs, in
``munjero keys list`` and in the key file) and makes lookup a dict access; only the secret part
is sensitive.

Why SHA-256 and not bcrypt/argon2: the secret is 32 random bytes (256 bits), so even a leaked key
file cannot be brute-forced whatever the hash speed. Slow KDFs exist to protect low-entropy human
passwords; here they would only add ~100 ms of CPU to every request.

Why a JSON file read through, not a database: it is what Kubernetes mounts from a Secret
(read-only) and what the CLI writes on one machine, and every API process sharing it sees the
same keys. Each request ``stat``s the file (about a microsecond) and re-reads it when its inode,
size or mtime changed; writers replace it atomically, so a revocation or a new key is seen by
the very next request of every process reading that file.
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from services.api.errors import Forbidden, Unauthenticated
from services.api.key_usage import KeyUsageLog

PROBLEMS_WRITE = "problems:write"
KNOWLEDGE_WRITE = "knowledge:write"
PROBLEMS_READ = "problems:read"
DASHBOARD_READ = "dashboard:read"
SCOPES = frozenset({PROBLEMS_WRITE, KNOWLEDGE_WRITE, PROBLEMS_READ, DASHBOARD_READ})
# What a key gets when nobody says otherwise: a producer's scopes, not the operators' page.
DEFAULT_SCOPES = (PROBLEMS_WRITE, KNOWLEDGE_WRITE, PROBLEMS_READ)

KEY_PREFIX = "mj"
FILE_VERSION = 1
KeyState = Literal["active", "revoked", "expired"]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the producer a key was issued to, and what it may do."""

    key_id: str
    producer: str
    scopes: frozenset[str]
    expires_at: datetime | None = None

    def require(self, scope: str) -> None:
        """Raise ``Forbidden`` (403) unless this principal holds ``scope``."""
        if scope not in self.scopes:
            raise Forbidden(f"API key {self.key_id} lacks the {scope!r} scope")


@dataclass(frozen=True)
class KeyRecord:
    """One key as the file stores it (the secret only as its SHA-256)."""

    key_id: str
    producer: str
    sha256: str
    scopes: frozenset[str]
    created_at: datetime
    label: str = ""
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "producer": self.producer,
            "sha256": self.sha256,
            "scopes": sorted(self.scopes),
            "created_at": _stamp(self.created_at),
            "label": self.label,
            "expires_at": None if self.expires_at is None else _stamp(self.expires_at),
            "revoked_at": None if self.revoked_at is None else _stamp(self.revoked_at),
            # Read by API processes of the previous release during a blue-green switch.
            "disabled": self.revoked_at is not None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> KeyRecord:
        created = _parse_time(raw.get("created_at")) or datetime.fromtimestamp(0, UTC)
        revoked = _parse_time(raw.get("revoked_at"))
        if revoked is None and raw.get("disabled"):  # written before revocation had a time
            revoked = created
        return cls(
            key_id=str(raw["key_id"]),
            producer=str(raw["producer"]),
            sha256=str(raw["sha256"]),
            scopes=frozenset(str(s) for s in raw.get("scopes", ())),
            created_at=created,
            label=str(raw.get("label") or ""),
            expires_at=_parse_time(raw.get("expires_at")),
            revoked_at=revoked,
        )


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``munjero keys list`` shows it: the record, its state and its last use."""

    record: KeyRecord
    state: KeyState
    last_used_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        out = self.record.to_json()
        del out["sha256"], out["disabled"]
        out["state"] = self.state
        out["last_used_at"] = None if self.last_used_at is None else _stamp(self.last_used_at)
        return out


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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


def key_id_of(plaintext: str) -> str | None:
    """The public id of a plaintext key, or None when it is not one."""
    parsed = parse_credential(plaintext)
    return None if parsed is None else parsed[0]


class ApiKeyStore:
    """The hashed keys of one JSON file, read through on every lookup (see the module doc)."""

    def __init__(
        self,
        path: Path,
        *,
        usage: KeyUsageLog | None = None,
        clock: Clock = _now,
    ) -> None:
        self.path = path
        self.usage = usage or KeyUsageLog(None)
        self._clock = clock
        self._by_id: dict[str, KeyRecord] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._refresh()

    @classmethod
    def load(
        cls, path: Path, *, usage_path: Path | None = None, clock: Clock = _now
    ) -> ApiKeyStore:
        """The store backed by ``path`` (a missing file is an empty store); last-used times go
        to ``usage_path`` when given."""
        return cls(path, usage=KeyUsageLog(usage_path), clock=clock)

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        # The inode changes on every atomic replace, even within one mtime tick.
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _refresh(self) -> None:
        stamp = self._file_stamp()
        if stamp != self._stamp or stamp is None:
            self._by_id = {r.key_id: r for r in _read(self.path)}
            self._stamp = self._file_stamp()

    def _active(self, record: KeyRecord | None, key_id: str) -> KeyRecord:
        now = self._clock()
        if record is None:
            raise Unauthenticated("invalid API key")
        state = record.state(now)
        if state != "active":
            raise Unauthenticated(f"API key {key_id} was {state}")
        self.usage.record(key_id, now)
        return record

    def authenticate(self, credential: str | None) -> Principal:
        """The principal of ``credential`` (``Bearer <key>`` or a bare key).

        Raises ``Unauthenticated`` (401) for a missing, malformed, unknown, revoked or expired
        key.
        """
        if not credential:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        parsed = parse_credential(credential)
        if parsed is None:
            raise Unauthenticated("malformed API key: expected mj_<key_id>_<secret>")
        key_id, secret = parsed
        self._refresh()
        record = self._by_id.get(key_id)
        # compare_digest: the time taken must not reveal how many leading characters matched.
        if record is None or not hmac.compare_digest(_digest(secret), record.sha256):
            raise Unauthenticated("invalid API key")
        return _principal(self._active(record, key_id))

    def principal(self, key_id: str) -> Principal:
        """The principal of a key already proven (a dashboard session names it): 401 once the
        key is revoked, expired or gone."""
        self._refresh()
        return _principal(self._active(self._by_id.get(key_id), key_id))

    def create_key(
        self,
        producer: str,
        scopes: Iterable[str],
        *,
        label: str = "",
        expires_at: datetime | None = None,
    ) -> str:
        """Issue a key for ``producer``; store its hash; return the plaintext (shown once)."""
        record, plaintext = self._new_record(producer, scopes, label, expires_at)
        with self._editing() as records:
            records[record.key_id] = record
        return plaintext

    def _new_record(
        self, producer: str, scopes: Iterable[str], label: str, expires_at: datetime | None
    ) -> tuple[KeyRecord, str]:
        wanted = frozenset(scopes)
        unknown = wanted - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}")
        if not wanted:
            raise ValueError(f"a key needs at least one scope; known: {sorted(SCOPES)}")
        if not producer.strip():
            raise ValueError("producer must not be empty")
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError("the expiry must lie in the future")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = KeyRecord(
            key_id=key_id,
            producer=producer.strip(),
            sha256=_digest(secret),
            scopes=wanted,
            created_at=now.replace(microsecond=0),
            label=label.strip(),
            expires_at=expires_at,
        )
        return record, f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke a key at once (idempotent); ``KeyError`` names an unknown key."""
        with self._editing() as records:
            old = _known(records, key_id)
            if old.revoked_at is None:
                records[key_id] = dataclasses.replace(old, revoked_at=self._clock())
            return records[key_id]

    def rotate(
        self, key_id: str, *, grace: timedelta | None = None, expires_at: datetime | None = None
    ) -> str:
        """A new key with the old one's producer, scopes and label; the old key is revoked now,
        or with ``grace`` stops working that much later (so clients can switch over). The new
        key expires at ``expires_at``, or after the old key's lifetime when it had one."""
        now = self._clock()
        with self._editing() as records:
            old = _known(records, key_id)
            if old.state(now) != "active":
                raise ValueError(f"API key {key_id} is {old.state(now)}: create a new one instead")
            if expires_at is None and old.expires_at is not None:
                expires_at = now + (old.expires_at - old.created_at)
            record, plaintext = self._new_record(old.producer, old.scopes, old.label, expires_at)
            if grace is None or grace <= timedelta(0):
                records[key_id] = dataclasses.replace(old, revoked_at=now)
            else:
                until = now + grace
                if old.expires_at is None or until < old.expires_at:
                    records[key_id] = dataclasses.replace(old, expires_at=until)
            records[record.key_id] = record
        return plaintext

    def list_keys(self) -> list[KeyInfo]:
        """Every key, oldest first, with its state and last use."""
        self._refresh()
        now = self._clock()
        used = self.usage.last_used()
        return [
            KeyInfo(r, r.state(now), used.get(r.key_id))
            for r in sorted(self._by_id.values(), key=lambda r: (r.created_at, r.key_id))
        ]

    def get(self, key_id: str) -> KeyRecord | None:
        self._refresh()
        return self._by_id.get(key_id)

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, KeyRecord]]:
        """The file's records under the writers' lock, written back atomically on success."""
        with _locked(self.path):
            # Re-read under the lock: another process may have changed keys since we loaded.
            records = {r.key_id: r for r in _read(self.path)}
            yield records
            _write(self.path, records.values())
        self._by_id = records
        self._stamp = self._file_stamp()


def _principal(record: KeyRecord) -> Principal:
    return Principal(record.key_id, record.producer, record.scopes, record.expires_at)


def _known(records: dict[str, KeyRecord], key_id: str) -> KeyRecord:
    try:
        return records[key_id]
    except KeyError:
        raise KeyError(f"no API key {key_id!r}") from None


class KeyFileError(ValueError):
    """The key file exists but does not hold keys (edited by hand and broken, or not ours)."""


def _read(path: Path) -> list[KeyRecord]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        return [KeyRecord.from_json(item) for item in json.loads(text).get("keys", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Fails closed: no request is let in on a file that cannot be read as keys.
        raise KeyFileError(f"{path} is not a valid API key file ({exc})") from None


def write_private(path: Path, data: bytes) -> None:
    """Atomic replace of a 0600 file: readers never see half a file, others never read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)  # O_CREAT's mode passes through the umask: pin it exactly
    os.replace(tmp, path)


def _write(path: Path, records: Iterable[KeyRecord]) -> None:
    data = {"version": FILE_VERSION, "keys": [r.to_json() for r in records]}
    write_private(path, json.dumps(data, indent=2).encode())


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
