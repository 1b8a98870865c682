"""Simulated analytics: metrics of the simulated channel's videos from the audience model.

The channel runs on wall-clock time (publication times are real); its audience ages a video
``speed`` times faster than that, so a week of views passes in minutes. Only the age handed to
the audience model is compressed: every time that leaves the simulator is a real one.
"""

from __future__ import annotations

from datetime import datetime

from connectors.simulator.audience import AudienceModel
from connectors.simulator.channel import SimulatedChannel
from streams.errors import FatalError, ValidationError
from streams.ports.analytics import VideoMetrics


class UnknownVideoError(FatalError):
    """The simulated channel never published this video id: asking again cannot help."""


class SimulatedAnalytics:
    """An ``AnalyticsSource`` over a ``SimulatedChannel``: every metric is ``simulated=True``.

    The video's labels (its arm) and duration come from the channel, as on YouTube the metrics
    come from what was really uploaded. The stored publication time is authoritative; the
    caller's ``published_at`` is the one the channel returned, and a mismatch is ignored.
    """

    def __init__(
        self, channel: SimulatedChannel, model: AudienceModel | None = None, *, speed: float = 1.0
    ) -> None:
        if not speed > 0:  # also rejects NaN
            raise ValueError(f"speed must be > 0, got {speed}")
        self.channel = channel
        self.model = model if model is not None else channel.model
        self.speed = float(speed)

    async def snapshot(
        self, video_id: str, published_at: datetime, as_of: datetime
    ) -> VideoMetrics:
        """Cumulative metrics of ``video_id`` up to ``as_of`` (timezone-aware), i.e. at the
        simulated age ``(as_of - publication) x speed``."""
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise ValidationError(f"as_of must be timezone-aware, got {as_of.isoformat()}")
        video = self.channel.get(video_id)
        if video is None:
            raise UnknownVideoError(f"no simulated video {video_id!r}")
        age = (as_of - video.published_at) * self.speed
        return self.model.snapshot(
            video.video_id,
            arm_id=video.arm_id,
            published_at=video.published_at,
            as_of=video.published_at + age,
            duration_seconds=video.duration_seconds,
        )

    async def close(self) -> None:
        """Nothing to release: the channel owns the store."""
