"""Time analysts can trust: on the channel simulator every time in an event is the wall-clock
time it happened (nothing lands in the future), the simulated age sits in its own column, and
the audience still ages a short ``speed`` times faster than real time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastavro.validation import validate

from agents.metrics_poller import MetricsPoller, PollSchedule
from agents.metrics_schedule import WINDOWS
from connectors.simulator.analytics import SimulatedAnalytics
from connectors.simulator.audience import AudienceModel
from connectors.simulator.channel import SimulatedChannel
from connectors.simulator.clock import ManualClock
from schemas.contracts import load_schema
from streams import events
from streams.ports.publishing import Upload
from streams.step import Emit

WALL = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # "now" of the wall clock at publication
SPEED = 8640.0  # a simulated day in 10 s: the default MUNJERO_SIM_SPEED


async def test_simulated_observations_carry_wall_clock_times(tmp_path: Path) -> None:
    clock = ManualClock(WALL)
    model = AudienceModel(7)
    channel = SimulatedChannel(tmp_path / "channel.db", clock, model)
    analytics = SimulatedAnalytics(channel, model, speed=SPEED)
    clip = tmp_path / "short.mp4"
    clip.write_bytes(b"the simulator never reads the pixels")
    published = await channel.publish(
        Upload("render-1", clip, "문제", "", labels={"arm_id": "arm-a", "duration_seconds": "30"})
    )
    assert published.published_at == WALL  # real time, not a simulated one

    emitted: list[Emit] = []

    async def publish(out: list[Emit]) -> None:
        emitted.extend(out)

    poller = MetricsPoller(
        PollSchedule(tmp_path / "poll.db"), analytics, clock, publish, time_scale=SPEED
    )
    short: dict[str, Any] = {
        "meta": events.meta(event_id="pub-1", correlation_id="corr-1", occurred_at=WALL),
        "short_id": "short-1", "render_id": "render-1", "script_id": "script-1",
        "problem_id": "p-1", "experiment_id": "hook-cta-v1", "arm_id": "arm-a",
        "platform": "simulator", "video_id": published.video_id, "url": published.url,
        "title": "문제", "published_at": published.published_at, "simulated": True,
    }  # fmt: skip
    await poller.step(short)  # type: ignore[arg-type]

    # A simulated week passes in 70 s of wall-clock time.
    assert await poller.poll_due() == WALL + timedelta(hours=1) / SPEED
    clock.advance(timedelta(days=7) / SPEED)
    assert await poller.poll_due() is None
    records = [e.record for e in emitted]
    assert [r["window"] for r in records] == [name for name, _ in WINDOWS]
    schema = load_schema("MetricsObserved")
    for record, (window, age) in zip(records, WINDOWS, strict=True):
        assert validate(record, schema, raise_errors=True)
        assert record["observed_at"] == clock.now()  # when it was made, wall clock
        assert record["observed_at"] <= WALL + timedelta(seconds=71)  # never days ahead
        assert record["simulated"] is True
        assert record["simulated_age_seconds"] == int(age.total_seconds())
        # The numbers are the audience's at that simulated age.
        expected = model.snapshot(
            published.video_id, arm_id="arm-a", published_at=WALL, as_of=WALL + age,
            duration_seconds=30.0,
        )  # fmt: skip
        assert record["views"] == expected.views, window
    assert records[-1]["views"] > records[0]["views"] > 0
    await channel.close()


def test_real_metrics_have_no_simulated_age() -> None:
    from agents.metrics_schedule import metrics_record
    from streams.ports.analytics import VideoMetrics

    short: dict[str, Any] = {
        "meta": events.meta(event_id="pub-2", correlation_id="c"), "short_id": "s",
        "experiment_id": "e", "arm_id": "a", "video_id": "v", "published_at": WALL,
        "simulated": False,
    }  # fmt: skip
    real = VideoMetrics("v", 10, 1, 0.1, 50.0, 10.0, 1.0, 0, 0, 0, simulated=False)
    record = metrics_record(short, "24h", real, WALL + timedelta(days=1))  # type: ignore[arg-type]
    assert record["simulated_age_seconds"] is None
