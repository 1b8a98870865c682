"""`GET /v1/problems/{id}` over an in-memory reader: per-variant steps, never "done" for a partial
set, dead letters with their reasons, and each variant's video served by the API itself."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.artifacts.local import LocalArtifactStore
from factory.topology import WORKER_GROUPS
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.deps import build_default_deps
from services.api.idempotency import InMemoryIdempotencyStore
from services.api.status import DRAFTING_TOPIC, VARIANT_STEPS, InMemoryStatusReader, present
from services.api.status_models import ProblemStatus
from streams.settings import Settings
from tests.unit.test_api import FakePublisher

PID = "kh-7"
T = "2026-12-07T09:00:0{}+00:00"


def _variant(
    script: str,
    arm: str,
    *,
    rendered: bool = False,
    published: bool = False,
    measured: bool = False,
    letters: tuple[dict[str, Any], ...] = (),
    video_uri: str = "file:///elsewhere/v.mp4",
) -> dict[str, Any]:
    """One variant as the reader returns it (see connectors/warehouse/variants.py)."""
    render = {"render_id": f"r-{script}", "uri": video_uri, "at": T.format(3),
              "duration_seconds": 30.0}  # fmt: skip
    short = {"short_id": f"s-{script}", "video_id": "sim-1", "url": "https://sim/s/1",
             "platform": "simulator", "published_at": T.format(4), "simulated": True}  # fmt: skip
    metrics = {"window": "1h", "observed_at": T.format(5), "views": 100, "impressions": 1000,
               "impressions_ctr": 0.1, "average_view_percentage": 60.0, "likes": 5,
               "simulated": True}  # fmt: skip
    return {
        "script_id": script,
        "arm_id": arm,
        "experiment_id": "exp-hook-style",
        "drafted_at": T.format(1),
        "storyboard": {"uri": "file:///elsewhere/b.jpg", "at": T.format(2)} if rendered else None,
        "render": render if rendered else None,
        "short": short if published else None,
        "metrics": metrics if measured else None,
        "dead_letters": list(letters),
    }


def _letter(topic: str, reason: str) -> dict[str, Any]:
    return {"topic": topic, "agent": "render", "error_class": "RenderQualityError",
            "reason": reason, "attempts": 1, "fatal": True, "at": T.format(6)}  # fmt: skip


def _raw(*variants: dict[str, Any], letters: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    return {
        "problem_id": PID,
        "steps": [{"step": "submitted", "status": "done", "count": 1, "at": T.format(0)}],
        "variants": list(variants),
        "dead_letters": list(letters),
        "last_step": "rendered",
        "last_event_at": T.format(5),
    }


def _steps(doc: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["status"] for s in doc["steps"]}


def test_one_rendered_variant_of_three_is_not_done() -> None:
    doc = present(_raw(_variant("a", "arm-a", rendered=True), _variant("b", "arm-b"),
                       _variant("c", "arm-c")), expected_variants=3)  # fmt: skip
    assert _steps(doc) == {
        "submitted": "done",
        "drafted": "done",
        "rendered": "in_progress",
        "published": "pending",
    }
    rendered = doc["steps"][2]
    assert (rendered["count"], rendered["expected"], rendered["at"]) == (1, 3, T.format(3))
    assert doc["status"] == "in_progress"
    a, b, _ = doc["variants"]
    assert a["video_url"] == f"/v1/problems/{PID}/variants/a/video"
    assert a["storyboard_url"] == f"/v1/problems/{PID}/variants/a/storyboard"
    assert a["steps"][1] == {"step": "rendered", "status": "done", "at": T.format(3),
                             "storyboarded_at": T.format(2)}  # fmt: skip
    assert b["video_url"] is None
    assert "uri" not in str(doc)  # storage locations stay inside


def test_two_of_three_drafted_is_not_drafted() -> None:
    doc = present(_raw(_variant("a", "arm-a"), _variant("b", "arm-b")), expected_variants=3)
    assert _steps(doc)["drafted"] == "in_progress"


def test_a_dead_lettered_variant_shows_its_reason_and_blocks_only_itself() -> None:
    failed = _letter("scripts.drafted", "loudness -31 LUFS is below -20")
    doc = present(
        _raw(
            _variant("a", "arm-a", rendered=True, published=True, measured=True),
            _variant("b", "arm-b", rendered=True, published=True),
            _variant("c", "arm-c", letters=(failed,)),
        ),
        expected_variants=3,
    )
    assert _steps(doc) == {
        "submitted": "done",
        "drafted": "done",
        "rendered": "partial",
        "published": "partial",
    }
    assert doc["status"] == "partial"
    a, _, c = doc["variants"]
    assert [s["status"] for s in c["steps"]] == ["done", "failed", "blocked", "blocked"]
    (letter,) = c["dead_letters"]
    assert (letter["step"], letter["reason"]) == ("rendered", "loudness -31 LUFS is below -20")
    assert a["published"]["dashboard_url"] == "/dashboard/shorts/s-a"
    assert a["metrics"]["views"] == 100
    assert [s["status"] for s in a["steps"]] == ["done"] * 4
    ProblemStatus.model_validate(doc)  # the document is what OpenAPI says


def test_every_variant_published_is_done_and_a_replayed_failure_does_not_undo_it() -> None:
    replayed = _letter("renders.completed", "upload timed out")
    doc = present(
        _raw(*(_variant(s, f"arm-{s}", rendered=True, published=True) for s in "ab"),
             _variant("c", "arm-c", rendered=True, published=True, letters=(replayed,))),
        expected_variants=3,
    )  # fmt: skip
    assert doc["status"] == "done"
    assert set(_steps(doc).values()) == {"done"}
    assert doc["variants"][2]["dead_letters"][0]["step"] == "published"


def test_a_problem_that_could_not_be_drafted_failed() -> None:
    letter = _letter(DRAFTING_TOPIC, "the template draft failed its guardrails")
    doc = present(_raw(letters=(letter,)), expected_variants=3)
    assert _steps(doc) == {"submitted": "done", "drafted": "failed", "rendered": "failed",
                           "published": "failed"}  # fmt: skip
    assert doc["status"] == "failed"
    assert doc["dead_letters"][0]["step"] == "drafted"
    ProblemStatus.model_validate(doc)


def test_a_reader_with_counts_only_never_says_done_for_a_partial_set() -> None:
    counts = {
        "problem_id": PID,
        "steps": [
            {"step": "submitted", "status": "done", "count": 1, "at": T.format(0)},
            {"step": "drafted", "status": "done", "count": 3},
            {"step": "rendered", "status": "done", "count": 1},
            {"step": "published", "status": "pending", "count": 0},
        ],
    }
    assert _steps(present(counts, expected_variants=3)) == {
        "submitted": "done",
        "drafted": "done",
        "rendered": "in_progress",
        "published": "pending",
    }


def test_each_variant_step_names_the_topic_its_worker_consumes() -> None:
    """A dead letter of topic T is a failure of the step whose worker consumes T."""
    produced_by_consumer = {
        b.consumes: b.produces for g in WORKER_GROUPS for b in g.steps
    }  # e.g. scripts.drafted -> renders.completed
    landmark = {"rendered": "renders.completed", "published": "shorts.published",
                "measured": "metrics.observed"}  # fmt: skip
    for step, topic in VARIANT_STEPS:
        assert landmark[step] in produced_by_consumer[topic], (step, topic)
    assert "scripts.drafted" in produced_by_consumer[DRAFTING_TOPIC]


# --- the routes --------------------------------------------------------------------------------


@dataclass
class Site:
    client: httpx.AsyncClient
    status: InMemoryStatusReader
    key: str
    video: bytes


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = Settings(data_dir=tmp_path / "data", topic_namespace="unit.")
    status = InMemoryStatusReader()
    deps = await build_default_deps(
        settings, FakePublisher(), AvroSerde(InMemorySchemaRegistry()), status
    )
    store = LocalArtifactStore(tmp_path / "artifacts")
    source = tmp_path / "short.mp4"
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    source.write_bytes(video)
    stored = await store.put_file("renders/ab/abcd/short.mp4", source, content_type="video/mp4")
    deps.artifacts = store
    status.set(
        PID,
        _raw(
            _variant("a", "arm-a", rendered=True, video_uri=stored.uri),
            _variant("b", "arm-b", rendered=True),  # its URI lies outside the store
            _variant("c", "arm-c"),
        ),
    )
    key = deps.keys.create_key("importer", ["problems:read"])
    transport = httpx.ASGITransport(create_app(deps), raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield Site(client, status, key, video)
    await deps.aclose()


async def test_the_status_links_to_a_video_the_api_serves(site: Site) -> None:
    r = await site.client.get(f"/v1/problems/{PID}")
    assert r.status_code == 200
    doc = r.json()
    ProblemStatus.model_validate(doc)
    url = doc["variants"][0]["video_url"]
    media = await site.client.get(url)
    assert media.status_code == 200
    assert media.headers["content-type"] == "video/mp4"
    assert media.content == site.video
    ranged = await site.client.get(url, headers={"Range": "bytes=0-9"})  # seeking in a player
    assert ranged.status_code == 206
    assert ranged.content == site.video[:10]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/v1/problems/{PID}/variants/b/video", 404),  # outside the store: never served
        (f"/v1/problems/{PID}/variants/c/video", 404),  # not rendered yet
        (f"/v1/problems/{PID}/variants/a/storyboard", 404),
        (f"/v1/problems/{PID}/variants/nope/video", 404),
        (f"/v1/problems/{PID}/variants/a/manifest", 422),
        (f"/v1/problems/{PID}/variants/..%2F..%2Fetc/video", 404),
        ("/v1/problems/unknown/variants/a/video", 404),
    ],
)
async def test_media_is_only_what_the_status_points_to_inside_the_store(
    site: Site, path: str, status: int
) -> None:
    assert (await site.client.get(path)).status_code == status


async def test_media_needs_the_read_scope(site: Site) -> None:
    url = f"/v1/problems/{PID}/variants/a/video"
    assert (await site.client.get(url, headers={"Authorization": ""})).status_code == 401


async def test_openapi_documents_the_status_and_media(site: Site) -> None:
    spec = (await site.client.get("/openapi.json")).json()
    status = spec["paths"]["/v1/problems/{problem_id}"]["get"]
    schema = status["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ProblemStatus"}
    variant = spec["components"]["schemas"]["Variant"]["properties"]
    assert {"arm_id", "script_id", "steps", "video_url", "storyboard_url", "published",
            "metrics", "dead_letters"} <= set(variant)  # fmt: skip
    media = spec["paths"]["/v1/problems/{problem_id}/variants/{script_id}/{kind}"]["get"]
    assert {"video/mp4", "image/jpeg"} <= set(media["responses"]["200"]["content"])


# --- the README shows what the API answers ------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_block(after: str, fence: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"```{fence}\n", text.index(after)) + len(fence) + 4
    return text[start : text.index("```", start)]


def test_the_readme_status_example_is_what_the_api_answers() -> None:
    T = "2026-12-07T09:0{}:00+00:00"
    letter = {"topic": "scripts.drafted", "agent": "render", "error_class": "RenderQualityError",
              "reason": "integrated loudness -31.2 LUFS is outside -14 ± 2", "attempts": 1,
              "fatal": True, "at": T.format(5)}  # fmt: skip

    def variant(script: str, arm: str, **parts: Any) -> dict[str, Any]:
        return {"script_id": script, "arm_id": arm, "experiment_id": "hook-style",
                "drafted_at": T.format(1), "storyboard": None, "render": None, "short": None,
                "metrics": None, "dead_letters": [], **parts}  # fmt: skip

    def rendered(script: str) -> dict[str, Any]:
        return {"storyboard": {"uri": "file:///b.jpg", "at": T.format(2)},
                "render": {"render_id": f"r-{script}", "uri": "file:///v.mp4", "at": T.format(3),
                           "duration_seconds": 31.5}}  # fmt: skip

    short = {"short_id": "s-9f3c", "video_id": "sim-8Kq2", "platform": "simulator",
             "url": "https://sim.munjero.local/shorts/sim-8Kq2", "published_at": T.format(4),
             "simulated": True}  # fmt: skip
    metrics = {"window": "6h", "observed_at": T.format(9), "views": 412, "impressions": 5120,
               "impressions_ctr": 0.052, "average_view_percentage": 71.3, "likes": 18,
               "simulated": True}  # fmt: skip
    raw = {
        "problem_id": "ko-history-0001",
        "steps": [{"step": "submitted", "status": "done", "count": 1, "at": T.format(0)}],
        "variants": [
            variant("9f3c", "question-hook", **rendered("9f3c"), short=short, metrics=metrics),
            variant("41d7", "fact-hook", **rendered("41d7")),
            variant("c2a0", "challenge-hook", dead_letters=[letter]),
        ],
        "dead_letters": [],
        "last_step": "published",
        "last_event_at": T.format(9),
    }
    shown = json.loads(_readme_block("problem-status-example", "json"))
    assert shown == present(raw, expected_variants=3)
    ProblemStatus.model_validate(shown)


def _commands(block: str) -> list[str]:
    """The shell commands of a README block (continuation lines joined)."""
    joined = block.replace("\\\n", " ")
    return [c.strip() for c in re.split(r"\n(?=curl )", joined) if c.strip()]


async def test_the_readme_curl_commands_work(tmp_path: Path) -> None:
    """The README's requests, run by the real curl against the API served on loopback."""
    settings = Settings(data_dir=tmp_path / "data", topic_namespace="unit.")
    status = InMemoryStatusReader()
    deps = await build_default_deps(
        settings, FakePublisher(), AvroSerde(InMemorySchemaRegistry()), status
    )
    store = LocalArtifactStore(tmp_path / "artifacts")
    (tmp_path / "v.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 readme")
    stored = await store.put_file("renders/aa/aaaa/v.mp4", tmp_path / "v.mp4",
                                  content_type="video/mp4")  # fmt: skip
    deps.artifacts = store
    await deps.idempotency.close()  # SQLite stays in its thread; the server runs in another
    deps.idempotency = InMemoryIdempotencyStore()
    key = deps.keys.create_key("readme", ["problems:write", "problems:read"])
    commands = _commands(_readme_block("Submit a problem, then follow it", "bash"))
    env = {**os.environ, "KEY": key}

    def curl(command: str, url: str, **subs: str) -> str:
        for name, value in {"http://127.0.0.1:8080": url, **subs}.items():
            command = command.replace(name, value)
        done = subprocess.run(
            ["bash", "-c", f"{command} -w '\\n%{{http_code}}'"],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout

    def serve() -> Any:
        from tests.servers import serve_in_thread

        return serve_in_thread(create_app(deps), health_path="/healthz", name="api")

    post, get, download = commands
    with serve() as url:
        body, code = (await asyncio.to_thread(curl, post, url)).rsplit("\n", 1)
        assert code == "202", body
        problem_id = json.loads(body)["problem_id"]
        raw = _raw(_variant("a", "arm-a", rendered=True, video_uri=stored.uri),
                   _variant("b", "arm-b"), _variant("c", "arm-c"))  # fmt: skip
        status.set(problem_id, {**raw, "problem_id": problem_id})
        body, code = (await asyncio.to_thread(curl, get, url, **{"<problem_id>": problem_id})
                      ).rsplit("\n", 1)  # fmt: skip
        assert code == "200", body
        ProblemStatus.model_validate_json(body)
        subs = {"<problem_id>": problem_id, "<script_id>": "a"}
        out = await asyncio.to_thread(curl, download, url, **subs)
        assert out.strip() == "200"
    assert (tmp_path / "short.mp4").read_bytes() == (tmp_path / "v.mp4").read_bytes()
    await deps.aclose()
