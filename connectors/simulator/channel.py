"""The simulated channel: a ``VideoPublisher`` that "publishes" to a local SQLite channel.

It never reads the video's pictures: the audience model only needs the experiment labels and
the duration. Publishing is idempotent by key, like the YouTube adapter: the video id is
derived from the key, and a second publish of a key returns the first video with
``reused=True``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Literal

from connectors.simulator.audience import DEFAULT_DURATION_SECONDS, AudienceModel
from connectors.simulator.clock import Clock
from streams.ports.publishing import (
    Published,
    PublishRejectedError,
    PublishUnavailableError,
    Upload,
)

PLATFORM = "simulator"
URL_PREFIX = "https://sim.munjero.local/shorts/"
DURATION_LABEL = "duration_seconds"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    idempotency_key TEXT PRIMARY KEY,
    video_id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    published_at TEXT NOT NULL,
    title TEXT NOT NULL,
    language TEXT NOT NULL,
    labels TEXT NOT NULL,
    duration_seconds REAL NOT NULL
);
"""

# Spelled out per lookup so no SQL is ever built at run time.
_SELECT_BY = {
    "video_id": "SELECT * FROM videos WHERE video_id = ?",
    "idempotency_key": "SELECT * FROM videos WHERE idempotency_key = ?",
}


def video_id_for(idempotency_key: str) -> str:
    """``sim-`` + 11 URL-safe characters (YouTube's id alphabet and length) from the key."""
    digest = hashlib.sha256(b"sim-video\x1f" + idempotency_key.encode("utf-8")).digest()
    return "sim-" + base64.urlsafe_b64encode(digest).decode("ascii")[:11]


@dataclass(frozen=True)
class ChannelVideo:
    """One upload as the simulated channel keeps it."""

    idempotency_key: str
    video_id: str
    url: str
    published_at: datetime
    title: str
    language: str
    labels: Mapping[str, str]
    duration_seconds: float

    @property
    def arm_id(self) -> str | None:
        return self.labels.get("arm_id")


# -- MP4 duration ---------------------------------------------------------------------------

_MAX_BOXES = 10_000  # a corrupt file must not spin the box walk for ever


