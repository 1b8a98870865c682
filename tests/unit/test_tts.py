"""Pure parts of the TTS connectors: SSML building, mark timings, WAV parsing, phrase joining,
the engine chain and its settings, the phrase cache."""

from __future__ import annotations

import io
import struct
import wave
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pydantic
import pytest

from connectors.tts.cache import CachedTts
from connectors.tts.chain import FallbackTts
from connectors.tts.espeak import EspeakTts, join_phrases, trim_silence
from connectors.tts.factory import TtsConfig, open_tts
from connectors.tts.google import GoogleCloudTts, build_ssml, phrase_timings
from connectors.tts.neural import NeuralTts
from factory.config import tts_config
from streams.errors import FatalError
from streams.ports.tts import (
    Pcm,
    PhraseTiming,
    Speech,
    TtsOutputError,
    TtsRejectedError,
    TtsUnavailableError,
    WordTiming,
    parse_chain,
    read_pcm,
    validate_phrases,
    write_wav,
)
from streams.settings import Settings


def samples(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


def riff(*chunks: tuple[bytes, bytes], rate: int = 22050) -> bytes:
    """A WAV header as a streaming writer leaves it, up to (excluding) the data chunk."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"".join(
        name + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)
        for name, data in chunks
    )
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt
    return b"RIFF" + struct.pack("<I", 0x7FFFFFFF) + body


# ---- SSML --------------------------------------------------------------------------------


def spoken_segments(ssml: str) -> list[tuple[str | None, str]]:
    root = ET.fromstring(ssml)
    assert root.tag == "speak"
    return [(None, root.text or "")] + [(c.attrib["name"], c.tail or "") for c in root]


def test_ssml_has_a_mark_before_every_phrase_and_one_at_the_end() -> None:
    segments = spoken_segments(build_ssml(["Hello", "세종대왕"]))

    assert [mark for mark, _ in segments] == [None, "p0", "p1", "end"]
    assert [text.strip() for _, text in segments] == ["", "Hello", "세종대왕", ""]


def test_ssml_markup_in_a_phrase_stays_text() -> None:
    hostile = '</speak><mark name="p1"/>& <audio src="http://x"/> &amp;'

    segments = spoken_segments(build_ssml([hostile, "next"]))

    assert [mark for mark, _ in segments] == [None, "p0", "p1", "end"]
    assert segments[1][1].strip() == hostile


def test_characters_xml_forbids_are_replaced_not_sent() -> None:
    segments = spoken_segments(build_ssml(["bell\x07and\x00nul"]))

    assert segments[1][1].strip() == "bell and nul"


# ---- mark timings -------------------------------------------------------------------------


def test_phrase_i_spans_its_mark_to_the_next_and_the_last_to_end() -> None:
    timings = phrase_timings(["a", "b"], {"p0": 0.0, "p1": 1.25, "end": 2.0}, duration=2.1)

    assert [(t.text, t.start, t.end) for t in timings] == [("a", 0.0, 1.25), ("b", 1.25, 2.0)]


def test_without_an_end_mark_the_last_phrase_runs_to_the_end_of_the_audio() -> None:
    timings = phrase_timings(["a", "b"], {"p0": 0.0, "p1": 1.0}, duration=1.5)

    assert timings[-1].end == 1.5


@pytest.mark.parametrize(
    "timepoints",
    [{"p0": 0.0}, {"p0": 1.0, "p1": 0.5}, {"p0": 0.0, "p1": 9.0}, {"p1": 0.5, "end": 1.0}],
)
def test_missing_or_impossible_marks_are_fatal(timepoints: dict[str, float]) -> None:
    with pytest.raises(TtsOutputError) as info:
        phrase_timings(["a", "b"], timepoints, duration=1.5)

    assert isinstance(info.value, FatalError)


def fmt_only(*, encoding: int = 1, channels: int = 1, bits: int = 16) -> bytes:
    fmt = struct.pack("<HHIIHH", encoding, channels, 8000, 8000 * channels * bits // 8, 4, bits)
    return b"RIFFxxxxWAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data\0\0\0\0"


# ---- WAV ----------------------------------------------------------------------------------


def test_a_streamed_header_with_placeholder_sizes_reads_to_the_end() -> None:
    data = riff() + b"data" + struct.pack("<I", 0x7FFFF000) + samples(1, -2, 3)

    pcm = read_pcm(data)

    assert (pcm.samples, pcm.sample_rate, pcm.frames) == (samples(1, -2, 3), 22050, 3)


def test_a_sample_cut_in_half_is_dropped() -> None:
    data = riff() + b"data" + struct.pack("<I", 0x7FFFF000) + samples(7, 8) + b"\x01"

    assert read_pcm(data).samples == samples(7, 8)


def test_a_true_size_stops_before_trailing_chunks() -> None:
    body = samples(5, 6, 7)
    data = riff(rate=24000) + b"data" + struct.pack("<I", len(body)) + body + b"LIST\x02\0\0\0xx"

    assert read_pcm(data) == Pcm(body, 24000)


def test_odd_sized_chunks_before_the_data_are_skipped_with_their_padding() -> None:
    data = riff((b"LIST", b"abc"), (b"junk", b"")) + b"data" + struct.pack("<I", 2) + samples(9)

    assert read_pcm(data).samples == samples(9)


def test_a_file_written_by_write_wav_round_trips_through_wave() -> None:
    pcm = Pcm(samples(0, 100, -100, 32767, -32768), 24000)

    data = write_wav(pcm)

    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 24000)
        assert wav.readframes(wav.getnframes()) == pcm.samples
    assert read_pcm(data) == pcm


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"ID3\x04" + b"\0" * 40,
        b"RIFF\0\0\0\0WAVEdata\x02\0\0\0\0\0",  # data before fmt
        fmt_only(channels=2, bits=16),
        fmt_only(encoding=3, bits=32),
    ],
    ids=["empty", "mp3", "data-first", "stereo", "float"],
)
def test_anything_but_mono_16_bit_pcm_wav_is_refused(data: bytes) -> None:
    with pytest.raises(TtsOutputError):
        read_pcm(data)


# ---- joining and trimming -----------------------------------------------------------------


def test_phrases_are_joined_with_exact_pauses() -> None:
    rate = 1000
    pieces = [Pcm(samples(*[1] * 300), rate), Pcm(samples(*[2] * 500), rate)]

    speech = join_phrases(["a", "b"], pieces, pause_s=0.1)

    assert [(t.start, t.end) for t in speech.phrases] == [(0.0, 0.3), (0.4, 0.9)]
    assert speech.duration == 0.9
    pcm = read_pcm(speech.wav)
    assert pcm.samples[600:800] == b"\0" * 200
    assert pcm.frames == 900


def test_pieces_at_different_rates_cannot_be_joined() -> None:
    with pytest.raises(TtsOutputError):
        join_phrases(["a", "b"], [Pcm(samples(1), 1000), Pcm(samples(1), 2000)], 0.1)


def test_silence_is_trimmed_to_a_margin_around_the_voiced_part() -> None:
    pcm = Pcm(samples(*[0] * 50, 3, 500, -900, 2, *[10] * 50), 1000)

    trimmed = trim_silence(pcm, level=64, margin_s=0.002)

    assert trimmed.samples == samples(0, 3, 500, -900, 2, 10)
    assert trim_silence(Pcm(samples(5, -5), 1000)).samples == b""


# ---- phrases and factory ------------------------------------------------------------------


@pytest.mark.parametrize("phrases", [[], ["ok", " \n"], "a bare string"])
def test_unspeakable_phrase_lists_are_rejected(phrases: list[str] | str) -> None:
    with pytest.raises(TtsRejectedError):
        validate_phrases(phrases)


async def test_the_factory_opens_the_offline_voices_by_default_and_a_chain_when_asked(
    tmp_path: Path,
) -> None:
    offline = open_tts(TtsConfig())
    chain = open_tts(
        TtsConfig(
            chain=("google", "espeak"),
            google_key="k",
            google_url="http://127.0.0.1:1",
            cache_dir=tmp_path,
        )
    )
    try:
        assert isinstance(offline, NeuralTts)  # models load on first use, not here
        assert offline.name == "offline"
        assert isinstance(chain, FallbackTts)
        assert [type(v) for v in chain.voices] == [CachedTts, CachedTts]
        inner = [v.inner for v in chain.voices if isinstance(v, CachedTts)]
        assert [type(v) for v in inner] == [GoogleCloudTts, EspeakTts]
        assert "secret-key-7" not in repr(chain)
    finally:
        await offline.close()
        await chain.close()


@pytest.mark.parametrize(
    ("chain", "key"), [(("google",), None), (("google",), ""), (("azure", "offline"), "k")]
)
def test_the_factory_explains_what_is_missing(chain: tuple[str, ...], key: str | None) -> None:
    with pytest.raises(ValueError, match=r"API key|MUNJERO_TTS_AZURE_KEY"):
        open_tts(TtsConfig(chain=chain, google_key=key))


@pytest.mark.parametrize("text", ["polly", "", " , ", "offline,polly", "espeak,espeak"])
def test_a_chain_naming_an_unknown_engine_fails_at_settings_load(text: str) -> None:
    with pytest.raises(ValueError, match="TTS"):
        parse_chain(text)
    with pytest.raises(pydantic.ValidationError, match="TTS"):
        Settings(tts=text)


def test_the_chain_setting_is_normalised_and_offline_by_default() -> None:
    assert Settings().tts == "offline"
    assert Settings(tts=" google , offline ").tts == "google,offline"
    config = tts_config(Settings(tts="google,offline", tts_api_key="k", data_dir=Path("/d")))
    assert config.chain == ("google", "offline")
    assert config.google_key == "k"
    assert config.cache_dir == Path("/d/tts-cache")
    shared = tts_config(Settings(tts_cache_dir=Path("/c"), tts_model_dir=Path("/m")))
    assert (shared.cache_dir, shared.model_dir) == (Path("/c"), Path("/m"))


class ScriptedVoice:
    """A voice that fails with ``error`` or speaks one second of silence per phrase, with a
    word time for every word."""

    def __init__(self, name: str, error: Exception | None = None) -> None:
        self.name = name
        self.fingerprint = f"scripted:{name}"
        self.error = error
        self.calls: list[list[str]] = []

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        self.calls.append(list(phrases))
        if self.error is not None:
            raise self.error
        rate = 8000
        timings, words = [], []
        for index, phrase in enumerate(phrases):
            timings.append(PhraseTiming(phrase, float(index), index + 1.0))
            tokens = phrase.split()
            for k, word in enumerate(tokens):
                a = index + k / len(tokens)
                words.append(WordTiming(word, a, a + 1 / len(tokens), index))
        pcm = Pcm(b"\0\0" * rate * len(phrases), rate)
        return Speech(write_wav(pcm), rate, float(len(phrases)), tuple(timings), tuple(words))

    async def check(self) -> None:
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        pass


async def test_a_failing_provider_hands_over_and_the_reason_is_kept() -> None:
    down = ScriptedVoice("google", TtsUnavailableError("HTTP 503 from google"))
    refused = ScriptedVoice("azure", TtsRejectedError("no voice for ko"))
    offline = ScriptedVoice("offline")
    speech = await FallbackTts([down, refused, offline]).synthesize(["하나 둘"], "ko")
    assert speech.voice == "offline"
    assert "google: HTTP 503 from google" in speech.fallback
    assert "azure: no voice for ko" in speech.fallback
    assert len(down.calls) == len(refused.calls) == len(offline.calls) == 1


async def test_the_last_voice_error_decides_retry_or_dead_letter() -> None:
    chain = FallbackTts(
        [ScriptedVoice("a", TtsRejectedError("x")), ScriptedVoice("b", TtsUnavailableError("y"))]
    )
    with pytest.raises(TtsUnavailableError, match="y"):
        await chain.synthesize(["one"], "en")


async def test_a_cached_phrase_is_not_spoken_again_and_timings_stay_exact(
    tmp_path: Path,
) -> None:
    voice = ScriptedVoice("offline")
    cached = CachedTts(voice, tmp_path, pause_s=0.25)
    first = await cached.synthesize(["one two", "three"], "en")
    assert voice.calls == [["one two", "three"]]
    second = await CachedTts(voice, tmp_path, pause_s=0.25).synthesize(
        ["three", "four five", "one two"], "en"
    )
    assert voice.calls[-1] == ["four five"]  # only the new phrase was spoken
    assert [p.text for p in second.phrases] == ["three", "four five", "one two"]
    assert [round(p.start, 3) for p in second.phrases] == [0.0, 1.25, 2.5]
    assert second.duration == pytest.approx(3.5)
    assert [(w.text, round(w.start, 3), w.phrase) for w in second.words] == [
        ("three", 0.0, 0),
        ("four", 1.25, 1),
        ("five", 1.75, 1),
        ("one", 2.5, 2),
        ("two", 3.0, 2),
    ]
    assert first.phrases[1].start == pytest.approx(1.25)
    # Another language (or voice) is another key.
    await cached.synthesize(["three"], "ko")
    assert voice.calls[-1] == ["three"]
