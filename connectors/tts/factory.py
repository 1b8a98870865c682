"""Pick the text-to-speech adapter named in the settings."""

from __future__ import annotations

from streams.ports.tts import TextToSpeech

ENGINES = ("espeak", "google")
# Google's speakingRate 1.0 is its voices' natural pace, roughly this many words per minute;
# the ratio keeps one ``rate_wpm`` setting meaningful for both engines.
GOOGLE_NATURAL_WPM = 165


def open_tts(
    kind: str = "espeak", *, api_key: str | None, base_url: str | None, rate_wpm: int
) -> TextToSpeech:
    """The adapter ``kind``; ``ValueError`` for an unknown kind or a missing Google API key."""
    if kind == "espeak":
        from connectors.tts.espeak import EspeakTts

        return EspeakTts(rate_wpm=rate_wpm)
    if kind == "google":
        if not api_key:
            raise ValueError(
                "the google TTS engine needs an API key (Google Cloud Text-to-Speech API key); "
                "set one or choose the espeak engine"
            )
        from connectors.tts.google import GoogleCloudTts

        return GoogleCloudTts(
            api_key,
            base_url or "https://texttospeech.googleapis.com",
            speaking_rate=rate_wpm / GOOGLE_NATURAL_WPM,
        )
    raise ValueError(f"unknown TTS engine {kind!r}; choose one of {', '.join(ENGINES)}")
