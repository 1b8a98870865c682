"""``TextToSpeech`` over the Google Cloud Text-to-Speech REST API (v1beta1, for SSML marks).

Phrase spans come from ``<mark>`` time points: the SSML carries a mark before every phrase and
one after the last, and the server reports when each mark is reached in the audio.

Errors: 429, 5xx, timeouts and transport failures are retriable; any other 4xx (bad key, bad
SSML, unknown voice) is fatal and carries the server's own message.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

import httpx

from streams.ports.tts import (
    Pcm,
    PhraseTiming,
    Speech,
    TtsOutputError,
    TtsRejectedError,
    TtsTimeoutError,
    TtsUnavailableError,
    read_pcm,
    validate_phrases,
    write_wav,
)

LANGUAGE_CODES: Mapping[str, str] = {"ko": "ko-KR", "en": "en-US"}
SAMPLE_RATE = 24000
MAX_INPUT_BYTES = 5000  # the API's documented limit on input text/SSML per request
END_MARK = "end"
# XML 1.0 forbids these characters even when escaped; the API would reject the whole request.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def build_ssml(phrases: Sequence[str]) -> str:
    """SSML speaking ``phrases`` with mark ``p<i>`` before phrase i and ``end`` after the last.

    Phrases are untrusted text: escaping makes ``<``/``&`` literal, so no phrase can close the
    document or add marks, breaks or audio of its own.
    """
    parts = [
        f'<mark name="p{index}"/>{escape(_NOT_XML.sub(" ", phrase))} '
        for index, phrase in enumerate(phrases)
    ]
    return f'<speak>{"".join(parts)}<mark name="{END_MARK}"/></speak>'


def phrase_timings(
    phrases: Sequence[str], timepoints: Mapping[str, float], duration: float
) -> tuple[PhraseTiming, ...]:
    """Phrase i spans mark ``p<i>`` to mark ``p<i+1>`` (the last: to ``end``, else the audio's end).

    A response without every phrase mark, or with marks out of order or past the audio, is a
    ``TtsOutputError`` (fatal): Google omits marks deterministically (voices without SSML mark
    support), so the same request would fail the same way on every retry.
    """
    starts: list[float] = []
    for index in range(len(phrases)):
        mark = f"p{index}"
        if mark not in timepoints:
            raise TtsOutputError(f"the response has no time point for mark {mark!r}")
        starts.append(timepoints[mark])
    ends = [*starts[1:], min(timepoints.get(END_MARK, duration), duration)]
    timings = tuple(
        PhraseTiming(text, start, end)
        for text, start, end in zip(phrases, starts, ends, strict=True)
    )
    if any(not 0 <= t.start <= t.end <= duration + 1e-3 for t in timings):
        raise TtsOutputError(f"time points out of order or past the audio ({duration:.3f} s)")
    return timings


def _error_message(response: httpx.Response) -> str:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        # Proxies answer with HTML pages: a short excerpt is enough to diagnose.
        return response.text[:200].strip()
    return str(message)


class GoogleCloudTts:
    """Speaks through ``POST /v1beta1/text:synthesize`` with an API key."""

    name = "google-cloud-tts"

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://texttospeech.googleapis.com",
        timeout_s: float = 20,
        voice_names: Mapping[str, str] | None = None,
        *,
        speaking_rate: float = 1.0,
    ) -> None:
        if not api_key:
            raise ValueError("the Google Cloud TTS adapter needs an API key")
        self._base_url = base_url.rstrip("/")
        self._voice_names = dict(voice_names or {})
        # The API accepts 0.25..4.0; clamping keeps an odd words-per-minute setting speakable.
        self._speaking_rate = min(max(speaking_rate, 0.25), 4.0)
        # The key lives only in the client's default headers: never in repr() or error text.
        self._http = httpx.AsyncClient(
            base_url=self._base_url, headers={"x-goog-api-key": api_key}, timeout=timeout_s
        )

    def __repr__(self) -> str:
        return f"GoogleCloudTts(base_url={self._base_url!r})"

    async def synthesize(self, phrases: Sequence[str], language: str) -> Speech:
        voice = self._voice(language)
        texts = validate_phrases(phrases)
        ssml = build_ssml(texts)
        if len(ssml.encode()) > MAX_INPUT_BYTES:
            raise TtsRejectedError(f"narration too long: SSML over {MAX_INPUT_BYTES} bytes")
        payload = {
            "input": {"ssml": ssml},
            "voice": voice,
            "audioConfig": {
                "audioEncoding": "LINEAR16",
                "sampleRateHertz": SAMPLE_RATE,
                "speakingRate": self._speaking_rate,
            },
            "enableTimePointing": ["SSML_MARK"],
        }
        body = await self._request("POST", "/v1beta1/text:synthesize", json=payload)
        pcm, timepoints = _decode(body)
        duration = pcm.frames / pcm.sample_rate
        timings = phrase_timings(texts, timepoints, duration)
        return Speech(write_wav(pcm), pcm.sample_rate, duration, timings)

    async def check(self) -> None:
        # Listing voices proves the key and the endpoint without paying for synthesis.
        for language, code in LANGUAGE_CODES.items():
            body = await self._request("GET", "/v1beta1/voices", params={"languageCode": code})
            names = {voice.get("name") for voice in body.get("voices", [])}
            wanted = self._voice_names.get(language)
            if not names:
                raise TtsRejectedError(f"Google TTS offers no voice for {code}")
            if wanted is not None and wanted not in names:
                raise TtsRejectedError(f"Google TTS has no voice {wanted!r} for {code}")

    async def close(self) -> None:
        await self._http.aclose()

    def _voice(self, language: str) -> dict[str, str]:
        code = LANGUAGE_CODES.get(language)
        if code is None:
            raise TtsRejectedError(
                f"Google TTS is not configured for language {language!r}; "
                f"supported: {', '.join(sorted(LANGUAGE_CODES))}"
            )
        voice = {"languageCode": code}
        if language in self._voice_names:
            voice["name"] = self._voice_names[language]
        return voice

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TtsTimeoutError(f"Google TTS timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TtsUnavailableError(f"Google TTS unreachable: {exc!r}") from exc
        status = response.status_code
        if status == 429 or status >= 500:
            raise TtsUnavailableError(
                f"Google TTS answered HTTP {status}: {_error_message(response)}", status=status
            )
        if status >= 400:
            raise TtsRejectedError(
                f"Google TTS rejected the request, HTTP {status}: {_error_message(response)}",
                status=status,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise _corrupt("the body is not JSON") from exc
        if not isinstance(body, dict):
            raise _corrupt("the body is not a JSON object")
        return body


def _corrupt(reason: str) -> TtsUnavailableError:
    # A 200 whose bytes do not decode is damage in transit (a proxy, a cut connection), unlike
    # well-formed audio without marks: fetching again is the remedy, so it is retriable.
    return TtsUnavailableError(f"corrupt Google TTS response: {reason}")


def _decode(body: Mapping[str, Any]) -> tuple[Pcm, dict[str, float]]:
    try:
        audio = base64.b64decode(body["audioContent"], validate=True)
        pcm = read_pcm(audio)
    except (KeyError, TypeError, binascii.Error, TtsOutputError) as exc:
        raise _corrupt(f"undecodable audio ({exc})") from exc
    timepoints: dict[str, float] = {}
    for point in body.get("timepoints") or []:
        try:
            # Proto3 JSON omits zero values: the first mark at 0 s has no ``timeSeconds``.
            timepoints[str(point["markName"])] = float(point.get("timeSeconds", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TtsOutputError(f"malformed time point {point!r}") from exc
    return pcm, timepoints
