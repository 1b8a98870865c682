"""RenderCompleted v3: the voice that spoke, why earlier voices did not, and the caption files.

The render step maps the renderer's result onto the event (no fallback -> null, no caption file
-> empty key), and v3 stays readable both ways: a v2 consumer (a publish worker not yet
upgraded) reads v3 data, and today's reader fills the defaults into data written with v2.
"""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from agents.render.agent import RenderStep
from agents.render.pipeline import RenderResult
from schemas.compat_check import HISTORY_DIR
from schemas.contracts import load_schema
from streams.ports.artifacts import StoredArtifact
from tests.drafts import drafted
from tests.factories import problem_event


def artifact(name: str) -> StoredArtifact:
    key = f"renders/ab/{'ab' * 32}/{name}"
    return StoredArtifact(key, f"file:///store/{key}", "0" * 64, 10, "application/octet-stream")


class FixedRenderer:
    def __init__(self, result: RenderResult) -> None:
        self.result = result

    async def render(self, script: Any, **kwargs: Any) -> RenderResult:
        return self.result


def result(**overrides: Any) -> RenderResult:
    fields: dict[str, Any] = {
        "video": artifact("short.mp4"),
        "duration": 30.0,
        "width": 1080,
        "height": 1920,
        "render_ms": 9000,
        "template_version": "t",
        "cache_hit": False,
    }
    return RenderResult(**{**fields, **overrides})


async def emitted(render: RenderResult) -> dict[str, Any]:
    script = dict(drafted(problem_event(40), k=1)[0])
    (emit,) = await RenderStep(FixedRenderer(render))(script)  # type: ignore[arg-type]
    return dict(emit.record)


async def test_the_event_names_the_voice_its_fallback_reason_and_the_caption_files() -> None:
    record = await emitted(
        result(
            voice="offline",
            voice_fallback="google-cloud-tts: Google TTS answered HTTP 503: down",
            srt=artifact("short.srt"),
            vtt=artifact("short.vtt"),
        )
    )
    assert record["voice"] == "offline"
    assert record["voice_fallback_reason"] == "google-cloud-tts: Google TTS answered HTTP 503: down"
    assert record["caption_srt_key"] == artifact("short.srt").key
    assert record["caption_vtt_key"] == artifact("short.vtt").key


async def test_no_fallback_is_null_and_missing_captions_are_empty_keys() -> None:
    record = await emitted(result(voice="google-cloud-tts"))
    assert record["voice"] == "google-cloud-tts"
    assert record["voice_fallback_reason"] is None  # null, not "": analysts count IS NOT NULL
    assert (record["caption_srt_key"], record["caption_vtt_key"]) == ("", "")


V3_FIELDS = ("voice", "voice_fallback_reason", "caption_srt_key", "caption_vtt_key")


def v2_schema() -> Any:
    text = (HISTORY_DIR / "RenderCompleted" / "v2.avsc").read_text(encoding="utf-8")
    return fastavro.parse_schema(json.loads(text))


def current_schema() -> Any:
    return fastavro.parse_schema(load_schema("RenderCompleted"))


@pytest.fixture
async def v3_record() -> dict[str, Any]:
    return await emitted(
        result(voice="espeak-ng", voice_fallback="azure-speech: HTTP 429", srt=artifact("a.srt"))
    )


def written(schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def test_the_v3_snapshot_is_the_current_schema() -> None:
    snapshot = json.loads((HISTORY_DIR / "RenderCompleted" / "v3.avsc").read_text("utf-8"))
    assert [f["name"] for f in snapshot["fields"]][-4:] == list(V3_FIELDS)


async def test_a_v2_reader_reads_v3_data(v3_record: dict[str, Any]) -> None:
    data = written(current_schema(), v3_record)
    old = fastavro.schemaless_reader(io.BytesIO(data), current_schema(), v2_schema())
    assert isinstance(old, dict)
    assert old["render_id"] == v3_record["render_id"]
    assert not set(V3_FIELDS) & set(old)


async def test_v2_data_reads_with_the_v3_defaults(v3_record: dict[str, Any]) -> None:
    old_record = {k: v for k, v in v3_record.items() if k not in V3_FIELDS}
    data = written(v2_schema(), old_record)
    new = fastavro.schemaless_reader(io.BytesIO(data), v2_schema(), current_schema())
    assert isinstance(new, dict)
    assert {name: new[name] for name in V3_FIELDS} == {
        "voice": "",
        "voice_fallback_reason": None,
        "caption_srt_key": "",
        "caption_vtt_key": "",
    }
