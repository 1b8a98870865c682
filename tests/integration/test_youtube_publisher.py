"""The YouTube publisher, with the real google client, against a local server speaking the
YouTube Data API v3 upload protocol (``tests/fakes/youtube_data.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.youtube.credentials import channel_credentials
from connectors.youtube.ledger import UploadLedger
from connectors.youtube.publisher import CHUNK_QUANTUM, YouTubePublisher
from connectors.youtube.quota import VIDEOS_INSERT_UNITS, QuotaBudget, next_quota_day_start
from streams.ports.publishing import (
    PublishRejectedError,
    PublishUnavailableError,
    Upload,
    VideoPublisher,
)
from tests.fakes.youtube_data import FakeYouTube, build_app
from tests.integration.youtube_upload_child import publisher_from
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

CLIENT = {"client_id": "client-1", "client_secret": "secret-1", "refresh_token": "refresh-1"}
CHUNK = CHUNK_QUANTUM  # 256 KiB: the smallest chunk Google accepts
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeYouTube]]:
    fake = FakeYouTube(**CLIENT)
    with serve_in_thread(build_app(fake), health_path="/health", name="fake YouTube") as url:
        yield url, fake


@pytest.fixture
def youtube(server: tuple[str, FakeYouTube]) -> Iterator[FakeYouTube]:
    fake = server[1]
    fake.reset()
    yield fake
    fake.release.set()  # never leave a held handler behind


@pytest.fixture
def video(tmp_path: Path) -> Path:
    # 4.5 chunks of incompressible bytes: five PUTs, the last one short.
    path = tmp_path / "short.mp4"
    path.write_bytes(os.urandom(4 * CHUNK + CHUNK // 2))
    return path


class FakeTime:
    """A clock and a sleep that advances it: waiting a day takes no time."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime(datetime(2025, 3, 9, 20, tzinfo=UTC))


def child_config(url: str, tmp_path: Path, video: Path, key: str) -> dict[str, Any]:
    return {
        **CLIENT,
        "base_url": url,
        "ledger_path": str(tmp_path / "ledger.db"),
        "quota_path": str(tmp_path / "quota.db"),
        "video_path": str(video),
        "key": key,
        "title": "세종대왕 퀴즈",
        "chunk_size": CHUNK,
    }


def make_publisher(
    url: str, tmp_path: Path, time: FakeTime, *, daily_units: int = 10_000, max_retries: int = 4
) -> YouTubePublisher:
    credentials = channel_credentials(**CLIENT, token_uri=f"{url}/token")
    return YouTubePublisher(
        credentials,
        base_url=url,
        ledger_path=tmp_path / "ledger.db",
        quota=QuotaBudget(tmp_path / "quota.db", daily_units=daily_units, clock=time),
        chunk_size=CHUNK,
        sleep=time.sleep,
        max_retries=max_retries,
    )


@pytest.fixture
async def publisher(
    server: tuple[str, FakeYouTube], youtube: FakeYouTube, tmp_path: Path, time: FakeTime
) -> AsyncIterator[YouTubePublisher]:
    publisher = make_publisher(server[0], tmp_path, time)
    yield publisher
    await publisher.close()


def upload_of(video: Path, key: str = "render-1", **overrides: Any) -> Upload:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "video_path": video,
        "title": "훈민정음을 창제한 왕은?",
        "description": "세종대왕 퀴즈",
        "tags": ("quiz", "korean history"),
        "category_id": "27",
        "privacy_status": "unlisted",
        "made_for_kids": False,
        "language": "ko",
    }
    fields.update(overrides)
    return Upload(**fields)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only_session(youtube: FakeYouTube) -> Any:
    (session,) = youtube.sessions.values()
    return session


async def test_publisher_implements_the_port(publisher: YouTubePublisher) -> None:
    port: VideoPublisher = publisher
    assert port.platform == "youtube"
    await port.check()