def _boxes(f: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes between ``start`` and ``end``."""
    found: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(found) < _MAX_BOXES:
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            break
        size, kind = struct.unpack(">I4s", header)
        payload = pos + 8
        if size == 1:  # 64-bit size follows
            large = f.read(8)
            if len(large) < 8:
                break
            size = struct.unpack(">Q", large)[0]
            payload += 8
        elif size == 0:  # the box runs to the end of its container
            size = end - pos
        if size < payload - pos:
            break
        found.append((kind, payload, min(pos + size, end)))
        pos += size
    return found


def mp4_duration_seconds(path: Path) -> float | None:
    """The duration in the MP4 movie header (``moov/mvhd``), or None when it cannot be read.

    Reads a few header bytes, never the media: cheap even for a large file whose ``moov`` is at
    the end.
    """
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            for kind, start, end in _boxes(f, 0, size):
                if kind != b"moov":
                    continue
                for inner, istart, iend in _boxes(f, start, end):
                    if inner != b"mvhd" or iend - istart < 20:
                        continue
                    f.seek(istart)
                    version = f.read(1)[0]
                    f.seek(istart + (20 if version == 1 else 12))
                    if version == 1:
                        timescale, duration = struct.unpack(">IQ", f.read(12))
                    else:
                        timescale, duration = struct.unpack(">II", f.read(8))
                    return duration / timescale if timescale and duration else None
    except (OSError, struct.error, IndexError):
        return None
    return None


def _duration_of(upload: Upload) -> float:
    # The renderer may label the duration it rendered; that is exact and costs no I/O.
    label = upload.labels.get(DURATION_LABEL)
    if label is not None:
        try:
            value = float(label)
        except ValueError:
            value = 0.0
        if 0 < value < 24 * 3600:
            return value
    parsed = mp4_duration_seconds(upload.video_path)
    return parsed if parsed is not None and parsed > 0 else DEFAULT_DURATION_SECONDS


# -- the channel ----------------------------------------------------------------------------


class SimulatedChannel:
    """A ``VideoPublisher`` on a local channel. ``db_path`` may be ``:memory:`` (tests).

    Thread-safe: one connection behind a lock; the blocking work runs in a worker thread so the
    event loop stays free. ``model`` is kept for the analytics side (``SimulatedAnalytics``).
    """

    platform = PLATFORM

    def __init__(self, db_path: str | Path, clock: Clock, model: AudienceModel) -> None:
        self.clock = clock
        self.model = model
        self._lock = threading.Lock()
        self._closed = False
        if str(db_path) != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)

    async def publish(self, upload: Upload) -> Published:
        """Record the upload (or recall the one of the same key) and return its video."""
        # The clock is read on the event loop, not in the worker: a ManualClock is not
        # thread-safe and the publication moment belongs to the call, not to the thread.
        now = self.clock.now()
        video, reused = await asyncio.to_thread(self._publish, upload, now)
        return Published(
            video_id=video.video_id,
            url=video.url,
            published_at=video.published_at,
            platform=PLATFORM,
            simulated=True,
            reused=reused,
        )

    def _publish(self, upload: Upload, now: datetime) -> tuple[ChannelVideo, bool]:
        if not upload.idempotency_key:
            raise PublishRejectedError("an upload needs a non-empty idempotency key")
        existing = self.get_by_key(upload.idempotency_key)
        if existing is not None:
            # A redelivery: the file may be gone by now, and that is fine.
            return existing, True
        if not upload.video_path.is_file():
            raise PublishRejectedError(f"video file not found: {upload.video_path}")
        video_id = video_id_for(upload.idempotency_key)
        row = (
            upload.idempotency_key,
            video_id,
            URL_PREFIX + video_id,
            now.isoformat(),
            upload.title,
            upload.language,
            json.dumps(dict(upload.labels), sort_keys=True, ensure_ascii=False),
            _duration_of(upload),
        )
        with self._lock:
            self._check_open()
            try:
                # OR IGNORE: of two concurrent first publishes of one key, one inserts and the
                # other finds its row below and reports reused.
                inserted = self._db.execute(
                    "INSERT OR IGNORE INTO videos VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
                ).rowcount
            except sqlite3.IntegrityError as exc:  # two keys hashing to one id: never seen
                raise PublishRejectedError(f"video id {video_id} already taken") from exc
            except sqlite3.Error as exc:
                raise PublishUnavailableError(f"simulated channel store failed: {exc}") from exc
        stored = self.get_by_key(upload.idempotency_key)
        if stored is None:  # pragma: no cover - the row was just written
            raise PublishUnavailableError("simulated upload vanished after insert")
        return stored, inserted == 0

    def _check_open(self) -> None:
        if self._closed:
            raise PublishUnavailableError("the simulated channel is closed")

    def _one(
        self, where: Literal["video_id", "idempotency_key"], value: str
    ) -> ChannelVideo | None:
        with self._lock:
            self._check_open()
            row = self._db.execute(_SELECT_BY[where], (value,)).fetchone()
        if row is None:
            return None
        return ChannelVideo(
            idempotency_key=row[0],
            video_id=row[1],
            url=row[2],
            published_at=datetime.fromisoformat(row[3]),
            title=row[4],
            language=row[5],
            labels=MappingProxyType(json.loads(row[6])),
            duration_seconds=float(row[7]),
        )

    def get(self, video_id: str) -> ChannelVideo | None:
        """The stored video ``video_id``, or None."""
        return self._one("video_id", video_id)

    def get_by_key(self, idempotency_key: str) -> ChannelVideo | None:
        """The stored video of ``idempotency_key``, or None."""
        return self._one("idempotency_key", idempotency_key)

    def video_ids(self) -> list[str]:
        """Every video on the channel, oldest first."""
        with self._lock:
            self._check_open()
            rows = self._db.execute(
                "SELECT video_id FROM videos ORDER BY published_at, video_id"
            ).fetchall()
        return [r[0] for r in rows]

    async def check(self) -> None:
        """Healthy while open: there is no remote platform to reach."""
        with self._lock:
            self._check_open()

    async def close(self) -> None:
        """Close the store; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()
