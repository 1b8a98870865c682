"""Which voice spoke, and why the ones before it did not, on the ``RenderCompleted`` event.

The real render pipeline (chromium, ffmpeg, espeak-ng) with a voice chain whose first voice is
the Google Cloud TTS adapter against a local server speaking its protocol
(``tests/fakes/google_tts.py``): the server answers 503, the chain hands over to espeak-ng, and
the event the render step emits carries the reason, passes the Avro contract, and names the
caption files stored beside the video. A cache hit of the same content reports the same voice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio

from agents.render import scenes
from agents.render.agent import RenderStep
from agents.render.pipeline import RenderConfig, Renderer
from connectors.artifacts.local import LocalArtifactStore
from connectors.browser.chromium import ChromiumRenderer
from connectors.media.ffmpeg import Ffmpeg
from connectors.tts.chain import FallbackTts
from connectors.tts.espeak import EspeakTts
from connectors.tts.google import GoogleCloudTts
from factory.config import theme_from_settings
from schemas.records import RenderCompleted
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde, subject_for
from streams.settings import Settings
from tests.drafts import drafted
from tests.factories import problem_event
from tests.fakes.google_tts import FakeGoogleTts, build_app
from tests.servers import serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

KEY = "google-test-key-secret-0123"
ENGLISH = 40  # en-hist-001 in the sample bank: espeak-ng speaks English intelligibly


@pytest.fixture(scope="module")
def google() -> Iterator[tuple[str, FakeGoogleTts]]:
    fake = FakeGoogleTts(api_key=KEY)
    with serve_in_thread(build_app(fake), health_path="/health", name="fake Google TTS") as url:
        yield url, fake


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[ChromiumRenderer]:
    renderer = ChromiumRenderer(asset_origin=scenes.ASSET_ORIGIN)
    try:
        yield renderer
    finally:
        await renderer.close()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def chain(google: tuple[str, FakeGoogleTts]) -> AsyncIterator[FallbackTts]:
    voices = FallbackTts([GoogleCloudTts(KEY, google[0], timeout_s=10), EspeakTts()])
    yield voices
    await voices.close()


def renderer_for(browser: ChromiumRenderer, tts: FallbackTts, root: Path) -> Renderer:
    (root / "work").mkdir(parents=True, exist_ok=True)
    return Renderer(
        browser=browser,
        media=Ffmpeg(),
        tts=tts,
        store=LocalArtifactStore(root / "store"),
        theme=theme_from_settings(Settings()),
        config=RenderConfig(workdir=root / "work"),
    )


async def completed_by(step: RenderStep, script: dict[str, Any]) -> RenderCompleted:
    (emit,) = await step(script)  # type: ignore[arg-type]
    assert emit.topic == "renders.completed"
    return cast(RenderCompleted, emit.record)


async def test_a_failed_provider_is_named_on_the_event_with_its_reason(
    browser: ChromiumRenderer,
    chain: FallbackTts,
    google: tuple[str, FakeGoogleTts],
    tmp_path: Path,
) -> None:
    fake = google[1]
    fake.reset()
    fake.fail_next.append(503)  # Google is down for the one request the render makes
    renderer = renderer_for(browser, chain, tmp_path)
    step = RenderStep(renderer)
    script = dict(drafted(problem_event(ENGLISH), k=1)[0])

    completed = await completed_by(step, script)

    assert not completed["cache_hit"]
    assert completed["voice"] == "espeak-ng"
    reason = completed["voice_fallback_reason"]
    assert reason is not None
    assert reason.startswith("google-cloud-tts: Google TTS answered HTTP 503"), reason
    assert "scripted failure 503" in reason  # the server's own words
    assert KEY not in reason
    assert fake.fail_next == []  # Google was asked (and failed) before espeak spoke

    # The caption files the publisher uploads are named on the event, beside the video.
    store = renderer.store
    assert completed["caption_srt_key"].endswith("/short.srt")
    assert completed["caption_vtt_key"].endswith("/short.vtt")
    folder = completed["artifact_key"].rsplit("/", 1)[0]
    assert completed["caption_srt_key"].rsplit("/", 1)[0] == folder
    srt = (await store.get_bytes(completed["caption_srt_key"])).decode()
    vtt = (await store.get_bytes(completed["caption_vtt_key"])).decode()
    assert srt.startswith("1\n00:00:")
    assert vtt.startswith("WEBVTT\n")

    # The record is what the topic accepts (the v3 contract), reason and keys included.
    serde = AvroSerde(InMemorySchemaRegistry())
    subject = subject_for("renders.completed")
    await serde.prepare([(subject, "RenderCompleted")])
    data = serde.encode(subject, "RenderCompleted", completed)
    decoded = await serde.decode(data, expected="RenderCompleted")
    assert decoded.record["voice_fallback_reason"] == reason
    assert decoded.record["caption_vtt_key"] == completed["caption_vtt_key"]

    # Google is back, but the same content is a cache hit: its audio is espeak's, and the
    # event says so (the manifest kept who spoke and why).
    again = await completed_by(step, {**script, "script_id": "another-script"})
    assert again["cache_hit"]
    assert (again["voice"], again["voice_fallback_reason"]) == ("espeak-ng", reason)
    assert (again["caption_srt_key"], again["caption_vtt_key"]) == (
        completed["caption_srt_key"],
        completed["caption_vtt_key"],
    )
    assert len(fake.requests) == 0  # nothing was spoken for the cache hit