async def test_happy_path_sends_exact_metadata_and_bytes(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path
) -> None:
    published = await publisher.publish(upload_of(video))

    assert list(youtube.videos) == [published.video_id]
    assert youtube.sha256(published.video_id) == sha256(video)
    session = only_session(youtube)
    assert session.metadata["part"] == "snippet,status"
    body = session.metadata["body"]
    assert body["snippet"] == {
        "title": "훈민정음을 창제한 왕은? #shorts",
        "description": "세종대왕 퀴즈\n\nmunjero:render-1",
        "tags": ["quiz", "korean history"],
        "categoryId": "27",
        "defaultLanguage": "ko",
    }
    # Present and False, not merely absent; and no madeForKids (YouTube sets that one).
    assert body["status"] == {"privacyStatus": "unlisted", "selfDeclaredMadeForKids": False}
    assert session.chunks == [
        (i * CHUNK, min((i + 1) * CHUNK, video.stat().st_size) - 1) for i in range(5)
    ]
    assert published.url == f"https://www.youtube.com/shorts/{published.video_id}"
    assert published.platform == "youtube"
    assert not published.simulated
    assert not published.reused
    assert published.published_at.tzinfo is not None


async def test_a_long_title_is_cut_to_keep_shorts_within_100_chars(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path
) -> None:
    await publisher.publish(upload_of(video, title="가" * 150))

    title = only_session(youtube).metadata["body"]["snippet"]["title"]
    assert len(title) == 100
    assert title.endswith(" #shorts")


async def test_server_errors_mid_upload_resume_from_the_servers_range(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path, time: FakeTime
) -> None:
    youtube.fail_chunks.extend([500, 503])  # the first two chunk PUTs fail

    published = await publisher.publish(upload_of(video))

    session = only_session(youtube)
    assert youtube.sha256(published.video_id) == sha256(video)
    # Every byte stored once: the failed PUTs kept nothing and were re-sent after a status query.
    assert session.bytes_received == video.stat().st_size
    assert session.status_queries == 2
    assert [first for first, _ in session.chunks] == [i * CHUNK for i in range(5)]
    assert time.sleeps == [1.0, 2.0]  # exponential backoff through the injected sleep


async def test_an_error_after_some_chunks_resumes_after_them(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path
) -> None:
    youtube.fail_chunks.extend([0, 0, 500])  # the third chunk PUT fails

    published = await publisher.publish(upload_of(video))

    session = only_session(youtube)
    assert youtube.sha256(published.video_id) == sha256(video)
    assert [first for first, _ in session.chunks] == [i * CHUNK for i in range(5)]
    puts = [r[3] for r in youtube.requests if r[0] == "PUT"]
    size = video.stat().st_size
    assert puts[2:5] == [
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{size}",  # failed
        f"bytes */{size}",  # where does the session stand? 308 Range: bytes=0-(2 chunks - 1)
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}/{size}",  # so the third chunk again, only it
    ]


async def test_persistent_server_errors_become_unavailable(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path
) -> None:
    youtube.fail_chunks.extend([503] * 10)

    with pytest.raises(PublishUnavailableError):
        await publisher.publish(upload_of(video))
    assert youtube.videos == {}


async def test_a_refusal_becomes_rejected_with_the_servers_message(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    time: FakeTime,
    tmp_path: Path,
) -> None:
    youtube.fail_chunks.append(400)
    publisher = make_publisher(server[0], tmp_path, time)

    with pytest.raises(PublishRejectedError, match="scripted failure 400"):
        await publisher.publish(upload_of(video))


async def test_refused_credentials_fail_check(
    server: tuple[str, FakeYouTube], youtube: FakeYouTube, tmp_path: Path, time: FakeTime
) -> None:
    config = child_config(server[0], tmp_path, tmp_path, "unused")
    config["refresh_token"] = "revoked"
    publisher = publisher_from(config)

    with pytest.raises(PublishRejectedError, match="credentials"):
        await publisher.check()


async def test_a_full_local_budget_waits_for_the_next_quota_day(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    time: FakeTime,
    tmp_path: Path,
) -> None:
    publisher = make_publisher(server[0], tmp_path, time, daily_units=VIDEOS_INSERT_UNITS)
    assert QuotaBudget(tmp_path / "quota.db", clock=time).reserve(1) is None  # 1 unit used
    reset = next_quota_day_start(time.now)

    published = await publisher.publish(upload_of(video))

    assert time.sleeps == [(reset - datetime(2025, 3, 9, 20, tzinfo=UTC)).total_seconds()]
    assert time.now == reset
    assert list(youtube.videos) == [published.video_id]


