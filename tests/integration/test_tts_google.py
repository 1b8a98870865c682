"""The Google Cloud TTS adapter against a local server speaking the v1beta1 protocol.

The fake server (``tests/fakes/google_tts.py``) really voices the SSML with espeak-ng, so the
adapter passes the same ``TtsContract`` as the espeak adapter, over real HTTP.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from itertools import pairwise

import pytest

from connectors.tts.google import GoogleCloudTts
from streams.errors import FatalError, RetriableError
from streams.ports.tts import TextToSpeech, TtsRejectedError, TtsUnavailableError
from tests.fakes.google_tts import FakeGoogleTts, build_app
from tests.integration.test_tts_espeak import TtsContract
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

KEY = "AIza-test-key"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeGoogleTts]]:
    fake = FakeGoogleTts(api_key=KEY)
    with serve_in_thread(build_app(fake), health_path="/health", name="fake Google TTS") as url:
        yield url, fake


@pytest.fixture
def google(server: tuple[str, FakeGoogleTts]) -> FakeGoogleTts:
    server[1].reset()
    return server[1]


@pytest.fixture
async def tts(
    server: tuple[str, FakeGoogleTts], google: FakeGoogleTts
) -> AsyncIterator[GoogleCloudTts]:
    engine = GoogleCloudTts(KEY, server[0], timeout_s=10)
    yield engine
    await engine.close()


class TestGoogleContract(TtsContract):
    @pytest.fixture
    async def tts(self, tts: GoogleCloudTts) -> TextToSpeech:
        return tts


async def test_marks_map_to_the_phrases_the_server_spoke(
    tts: GoogleCloudTts, google: FakeGoogleTts
) -> None:
    phrases = ["Which king created Hangul?", "King Sejong", "Comment your answer!"]

    speech = await tts.synthesize(phrases, "en")

    (request,) = google.requests
    assert request["voice"] == {"languageCode": "en-US"}
    assert request["audioConfig"]["sampleRateHertz"] == speech.sample_rate == 24000
    (segments,) = google.segments
    assert [mark for mark, _ in segments] == [None, "p0", "p1", "p2", "end"]
    assert [text.strip() for _, text in segments[1:4]] == phrases
    # Contiguous: each phrase ends where the next mark is reached, the last at "end".
    for before, after in pairwise(speech.phrases):
        assert before.end == after.start
    assert abs(speech.phrases[-1].end - speech.duration) < 1e-3


async def test_ssml_in_a_phrase_arrives_as_text(tts: GoogleCloudTts, google: FakeGoogleTts) -> None:
    hostile = '</speak><mark name="x"/>& <break time="10s"/>'

    speech = await tts.synthesize(["정답은?", hostile], "ko")

    (segments,) = google.segments
    assert [mark for mark, _ in segments] == [None, "p0", "p1", "end"]
    assert segments[2][1].strip() == hostile
    assert speech.phrases[1].text == hostile


async def test_a_configured_voice_name_is_sent(
    server: tuple[str, FakeGoogleTts], google: FakeGoogleTts
) -> None:
    engine = GoogleCloudTts(KEY, server[0], voice_names={"ko": "ko-KR-Standard-A"})
    try:
        await engine.synthesize(["안녕하세요"], "ko")
        await engine.check()
    finally:
        await engine.close()

    assert google.requests[0]["voice"] == {"languageCode": "ko-KR", "name": "ko-KR-Standard-A"}


async def test_an_unknown_voice_is_fatal_with_the_servers_message(
    server: tuple[str, FakeGoogleTts], google: FakeGoogleTts
) -> None:
    engine = GoogleCloudTts(KEY, server[0], voice_names={"en": "en-US-Nope"})
    try:
        with pytest.raises(TtsRejectedError, match="Voice 'en-US-Nope' does not exist") as info:
            await engine.synthesize(["hello"], "en")
        with pytest.raises(FatalError, match="en-US-Nope"):
            await engine.check()
    finally:
        await engine.close()

    assert info.value.status == 400


@pytest.mark.parametrize("key", ["wrong-key", "AIza-test-ke"])
async def test_a_wrong_key_is_fatal(
    server: tuple[str, FakeGoogleTts], google: FakeGoogleTts, key: str
) -> None:
    engine = GoogleCloudTts(key, server[0])
    try:
        with pytest.raises(FatalError, match="API key not valid") as info:
            await engine.synthesize(["hello"], "en")
        with pytest.raises(FatalError):
            await engine.check()
    finally:
        await engine.close()

    assert isinstance(info.value, TtsRejectedError)
    assert info.value.status == 403
    assert key not in str(info.value)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_overload_and_server_errors_are_retriable(
    tts: GoogleCloudTts, google: FakeGoogleTts, status: int
) -> None:
    google.fail_next.append(status)

    with pytest.raises(RetriableError, match=f"HTTP {status}: scripted failure") as info:
        await tts.synthesize(["hello"], "en")

    assert isinstance(info.value, TtsUnavailableError)
    assert info.value.status == status
    # The failure was one answer, not a broken client: the next call is spoken.
    assert (await tts.synthesize(["hello"], "en")).duration > 0


async def test_a_server_that_is_down_is_retriable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.
    engine = GoogleCloudTts(KEY, f"http://127.0.0.1:{port}", timeout_s=5)
    try:
        with pytest.raises(RetriableError, match="unreachable"):
            await engine.synthesize(["hello"], "en")
        with pytest.raises(RetriableError):
            await engine.check()
    finally:
        await engine.close()
