# ruff: noqa: F811 - pytest injects imported fixtures by name
"""The caption track through the real publisher (and the real google client) against the local
YouTube Data API server (``tests/fakes/youtube_data.py``): the track reaches the right video in
the right language with the file's bytes, once per idempotency key, whatever fails in between;
a caption failure never uploads the video again, and a refusal leaves the short published
without captions, saying why."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agents.publish import PublishStep
from connectors.artifacts.local import LocalArtifactStore
from connectors.youtube.captions import track_name
from connectors.youtube.ledger import UploadLedger
from connectors.youtube.publisher import YouTubePublisher
from connectors.youtube.quota import (
    CAPTIONS_INSERT_UNITS,
    CAPTIONS_LIST_UNITS,
    VIDEOS_INSERT_UNITS,
    QuotaBudget,
    quota_day,
)
from streams.events import derived_meta
from streams.ports.artifact_keys import content_key
from streams.ports.publishing import CaptionFile, PublishUnavailableError
from tests.drafts import drafted
from tests.factories import problem_event
from tests.fakes.youtube_data import FakeYouTube
from tests.integration.test_youtube_publisher import (  # noqa: F401 - fixtures by name
    FakeTime,
    make_publisher,
    publisher,
    server,
    time,
    upload_of,
    video,
    youtube,
)

pytestmark = pytest.mark.integration

SRT = (
    "1\n00:00:00,120 --> 00:00:01,480\n훈민정음을 만든\n\n"
    "2\n00:00:01,480 --> 00:00:02,900\n왕은 누구일까요?\n"
)
VTT = "WEBVTT\n\n00:00:00.120 --> 00:00:01.480\nWho <00:00:00.600>made this?\n"


@pytest.fixture
def srt(tmp_path: Path) -> Path:
    path = tmp_path / "short.srt"
    path.write_text(SRT, encoding="utf-8")
    return path


def today(time: FakeTime) -> date:
    return quota_day(time.now)


def units(tmp_path: Path, time: FakeTime) -> int:
    return QuotaBudget(tmp_path / "quota.db", clock=time).used(today(time))


def caption_requests(youtube: FakeYouTube) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in youtube.requests if "captions" in r[1]]


async def test_the_track_reaches_the_video_in_its_language_with_the_files_bytes(
    publisher: YouTubePublisher,
    youtube: FakeYouTube,
    video: Path,
    srt: Path,
    tmp_path: Path,
    time: FakeTime,
) -> None:
    published = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))

    (track,) = youtube.captions.values()
    assert track.video_id == published.video_id
    assert (track.language, track.name, track.is_draft) == ("ko", track_name("ko"), False)
    assert track.body == SRT.encode()
    assert published.caption_id == track.id
    assert published.captions_skipped == ""
    assert caption_requests(youtube) == [("POST", "/upload/youtube/v3/captions")]
    assert units(tmp_path, time) == VIDEOS_INSERT_UNITS + CAPTIONS_INSERT_UNITS


async def test_a_webvtt_file_goes_up_as_sent(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path, tmp_path: Path
) -> None:
    vtt = tmp_path / "short.vtt"
    vtt.write_text(VTT, encoding="utf-8")

    published = await publisher.publish(upload_of(video, language="en",
                                                  captions=CaptionFile(vtt, "en")))  # fmt: skip

    (track,) = youtube.captions.values()
    assert (track.video_id, track.language, track.name) == (published.video_id, "en", "Narration")
    assert track.body == VTT.encode()


async def test_publishing_again_uploads_neither_video_nor_track(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path, srt: Path
) -> None:
    first = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))
    requests = len(youtube.requests)

    again = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))

    assert again.reused
    assert (again.video_id, again.caption_id) == (first.video_id, first.caption_id)
    assert len(youtube.captions) == 1
    assert len(youtube.requests) == requests  # the ledger answered for both


async def test_transient_caption_errors_are_retried_with_backoff(
    publisher: YouTubePublisher,
    youtube: FakeYouTube,
    video: Path,
    srt: Path,
    time: FakeTime,
) -> None:
    youtube.fail_captions.extend([503, 500])

    published = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))

    (track,) = youtube.captions.values()
    assert published.caption_id == track.id
    assert time.sleeps == [1.0, 2.0]
    # Each retry first asks whether the failed insert created the track after all.
    assert caption_requests(youtube) == [
        ("POST", "/upload/youtube/v3/captions"),
        ("GET", "/youtube/v3/captions"),
        ("POST", "/upload/youtube/v3/captions"),
        ("GET", "/youtube/v3/captions"),
        ("POST", "/upload/youtube/v3/captions"),
    ]


async def test_a_lost_answer_is_recognised_and_not_uploaded_twice(
    publisher: YouTubePublisher,
    youtube: FakeYouTube,
    video: Path,
    srt: Path,
    tmp_path: Path,
    time: FakeTime,
) -> None:
    youtube.lose_caption_answers = 1  # the track is created, the client hears 503

    published = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))

    (track,) = youtube.captions.values()
    assert published.caption_id == track.id
    assert caption_requests(youtube) == [
        ("POST", "/upload/youtube/v3/captions"),
        ("GET", "/youtube/v3/captions"),
    ]
    expected = VIDEOS_INSERT_UNITS + CAPTIONS_INSERT_UNITS + CAPTIONS_LIST_UNITS
    assert units(tmp_path, time) == expected


async def test_persistent_caption_errors_raise_and_the_retry_uploads_only_the_track(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    srt: Path,
    tmp_path: Path,
    time: FakeTime,
) -> None:
    upload = upload_of(video, captions=CaptionFile(srt, "ko"))
    failing = make_publisher(server[0], tmp_path, time, max_retries=2)
    youtube.fail_captions.extend([503] * 3)
    with pytest.raises(PublishUnavailableError):
        await failing.publish(upload)
    await failing.close()
    (video_id,) = youtube.videos
    assert youtube.captions == {}
    sessions = len(youtube.sessions)

    # The event is retried (a new process, the same ledger): the video comes from the ledger.
    retry = make_publisher(server[0], tmp_path, time)
    published = await retry.publish(upload)
    await retry.close()

    assert published.reused
    assert published.video_id == video_id
    assert list(youtube.videos) == [video_id]
    assert len(youtube.sessions) == sessions  # no new upload session was opened
    (track,) = youtube.captions.values()
    assert (track.video_id, track.body) == (video_id, SRT.encode())


async def test_a_track_created_before_a_crash_is_found_not_uploaded_again(
    server: tuple[str, FakeYouTube],
    youtube: FakeYouTube,
    video: Path,
    srt: Path,
    tmp_path: Path,
    time: FakeTime,
) -> None:
    """The process died between the server creating the track and the ledger recording it:
    the ledger says "started", the restart asks captions.list and finds it."""
    first = make_publisher(server[0], tmp_path, time)
    published = await first.publish(upload_of(video, captions=CaptionFile(srt, "ko")))
    await first.close()
    (track,) = youtube.captions.values()
    ledger = UploadLedger(tmp_path / "ledger.db")
    with ledger._connect() as db:  # what a crash right after the insert leaves behind
        db.execute("UPDATE captions SET state = 'started', caption_id = NULL")

    again = make_publisher(server[0], tmp_path, time)
    recovered = await again.publish(upload_of(video, captions=CaptionFile(srt, "ko")))
    await again.close()

    assert recovered.video_id == published.video_id
    assert recovered.caption_id == track.id
    assert list(youtube.captions) == [track.id]
    entry = ledger.caption("render-1")
    assert entry is not None
    assert (entry.state, entry.caption_id) == ("uploaded", track.id)


async def test_a_refused_track_leaves_the_short_published_and_says_why(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path, srt: Path, tmp_path: Path
) -> None:
    youtube.fail_captions.append(403)  # e.g. a token without the youtube.force-ssl scope

    published = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))

    assert list(youtube.videos) == [published.video_id]
    assert youtube.captions == {}
    assert published.caption_id == ""
    assert published.captions_skipped.startswith("YouTube refused the caption track: 403")
    assert "scripted caption failure 403" in published.captions_skipped
    entry = UploadLedger(tmp_path / "ledger.db").get("render-1")
    assert entry is not None
    assert entry.state == "uploaded"
    # Settled: a redelivery neither retries the refused track nor touches the video.
    requests = len(youtube.requests)
    again = await publisher.publish(upload_of(video, captions=CaptionFile(srt, "ko")))
    assert again.captions_skipped == published.captions_skipped
    assert len(youtube.requests) == requests


async def test_without_a_caption_file_nothing_is_sent(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path
) -> None:
    published = await publisher.publish(upload_of(video))
    assert (published.caption_id, published.captions_skipped) == ("", "")
    assert caption_requests(youtube) == []


async def test_the_publish_step_uploads_the_renders_caption_file_from_the_store(
    publisher: YouTubePublisher, youtube: FakeYouTube, video: Path, srt: Path, tmp_path: Path
) -> None:
    """From the RenderCompleted event: the step fetches the video and the SubRip file by their
    keys and the track arrives on the video. A render that names no caption file, or whose
    file the store lost, is published without a track."""
    store = LocalArtifactStore(tmp_path / "store")
    digest = "cd" * 32
    stored = await store.put_file(
        content_key("renders", digest, "short.mp4"), video, content_type="video/mp4"
    )
    srt_key = content_key("renders", digest, "short.srt")
    await store.put_file(srt_key, srt, content_type="application/x-subrip")
    script = drafted(problem_event(0), k=1)[0]
    meta = derived_meta(script, "render")
    render: dict[str, Any] = {
        "meta": meta, "render_id": meta["event_id"], "script_id": script["script_id"],
        "problem_id": script["problem_id"], "experiment_id": script["experiment_id"],
        "arm_id": script["arm_id"], "uri": stored.uri, "sha256": stored.sha256,
        "duration_seconds": 30.0, "width": 1080, "height": 1920, "size_bytes": stored.size_bytes,
        "render_ms": 10, "template_version": "t", "cache_hit": False,
        "artifact_key": stored.key, "language": "ko", "title": "퀴즈", "description": "질문",
        "voice": "offline", "voice_fallback_reason": None,
        "caption_srt_key": srt_key, "caption_vtt_key": "",
    }  # fmt: skip
    step = PublishStep(publisher, store, privacy_status="unlisted")

    (emit,) = await step(render)  # type: ignore[arg-type]

    (track,) = youtube.captions.values()
    assert track.video_id == emit.record["video_id"]
    assert (track.language, track.body) == ("ko", SRT.encode())

    # Another render whose caption file is gone from the store: published, no track.
    other = {**render, "render_id": "render-2", "caption_srt_key": srt_key.replace("cd", "ef")}
    (emit,) = await step(other)  # type: ignore[arg-type]
    assert len(youtube.videos) == 2
    assert len(youtube.captions) == 1
