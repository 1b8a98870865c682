"""SQLite storage of the embedded schema registry: global schema ids, subject versions, config.

One file (WAL) or ``:memory:``. Ids are global and never reused: the same canonical schema text
gets the same id under every subject, as Confluent does, so a consumer needs only the id.
Deletion is soft by default (versions are hidden, ids stay resolvable); a permanent delete
removes a soft-deleted subject's versions but keeps the schema texts, because bytes already on a
topic still carry their ids.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.registry import canonical

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schemas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    canonical TEXT NOT NULL UNIQUE,
    schema TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    subject TEXT NOT NULL,
    version INTEGER NOT NULL,
    schema_id INTEGER NOT NULL REFERENCES schemas(id),
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS versions_by_schema ON versions(schema_id);
CREATE TABLE IF NOT EXISTS config (
    subject TEXT PRIMARY KEY,  -- '' is the global level
    compatibility TEXT NOT NULL
);
"""

_GLOBAL = ""


@dataclass(frozen=True)
class StoredVersion:
    """One version of a subject."""

    subject: str
    version: int
    schema_id: int
    schema: str
    deleted: bool


class RegistryStore:
    """Thread-safe: one connection behind a re-entrant lock (``:memory:`` databases exist only
    per connection, and the registry's load is a few requests per process start)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialise a read-decide-write sequence (e.g. check compatibility, then add a version).
        Nested use joins the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def _rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- schemas by id --------------------------------------------------------------------

    def schema(self, schema_id: int) -> str | None:
        rows = self._rows("SELECT schema FROM schemas WHERE id = ?", schema_id)
        return str(rows[0][0]) if rows else None

    def usages(self, schema_id: int, *, deleted: bool = False) -> list[tuple[str, int]]:
        """(subject, version) pairs that use ``schema_id``."""
        rows = self._rows(
            "SELECT subject, version FROM versions WHERE schema_id = ? AND (deleted = 0 OR ?)"
            " ORDER BY subject, version",
            schema_id,
            deleted,
        )
        return [(str(subject), int(version)) for subject, version in rows]

    # -- subjects and versions ------------------------------------------------------------

    def subjects(self, *, deleted: bool = False) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT subject FROM versions WHERE deleted = 0 OR ? ORDER BY subject", deleted
        )
        return [str(row[0]) for row in rows]

    def versions(self, subject: str, *, deleted: bool = False) -> list[StoredVersion]:
        """The subject's versions, oldest first."""
        rows = self._rows(
            "SELECT v.subject, v.version, v.schema_id, s.schema, v.deleted"
            " FROM versions v JOIN schemas s ON s.id = v.schema_id"
            " WHERE v.subject = ? AND (v.deleted = 0 OR ?) ORDER BY v.version",
            subject,
            deleted,
        )
        return [
            StoredVersion(str(subj), int(ver), int(sid), str(text), bool(dele))
            for subj, ver, sid, text, dele in rows
        ]

    def version(
        self, subject: str, version: int | None, *, deleted: bool = False
    ) -> StoredVersion | None:
        """One version; ``None`` asks for the latest."""
        found = self.versions(subject, deleted=deleted)
        if version is None:
            return found[-1] if found else None
        return next((item for item in found if item.version == version), None)

    def find(self, subject: str, schema: str, *, deleted: bool = False) -> StoredVersion | None:
        """The version of ``subject`` whose schema is canonically equal to ``schema``."""
        key = canonical(schema)
        matches = [v for v in self.versions(subject, deleted=deleted) if canonical(v.schema) == key]
        return matches[0] if matches else None

    def add_version(self, subject: str, schema: str) -> StoredVersion:
        """Append ``schema`` as the subject's next version, reusing its global id if known."""
        key = canonical(schema)
        with self.transaction():
            self._db.execute(
                "INSERT INTO schemas (canonical, schema) VALUES (?, ?)"
                " ON CONFLICT (canonical) DO NOTHING",
                (key, schema),
            )
            schema_id = int(self._rows("SELECT id FROM schemas WHERE canonical = ?", key)[0][0])
            last = self._rows("SELECT MAX(version) FROM versions WHERE subject = ?", subject)[0][0]
            version = int(last) + 1 if last is not None else 1
            self._db.execute(
                "INSERT INTO versions (subject, version, schema_id) VALUES (?, ?, ?)",
                (subject, version, schema_id),
            )
            stored = self.schema(schema_id)
        return StoredVersion(subject, version, schema_id, stored or schema, False)

    def soft_delete(self, subject: str) -> list[int]:
        """Hide every live version of ``subject``; the versions hidden."""
        with self.transaction():
            live = [v.version for v in self.versions(subject)]
            self._db.execute("UPDATE versions SET deleted = 1 WHERE subject = ?", (subject,))
        return live

    def hard_delete(self, subject: str) -> list[int]:
        """Forget ``subject``'s versions and its config; the versions removed."""
        with self.transaction():
            gone = [v.version for v in self.versions(subject, deleted=True)]
            self._db.execute("DELETE FROM versions WHERE subject = ?", (subject,))
            self._db.execute("DELETE FROM config WHERE subject = ?", (subject,))
        return gone

    # -- compatibility config -------------------------------------------------------------

    def compatibility(self, subject: str | None = None) -> str | None:
        """The level set for ``subject`` (the global level when ``None``), if any."""
        rows = self._rows(
            "SELECT compatibility FROM config WHERE subject = ?",
            _GLOBAL if subject is None else subject,
        )
        return str(rows[0][0]) if rows else None

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO config (subject, compatibility) VALUES (?, ?)"
                " ON CONFLICT (subject) DO UPDATE SET compatibility = excluded.compatibility",
                (_GLOBAL if subject is None else subject, level),
            )

    def delete_compatibility(self, subject: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM config WHERE subject = ?", (subject,))
