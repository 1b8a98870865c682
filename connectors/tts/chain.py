"""Voices tried in order: a production provider, then the next, then the offline default.

A provider that fails (unreachable, overloaded, a refused key, a language it lacks) is skipped
and the reason is kept: the render event records which voice spoke and why the ones before it
did not, so a silent switch to the offline voice shows up on the dashboard instead of in the
viewers' comments. Only the last voice's error propagates (and decides retry vs dead letter).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from streams.ports.tts import Speech, TextToSpeech, TtsRejectedError, TtsUnavailableError

log = logging.getLogger(__name__)
_ERRORS = (TtsUnavailableError, TtsRejectedError)


class FallbackTts:
    def __init__(self, voices: Sequence[TextToSpeech]) -> None:
        if not voices:
            raise ValueError("a fallback chain needs at least one voice")
        self.voices = list(voices)
        self.name = ">".join(v.name for v in self.voices)

    @property
    def fingerprint(self) -> str:
        return ">".join(str(getattr(v, "fingerprint", v.name)) for v in self.voices)

    def __repr__(self) -> str:
        return f"FallbackTts({self.voices!r})"

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        reasons: list[str] = []
        for voice in self.voices[:-1]:
            try:
                speech = await voice.synthesize(phrases, language)
            except _ERRORS as exc:
                reasons.append(f"{voice.name}: {exc}"[:300])
                log.warning("voice %s failed, trying the next: %s", voice.name, exc)
                continue
            return _with(speech, voice.name, reasons)
        last = self.voices[-1]
        return _with(await last.synthesize(phrases, language), last.name, reasons)

    async def check(self) -> None:
        # The chain can speak when its last voice can (the others may be down: that is what
        # the chain is for).
        await self.voices[-1].check()

    async def close(self) -> None:
        for voice in self.voices:
            await voice.close()


def _with(speech: Speech, name: str, reasons: Sequence[str]) -> Speech:
    fallback = "; ".join([*reasons, speech.fallback] if speech.fallback else reasons)
    return replace(speech, voice=speech.voice or name, fallback=fallback)
