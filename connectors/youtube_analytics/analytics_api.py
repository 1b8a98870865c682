"""YouTube Analytics API v2 ``reports.query``: daily metrics of one video, and their totals.

The API's days are US Pacific calendar days and its data lags: a day is usually complete ~48 h
later, and the last day or two are missing or partial. A query over days without data answers
with no rows, which is zeros here, not an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from connectors.youtube_analytics import (
    DEFAULT_TIMEOUT_S,
    AnalyticsRejectedError,
    build_service,
    execute,
)

METRICS: tuple[str, ...] = (
    "views",
    "estimatedMinutesWatched",
    "averageViewDuration",
    "averageViewPercentage",
    "likes",
    "comments",
    "subscribersGained",
)


@dataclass(frozen=True)
class DailyVideoMetrics:
    """One row of the report: one video on one (Pacific) day."""

    day: date
    views: int
    estimated_minutes_watched: float
    average_view_duration_seconds: float
    average_view_percentage: float
    likes: int
    comments: int
    subscribers_gained: int


@dataclass(frozen=True)
class VideoReport:
    """The daily rows of one video over a date range and their totals."""

    video_id: str
    start: date
    end: date
    days: tuple[DailyVideoMetrics, ...]
    views: int
    estimated_minutes_watched: float
    average_view_duration_seconds: float
    average_view_percentage: float
    likes: int
    comments: int
    subscribers_gained: int


def _views_weighted(days: Sequence[DailyVideoMetrics], field: str) -> float:
    """The mean of a per-view average over several days.

    ``averageViewDuration`` and ``averageViewPercentage`` are means over the day's views, so
    the mean over all views of the range is the mean of the daily means weighted by each day's
    views; a plain mean of the daily values would let a day with 3 views count as much as a
    day with 3,000. (Deriving the duration from ``estimatedMinutesWatched`` instead would
    inherit that metric's rounding to whole minutes, which is coarse for a 30 s short.)
    """
    views = sum(day.views for day in days)
    if views == 0:
        return 0.0
    return sum(float(getattr(day, field)) * day.views for day in days) / views


def totals(video_id: str, start: date, end: date, days: Sequence[DailyVideoMetrics]) -> VideoReport:
    """Sum the counts, views-weight the averages (see ``_views_weighted``)."""
    return VideoReport(
        video_id=video_id,
        start=start,
        end=end,
        days=tuple(days),
        views=sum(day.views for day in days),
        estimated_minutes_watched=sum(day.estimated_minutes_watched for day in days),
        average_view_duration_seconds=_views_weighted(days, "average_view_duration_seconds"),
        average_view_percentage=_views_weighted(days, "average_view_percentage"),
        likes=sum(day.likes for day in days),
        comments=sum(day.comments for day in days),
        subscribers_gained=sum(day.subscribers_gained for day in days),
    )


def parse_report(result: Mapping[str, Any]) -> list[DailyVideoMetrics]:
    """Per-day rows of a ``reports.query`` answer, columns found by name (the API returns them
    in request order, but nothing here depends on that)."""
    try:
        names = [header["name"] for header in result.get("columnHeaders", [])]
        missing = [name for name in ("day", *METRICS) if name not in names]
        if missing:
            raise AnalyticsRejectedError(f"the report has no column(s) {missing}: {names}")
        index = {name: position for position, name in enumerate(names)}
        days = [
            DailyVideoMetrics(
                day=date.fromisoformat(str(row[index["day"]])),
                views=int(row[index["views"]]),
                estimated_minutes_watched=float(row[index["estimatedMinutesWatched"]]),
                average_view_duration_seconds=float(row[index["averageViewDuration"]]),
                average_view_percentage=float(row[index["averageViewPercentage"]]),
                likes=int(row[index["likes"]]),
                comments=int(row[index["comments"]]),
                subscribers_gained=int(row[index["subscribersGained"]]),
            )
            for row in result.get("rows") or []
        ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise AnalyticsRejectedError(f"unreadable Analytics report: {exc!r}") from exc
    return sorted(days, key=lambda day: day.day)


class YouTubeAnalyticsClient:
    """``reports.query`` for the authorised user's channel (``channel==MINE``)."""

    def __init__(
        self, credentials: Any, base_url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._service = build_service("youtubeAnalytics", "v2", credentials, base_url)

    def _query(self, video_id: str, start: date, end: date) -> Any:
        request = self._service.reports().query(
            ids="channel==MINE",
            startDate=start.isoformat(),
            endDate=end.isoformat(),
            metrics=",".join(METRICS),
            dimensions="day",
            filters=f"video=={video_id}",
            sort="day",
        )
        return execute(request, self._credentials, self._timeout_s)

    async def video_report(self, video_id: str, start: date, end: date) -> VideoReport:
        """Daily metrics of ``video_id`` from ``start`` to ``end`` (inclusive, Pacific days)."""
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        result = await asyncio.to_thread(self._query, video_id, start, end)
        return totals(video_id, start, end, parse_report(result))

    async def close(self) -> None:
        # Every call has its own connection (see ``execute``); the service holds only the
        # unused default one built from the credentials.
        await asyncio.to_thread(self._service.close)
