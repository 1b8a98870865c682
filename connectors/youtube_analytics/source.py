"""``AnalyticsSource`` for real YouTube: the Analytics API for views, watch time and engagement,
the Reporting API for thumbnail impressions and CTR.

What a snapshot can see: both APIs report whole US Pacific days, and a day is usually complete
only ~48 h after it ends (impression reports arrive on the same delay). A snapshot at +1 h or
+6 h will therefore mostly show zeros, and +24 h a partial picture; that is expected, not an
error. Every window's record is superseded by a later snapshot of the same window (see
``agents.metrics_schedule``), so a poller may re-take early windows once the data has
landed, and the 72 h and 7 d windows are the ones to judge a short by.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.youtube_analytics import DEFAULT_TIMEOUT_S
from connectors.youtube_analytics.analytics_api import YouTubeAnalyticsClient
from connectors.youtube_analytics.reporting_api import YouTubeReportingClient
from streams.ports.analytics import VideoMetrics

#: YouTube Analytics and Reporting days are calendar days in this zone.
YOUTUBE_DAY_ZONE = ZoneInfo("America/Los_Angeles")

ANALYTICS_URL = "https://youtubeanalytics.googleapis.com/"
REPORTING_URL = "https://youtubereporting.googleapis.com/"


def youtube_day(moment: datetime) -> date:
    """The YouTube reporting day that ``moment`` (timezone-aware) falls on."""
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(YOUTUBE_DAY_ZONE).date()


class YouTubeAnalyticsSource:
    """Cumulative metrics of one video from both APIs."""

    def __init__(self, analytics: YouTubeAnalyticsClient, reporting: YouTubeReportingClient):
        self._analytics = analytics
        self._reporting = reporting

    @classmethod
    def from_credentials(
        cls,
        credentials: Any,
        *,
        analytics_url: str = ANALYTICS_URL,
        reporting_url: str = REPORTING_URL,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> YouTubeAnalyticsSource:
        """Both clients on one set of OAuth credentials (scope ``yt-analytics.readonly``)."""
        return cls(
            YouTubeAnalyticsClient(credentials, analytics_url, timeout_s=timeout_s),
            YouTubeReportingClient(credentials, reporting_url, timeout_s=timeout_s),
        )

    async def snapshot(
        self, video_id: str, published_at: datetime, as_of: datetime
    ) -> VideoMetrics:
        """Totals over the YouTube days from publication to ``as_of``, both inclusive.

        Day granularity means the publication day counts whole and ``as_of``'s day counts as
        far as YouTube has processed it. CTR is impressions-weighted across days: clicks
        (impressions x daily CTR) over all impressions.
        """
        start, end = youtube_day(published_at), youtube_day(as_of)
        if end < start:
            raise ValueError(f"as_of {as_of} is before published_at {published_at}")
        report, reach = await asyncio.gather(
            self._analytics.video_report(video_id, start, end),
            self._reporting.video_reach(video_id, start, end),
        )
        impressions = sum(day.impressions for day in reach)
        clicks = sum(day.impressions * day.ctr for day in reach)
        return VideoMetrics(
            video_id=video_id,
            impressions=impressions,
            views=report.views,
            impressions_ctr=clicks / impressions if impressions else 0.0,
            average_view_percentage=report.average_view_percentage,
            average_view_duration_seconds=report.average_view_duration_seconds,
            estimated_minutes_watched=report.estimated_minutes_watched,
            likes=report.likes,
            comments=report.comments,
            subscribers_gained=report.subscribers_gained,
            simulated=False,
        )

    async def close(self) -> None:
        await asyncio.gather(self._analytics.close(), self._reporting.close())
