"""A local server speaking the Azure AI Speech text-to-speech REST protocol
(``POST /cognitiveservices/v1`` with SSML, ``GET /cognitiveservices/voices/list``).

It really speaks: the SSML's text is voiced by espeak-ng and returned as the requested
``riff-24khz-16bit-mono-pcm`` WAV. Keys travel in ``Ocp-Apim-Subscription-Key``; an unknown
voice or malformed SSML is a 400, as the service answers.
"""

from __future__ import annotations

import io
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.google_tts import espeak_samples, resample

VOICES = {"ko-KR-SunHiNeural": "ko", "en-US-JennyNeural": "en-us"}
FORMAT = "riff-24khz-16bit-mono-pcm"
RATE = 24_000


@dataclass
class FakeAzureTts:
    """The accepted key, scripted failures (``fail_next``) and the SSML received."""

    api_key: str
    fail_next: list[int] = field(default_factory=list)
    ssml: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.fail_next.clear()
        self.ssml.clear()


def _wav(samples: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.clip(samples, -32768, 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def build_app(fake: FakeAzureTts) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    def refused(request: Request) -> Response | None:
        if request.headers.get("Ocp-Apim-Subscription-Key") != fake.api_key:
            return Response(status_code=401, content=b"Access denied due to invalid key")
        if fake.fail_next:
            return Response(status_code=fake.fail_next.pop(0), content=b"scripted failure")
        return None

    @app.get("/cognitiveservices/voices/list")
    def voices(request: Request) -> Response:
        error = refused(request)
        if error is not None:
            return error
        return JSONResponse([{"ShortName": name, "Locale": name[:5]} for name in VOICES])

    @app.post("/cognitiveservices/v1")
    async def speak(request: Request) -> Response:
        error = refused(request)
        if error is not None:
            return error
        if request.headers.get("X-Microsoft-OutputFormat") != FORMAT:
            return Response(status_code=400, content=b"unsupported output format")
        ssml = (await request.body()).decode()
        fake.ssml.append(ssml)
        try:
            root = ET.fromstring(ssml)
        except ET.ParseError:
            return Response(status_code=400, content=b"malformed SSML")
        voice = root.find("voice")
        if voice is None or voice.get("name") not in VOICES:
            return Response(status_code=400, content=b"unknown voice")
        text = "".join(voice.itertext()).strip()
        samples, source = espeak_samples(text, VOICES[str(voice.get("name"))], 175)
        audio = _wav(resample(samples, source, RATE))
        return Response(content=audio, media_type="audio/wav")

    return app
