"""Who may query the HTTP interface: the ``analyst`` user, its password generated once.

The server checks passwords against ``users.json`` (a salted SHA-256 per user, as a ClickHouse
server's ``password_sha256_hex``); it never needs the password itself. The password is 144 random
bits, so a fast hash is enough: a slow KDF protects guessable human passwords and would only add
its cost to every request (clients authenticate on each one).

The operator's copy of the password lives in ``analyst.password`` (mode 0600, owner only): the
banner of ``munjero up`` prints it and ``munjero sql`` reads it. Delete that file to rotate the
password: the next start issues a new one and replaces the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ANALYST = "analyst"
USERS_FILE = "users.json"
PASSWORD_FILE = f"{ANALYST}.password"
URL_FILE = "url"  # where a running factory announces the interface (port 0 picks a free one)
_FILE_VERSION = 1


def credentials_dir(data_dir: Path) -> Path:
    """Where the password hash, the password's 0600 copy and the announced URL live."""
    return data_dir / "clickhouse-http"


@dataclass(frozen=True)
class UserRecord:
    salt: bytes
    sha256: bytes


class UserStore:
    """Names and password hashes; ``check`` compares in constant time."""

    def __init__(self, users: dict[str, UserRecord]) -> None:
        self._users = dict(users)

    @classmethod
    def load(cls, path: Path) -> UserStore:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            {
                name: UserRecord(bytes.fromhex(u["salt"]), bytes.fromhex(u["sha256"]))
                for name, u in data["users"].items()
            }
        )

    def check(self, user: str, password: str) -> bool:
        record = self._users.get(user)
        if record is None:
            # Same work whether or not the user exists: timing tells nothing about names.
            hmac.compare_digest(_digest(b"\0" * 16, password), b"\0" * 32)
            return False
        return hmac.compare_digest(_digest(record.salt, password), record.sha256)

    def __contains__(self, user: object) -> bool:
        return user in self._users


def _digest(salt: bytes, password: str) -> bytes:
    return hashlib.sha256(salt + password.encode("utf-8")).digest()


def analyst_password(directory: Path) -> str | None:
    """The operator's copy of the analyst password, or None when there is none (yet)."""
    try:
        return (directory / PASSWORD_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def ensure_analyst(directory: Path) -> tuple[UserStore, str]:
    """The user store and the analyst's password, issuing both on first use (or after the
    password file was deleted)."""
    directory.mkdir(parents=True, exist_ok=True)
    users = directory / USERS_FILE
    password = analyst_password(directory)
    if password is not None and users.exists():
        store = UserStore.load(users)
        if store.check(ANALYST, password):
            return store, password
    password = secrets.token_urlsafe(18)
    _write_private(directory / PASSWORD_FILE, password + "\n")
    salt = secrets.token_bytes(16)
    record = {"salt": salt.hex(), "sha256": _digest(salt, password).hex(), "profile": "readonly"}
    _write_private(users, json.dumps({"version": _FILE_VERSION, "users": {ANALYST: record}}))
    return UserStore.load(users), password


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only from its first byte."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
