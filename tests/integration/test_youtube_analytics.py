"""The YouTube analytics adapter, driving the real google-api-python-client (shipped discovery
documents, endpoint overridden) and google-auth against a local fake of the three Google
services (``tests/fakes/youtube_analytics.py``)."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from google.oauth2.credentials import Credentials

from connectors.youtube_analytics import AnalyticsRejectedError
from connectors.youtube_analytics.analytics_api import YouTubeAnalyticsClient
from connectors.youtube_analytics.reporting_api import (
    REPORT_TYPE,
    YouTubeReportingClient,
    parse_reach_csv,
    resource_name,
)
from connectors.youtube_analytics.source import YouTubeAnalyticsSource, youtube_day
from streams.errors import FatalError, RetriableError
from streams.ports.analytics import AnalyticsUnavailableError
from tests.fakes.youtube_analytics import FakeYouTubeAnalytics, build_app
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

CLIENT_ID = "client-1.apps.googleusercontent.com"
CLIENT_SECRET = "client-secret-1"
REFRESH_TOKEN = "1//refresh-token"
VIDEO = "dQw4w9WgXcQ"
OTHER = "other-video"
# 09:00 Pacific on 1 March and 04:00 Pacific on 5 March: YouTube days 1..5 March.
PUBLISHED = datetime(2025, 3, 1, 17, 0, tzinfo=UTC)
AS_OF = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)
CREATED = datetime(2025, 3, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeYouTubeAnalytics]]:
    fake = FakeYouTubeAnalytics(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    with serve_in_thread(build_app(fake), health_path="/health", name="fake YouTube") as url:
        yield url, fake


@pytest.fixture
def youtube(server: tuple[str, FakeYouTubeAnalytics]) -> FakeYouTubeAnalytics:
    server[1].reset()
    return server[1]


def credentials(base_url: str, *, secret: str = CLIENT_SECRET) -> Credentials:
    return Credentials(
        token=None,
        refresh_token=REFRESH_TOKEN,
        client_id=CLIENT_ID,
        client_secret=secret,
        token_uri=f"{base_url}/token",
    )


@pytest.fixture
async def source(
    server: tuple[str, FakeYouTubeAnalytics], youtube: FakeYouTubeAnalytics
) -> AsyncIterator[YouTubeAnalyticsSource]:
    url = server[0]
    engine = YouTubeAnalyticsSource.from_credentials(
        credentials(url), analytics_url=url, reporting_url=url, timeout_s=10
    )
    yield engine
    await engine.close()


def job_creations(youtube: FakeYouTubeAnalytics) -> int:
    return sum(path.startswith("/v1/jobs?") for path in youtube.paths("POST"))


def job_listings(youtube: FakeYouTubeAnalytics) -> int:
    return sum(path.startswith("/v1/jobs?") for path in youtube.paths("GET"))


def seed_analytics(youtube: FakeYouTubeAnalytics) -> None:
    # Days outside 1..5 March and another video's days must not be counted.
    youtube.seed(VIDEO, date(2025, 2, 28), views=999, likes=99)
    youtube.seed(
        VIDEO,
        date(2025, 3, 1),
        views=100,
        estimatedMinutesWatched=40,
        averageViewDuration=24,
        averageViewPercentage=80.0,
        likes=10,
        comments=2,
        subscribersGained=1,
    )
    youtube.seed(
        VIDEO,
        date(2025, 3, 2),
        views=300,
        estimatedMinutesWatched=100,
        averageViewDuration=20,
        averageViewPercentage=66.0,
        likes=20,
        comments=1,
        subscribersGained=3,
    )
    youtube.seed(
        VIDEO,
        date(2025, 3, 4),
        views=4,
        estimatedMinutesWatched=1,
        averageViewDuration=10,
        averageViewPercentage=30.0,
        likes=0,
        comments=0,
        subscribersGained=0,
    )
    youtube.seed(VIDEO, date(2025, 3, 6), views=555, likes=55)
    youtube.seed(OTHER, date(2025, 3, 2), views=777, likes=77)


def seed_reach(youtube: FakeYouTubeAnalytics) -> None:
    youtube.add_reach_report(REPORT_TYPE, date(2025, 2, 28), [(VIDEO, 5000, 0.5)], created=CREATED)
    youtube.add_reach_report(
        REPORT_TYPE, date(2025, 3, 1), [(VIDEO, 1000, 0.10), (OTHER, 9000, 0.9)], created=CREATED
    )
    youtube.add_reach_report(REPORT_TYPE, date(2025, 3, 2), [(VIDEO, 3000, 0.02)], created=CREATED)
    youtube.add_reach_report(REPORT_TYPE, date(2025, 3, 6), [(VIDEO, 7000, 0.7)], created=CREATED)


async def test_totals_are_the_seeded_days_in_range(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics
) -> None:
    seed_analytics(youtube)

    metrics = await source.snapshot(VIDEO, PUBLISHED, AS_OF)

    assert metrics.video_id == VIDEO
    assert metrics.views == 100 + 300 + 4
    assert metrics.estimated_minutes_watched == 40 + 100 + 1
    assert (metrics.likes, metrics.comments, metrics.subscribers_gained) == (30, 3, 4)
    assert metrics.simulated is False
    # Views-weighted: a plain mean of the daily values would be 18 s and 58.67 %.
    assert metrics.average_view_duration_seconds == pytest.approx(
        (24 * 100 + 20 * 300 + 10 * 4) / 404
    )
    assert metrics.average_view_percentage == pytest.approx((80 * 100 + 66 * 300 + 30 * 4) / 404)
    # No reach reports yet (a fresh job): zero impressions, not an error.
    assert (metrics.impressions, metrics.impressions_ctr) == (0, 0.0)

    query = next(path for path in youtube.paths("GET") if path.startswith("/v2/reports?"))
    assert "startDate=2025-03-01" in query
    assert "endDate=2025-03-05" in query
    assert "filters=video%3D%3DdQw4w9WgXcQ" in query


async def test_ctr_is_impressions_weighted_over_days(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics
) -> None:
    seed_reach(youtube)

    metrics = await source.snapshot(VIDEO, PUBLISHED, AS_OF)

    assert metrics.impressions == 1000 + 3000
    # 100 + 60 clicks over 4000 impressions; the mean of 10 % and 2 % would be 6 %.
    assert metrics.impressions_ctr == pytest.approx(160 / 4000)


async def test_the_job_is_created_once_then_reused(
    server: tuple[str, FakeYouTubeAnalytics],
    source: YouTubeAnalyticsSource,
    youtube: FakeYouTubeAnalytics,
) -> None:
    # Jobs of other types (more than a page of them) and a system-managed job of our type
    # are not ours.
    youtube.add_job("channel_basic_a2")
    youtube.add_job("channel_traffic_source_a2")
    youtube.add_job(REPORT_TYPE, system_managed=True)

    await source.snapshot(VIDEO, PUBLISHED, AS_OF)
    listings = job_listings(youtube)
    await source.snapshot(VIDEO, PUBLISHED, AS_OF + timedelta(days=1))

    assert job_creations(youtube) == 1
    assert job_listings(youtube) == listings  # the job id is remembered, not looked up again
    ours = [job for job in youtube.jobs if not job.get("systemManaged")]
    assert [job["reportTypeId"] for job in ours][-1] == REPORT_TYPE

    # A new client (a restarted worker) finds the existing job instead of creating another.
    url = server[0]
    restarted = YouTubeReportingClient(credentials(url), url, timeout_s=10)
    try:
        assert await restarted.ensure_job() == ours[-1]["id"]
    finally:
        await restarted.close()
    assert job_creations(youtube) == 1


async def test_reports_are_downloaded_through_the_endpoint_once_each(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics
) -> None:
    seed_reach(youtube)

    first = await source.snapshot(VIDEO, PUBLISHED, AS_OF)
    downloads = [path for path in youtube.paths("GET") if path.startswith("/v1/media/")]
    second = await source.snapshot(VIDEO, PUBLISHED, AS_OF)

    assert first == second
    # The reports whose start falls near 1..5 March (27 Feb - 6 Mar margin), each fetched as
    # media from this server although its downloadUrl names youtubereporting.googleapis.com.
    assert len(downloads) == 4
    assert all(path.endswith("?alt=media") for path in downloads)
    assert all("/reports/report-" in path for path in downloads)
    again = [path for path in youtube.paths("GET") if path.startswith("/v1/media/")]
    assert again == downloads  # the second snapshot used the cache


async def test_a_corrected_report_supersedes_the_first_for_its_day(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics
) -> None:
    youtube.add_reach_report(REPORT_TYPE, date(2025, 3, 2), [(VIDEO, 3000, 0.02)], created=CREATED)
    youtube.add_reach_report(
        REPORT_TYPE, date(2025, 3, 2), [(VIDEO, 2000, 0.05)], created=CREATED + timedelta(days=3)
    )

    metrics = await source.snapshot(VIDEO, PUBLISHED, AS_OF)

    assert (metrics.impressions, metrics.impressions_ctr) == (2000, pytest.approx(0.05))


async def test_503_is_retriable_and_the_next_call_succeeds(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics
) -> None:
    seed_analytics(youtube)
    youtube.fail_next.append(503)

    with pytest.raises(AnalyticsUnavailableError, match="503") as failure:
        await source.snapshot(VIDEO, PUBLISHED, AS_OF)
    assert isinstance(failure.value, RetriableError)

    assert (await source.snapshot(VIDEO, PUBLISHED, AS_OF)).views == 404


@pytest.mark.parametrize("code", [429, 500])
async def test_throttling_and_server_errors_are_retriable(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics, code: int
) -> None:
    youtube.fail_next.append(code)
    with pytest.raises(AnalyticsUnavailableError):
        await source.snapshot(VIDEO, PUBLISHED, AS_OF)


@pytest.mark.parametrize("code", [400, 403])
async def test_refusals_are_fatal_with_google_s_message(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics, code: int
) -> None:
    youtube.fail_next.append(code)
    with pytest.raises(AnalyticsRejectedError, match=f"scripted failure {code}") as failure:
        await source.snapshot(VIDEO, PUBLISHED, AS_OF)
    assert isinstance(failure.value, FatalError)


async def test_bad_client_secret_is_fatal(
    server: tuple[str, FakeYouTubeAnalytics], youtube: FakeYouTubeAnalytics
) -> None:
    url = server[0]
    client = YouTubeAnalyticsClient(credentials(url, secret="wrong"), url, timeout_s=10)
    try:
        with pytest.raises(AnalyticsRejectedError, match="invalid_client"):
            await client.video_report(VIDEO, date(2025, 3, 1), date(2025, 3, 5))
    finally:
        await client.close()
    assert not youtube.paths("GET")  # refused before any API call


async def test_unreachable_server_is_retriable() -> None:
    # A port bound but never listened on refuses connections.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        engine = YouTubeAnalyticsSource.from_credentials(
            credentials(url), analytics_url=url, reporting_url=url, timeout_s=5
        )
        try:
            with pytest.raises(AnalyticsUnavailableError):
                await engine.snapshot(VIDEO, PUBLISHED, AS_OF)
        finally:
            await engine.close()


async def test_every_request_went_to_the_configured_endpoint(
    source: YouTubeAnalyticsSource, youtube: FakeYouTubeAnalytics
) -> None:
    seed_analytics(youtube)
    seed_reach(youtube)

    await source.snapshot(VIDEO, PUBLISHED, AS_OF)

    kinds = {path.split("?")[0].rsplit("/", 1)[0] for path in youtube.paths()}
    assert "/v2" in kinds  # analytics
    assert {path.split("?")[0] for path in youtube.paths("POST")} == {"/token", "/v1/jobs"}
    assert any(path.startswith("/v1/media/") for path in youtube.paths("GET"))
    assert any("/reports?" in path for path in youtube.paths("GET"))


def test_reach_csv_is_read_by_column_name_and_merges_split_rows() -> None:
    content = (
        "\ufeffvideo_id, traffic_source_type ,DATE,video_thumbnail_impressions,"
        "video_thumbnail_impressions_ctr,channel_id\n"
        "v1,1,20250301,100,0.1,UC1\n"
        "v1,5,20250301,300,0.02,UC1\n"
        "\n"
        "v2,1,2025-03-02,0,0,UC1\n"
    ).encode()

    rows = parse_reach_csv(gzip.compress(content))

    assert [(row.video_id, row.day, row.impressions) for row in rows] == [
        ("v1", date(2025, 3, 1), 400),
        ("v2", date(2025, 3, 2), 0),
    ]
    assert rows[0].ctr == pytest.approx((10 + 6) / 400)
    assert rows[1].ctr == 0.0


def test_reach_csv_without_a_needed_column_is_refused() -> None:
    with pytest.raises(AnalyticsRejectedError, match="video_thumbnail_impressions_ctr"):
        parse_reach_csv(b"date,video_id,video_thumbnail_impressions\n20250301,v1,3\n")


def test_resource_name_is_the_path_after_v1_media() -> None:
    url = "https://youtubereporting.googleapis.com/v1/media/CHANNEL/UC1/jobs/j/reports/r?alt=media"
    assert resource_name(url) == "CHANNEL/UC1/jobs/j/reports/r"
    with pytest.raises(AnalyticsRejectedError):
        resource_name("https://example.com/elsewhere")


def test_youtube_days_are_pacific() -> None:
    assert youtube_day(datetime(2025, 3, 2, 7, 59, tzinfo=UTC)) == date(2025, 3, 1)
    assert youtube_day(datetime(2025, 3, 2, 8, 0, tzinfo=UTC)) == date(2025, 3, 2)
