"""Build the narration voice named in the settings: one engine, or a fallback chain of them.

``MUNJERO_TTS`` is a comma-separated chain tried in order, e.g. ``google,azure,offline``: a
provider that fails hands over to the next, and the reason is recorded on the render event.
``offline`` is the default chosen by measurement (docs/render.md): Piper for English, Kokoro fed
espeak-ng IPA for Korean. Every engine of a chain is wrapped in the phrase cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams.ports.tts import ENGINES, TextToSpeech, parse_chain

__all__ = ["ENGINES", "TtsConfig", "open_engine", "open_tts", "parse_chain"]
# Google's speakingRate 1.0 is its voices' natural pace, roughly this many words per minute;
# the ratio keeps one ``rate_wpm`` setting meaningful for every engine.
NATURAL_WPM = 165
# Measured (docs/render.md): Kokoro at 0.9 of its pace is the most intelligible Korean found.
KOKORO_SPEED = 0.9
KOKORO_STYLE = "jm_kumo"


@dataclass(frozen=True)
class TtsConfig:
    chain: tuple[str, ...] = ("offline",)
    rate_wpm: int = NATURAL_WPM
    google_key: str | None = None
    google_url: str | None = None
    azure_key: str | None = None
    azure_url: str | None = None
    cache_dir: Path | None = None
    model_dir: Path = Path(".munjero/models")


def open_engine(name: str, config: TtsConfig) -> TextToSpeech:
    """One engine; ``ValueError`` for an unknown name or a missing key."""
    rate = config.rate_wpm / NATURAL_WPM
    if name == "offline":
        return offline_voices(config.model_dir, rate=rate)
    if name == "espeak":
        from connectors.tts.espeak import EspeakTts

        return EspeakTts(rate_wpm=config.rate_wpm)
    if name == "google":
        if not config.google_key:
            raise ValueError(
                "the google TTS engine needs an API key (Google Cloud Text-to-Speech API key); "
                "set MUNJERO_TTS_API_KEY or leave google out of MUNJERO_TTS"
            )
        from connectors.tts.google import GoogleCloudTts

        return GoogleCloudTts(
            config.google_key,
            config.google_url or "https://texttospeech.googleapis.com",
            speaking_rate=rate,
        )
    if name == "azure":
        if not config.azure_key or not config.azure_url:
            raise ValueError(
                "the azure TTS engine needs MUNJERO_TTS_AZURE_KEY and MUNJERO_TTS_AZURE_URL "
                "(https://<region>.tts.speech.microsoft.com)"
            )
        from connectors.tts.azure import AzureTts

        return AzureTts(config.azure_key, config.azure_url, speaking_rate=rate)
    raise ValueError(f"unknown TTS engine {name!r}; choose one of {', '.join(ENGINES)}")


def offline_voices(model_dir: Path, *, rate: float = 1.0) -> TextToSpeech:
    """Piper (English) and Kokoro with espeak-ng IPA (Korean), loaded on first use."""
    from connectors.tts.kokoro_voice import KokoroVoice
    from connectors.tts.neural import NeuralTts
    from connectors.tts.piper_voice import PiperVoice

    return NeuralTts(
        {
            "en": lambda: PiperVoice(length_scale=1.0 / rate),
            "ko": lambda: KokoroVoice(model_dir, style=KOKORO_STYLE, speed=KOKORO_SPEED * rate),
        },
        name="offline",
        fingerprint=f"offline:piper-joe-medium:kokoro-{KOKORO_STYLE}@{KOKORO_SPEED * rate:.3f}",
    )


def open_tts(config: TtsConfig) -> TextToSpeech:
    """The chain of ``config``, each engine behind the phrase cache (when a directory is set)."""
    from connectors.tts.cache import CachedTts
    from connectors.tts.chain import FallbackTts

    engines = [open_engine(name, config) for name in config.chain]
    if config.cache_dir is not None:
        engines = [CachedTts(e, config.cache_dir) for e in engines]
    return engines[0] if len(engines) == 1 else FallbackTts(engines)
