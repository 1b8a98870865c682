"""`GET /v1/problems/{id}` from chdb: events loaded as the sink writes them, read by the
warehouse status reader, presented by the API, and each rendered variant's video downloaded
through the API."""

from __future__ import annotations

import copy
import hashlib
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.artifacts.local import LocalArtifactStore
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from connectors.warehouse.status import WarehouseStatusReader
from schemas.registry import InMemorySchemaRegistry
from schemas.serializer import AvroSerde
from services.api.app import create_app
from services.api.deps import build_default_deps
from services.api.status_models import ProblemStatus
from streams import events
from streams.settings import Settings
from tests import sample_events as samples
from tests.unit.test_api import FakePublisher
from tests.warehouse_loader import Event, load_events

pytestmark = pytest.mark.integration
DB = "munjero"
REASON = "integrated loudness -31.2 LUFS is outside -14 ± 2 LUFS"


@dataclass
class Site:
    client: httpx.AsyncClient
    mixed: str  # published + rendered + dead-lettered variants
    complete: str  # all three rendered
    undrafted: str  # its drafting was dead-lettered: no variant at all
    scripts: dict[str, list[str]]  # problem -> script ids in arm order
    videos: dict[str, bytes]  # script id -> the bytes its render points to


def _video(root: Path, name: str) -> Path:
    path = root / f"{name}.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=108x192:rate=30",
         "-t", "0.2", "-metadata", f"title={name}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def _storyboard(render: dict[str, Any], uri: str) -> Event:
    board_id = events.derived_id(render["meta"]["event_id"], "storyboard")
    record = {
        "meta": events.meta(event_id=board_id, correlation_id=board_id,
                            occurred_at=render["meta"]["occurred_at"]),
        "render_id": render["render_id"], "script_id": render["script_id"],
        "problem_id": render["problem_id"], "experiment_id": render["experiment_id"],
        "arm_id": render["arm_id"], "uri": uri, "sha256": "0" * 64, "scene_count": 4,
        "template_version": "quiz-v3",
    }  # fmt: skip
    return ("renders.storyboarded", "StoryboardReady", record)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    store = LocalArtifactStore(tmp_path / "artifacts")
    loaded: list[Event] = []
    scripts: dict[str, list[str]] = {}
    videos: dict[str, bytes] = {}

    async def rendered(script: dict[str, Any]) -> dict[str, Any]:
        source = _video(tmp_path, script["script_id"])
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        stored = await store.put_file(f"renders/{digest[:2]}/{digest}/short.mp4", source,
                                      content_type="video/mp4")  # fmt: skip
        videos[script["script_id"]] = source.read_bytes()
        render = copy.deepcopy(samples.render_completed(script)[2])
        render["uri"] = stored.uri
        loaded.append(("renders.completed", "RenderCompleted", render))
        return render

    problems = []
    for n in (1, 2):
        submitted = samples.problem_submitted(samples.PROBLEMS[n], n)
        loaded.append(submitted)
        drafted = [samples.script_drafted(submitted[2], arm) for arm in samples.ARMS]
        loaded.extend(drafted)
        problem_id = submitted[2]["problem_id"]
        problems.append(problem_id)
        scripts[problem_id] = [d[2]["script_id"] for d in drafted]
        a, b, c = (d[2] for d in drafted)
        if n == 1:  # a: published and measured; b: rendered; c: dead-lettered by the render
            render_a = await rendered(a)
            loaded.append(_storyboard(render_a, "file:///nowhere/board.jpg"))
            short = samples.short_published(render_a)
            loaded.append(short)
            loaded.append(samples.metrics_observed(short[2], "1h", 0))
            loaded.append(samples.metrics_observed(short[2], "6h", 1))
            await rendered(b)
            failed = samples.step_failed("scripts.drafted", "t1.scripts.drafted",
                                         c["script_id"], b"{}", 7)  # fmt: skip
            failed[2]["error_class"] = "RenderQualityError"
            failed[2]["error_message"] = REASON
            loaded.append(failed)
        else:
            for script in (a, b, c):
                await rendered(script)

    # A problem the drafting step could not handle: dead-lettered under its own id.
    undrafted = samples.problem_submitted(samples.PROBLEMS[3], 3)
    loaded.append(undrafted)
    failed = samples.step_failed("problems.submitted", "t1.problems.submitted",
                                 undrafted[2]["problem_id"], b"{}", 9)  # fmt: skip
    failed[2]["agent"], failed[2]["error_class"] = "draft", "GroundingError"
    loaded.append(failed)

    warehouse = ChdbWarehouse(tmp_path / "chdb")
    await ensure_schema(warehouse, DB)
    await load_events(warehouse, loaded, DB)
    settings = Settings(data_dir=tmp_path / "data", clickhouse_database=DB)
    deps = await build_default_deps(settings, FakePublisher(), AvroSerde(InMemorySchemaRegistry()),
                                    WarehouseStatusReader(warehouse, DB))  # fmt: skip
    deps.artifacts = store
    key = deps.keys.create_key("importer", ["problems:read"])
    transport = httpx.ASGITransport(create_app(deps), raise_app_exceptions=False)
    try:
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                     headers=auth) as client:  # fmt: skip
            yield Site(client, problems[0], problems[1], undrafted[2]["problem_id"], scripts,
                       videos)  # fmt: skip
    finally:
        await deps.aclose()
        await warehouse.close()


