"""The development API key of ``munjero up``: one key, reused across starts.

The key store keeps only hashes, so a key cannot be printed twice from the store. The
development key's plaintext is therefore also kept in ``data_dir/dev-api-key`` (mode 0600), and
``munjero up`` prints it at every start. Why that is acceptable: it exists only on the embedded
default, where ``data_dir`` already holds everything the key guards (the broker log, the
warehouse, the artifacts) under the same user and permissions, so reading the file gives nothing
that reading ``data_dir`` does not; and a key printed at every start keeps the README's curl
examples and the dashboard login working without copying a key out of an old terminal. Anything
beyond one machine uses keys from ``munjero keys create``, which are shown once and never stored.

The file is trusted only while the store agrees: a development key that was revoked, expired or
rotated elsewhere is replaced by a new one (and any other key still labelled as the development
key is revoked), so two starts never leave two development keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.api.auth import SCOPES, ApiKeyStore, key_id_of, write_private
from services.api.errors import Unauthenticated

DEV_PRODUCER = "development"
DEV_LABEL = "munjero up development key"
DEV_KEY_FILE = "dev-api-key"


@dataclass(frozen=True)
class DevKey:
    plaintext: str
    created: bool  # False: the key of an earlier start, reused

    @property
    def key_id(self) -> str:
        return key_id_of(self.plaintext) or ""


def dev_key_path(data_dir: Path) -> Path:
    return data_dir / DEV_KEY_FILE


def _stored(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def ensure_dev_key(store: ApiKeyStore, data_dir: Path) -> DevKey:
    """The development key: the stored one while the store still accepts it, else a new one
    with every scope (earlier development keys revoked)."""
    path = dev_key_path(data_dir)
    stored = _stored(path)
    if stored is not None:
        try:
            store.authenticate(stored)
        except Unauthenticated:
            pass
        else:
            return DevKey(stored, created=False)
    plaintext = store.create_key(DEV_PRODUCER, sorted(SCOPES), label=DEV_LABEL)
    new_id = key_id_of(plaintext)
    for info in store.list_keys():
        # A development key whose plaintext is lost (file deleted) can never be printed again.
        record = info.record
        if record.label == DEV_LABEL and info.state == "active" and record.key_id != new_id:
            store.revoke(record.key_id)
    write_private(path, f"{plaintext}\n".encode())
    return DevKey(plaintext, created=True)


def replace_if_dev_key(data_dir: Path, old_key_id: str, plaintext: str) -> bool:
    """After ``keys rotate`` of the development key, keep its file current (True if it was)."""
    path = dev_key_path(data_dir)
    stored = _stored(path)
    if stored is None or key_id_of(stored) != old_key_id:
        return False
    write_private(path, f"{plaintext}\n".encode())
    return True
