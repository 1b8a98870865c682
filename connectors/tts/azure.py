"""``TextToSpeech`` over the Azure AI Speech REST API (``POST /cognitiveservices/v1``), whose
neural voices include the Korean ones Microsoft Edge reads aloud with (ko-KR-SunHiNeural).

The REST API returns audio only (word boundaries need the SDK's websocket), so each phrase is
its own request: its span in the narration is then exact, and the renderer splits a phrase
into words by syllables inside that measured span. Requests run a few at a time.

Errors: 429, 5xx, timeouts and transport failures are retriable; any other 4xx (bad key, bad
SSML, unknown voice) is fatal, with the server's words.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

import httpx

from connectors.tts.espeak import join_phrases, trim_silence
from streams.ports.tts import (
    Pcm,
    Speech,
    TtsOutputError,
    TtsRejectedError,
    TtsTimeoutError,
    TtsUnavailableError,
    read_pcm,
    validate_phrases,
)

LANGUAGE_CODES: Mapping[str, str] = {"ko": "ko-KR", "en": "en-US"}
DEFAULT_VOICES: Mapping[str, str] = {"ko": "ko-KR-SunHiNeural", "en": "en-US-JennyNeural"}
OUTPUT_FORMAT = "riff-24khz-16bit-mono-pcm"
MAX_SSML_BYTES = 64 * 1024  # the REST API's documented request limit
PAUSE_S = 0.2
# XML 1.0 forbids these characters even when escaped; the service would reject the request.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def build_ssml(text: str, language: str, voice: str, rate: float) -> str:
    """One phrase as SSML; the text is escaped, so it can never add elements of its own."""
    code = LANGUAGE_CODES[language]
    body = escape(_NOT_XML.sub(" ", text))
    return (
        f"<speak version='1.0' xml:lang={quoteattr(code)}>"
        f"<voice name={quoteattr(voice)}><prosody rate={quoteattr(f'{rate:+.0%}')}>"
        f"{body}</prosody></voice></speak>"
    )


class AzureTts:
    """Speaks through an Azure Speech resource (``base_url`` is its regional TTS endpoint,
    ``https://<region>.tts.speech.microsoft.com``)."""

    name = "azure-speech"

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        voices: Mapping[str, str] = DEFAULT_VOICES,
        speaking_rate: float = 1.0,
        timeout_s: float = 20,
        concurrency: int = 4,
    ) -> None:
        if not api_key:
            raise ValueError("the Azure Speech adapter needs a resource key")
        self._base_url = base_url.rstrip("/")
        self._voices = dict(voices)
        # Azure's relative rate: "+10%" is 1.1x its natural pace.
        self._rate = min(max(speaking_rate, 0.5), 2.0) - 1.0
        self._slots = asyncio.Semaphore(concurrency)
        self.fingerprint = f"{self.name}:{sorted(self._voices.items())}:{self._rate:.2f}"
        # The key lives only in the client's default headers: never in repr() or error text.
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            headers={"Ocp-Apim-Subscription-Key": api_key, "User-Agent": "munjero-factory"},
            timeout=timeout_s,
        )

    def __repr__(self) -> str:
        return f"AzureTts(base_url={self._base_url!r})"

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        texts = validate_phrases(phrases)
        voice = self._voices.get(language)
        if voice is None or language not in LANGUAGE_CODES:
            raise TtsRejectedError(
                f"Azure Speech is not configured for language {language!r}; "
                f"supported: {', '.join(sorted(self._voices))}"
            )
        tasks = [asyncio.ensure_future(self._speak(t, language, voice)) for t in texts]
        try:
            pieces = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        speech = join_phrases(texts, pieces, PAUSE_S)
        return Speech(speech.wav, speech.sample_rate, speech.duration, speech.phrases,
                      voice=self.name)  # fmt: skip

    async def check(self) -> None:
        # Listing voices proves the key and the endpoint without paying for synthesis.
        response = await self._request("GET", "/cognitiveservices/voices/list")
        try:
            names = {str(v["ShortName"]) for v in response.json()}
        except (ValueError, KeyError, TypeError) as exc:
            raise TtsUnavailableError("Azure Speech listed voices in an unknown shape") from exc
        missing = sorted(set(self._voices.values()) - names)
        if missing:
            raise TtsRejectedError(f"Azure Speech has no voice {', '.join(missing)}")

    async def close(self) -> None:
        await self._http.aclose()

    async def _speak(self, text: str, language: str, voice: str) -> Pcm:
        ssml = build_ssml(text, language, voice, self._rate)
        if len(ssml.encode()) > MAX_SSML_BYTES:
            raise TtsRejectedError(f"phrase too long: SSML over {MAX_SSML_BYTES} bytes")
        async with self._slots:
            response = await self._request(
                "POST",
                "/cognitiveservices/v1",
                content=ssml.encode(),
                headers={
                    "Content-Type": "application/ssml+xml",
                    "X-Microsoft-OutputFormat": OUTPUT_FORMAT,
                },
            )
        try:
            pcm = read_pcm(response.content)
        except TtsOutputError as exc:
            # A 200 whose bytes are not our WAV is damage in transit: fetching again helps.
            raise TtsUnavailableError(f"corrupt Azure Speech audio: {exc}") from exc
        trimmed = trim_silence(pcm)
        if not trimmed.samples:
            raise TtsOutputError(f"Azure Speech returned silence for {text[:40]!r}")
        return trimmed

    async def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException as exc:
            raise TtsTimeoutError(f"Azure Speech timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TtsUnavailableError(f"Azure Speech unreachable: {exc!r}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TtsUnavailableError(
                f"Azure Speech answered HTTP {status}: {response.text[:200]}", status=status
            )
        if status >= 400:
            raise TtsRejectedError(
                f"Azure Speech rejected the request, HTTP {status}: {response.text[:200]}",
                status=status,
            )
        return response
