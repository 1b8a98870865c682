"""A stopping publish worker closes its channel under the metrics poller: that failure is the
stop's, not the channel's, so the poller ends quietly (no ERROR line on a clean stop) and the
windows it did not observe stay due for the next start. A real outage still logs an error and
keeps polling."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.metrics_poller import MetricsPoller, PollSchedule
from connectors.simulator.clock import ManualClock
from streams import events
from streams.ports.publishing import PublishUnavailableError
from streams.step import Emit

WALL = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class ClosedChannel:
    async def snapshot(self, video_id: str, published_at: datetime, as_of: datetime) -> Any:
        raise PublishUnavailableError("the simulated channel is closed")


def poller(tmp_path: Path, *, stopping: bool) -> MetricsPoller:
    async def publish(out: list[Emit]) -> None:
        raise AssertionError("nothing can be observed from a closed channel")

    return MetricsPoller(
        PollSchedule(tmp_path / "poll.db"), ClosedChannel(), ManualClock(WALL), publish,  # type: ignore[arg-type]
        idle_check_s=0.05, stopping=lambda: stopping,
    )  # fmt: skip


async def due_short(p: MetricsPoller) -> None:
    published = WALL - timedelta(days=8)
    short = {
        "meta": events.meta(event_id="pub-1", correlation_id="c-1", occurred_at=published),
        "short_id": "s-1", "video_id": "v-1", "published_at": published,
    }  # fmt: skip
    await p.step(short)  # type: ignore[arg-type]


async def test_a_stopping_worker_ends_the_poller_without_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = poller(tmp_path, stopping=True)
    await due_short(p)
    await asyncio.wait_for(p.run(), 5)  # returns: nothing more to do in this process
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert p.schedule.pending()  # still due after the restart


async def test_an_outage_while_running_is_an_error_and_polling_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = poller(tmp_path, stopping=False)
    await due_short(p)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(p.run(), 0.5)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR]
