"""A local server speaking the Google OAuth token endpoint, YouTube Analytics API v2
(``reports.query``) and YouTube Reporting API v1 (jobs, reports, media download).

Paths are those of the discovery documents shipped with google-api-python-client, relative to
the ``api_endpoint`` override: ``v2/reports``, ``v1/jobs``, ``v1/jobs/{jobId}/reports``,
``v1/media/{+resourceName}?alt=media``. Answers are computed from seeded per-video per-day
data, independently of the adapter's parsing, so the adapter is checked against a second
implementation. Every request is recorded; ``fail_next`` scripts failures of API calls.
"""

from __future__ import annotations

import csv
import io
import itertools
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

PACIFIC = ZoneInfo("America/Los_Angeles")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
METRIC_TYPES = {
    "views": "INTEGER",
    "estimatedMinutesWatched": "INTEGER",
    "averageViewDuration": "INTEGER",
    "averageViewPercentage": "FLOAT",
    "likes": "INTEGER",
    "comments": "INTEGER",
    "subscribersGained": "INTEGER",
}
# The real report's columns, in the real order (dimensions first).
REACH_COLUMNS = (
    "date",
    "channel_id",
    "video_id",
    "video_thumbnail_impressions",
    "video_thumbnail_impressions_ctr",
)


@dataclass
class Day:
    """Seeded Analytics metrics of one video on one day (fields named as the API names them)."""

    views: int = 0
    estimatedMinutesWatched: int = 0
    averageViewDuration: int = 0
    averageViewPercentage: float = 0.0
    likes: int = 0
    comments: int = 0
    subscribersGained: int = 0


@dataclass
class FakeYouTubeAnalytics:
    """Accepted OAuth client, seeded data, scripted failures and what the server received."""

    client_id: str
    client_secret: str
    refresh_token: str
    channel_id: str = "UCfakechannel000000000000"
    days: dict[tuple[str, date], Day] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    report_content: dict[str, bytes] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    page_size: int = 2  # small, so the adapter must follow nextPageToken
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        self.days.clear()
        self.jobs.clear()
        self.reports.clear()
        self.report_content.clear()
        self.fail_next.clear()
        self.requests.clear()
        self.tokens.clear()

    def seed(self, video_id: str, day: date, **metrics: Any) -> None:
        self.days[(video_id, day)] = Day(**metrics)

    def add_job(self, report_type: str, *, system_managed: bool = False) -> dict[str, Any]:
        job = {
            "id": f"job-{next(self._ids)}",
            "reportTypeId": report_type,
            "name": f"{report_type} job",
            "createTime": _rfc3339(datetime.now(UTC)),
        }
        if system_managed:
            job["systemManaged"] = True
        self.jobs.append(job)
        return job

    def add_reach_report(
        self,
        report_type: str,
        day: date,
        rows: list[tuple[str, int, float]],
        *,
        created: datetime,
        content: bytes | None = None,
    ) -> dict[str, Any]:
        """A daily report of ``report_type`` (video_id, impressions, ctr) for ``day``; its job
        is resolved when listed, so reports may be seeded before the adapter creates a job."""
        report_id = f"report-{next(self._ids)}"
        start = datetime.combine(day, time(), PACIFIC)
        media = f"CHANNEL/{self.channel_id}/reports/{report_id}"
        if content is None:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(REACH_COLUMNS)
            for video_id, impressions, ctr in rows:
                writer.writerow(
                    [day.strftime("%Y%m%d"), self.channel_id, video_id, impressions, ctr]
                )
            content = buffer.getvalue().encode()
        self.report_content[media] = content
        report = {
            "id": report_id,
            "reportType": report_type,
            "startTime": _rfc3339(start),
            "endTime": _rfc3339(start + timedelta(days=1)),
            "createTime": _rfc3339(created),
            # The real URL names Google's host: the adapter must not follow it literally.
            "downloadUrl": f"https://youtubereporting.googleapis.com/v1/media/{media}?alt=media",
        }
        self.reports.append(report)
        return report

    def paths(self, method: str | None = None) -> list[str]:
        return [path for verb, path in self.requests if method in (None, verb)]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def google_error(code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": STATUS_NAMES.get(code, "UNKNOWN")}},
        status_code=code,
    )


def _page(items: list[dict[str, Any]], request: Request, size: int) -> dict[str, Any]:
    start = int(request.query_params.get("pageToken") or 0)
    page: dict[str, Any] = {}
    if items[start : start + size]:  # proto3 JSON leaves out empty lists, as Google does
        page["items"] = items[start : start + size]
    if start + size < len(items):
        page["nextPageToken"] = str(start + size)
    return page


