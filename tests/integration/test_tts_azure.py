"""The Azure AI Speech adapter against a local server speaking its REST protocol
(``tests/fakes/azure_tts.py``, voiced by espeak-ng), and a fallback chain over it: a provider
that fails hands over to the next voice and the reason is kept for the render event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from connectors.tts.azure import AzureTts
from connectors.tts.chain import FallbackTts
from connectors.tts.espeak import EspeakTts
from streams.ports.tts import TextToSpeech, TtsRejectedError, TtsUnavailableError
from tests.fakes.azure_tts import FakeAzureTts, build_app
from tests.integration.test_tts_espeak import TtsContract
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

KEY = "azure-test-key-0123"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeAzureTts]]:
    fake = FakeAzureTts(api_key=KEY)
    with serve_in_thread(build_app(fake), health_path="/health", name="fake Azure TTS") as url:
        yield url, fake


@pytest.fixture
def azure(server: tuple[str, FakeAzureTts]) -> FakeAzureTts:
    server[1].reset()
    return server[1]


@pytest.fixture
async def tts(server: tuple[str, FakeAzureTts], azure: FakeAzureTts) -> AsyncIterator[AzureTts]:
    engine = AzureTts(KEY, server[0], timeout_s=10)
    yield engine
    await engine.close()


class TestAzureContract(TtsContract):
    @pytest.fixture
    async def tts(self, tts: AzureTts) -> TextToSpeech:
        return tts


async def test_each_phrase_is_one_escaped_ssml_request_to_the_language_voice(
    tts: AzureTts, azure: FakeAzureTts
) -> None:
    hostile = "</voice><voice name='x'>& <break time='10s'/>"
    speech = await tts.synthesize(["정답은?", hostile], "ko")
    assert [p.text for p in speech.phrases] == ["정답은?", hostile]
    assert len(azure.ssml) == 2
    assert all('<voice name="ko-KR-SunHiNeural">' in s for s in azure.ssml)
    assert any("&lt;/voice&gt;" in s and "&amp;" in s for s in azure.ssml)
    assert speech.voice == "azure-speech"
    assert KEY not in repr(tts)


@pytest.mark.parametrize(
    ("status", "error"), [(503, TtsUnavailableError), (429, TtsUnavailableError),
                          (400, TtsRejectedError)],
)  # fmt: skip
async def test_server_errors_are_retriable_or_fatal(
    tts: AzureTts, azure: FakeAzureTts, status: int, error: type[Exception]
) -> None:
    azure.fail_next.append(status)
    with pytest.raises(error, match=str(status)):
        await tts.synthesize(["Hello"], "en")


async def test_a_wrong_key_is_fatal_and_check_says_so(server: tuple[str, FakeAzureTts]) -> None:
    engine = AzureTts("wrong-key", server[0], timeout_s=10)
    try:
        with pytest.raises(TtsRejectedError, match="401"):
            await engine.check()
    finally:
        await engine.close()


async def test_the_chain_falls_back_to_the_next_voice_and_records_why(
    tts: AzureTts, azure: FakeAzureTts
) -> None:
    azure.fail_next.append(503)
    chain = FallbackTts([tts, EspeakTts()])
    speech = await chain.synthesize(["Hello there"], "en")
    assert speech.voice == "espeak-ng"
    assert speech.fallback.startswith("azure-speech: Azure Speech answered HTTP 503")
    # Healthy again: the provider speaks and nothing is recorded.
    speech = await chain.synthesize(["Hello there"], "en")
    assert (speech.voice, speech.fallback) == ("azure-speech", "")
