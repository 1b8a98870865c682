"""The analytics port: cumulative metrics of one published video as of a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from streams.errors import RetriableError


class AnalyticsUnavailableError(RetriableError):
    """The analytics source could not answer now (5xx, network, report not generated yet)."""


@dataclass(frozen=True)
class VideoMetrics:
    """Totals since publication. ``impressions_ctr`` is views from impressions / impressions
    (YouTube's definition), ``average_view_percentage`` is 0-100."""

    video_id: str
    impressions: int
    views: int
    impressions_ctr: float
    average_view_percentage: float
    average_view_duration_seconds: float
    estimated_minutes_watched: float
    likes: int
    comments: int
    subscribers_gained: int
    simulated: bool


class AnalyticsSource(Protocol):
    async def snapshot(
        self, video_id: str, published_at: datetime, as_of: datetime
    ) -> VideoMetrics:
        """Cumulative metrics of ``video_id`` from publication up to ``as_of`` (UTC)."""
        ...

    async def close(self) -> None: ...