async def _status(site: Site, problem_id: str) -> dict[str, Any]:
    r = await site.client.get(f"/v1/problems/{problem_id}")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    ProblemStatus.model_validate(doc)
    return doc


async def test_three_variants_each_with_its_video_and_a_dead_letter_with_its_reason(
    site: Site,
) -> None:
    doc = await _status(site, site.mixed)
    a, b, c = doc["variants"]
    assert [v["script_id"] for v in doc["variants"]] == site.scripts[site.mixed]
    assert [v["arm_id"] for v in doc["variants"]] == list(samples.ARMS)
    steps = {s["step"]: (s["status"], s.get("count")) for s in doc["steps"]}
    assert steps["drafted"] == ("done", 3)
    assert steps["rendered"] == ("partial", 2)  # never "done" with one of three failed
    assert steps["published"] == ("in_progress", 1)
    assert doc["status"] == "in_progress"

    for variant in (a, b):
        assert variant["steps"][1]["status"] == "done"
        assert variant["steps"][1]["at"] is not None
        video = await site.client.get(variant["video_url"])
        assert video.status_code == 200
        assert video.content == site.videos[variant["script_id"]]
    assert a["published"]["url"].startswith("https://sim.munjero.local/shorts/")
    assert a["published"]["dashboard_url"] == f"/dashboard/shorts/{a['published']['short_id']}"
    assert a["metrics"]["window"] == "6h"  # the latest snapshot: the oldest window observed
    assert a["metrics"]["views"] == 200
    assert a["storyboard_url"] is not None
    # Its storyboard's URI lies outside the store: linked from the status, never served.
    assert (await site.client.get(a["storyboard_url"])).status_code == 404
    assert [s["status"] for s in b["steps"]] == ["done", "done", "pending", "pending"]

    assert c["video_url"] is None
    assert [s["status"] for s in c["steps"]] == ["done", "failed", "blocked", "blocked"]
    (letter,) = c["dead_letters"]
    assert letter["reason"] == REASON
    assert (letter["step"], letter["topic"], letter["error_class"]) == (
        "rendered",
        "scripts.drafted",
        "RenderQualityError",
    )
    assert doc["dead_letters"] == []


async def test_every_variant_rendered_is_rendered(site: Site) -> None:
    doc = await _status(site, site.complete)
    assert {s["step"]: s["status"] for s in doc["steps"]}["rendered"] == "done"
    for variant in doc["variants"]:
        video = await site.client.get(variant["video_url"])
        assert video.content == site.videos[variant["script_id"]]


async def test_a_problem_whose_drafting_failed_shows_why(site: Site) -> None:
    doc = await _status(site, site.undrafted)
    assert doc["variants"] == []
    steps = {s["step"]: s["status"] for s in doc["steps"]}
    assert steps == {"submitted": "done", "drafted": "failed", "rendered": "failed",
                     "published": "failed"}  # fmt: skip
    assert doc["status"] == "failed"
    (letter,) = doc["dead_letters"]
    assert (letter["step"], letter["error_class"], letter["reason"]) == (
        "drafted",
        "GroundingError",
        "ffmpeg exited 1",
    )
    assert doc["last_step"] == "dead_lettered"


async def test_an_unknown_problem_is_404(site: Site) -> None:
    r = await site.client.get("/v1/problems/never-submitted")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
