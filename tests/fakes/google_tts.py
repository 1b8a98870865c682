"""A local server speaking the Google Cloud Text-to-Speech v1beta1 REST protocol.

It really speaks: the SSML is parsed, every mark-separated segment is voiced by espeak-ng and the
pieces are joined, so the time points it reports are true positions in the audio it returns.
It is deliberately independent of ``connectors.tts`` (its own WAV and SSML handling), so the
adapter is tested against a second implementation rather than against itself.
"""

from __future__ import annotations

import base64
import io
import subprocess
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

ESPEAK_VOICES = {"ko-KR": "ko", "en-US": "en-us"}
ESPEAK_NATURAL_WPM = 175
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass
class FakeGoogleTts:
    """The accepted key, scripted failures (``fail_next``) and what the server received."""

    api_key: str
    fail_next: list[int] = field(default_factory=list)
    segments: list[list[tuple[str | None, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.fail_next.clear()
        self.segments.clear()
        self.requests.clear()


def google_error(code: int, message: str) -> JSONResponse:
    status = STATUS_NAMES.get(code, "UNKNOWN")
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": status}}, status_code=code
    )


class BadRequest(Exception):
    pass


def parse_ssml(ssml: str) -> list[tuple[str | None, str]]:
    """(mark name or None for text before the first mark, text until the next mark)."""
    try:
        root = ET.fromstring(ssml)
    except ET.ParseError as exc:
        raise BadRequest(f"Invalid SSML: {exc}") from exc
    if root.tag != "speak":
        raise BadRequest("SSML must have a <speak> root element")
    segments: list[tuple[str | None, str]] = [(None, root.text or "")]
    for child in root:
        if child.tag != "mark" or "name" not in child.attrib:
            raise BadRequest(f"unsupported SSML element <{child.tag}>")
        segments.append((child.attrib["name"], child.tail or ""))
    return segments


def espeak_samples(text: str, voice: str, wpm: int) -> tuple[np.ndarray[Any, Any], int]:
    if not text.strip():
        return np.zeros(0, dtype="<i2"), 0
    out = subprocess.run(
        ["espeak-ng", "--stdout", "--stdin", "-v", voice, "-s", str(wpm)],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=20,
    ).stdout
    with wave.open(io.BytesIO(out)) as wav:
        # espeak-ng's streamed header claims ~2**30 frames; readframes stops at the real end.
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def resample(samples: np.ndarray[Any, Any], source: int, target: int) -> np.ndarray[Any, Any]:
    if source in (0, target) or not len(samples):
        return samples
    count = round(len(samples) * target / source)
    positions = np.linspace(0, len(samples) - 1, count)
    # Google resamples to the requested rate; linear interpolation is plenty for a fake.
    resampled: np.ndarray[Any, Any] = np.interp(positions, np.arange(len(samples)), samples)
    return resampled.astype("<i2")


def synthesize(ssml: str, language_code: str, rate: int, speaking_rate: float) -> dict[str, Any]:
    segments = parse_ssml(ssml)
    voice = ESPEAK_VOICES.get(language_code)
    if voice is None:
        raise BadRequest(f"Voice for language {language_code} does not exist.")
    wpm = round(ESPEAK_NATURAL_WPM * speaking_rate)
    pieces: list[np.ndarray[Any, Any]] = []
    timepoints: list[dict[str, Any]] = []
    offset = 0
    for mark, text in segments:
        if mark is not None:
            point: dict[str, Any] = {"markName": mark}
            if offset:  # proto3 JSON leaves out zero values, as Google does
                point["timeSeconds"] = offset / rate
            timepoints.append(point)
        samples, source = espeak_samples(text, voice, wpm)
        samples = resample(samples, source, rate)
        pieces.append(samples)
        offset += len(samples)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.concatenate(pieces).astype("<i2").tobytes())
    return {
        "audioContent": base64.b64encode(buffer.getvalue()).decode(),
        "timepoints": timepoints,
        "audioConfig": {"audioEncoding": "LINEAR16", "sampleRateHertz": rate},
    }


def build_app(fake: FakeGoogleTts) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def refused(request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return google_error(401, "Method doesn't allow unregistered callers.")
        if key != fake.api_key:
            return google_error(403, "API key not valid. Please pass a valid API key.")
        if fake.fail_next:
            code = fake.fail_next.pop(0)
            return google_error(code, f"scripted failure {code}")
        return None

    @app.get("/v1beta1/voices")
    def voices(request: Request, languageCode: str = "") -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        listed = [
            {
                "languageCodes": [code],
                "name": f"{code}-Standard-A",
                "ssmlGender": "FEMALE",
                "naturalSampleRateHertz": 24000,
            }
            for code in ESPEAK_VOICES
            if not languageCode or code == languageCode
        ]
        return JSONResponse({"voices": listed})

    @app.post("/v1beta1/text:synthesize")
    def text_synthesize(request: Request, body: dict[str, Any]) -> Response:
        refusal = refused(request)
        if refusal is not None:
            return refusal
        fake.requests.append(body)
        try:
            ssml = body["input"]["ssml"]
            config = body.get("audioConfig", {})
            if config.get("audioEncoding") != "LINEAR16":
                raise BadRequest("this fake speaks LINEAR16 only")
            if body.get("enableTimePointing") != ["SSML_MARK"]:
                raise BadRequest("this fake expects enableTimePointing [SSML_MARK]")
            name = body["voice"].get("name")
            if name is not None and name != f"{body['voice']['languageCode']}-Standard-A":
                raise BadRequest(f"Voice '{name}' does not exist.")
            fake.segments.append(parse_ssml(ssml))
            return JSONResponse(
                synthesize(
                    ssml,
                    body["voice"]["languageCode"],
                    int(config.get("sampleRateHertz", 24000)),
                    float(config.get("speakingRate", 1.0)),
                )
            )
        except (KeyError, TypeError) as exc:
            return google_error(400, f"Invalid request: missing {exc}")
        except BadRequest as exc:
            return google_error(400, str(exc))

    return app
