"""YouTube Reporting API v1: thumbnail impressions and their click-through rate per video/day.

The Analytics API has no per-video impressions, so they come from the bulk report
``channel_reach_basic_a1`` (dimensions ``date``, ``channel_id``, ``video_id``; metrics
``video_thumbnail_impressions``, ``video_thumbnail_impressions_ctr``). Reports exist only for
a reporting job: the first call creates the job if the channel has none. YouTube then writes
one CSV per (Pacific) day, the first ones ~48 h after the job is created, and may later write a
corrected report for a day already reported: for each day the most recently created report wins.

Downloads go through the discovery document's ``media.download`` method (``GET
v1/media/{+resourceName}?alt=media``), with the resource name cut out of the report's
``downloadUrl``, so they reach the configured endpoint rather than the host the URL names.
A report's content never changes, so parsed reports are cached by report id.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote, urlparse

from connectors.youtube_analytics import (
    DEFAULT_TIMEOUT_S,
    AnalyticsRejectedError,
    build_service,
    execute,
)

REPORT_TYPE = "channel_reach_basic_a1"
JOB_NAME = "munjero-reach"
MEDIA_PREFIX = "/v1/media/"
#: YouTube keeps daily reports 60 days; a few more cached reports cover any snapshot window.
CACHED_REPORTS = 90

# Columns by name; a later report version may add or reorder columns, never these.
DATE_COLUMN = "date"
VIDEO_COLUMN = "video_id"
IMPRESSIONS_COLUMN = "video_thumbnail_impressions"
CTR_COLUMN = "video_thumbnail_impressions_ctr"


@dataclass(frozen=True)
class DailyReach:
    """Thumbnail impressions of one video on one day; ``ctr`` is a fraction (0-1)."""

    video_id: str
    day: date
    impressions: int
    ctr: float


def _parse_day(text: str) -> date:
    text = text.strip()
    # The Reporting API writes YYYYMMDD; ISO dates are accepted for tolerance.
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return date.fromisoformat(text)


def parse_reach_csv(content: bytes) -> list[DailyReach]:
    """Impressions and CTR per (video, day) of a reach report.

    Columns are found by name (case and surrounding spaces ignored). Rows split by further
    dimensions (traffic source, country... in other reach report types) are merged: impressions
    add up and the CTR is impressions-weighted, i.e. clicks (impressions x CTR) over impressions.
    """
    if content[:2] == b"\x1f\x8b":  # the download may arrive gzip-compressed
        content = gzip.decompress(content)
    reader = csv.reader(io.StringIO(content.decode("utf-8-sig")))
    header = [name.strip().lower() for name in next(reader, [])]
    wanted = (DATE_COLUMN, VIDEO_COLUMN, IMPRESSIONS_COLUMN, CTR_COLUMN)
    missing = [name for name in wanted if name not in header]
    if missing:
        raise AnalyticsRejectedError(f"the reach report has no column(s) {missing}: {header}")
    at = {name: header.index(name) for name in wanted}
    impressions: dict[tuple[str, date], int] = {}
    clicks: dict[tuple[str, date], float] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            key = (row[at[VIDEO_COLUMN]].strip(), _parse_day(row[at[DATE_COLUMN]]))
            count = int(float(row[at[IMPRESSIONS_COLUMN]] or 0))
            ctr = float(row[at[CTR_COLUMN]] or 0)
        except (IndexError, ValueError) as exc:
            raise AnalyticsRejectedError(f"unreadable reach report line {line}: {row}") from exc
        impressions[key] = impressions.get(key, 0) + count
        clicks[key] = clicks.get(key, 0.0) + count * ctr
    return [
        DailyReach(video, day, count, clicks[(video, day)] / count if count else 0.0)
        for (video, day), count in sorted(impressions.items(), key=lambda item: item[0][::-1])
    ]


def resource_name(download_url: str) -> str:
    """The ``media.download`` resource name of a report's ``downloadUrl``: its path after
    ``/v1/media/`` (the query, ``alt=media``, is added by the client)."""
    path = urlparse(download_url).path
    position = path.find(MEDIA_PREFIX)
    if position < 0:
        raise AnalyticsRejectedError(f"unexpected report download URL {download_url!r}")
    return unquote(path[position + len(MEDIA_PREFIX) :])


def _timestamp(moment: datetime) -> str:
    # google-datetime: RFC 3339 in UTC with a Z.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def latest_per_day(reports: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One report per covered period: the most recently created (a correction supersedes)."""
    chosen: dict[str, dict[str, Any]] = {}
    for report in reports:
        period = report["startTime"]
        current = chosen.get(period)
        if current is None or _parse_timestamp(report["createTime"]) > _parse_timestamp(
            current["createTime"]
        ):
            chosen[period] = report
    return [chosen[period] for period in sorted(chosen)]


