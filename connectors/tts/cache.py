"""Synthesised phrases cached on disk by content hash.

A narration repeats much from short to short (hooks, calls to action, "the answer is ..."), and
a retried or re-rendered script repeats all of it; the neural voices cost real CPU and the
cloud voices real money. The key of a phrase is the SHA-256 of the voice's fingerprint, the
language and the phrase, so a changed voice or model never serves stale audio. Misses are
spoken in one call to the wrapped engine and cut at its phrase spans; hits and misses are then
joined again with the wrapped engine's own pause, so timings stay exact either way.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.ports.tts import (
    SAMPLE_WIDTH,
    Pcm,
    PhraseTiming,
    Speech,
    TextToSpeech,
    TtsOutputError,
    WordTiming,
    read_pcm,
    validate_phrases,
    write_wav,
)


@dataclass(frozen=True)
class Piece:
    """One phrase's audio and its words, timed from the piece's own start."""

    pcm: Pcm
    words: tuple[tuple[str, float, float], ...]
    voice: str


class CachedTts:
    """Wraps ``inner``; ``pause_s`` is the silence put back between phrases."""

    def __init__(self, inner: TextToSpeech, directory: Path, *, pause_s: float = 0.2) -> None:
        self.inner = inner
        self.name = inner.name
        self._dir = directory
        self._pause_s = pause_s
        self.hits = 0
        self.misses = 0

    @property
    def fingerprint(self) -> str:
        return str(getattr(self.inner, "fingerprint", self.inner.name))

    def __repr__(self) -> str:
        return f"CachedTts({self.inner!r}, {str(self._dir)!r})"

    def key(self, phrase: str, language: str) -> str:
        blob = json.dumps([self.fingerprint, language, phrase], ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        texts = validate_phrases(phrases)
        keys = [self.key(text, language) for text in texts]
        pieces: dict[str, Piece] = {}
        for key in dict.fromkeys(keys):
            found = self._load(key)
            if found is not None:
                pieces[key] = found
        missing = [i for i, key in enumerate(keys) if key not in pieces]
        # ``fallback`` is only known when something was spoken now.
        fallback = ""
        if missing:
            wanted = list(dict.fromkeys(texts[i] for i in missing))
            speech = await self.inner.synthesize(wanted, language)
            fallback = speech.fallback
            for text, piece in zip(wanted, cut(speech), strict=True):
                key = self.key(text, language)
                pieces[key] = piece
                self._store(key, piece)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return join_pieces(texts, [pieces[k] for k in keys], self._pause_s, fallback)

    async def check(self) -> None:
        await self.inner.check()

    async def close(self) -> None:
        await self.inner.close()

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self._dir / key[:2]
        return folder / f"{key}.wav", folder / f"{key}.json"

    def _load(self, key: str) -> Piece | None:
        wav, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text("utf-8"))
            pcm = read_pcm(wav.read_bytes())
        except (OSError, ValueError, TtsOutputError):
            return None  # absent or half-written: speak it again
        words = tuple((str(w), float(a), float(b)) for w, a, b in info["words"])
        return Piece(pcm, words, str(info.get("voice", "")))

    def _store(self, key: str, piece: Piece) -> None:
        wav, meta = self._paths(key)
        wav.parent.mkdir(parents=True, exist_ok=True)
        for path, data in (
            (wav, write_wav(piece.pcm)),
            (meta, json.dumps({"words": piece.words, "voice": piece.voice}).encode()),
        ):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # readers see a whole file or none


def cut(speech: Speech) -> list[Piece]:
    """One piece per phrase of ``speech``, cut at its phrase spans."""
    pcm = read_pcm(speech.wav)
    rate = pcm.sample_rate
    out = []
    for index, phrase in enumerate(speech.phrases):
        a = min(round(phrase.start * rate), pcm.frames)
        b = min(max(round(phrase.end * rate), a), pcm.frames)
        samples = pcm.samples[a * SAMPLE_WIDTH : b * SAMPLE_WIDTH]
        words = tuple(
            (w.text, max(0.0, w.start - a / rate), max(0.0, w.end - a / rate))
            for w in speech.words
            if w.phrase == index
        )
        out.append(Piece(Pcm(samples, rate), words, speech.voice or ""))
    return out


def join_pieces(
    texts: Sequence[str], pieces: Sequence[Piece], pause_s: float, fallback: str = ""
) -> Speech:
    rate = pieces[0].pcm.sample_rate
    if any(p.pcm.sample_rate != rate for p in pieces):
        raise TtsOutputError("cached phrases of one narration have different sample rates")
    gap = b"\0" * (round(pause_s * rate) * SAMPLE_WIDTH)
    chunks: list[bytes] = []
    phrases: list[PhraseTiming] = []
    words: list[WordTiming] = []
    offset = 0
    complete = all(p.words for p in pieces)
    for index, (text, piece) in enumerate(zip(texts, pieces, strict=True)):
        if index:
            chunks.append(gap)
            offset += len(gap) // SAMPLE_WIDTH
        start = offset / rate
        chunks.append(piece.pcm.samples)
        offset += piece.pcm.frames
        phrases.append(PhraseTiming(text, start, offset / rate))
        if complete:
            words += [WordTiming(w, start + a, start + b, index) for w, a, b in piece.words]
    voices = list(dict.fromkeys(p.voice for p in pieces if p.voice))
    return Speech(
        write_wav(Pcm(b"".join(chunks), rate)),
        rate,
        offset / rate,
        tuple(phrases),
        tuple(words),
        voice="+".join(voices),
        fallback=fallback,
    )
