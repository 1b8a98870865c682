"""The metrics poller's durable schedule. ``add`` used to insert a short without its meta and
set the meta in a second statement; a poll that read the row in between failed on it
(``TypeError`` in ``_load``, an ERROR line scenario g caught). Now one statement writes the
whole row, and the redelivered ``shorts.published`` event repairs a half-written row that an
older version left behind."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from agents.metrics_poller import PollSchedule
from schemas.records import ShortPublished
from streams import events

PUBLISHED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def short(short_id: str) -> ShortPublished:
    record: dict[str, Any] = {
        "meta": events.meta(event_id=f"pub-{short_id}", correlation_id="c", occurred_at=PUBLISHED),
        "short_id": short_id, "video_id": f"v-{short_id}", "published_at": PUBLISHED,
    }  # fmt: skip
    return cast(ShortPublished, record)


def test_a_short_comes_back_as_it_was_added(tmp_path: Path) -> None:
    schedule = PollSchedule(tmp_path / "poll.db")
    added = short("s-1")
    schedule.add(added)
    schedule.add(added)  # redelivered: still one row, nothing marked undone
    schedule.mark("s-1", "1h")
    schedule.add(added)
    [(loaded, done)] = schedule.pending()
    assert loaded["meta"] == added["meta"]
    assert loaded["published_at"] == PUBLISHED
    assert done == {"1h"}


def test_a_half_written_row_is_repaired_by_the_redelivered_event(tmp_path: Path) -> None:
    path = tmp_path / "poll.db"
    schedule = PollSchedule(path)
    schedule.add(short("s-ok"))
    # What the older two-statement add left when its worker stopped between the statements.
    record = {"short_id": "s-1", "video_id": "v-s-1", "published_at": PUBLISHED.isoformat()}
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO shorts (short_id, published_ms, record) VALUES (?, ?, ?)",
            ("s-1", int(PUBLISHED.timestamp() * 1000), json.dumps({**record, "meta": None})),
        )
    schedule.add(short("s-1"))
    loaded = {s["short_id"]: s for s, _ in schedule.pending()}
    assert loaded["s-1"]["meta"] == short("s-1")["meta"]
    assert loaded["s-ok"]["meta"] == short("s-ok")["meta"]
