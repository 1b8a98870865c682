"""The espeak-ng adapter against the real Debian binary, plus the contract every TTS adapter
passes (``TtsContract``, subclassed once per adapter)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import wave
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path

import pytest

from connectors.tts.espeak import EspeakTts
from streams.errors import FatalError, RetriableError
from streams.ports.tts import (
    Speech,
    TextToSpeech,
    TtsTimeoutError,
    TtsUnavailableError,
    read_pcm,
)

pytestmark = pytest.mark.integration

PHRASES = {
    "ko": ["훈민정음을 창제한 조선의 왕은 누구일까요?", "세종대왕", "정답은 댓글로!"],
    "en": ["Which king created the Korean alphabet?", "King Sejong", "Comment your answer!"],
}
SHORT = {"ko": "네", "en": "Yes"}
LONG = {
    "ko": "세종대왕은 1443년에 훈민정음을 창제했고, 1446년에 이를 반포했습니다.",
    "en": "King Sejong created the alphabet in 1443 and proclaimed it three years later.",
}


def parse(speech: Speech) -> tuple[wave._wave_params, bytes]:
    with wave.open(io.BytesIO(speech.wav)) as wav:
        params = wav.getparams()
        return params, wav.readframes(params.nframes)


class TtsContract:
    """What every ``TextToSpeech`` adapter guarantees; subclasses provide the ``tts`` fixture."""

    @pytest.mark.parametrize("language", ["ko", "en"])
    async def test_speaks_phrases_as_one_valid_wav(self, tts: TextToSpeech, language: str) -> None:
        speech = await tts.synthesize(PHRASES[language], language)

        params, frames = parse(speech)
        assert (params.nchannels, params.sampwidth) == (1, 2)
        assert params.framerate == speech.sample_rate
        assert len(frames) == 2 * params.nframes
        assert abs(params.nframes / params.framerate - speech.duration) < 1e-3
        assert any(frames[i] for i in range(0, len(frames), 97)), "the audio is all silence"
        assert [timing.text for timing in speech.phrases] == PHRASES[language]

    @pytest.mark.parametrize("language", ["ko", "en"])
    async def test_timings_are_ordered_non_overlapping_and_inside_the_audio(
        self, tts: TextToSpeech, language: str
    ) -> None:
        speech = await tts.synthesize(PHRASES[language], language)

        timings = speech.phrases
        assert timings[0].start >= 0
        assert timings[-1].end <= speech.duration + 1e-3
        for timing in timings:
            assert timing.end - timing.start > 0.1, timing
        for before, after in pairwise(timings):
            assert before.start < after.start
            assert before.end <= after.start

    @pytest.mark.parametrize("language", ["ko", "en"])
    async def test_a_long_phrase_lasts_longer_than_a_short_one(
        self, tts: TextToSpeech, language: str
    ) -> None:
        speech = await tts.synthesize([SHORT[language], LONG[language]], language)

        short, long = speech.phrases
        assert long.end - long.start > 3 * (short.end - short.start)

    async def test_a_phrase_starting_with_a_dash_is_spoken_not_parsed(
        self, tts: TextToSpeech
    ) -> None:
        speech = await tts.synthesize(["--help", "-v xx --version me"], "en")

        help_span, version_span = speech.phrases
        assert help_span.text == "--help"
        assert help_span.end - help_span.start > 0.2
        # Four spoken words last longer than espeak's one-line usage would take to be "read".
        assert version_span.end - version_span.start > help_span.end - help_span.start

    async def test_an_unsupported_language_is_fatal(self, tts: TextToSpeech) -> None:
        with pytest.raises(FatalError, match="fr"):
            await tts.synthesize(["Bonjour"], "fr")

    async def test_no_phrases_is_fatal(self, tts: TextToSpeech) -> None:
        with pytest.raises(FatalError):
            await tts.synthesize([], "en")
        with pytest.raises(FatalError):
            await tts.synthesize(["fine", "  "], "en")

    async def test_check_passes(self, tts: TextToSpeech) -> None:
        await tts.check()


class TestEspeakContract(TtsContract):
    @pytest.fixture
    async def tts(self) -> AsyncIterator[TextToSpeech]:
        engine = EspeakTts()
        yield engine
        await engine.close()


@pytest.mark.parametrize("language", ["ko", "en"])
async def test_duration_is_the_phrases_plus_the_pauses(language: str) -> None:
    pause = 0.25
    speech = await EspeakTts(pause_s=pause).synthesize(PHRASES[language], language)

    spoken = sum(timing.end - timing.start for timing in speech.phrases)
    gaps = len(speech.phrases) - 1
    assert abs(speech.duration - (spoken + gaps * pause)) < 1e-3
    for before, after in pairwise(speech.phrases):
        assert abs(after.start - before.end - pause) < 1e-3


async def test_trailing_silence_is_trimmed_so_the_pause_is_the_gap() -> None:
    trimmed = await EspeakTts().synthesize(["King Sejong"], "en")
    untrimmed = await EspeakTts(trim_silence=False).synthesize(["King Sejong"], "en")

    # espeak-ng appends about a third of a second of silence to every utterance.
    assert untrimmed.duration - trimmed.duration > 0.2


def test_streamed_espeak_wav_has_a_bogus_size_that_read_pcm_survives() -> None:
    raw = subprocess.run(
        ["espeak-ng", "--stdout", "--stdin", "-v", "en-us"],
        input=b"hello",
        capture_output=True,
        check=True,
    ).stdout

    declared = int.from_bytes(raw[40:44], "little")
    assert declared > len(raw), "espeak-ng now writes true sizes: the workaround is moot"
    pcm = read_pcm(raw)
    assert pcm.sample_rate == 22050
    assert pcm.frames == (len(raw) - 44) // 2


def fake_engine(tmp_path: Path, script: str) -> str:
    path = tmp_path / "espeak-ng"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_an_engine_killed_by_a_signal_is_retriable(tmp_path: Path) -> None:
    engine = EspeakTts(executable=fake_engine(tmp_path, "kill -KILL $$"))

    with pytest.raises(RetriableError, match="signal 9"):
        await engine.synthesize(["hello"], "en")


async def test_a_hung_engine_times_out_retriably_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    engine = EspeakTts(
        timeout_s=0.3, executable=fake_engine(tmp_path, f"echo $$ > {pid_file}; exec sleep 60")
    )

    with pytest.raises(TtsTimeoutError):
        await engine.synthesize(["hello"], "en")

    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_a_missing_binary_is_retriable_and_fails_the_check(tmp_path: Path) -> None:
    engine = EspeakTts(executable=str(tmp_path / "no-such-espeak"))

    with pytest.raises(TtsUnavailableError):
        await engine.synthesize(["hello"], "en")
    with pytest.raises(TtsUnavailableError):
        await engine.check()


async def test_a_misconfigured_voice_fails_the_check() -> None:
    # Not "no-such-voice": espeak-ng resolves that to Norwegian ("no") and speaks happily.
    engine = EspeakTts(voices={"en": "zz-unknown"})

    with pytest.raises(TtsUnavailableError, match="exited with"):
        await engine.check()