async def test_quota_exceeded_from_the_server_waits_for_the_next_quota_day(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path, time: FakeTime
) -> None:
    youtube.quota_exceeded = 1
    start = time.now

    published = await publisher.publish(upload_of(video))

    assert time.sleeps == [(next_quota_day_start(start) - start).total_seconds()]
    assert list(youtube.videos) == [published.video_id]
    assert len(youtube.sessions) == 1  # the refused opening created nothing


async def test_publishing_twice_uploads_once(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path
) -> None:
    first = await publisher.publish(upload_of(video))
    requests = len(youtube.requests)

    second = await publisher.publish(upload_of(video))

    assert second.video_id == first.video_id
    assert second.reused
    assert len(youtube.videos) == 1
    assert len(youtube.requests) == requests  # the ledger answered; the server saw nothing


async def test_a_forgotten_session_with_no_video_starts_over(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    time: FakeTime,
    tmp_path: Path,
) -> None:
    ledger = UploadLedger(tmp_path / "ledger.db")
    ledger.start("render-1", video.stat().st_size)
    ledger.set_session(
        "render-1", f"{server[0]}/upload/youtube/v3/videos?uploadType=resumable&upload_id=expired"
    )
    publisher = make_publisher(server[0], tmp_path, time)

    published = await publisher.publish(upload_of(video))

    assert list(youtube.videos) == [published.video_id]
    assert youtube.sha256(published.video_id) == sha256(video)


def spawn_child(config: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.youtube_upload_child", json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


async def test_a_short_killed_mid_upload_is_uploaded_once(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    time: FakeTime,
    tmp_path: Path,
) -> None:
    youtube.hold_after_chunks = 2  # the third chunk PUT hangs until the test releases it
    child = spawn_child(child_config(server[0], tmp_path, video, "render-1"))
    try:
        assert youtube.held.wait(timeout=60), child.stderr.read() if child.poll() else "held"
    finally:
        kill(child)
    youtube.hold_after_chunks = None
    youtube.release.set()
    session = only_session(youtube)
    assert session.chunks == [(0, CHUNK - 1), (CHUNK, 2 * CHUNK - 1)]
    ledger_row = UploadLedger(tmp_path / "ledger.db").get("render-1")
    assert ledger_row is not None
    assert ledger_row.state == "started"
    assert ledger_row.session_uri is not None
    assert ledger_row.session_uri.endswith(session.id)
    before = len(youtube.requests)

    publisher = make_publisher(server[0], tmp_path, time)
    published = await publisher.publish(upload_of(video))

    assert len(youtube.sessions) == 1  # no second session was opened
    assert list(youtube.videos) == [published.video_id]
    assert youtube.sha256(published.video_id) == sha256(video)
    after = [r for r in youtube.requests[before:] if r[0] in ("PUT", "POST")]
    assert after[0][3] == f"bytes */{video.stat().st_size}"  # first, ask where it stands
    assert [r[3].split("/")[0] for r in after[1:]] == [
        f"bytes {2 * CHUNK}-{3 * CHUNK - 1}",
        f"bytes {3 * CHUNK}-{4 * CHUNK - 1}",
        f"bytes {4 * CHUNK}-{video.stat().st_size - 1}",
    ]
    assert session.bytes_received == video.stat().st_size  # each byte once


async def test_killed_after_the_upload_completed_returns_that_video(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    time: FakeTime,
    tmp_path: Path,
) -> None:
    youtube.hold_completion = True  # the video exists, its 200 is not yet sent
    child = spawn_child(child_config(server[0], tmp_path, video, "render-1"))
    try:
        assert youtube.held.wait(timeout=60), child.stderr.read() if child.poll() else "held"
    finally:
        kill(child)
    youtube.hold_completion = False
    youtube.release.set()
    (created,) = youtube.videos
    ledger_row = UploadLedger(tmp_path / "ledger.db").get("render-1")
    assert ledger_row is not None
    assert ledger_row.state == "started"
    before = len(youtube.requests)

    publisher = make_publisher(server[0], tmp_path, time)
    published = await publisher.publish(upload_of(video))

    assert published.video_id == created
    assert not published.reused  # recovered from the server, not from the ledger
    assert list(youtube.videos) == [created]
    after = youtube.requests[before:]
    assert [r[3] for r in after if r[0] == "PUT"] == [f"bytes */{video.stat().st_size}"]
    again = await publisher.publish(upload_of(video))
    assert again.video_id == created
    assert again.reused