def build_app(fake: FakeYouTubeAnalytics) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Any:
        if request.url.path != "/health":
            query = f"?{request.url.query}" if request.url.query else ""
            fake.requests.append((request.method, f"{request.url.path}{query}"))
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (form.get("client_id"), form.get("client_secret")) != (
            fake.client_id,
            fake.client_secret,
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "The OAuth client was not found."},
                status_code=401,
            )
        if form.get("refresh_token") != fake.refresh_token:
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
                status_code=400,
            )
        access = f"ya29.{secrets.token_urlsafe(16)}"
        fake.tokens.add(access)
        return JSONResponse(
            {
                "access_token": access,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/yt-analytics.readonly",
            }
        )

    def refused(request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or header[len("Bearer ") :] not in fake.tokens:
            return google_error(401, "Request had invalid authentication credentials.")
        if fake.fail_next:
            code = fake.fail_next.pop(0)
            return google_error(code, f"scripted failure {code}")
        return None

    @app.get("/v2/reports")
    def reports_query(request: Request) -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        params = request.query_params
        if params.get("ids") != "channel==MINE":
            return google_error(400, "Invalid ids: only channel==MINE is served by this fake.")
        if params.get("dimensions") != "day":
            return google_error(400, "This fake serves dimensions=day only.")
        metrics = (params.get("metrics") or "").split(",")
        unknown = [name for name in metrics if name not in METRIC_TYPES]
        if unknown:
            return google_error(400, f"Unknown identifier ({unknown[0]}) given in field metrics.")
        video_filter = params.get("filters") or ""
        if not video_filter.startswith("video=="):
            return google_error(400, "This fake expects filters=video==<id>.")
        video_id = video_filter[len("video==") :]
        try:
            start = date.fromisoformat(params["startDate"])
            end = date.fromisoformat(params["endDate"])
        except (KeyError, ValueError):
            return google_error(400, "Required startDate and endDate as YYYY-MM-DD.")
        if end < start:
            return google_error(400, "The start date must be before the end date.")
        rows = [
            [day.isoformat(), *(getattr(stats, name) for name in metrics)]
            for (video, day), stats in sorted(fake.days.items(), key=lambda item: item[0][1])
            if video == video_id and start <= day <= end
        ]
        headers = [{"name": "day", "columnType": "DIMENSION", "dataType": "STRING"}] + [
            {"name": name, "columnType": "METRIC", "dataType": METRIC_TYPES[name]}
            for name in metrics
        ]
        body: dict[str, Any] = {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers}
        if rows:
            body["rows"] = rows
        return JSONResponse(body)

    @app.get("/v1/jobs")
    def jobs_list(request: Request) -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        # Like the real API: system-managed jobs are listed only when asked for.
        everything = request.query_params.get("includeSystemManaged") == "true"
        listed = [job for job in fake.jobs if everything or not job.get("systemManaged")]
        page = _page(listed, request, fake.page_size)
        if "items" in page:
            page["jobs"] = page.pop("items")
        return JSONResponse(page)

    @app.post("/v1/jobs")
    async def jobs_create(request: Request) -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        if not body.get("reportTypeId"):
            return google_error(400, "reportTypeId is required.")
        if any(
            job["reportTypeId"] == body["reportTypeId"] and not job.get("systemManaged")
            for job in fake.jobs
        ):
            # The real API refuses a second job for the same report type.
            return google_error(409, "Job for this report type already exists.")
        job = fake.add_job(body["reportTypeId"])
        job["name"] = body.get("name", job["name"])
        return JSONResponse(job)

    @app.get("/v1/jobs/{job_id}/reports")
    def reports_list(job_id: str, request: Request) -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        job = next((job for job in fake.jobs if job["id"] == job_id), None)
        if job is None:
            return google_error(404, f"Job {job_id} not found.")
        params = request.query_params
        selected = []
        for report in fake.reports:
            if report["reportType"] != job["reportTypeId"]:
                continue
            start = _parse_rfc3339(report["startTime"])
            created = _parse_rfc3339(report["createTime"])
            if "createdAfter" in params and created <= _parse_rfc3339(params["createdAfter"]):
                continue
            if "startTimeAtOrAfter" in params and start < _parse_rfc3339(
                params["startTimeAtOrAfter"]
            ):
                continue
            if "startTimeBefore" in params and start >= _parse_rfc3339(params["startTimeBefore"]):
                continue
            listed = {key: value for key, value in report.items() if key != "reportType"}
            selected.append({**listed, "jobId": job_id})
        page = _page(selected, request, fake.page_size)
        if "items" in page:
            page["reports"] = page.pop("items")
        return JSONResponse(page)

    @app.get("/v1/media/{resource_name:path}")
    def media_download(resource_name: str, request: Request) -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        if request.query_params.get("alt") != "media":
            return google_error(400, "This fake serves media downloads only (alt=media).")
        content = fake.report_content.get(resource_name)
        if content is None:
            return google_error(404, f"Media {resource_name} not found.")
        return Response(content, media_type="application/octet-stream")

    return app