class YouTubeReportingClient:
    """Reach (impressions, CTR) of the authorised user's channel from daily bulk reports."""

    def __init__(
        self,
        credentials: Any,
        base_url: str,
        *,
        report_type: str = REPORT_TYPE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._report_type = report_type
        self._service = build_service("youtubereporting", "v1", credentials, base_url)
        self._job_id: str | None = None
        self._job_lock = asyncio.Lock()
        self._parsed: OrderedDict[str, list[DailyReach]] = OrderedDict()

    def _run(self, request: Any) -> Any:
        return execute(request, self._credentials, self._timeout_s)

    def _find_or_create_job(self) -> str:
        token: str | None = None
        while True:
            page = self._run(self._service.jobs().list(pageToken=token))
            for job in page.get("jobs", []):
                # System-managed jobs cannot be relied upon to keep existing; ours is ours.
                if job.get("reportTypeId") == self._report_type and not job.get("systemManaged"):
                    return str(job["id"])
            token = page.get("nextPageToken")
            if not token:
                break
        body = {"reportTypeId": self._report_type, "name": JOB_NAME}
        created = self._run(self._service.jobs().create(body=body))
        return str(created["id"])

    async def ensure_job(self) -> str:
        """The id of the channel's job for the report type, created if there is none. Looked
        up once per client: the lock keeps concurrent first snapshots from creating two jobs."""
        async with self._job_lock:
            if self._job_id is None:
                self._job_id = await asyncio.to_thread(self._find_or_create_job)
            return self._job_id

    def _list(self, job_id: str, **filters: str) -> list[dict[str, Any]]:
        reports: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            request = self._service.jobs().reports().list(jobId=job_id, pageToken=token, **filters)
            page = self._run(request)
            reports.extend(page.get("reports", []))
            token = page.get("nextPageToken")
            if not token:
                return reports

    async def list_reports(
        self,
        *,
        created_after: datetime | None = None,
        start_time_at_or_after: datetime | None = None,
        start_time_before: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Report metadata of the job (every page), optionally filtered by the API."""
        job_id = await self.ensure_job()
        filters: dict[str, str] = {}
        if created_after is not None:
            filters["createdAfter"] = _timestamp(created_after)
        if start_time_at_or_after is not None:
            filters["startTimeAtOrAfter"] = _timestamp(start_time_at_or_after)
        if start_time_before is not None:
            filters["startTimeBefore"] = _timestamp(start_time_before)
        return await asyncio.to_thread(self._list, job_id, **filters)

    def _download(self, report: dict[str, Any]) -> bytes:
        name = resource_name(str(report.get("downloadUrl", "")))
        content = self._run(self._service.media().download_media(resourceName=name))
        return content if isinstance(content, bytes) else str(content).encode()

    async def report_rows(self, report: dict[str, Any]) -> list[DailyReach]:
        """The parsed content of one report, downloaded once per report id."""
        report_id = str(report["id"])
        cached = self._parsed.get(report_id)
        if cached is not None:
            self._parsed.move_to_end(report_id)
            return cached
        rows = parse_reach_csv(await asyncio.to_thread(self._download, report))
        self._parsed[report_id] = rows
        while len(self._parsed) > CACHED_REPORTS:
            self._parsed.popitem(last=False)
        return rows

    async def video_reach(self, video_id: str, start: date, end: date) -> list[DailyReach]:
        """Daily reach of ``video_id`` over ``start``..``end`` (inclusive). Days YouTube has not
        reported yet are simply absent."""
        # A report's startTime is midnight Pacific, which is 07:00 or 08:00 UTC: a day's margin
        # either side catches them all, and rows outside the range are dropped below.
        reports = await self.list_reports(
            start_time_at_or_after=datetime.combine(start - timedelta(days=1), time(), UTC),
            start_time_before=datetime.combine(end + timedelta(days=2), time(), UTC),
        )
        found: dict[date, DailyReach] = {}
        for report in latest_per_day(reports):
            for row in await self.report_rows(report):
                if row.video_id == video_id and start <= row.day <= end:
                    # Later (newer) reports overwrite a day, matching latest_per_day's order.
                    found[row.day] = row
        return [found[day] for day in sorted(found)]

    async def close(self) -> None:
        await asyncio.to_thread(self._service.close)
