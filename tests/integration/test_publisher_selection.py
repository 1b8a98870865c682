"""Settings pick the platform: the simulator by default, YouTube (through the factory, against
the local fake with the real google client) once OAuth credentials are set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.simulator.channel import SimulatedChannel
from connectors.youtube.publisher import YouTubePublisher
from factory.resources import Resources
from streams.ports.publishing import Upload
from streams.settings import Settings
from tests.fakes.youtube_data import FakeYouTube, build_app
from tests.media import tiny_mp4
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration
CLIENT = {"client_id": "client-9", "client_secret": "secret-9", "refresh_token": "refresh-9"}


@pytest.fixture
def fake_youtube() -> Iterator[tuple[str, FakeYouTube]]:
    fake = FakeYouTube(**CLIENT)
    with serve_in_thread(build_app(fake), health_path="/health", name="fake YouTube") as url:
        yield url, fake


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return tiny_mp4(tmp_path / "short.mp4")


async def test_the_simulator_is_the_default(tmp_path: Path, video: Path) -> None:
    resources = Resources(Settings(data_dir=tmp_path))
    try:
        publisher = resources.video_publisher
        assert isinstance(publisher, SimulatedChannel)
        out = await publisher.publish(Upload("render-1", video, "title", "description"))
        assert (out.platform, out.simulated) == ("simulator", True)
    finally:
        await resources.close()


async def test_credentials_switch_to_youtube(
    tmp_path: Path, video: Path, fake_youtube: tuple[str, FakeYouTube]
) -> None:
    url, fake = fake_youtube
    settings = Settings(
        data_dir=tmp_path,
        youtube_client_id=CLIENT["client_id"],
        youtube_client_secret=CLIENT["client_secret"],
        youtube_refresh_token=CLIENT["refresh_token"],
        youtube_api_url=url,
        youtube_token_url=f"{url}/token",
    )
    resources = Resources(settings)
    try:
        publisher = resources.video_publisher
        assert isinstance(publisher, YouTubePublisher)
        first = await publisher.publish(Upload("render-2", video, "퀴즈", "description"))
        again = await publisher.publish(Upload("render-2", video, "퀴즈", "description"))
    finally:
        await resources.close()
    assert (first.platform, first.simulated) == ("youtube", False)
    assert again.video_id == first.video_id
    assert again.reused is True
    assert len(fake.videos) == 1
