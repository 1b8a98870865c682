"""Simulated analytics: metrics of the simulated channel's videos from the audience model."""

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

    def __init__(self, channel: SimulatedChannel, model: AudienceModel | None = None) -> None:
        self.channel = channel
        self.model = model if model is not None else channel.model

    async def snapshot(
        self, video_id: str, published_at: datetime, as_of: datetime
    ) -> VideoMetrics:
        """Cumulative metrics of ``video_id`` up to ``as_of`` (timezone-aware)."""
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise ValidationError(f"as_of must be timezone-aware, got {as_of.isoformat()}")
        video = self.channel.get(video_id)
        if video is None:
            raise UnknownVideoError(f"no simulated video {video_id!r}")
        return self.model.snapshot(
            video.video_id,
            arm_id=video.arm_id,
            published_at=video.published_at,
            as_of=as_of,
            duration_seconds=video.duration_seconds,
        )

    async def close(self) -> None:
        """Nothing to release: the channel owns the store."""
