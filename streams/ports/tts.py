"""The text-to-speech port, its errors, and the 16-bit PCM WAV handling both adapters share.

A narration is spoken as one audio file with the span of every phrase and, where the voice can
tell (phoneme alignments, word marks), of every word: captions highlight the word being spoken,
so timings are part of the contract, not an estimate.
"""

from __future__ import annotations

import io
import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from streams.errors import FatalError, RetriableError

SAMPLE_WIDTH = 2  # bytes: the port speaks 16-bit PCM only
# The engines a voice chain (``MUNJERO_TTS``) may name; connectors/tts/factory.py builds them.
ENGINES = ("offline", "espeak", "google", "azure")


def parse_chain(text: str) -> tuple[str, ...]:
    """The engines of a comma-separated chain, in order; ``ValueError`` for an unknown or
    repeated engine or an empty chain."""
    chain = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in chain if name not in ENGINES]
    if not chain or unknown:
        raise ValueError(
            f"unknown TTS engine(s) {unknown or [text]}; choose from {', '.join(ENGINES)}"
        )
    if len(set(chain)) != len(chain):
        raise ValueError(f"a TTS chain names each engine once, got {text!r}")
    return chain


def tts_chain_setting(text: str) -> str:
    """A chain setting in its normal form ("google, offline" -> "google,offline")."""
    return ",".join(parse_chain(text))


class TtsUnavailableError(RetriableError):
    """The engine could not speak now (crashed, killed, overloaded, unreachable)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TtsTimeoutError(TtsUnavailableError):
    """The engine did not finish within the adapter's timeout."""


class TtsRejectedError(FatalError):
    """The request can never be spoken as given (unsupported language, no phrases, HTTP 4xx)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TtsOutputError(FatalError):
    """The engine answered with audio or timings that break the port's contract."""


@dataclass(frozen=True)
class PhraseTiming:
    """Where one phrase is heard, in seconds from the start of the audio."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class WordTiming:
    """Where one word of phrase ``phrase`` is heard, in seconds from the start of the audio.

    Words are the whitespace-separated tokens of the phrase as it was given, in order.
    """

    text: str
    start: float
    end: float
    phrase: int


@dataclass(frozen=True)
class Speech:
    """One utterance: a complete 16-bit PCM mono WAV file and the span of each phrase in it.

    ``words`` is empty when the voice reports no word times (espeak-ng, plain REST voices);
    otherwise it holds every word of every phrase. ``voice`` names who spoke and ``fallback``
    why the voices before it did not (a provider chain records it for the render event).
    """

    wav: bytes
    sample_rate: int
    duration: float
    phrases: tuple[PhraseTiming, ...]
    words: tuple[WordTiming, ...] = ()
    voice: str = ""
    fallback: str = ""


class TextToSpeech(Protocol):
    """A speech engine that narrates a list of phrases as one audio file."""

    name: str

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        """Speak ``phrases`` in order as one utterance, with each phrase's exact span.

        ``language`` is ``"ko"`` or ``"en"``. Raises ``TtsRejectedError`` (fatal) for input
        that can never be spoken and ``TtsUnavailableError`` (retriable) for transient failures.
        """
        ...

    async def check(self) -> None:
        """Return if the engine can speak every configured language; raise otherwise."""
        ...

    async def close(self) -> None:
        """Release processes and connections; the adapter is unusable afterwards."""
        ...


def validate_phrases(phrases: Sequence[str]) -> tuple[str, ...]:
    """The phrases as a tuple; ``TtsRejectedError`` if there are none or one is blank."""
    if isinstance(phrases, str):
        # A bare string is a sequence of characters: speaking it letter by letter is a bug.
        raise TtsRejectedError("phrases must be a sequence of strings, not one string")
    checked = tuple(phrases)
    if not checked:
        raise TtsRejectedError("nothing to speak: the phrase list is empty")
    for index, phrase in enumerate(checked):
        if not phrase.strip():
            # A blank phrase would get a zero-length caption span, which no renderer can show.
            raise TtsRejectedError(f"phrase {index} is blank")
    return checked


@dataclass(frozen=True)
class Pcm:
    """Mono 16-bit little-endian samples at ``sample_rate``."""

    samples: bytes
    sample_rate: int

    @property
    def frames(self) -> int:
        return len(self.samples) // SAMPLE_WIDTH


def read_pcm(data: bytes) -> Pcm:
    """The samples of a mono 16-bit PCM WAV file.

    The chunks are walked by hand rather than with ``wave`` because streaming writers (espeak-ng
    on stdout) cannot seek back to patch the sizes and leave ~0x7fffffff placeholders: a data
    size past the end of the bytes means "up to the end".
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise TtsOutputError(f"not a RIFF/WAVE file ({len(data)} bytes)")
    position = 12
    sample_rate: int | None = None
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        body = position + 8
        if chunk_id == b"fmt ":
            sample_rate = _check_format(data[body : body + size])
        elif chunk_id == b"data":
            if sample_rate is None:
                raise TtsOutputError("WAV data chunk before its fmt chunk")
            samples = data[body : min(body + size, len(data))]
            # A stream cut mid-sample leaves an odd byte that would shift every later sample.
            samples = samples[: len(samples) - len(samples) % SAMPLE_WIDTH]
            return Pcm(samples, sample_rate)
        position = body + size + (size & 1)  # RIFF chunks are padded to even sizes
    raise TtsOutputError("WAV file without a data chunk")


def _check_format(fmt: bytes) -> int:
    if len(fmt) < 16:
        raise TtsOutputError("truncated WAV fmt chunk")
    encoding, channels, sample_rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if encoding != 1 or channels != 1 or bits != 8 * SAMPLE_WIDTH or sample_rate <= 0:
        raise TtsOutputError(
            f"expected mono 16-bit PCM, got encoding={encoding} channels={channels} "
            f"bits={bits} rate={sample_rate}"
        )
    return int(sample_rate)


def write_wav(pcm: Pcm) -> bytes:
    """A complete WAV file (correct sizes) holding ``pcm``."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(pcm.sample_rate)
        out.writeframes(pcm.samples)
    return buffer.getvalue()
