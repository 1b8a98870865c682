"""The simulated channel (publisher port) and its analytics (analytics port)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.simulator.analytics import SimulatedAnalytics, UnknownVideoError
from connectors.simulator.audience import AudienceModel
from connectors.simulator.channel import SimulatedChannel, mp4_duration_seconds, video_id_for
from connectors.simulator.clock import ManualClock
from streams.errors import FatalError, ValidationError
from streams.ports.publishing import (
    Published,
    PublishRejectedError,
    PublishUnavailableError,
    Upload,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
ARM = "challenge+comment_answer"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "short.mp4"
    path.write_bytes(b"not really a video; the simulator never reads it")
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def model() -> AudienceModel:
    return AudienceModel(42)


@pytest.fixture
async def channel(
    tmp_path: Path, clock: ManualClock, model: AudienceModel
) -> AsyncIterator[SimulatedChannel]:
    ch = SimulatedChannel(tmp_path / "sim" / "channel.sqlite", clock, model)
    yield ch
    await ch.close()


def upload(path: Path, key: str = "render-1", **labels: str) -> Upload:
    return Upload(
        idempotency_key=key,
        video_path=path,
        title="문제 하나",
        description="",
        labels={"arm_id": ARM, "experiment_id": "hook-cta-v1", **labels},
    )


async def test_publish_is_simulated_and_idempotent(
    channel: SimulatedChannel, clock: ManualClock, clip: Path
) -> None:
    first = await channel.publish(upload(clip))
    assert first == Published(
        video_id=first.video_id,
        url=f"https://sim.munjero.local/shorts/{first.video_id}",
        published_at=T0,
        platform="simulator",
        simulated=True,
        reused=False,
    )
    assert channel.platform == "simulator"
    clock.advance(timedelta(hours=5))
    clip.unlink()  # a redelivery after the file was cleaned up still recalls the video
    again = await channel.publish(upload(clip, title_ignored="x"))
    assert again.reused
    assert (again.video_id, again.url, again.published_at) == (
        first.video_id,
        first.url,
        first.published_at,
    )
    assert channel.video_ids() == [first.video_id]


async def test_concurrent_first_publishes_upload_once(
    channel: SimulatedChannel, clip: Path
) -> None:
    results = await asyncio.gather(*(channel.publish(upload(clip)) for _ in range(8)))
    assert len({r.video_id for r in results}) == 1
    assert sum(not r.reused for r in results) == 1


async def test_video_ids_are_deterministic_per_key(
    tmp_path: Path, clock: ManualClock, model: AudienceModel, clip: Path
) -> None:
    vid = video_id_for("render-1")
    assert vid.startswith("sim-")
    assert len(vid) == 4 + 11
    assert all(c.isalnum() or c in "-_" for c in vid[4:])
    assert video_id_for("render-2") != vid
    other = SimulatedChannel(":memory:", clock, model)
    try:
        assert (await other.publish(upload(clip))).video_id == vid
    finally:
        await other.close()


async def test_labels_language_and_duration_are_stored(
    channel: SimulatedChannel, clip: Path
) -> None:
    published = await channel.publish(upload(clip, duration_seconds="42.5"))
    video = channel.get(published.video_id)
    assert video is not None
    assert video.arm_id == ARM
    assert video.labels["experiment_id"] == "hook-cta-v1"
    assert video.language == "ko"
    assert video.title == "문제 하나"
    assert video.duration_seconds == 42.5
    assert channel.get_by_key("render-1") == video
    assert channel.get("sim-nothing") is None


def _mp4(timescale: int, duration: int, *, version: int = 0) -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    if version == 1:
        mvhd = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        mvhd = bytes([0, 0, 0, 0]) + struct.pack(">IIII", 0, 0, timescale, duration)
    return (
        box(b"ftyp", b"isom\x00\x00\x02\x00")
        + box(b"mdat", b"\x00" * 64)
        + box(b"moov", box(b"mvhd", mvhd + b"\x00" * 80))
    )


async def test_duration_is_read_from_the_mp4_header(
    channel: SimulatedChannel, tmp_path: Path
) -> None:
    v0, v1, junk = tmp_path / "v0.mp4", tmp_path / "v1.mp4", tmp_path / "junk.mp4"
    v0.write_bytes(_mp4(1000, 37_250))
    v1.write_bytes(_mp4(90_000, 90_000 * 58, version=1))
    junk.write_bytes(b"\xff" * 10)
    assert mp4_duration_seconds(v0) == 37.25
    assert mp4_duration_seconds(v1) == 58.0
    assert mp4_duration_seconds(junk) is None
    assert mp4_duration_seconds(tmp_path / "missing.mp4") is None
    published = await channel.publish(upload(v0, key="mp4"))
    video = channel.get(published.video_id)
    assert video is not None
    assert video.duration_seconds == 37.25
    fallback = await channel.publish(upload(junk, key="junk"))
    video = channel.get(fallback.video_id)
    assert video is not None
    assert video.duration_seconds == 30.0


async def test_missing_file_is_rejected(channel: SimulatedChannel, tmp_path: Path) -> None:
    with pytest.raises(PublishRejectedError, match="not found"):
        await channel.publish(upload(tmp_path / "nope.mp4"))
    assert channel.video_ids() == []
    assert issubclass(PublishRejectedError, FatalError)


async def test_analytics_via_the_channel(
    channel: SimulatedChannel, clock: ManualClock, model: AudienceModel, clip: Path
) -> None:
    analytics = SimulatedAnalytics(channel)
    published = await channel.publish(upload(clip, duration_seconds="40"))
    at_start = await analytics.snapshot(published.video_id, published.published_at, clock.now())
    assert at_start.impressions == at_start.views == 0
    assert at_start.simulated

    clock.advance(timedelta(days=2))
    m = await analytics.snapshot(published.video_id, published.published_at, clock.now())
    expected = model.snapshot(
        published.video_id,
        arm_id=ARM,
        published_at=T0,
        as_of=T0 + timedelta(days=2),
        duration_seconds=40.0,
    )
    assert m == expected
    assert m.simulated
    assert m.impressions > 0
    assert m.average_view_duration_seconds == pytest.approx(m.average_view_percentage * 0.4)

    later = await analytics.snapshot(
        published.video_id, published.published_at, T0 + timedelta(days=9)
    )
    assert later.views >= m.views
    assert later.impressions >= m.impressions
    await analytics.close()


async def test_analytics_refuses_unknown_videos_and_naive_times(
    channel: SimulatedChannel,
) -> None:
    analytics = SimulatedAnalytics(channel)
    with pytest.raises(UnknownVideoError):
        await analytics.snapshot("sim-AAAAAAAAAAA", T0, T0 + timedelta(days=1))
    assert issubclass(UnknownVideoError, FatalError)
    with pytest.raises(ValidationError):
        await analytics.snapshot("sim-AAAAAAAAAAA", T0, datetime(2025, 3, 2))  # naive on purpose


async def test_channel_persists_across_instances(
    tmp_path: Path, clock: ManualClock, model: AudienceModel, clip: Path
) -> None:
    db = tmp_path / "channel.sqlite"
    first = SimulatedChannel(db, clock, model)
    published = await first.publish(upload(clip))
    await first.check()
    await first.close()
    await first.close()  # idempotent
    with pytest.raises(PublishUnavailableError):
        await first.publish(upload(clip))
    with pytest.raises(PublishUnavailableError):
        await first.check()
    second = SimulatedChannel(db, clock, model)
    try:
        again = await second.publish(upload(clip))
        assert again.reused
        assert again.video_id == published.video_id
    finally:
        await second.close()


async def test_manual_clock_drives_publication_times(
    channel: SimulatedChannel, clock: ManualClock, clip: Path
) -> None:
    a = await channel.publish(upload(clip, key="a"))
    clock.advance(timedelta(hours=3))
    b = await channel.publish(upload(clip, key="b"))
    assert b.published_at - a.published_at == timedelta(hours=3)
    assert channel.video_ids() == [a.video_id, b.video_id]
