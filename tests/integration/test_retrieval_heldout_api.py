"""The held-out retrieval check through the public API (issue 17): every passage of the
evaluation corpus posted with ``POST /v1/knowledge``, every held-out query (never used to fit
the relevance models) posted as a problem with ``POST /v1/problems:batch``; the real content
worker (kiwipiepy, e5-small + USE-m3, the embedded Qdrant engine) indexes and drafts them, and
the citations and explanation of each ``scripts.drafted`` record are scored.

Run with ``-s`` to see the table that docs/retrieval-eval.md quotes:

    pytest -s tests/integration/test_retrieval_heldout_api.py
"""

# ruff: noqa: F811 - pytest injects imported fixtures by name
from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from factory.retrieval_eval import load_heldout, load_passages
from factory.retrieval_eval.heldout import (
    VENUS,
    format_scores,
    knowledge_body,
    problem_body,
    problem_id,
    score,
)
from services.api.app import create_app
from services.api.deps import build_default_deps
from services.api.status import InMemoryStatusReader
from streams.settings import Settings
from tests.integration.kafka_helpers import committed_consumer, consume_until
from tests.integration.registry_fixtures import registry_url  # noqa: F401
from tests.integration.worker_process import running_worker

pytestmark = pytest.mark.integration


async def _decoded(serde: Any, records: list[Any], expected: str) -> list[dict[str, Any]]:
    return [(await serde.decode(r.value, expected=expected)).record for r in records]


async def test_heldout_queries_through_the_public_api(
    settings: Settings, registry_url: str, tmp_path: Path
) -> None:
    passages, queries = load_passages(), load_heldout()
    async with running_worker(
        settings, registry_url, "content", tmp_path / "worker.log", draft_variants_per_problem=1
    ) as (settings, serde, producer):
        deps = await build_default_deps(settings, producer, serde, InMemoryStatusReader())
        key = deps.keys.create_key("heldout", ["problems:write", "knowledge:write"])
        indexed = await committed_consumer(settings, "knowledge.indexed")
        drafted = await committed_consumer(settings, "scripts.drafted")
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(create_app(deps)),
                base_url="http://api",
                headers={"Authorization": f"Bearer {key}"},
            ) as client:
                for passage in passages:
                    r = await client.post("/v1/knowledge", json=knowledge_body(passage))
                    assert r.status_code == 202, r.text
                # Problems only once every passage is indexed: a fact indexed later would be
                # missed, which is not what this checks.
                docs = await _decoded(
                    serde,
                    await consume_until(indexed, lambda rs: len(rs) >= len(passages), timeout=600),
                    "KnowledgeIndexed",
                )
                passage_of = {c: d["document_id"] for d in docs for c in d["chunk_ids"]}
                r = await client.post(
                    "/v1/problems:batch",
                    json={"problems": [problem_body(q, queries) for q in queries]},
                )
                assert r.status_code == 202, r.text
                scripts = {
                    s["problem_id"]: s
                    for s in await _decoded(
                        serde,
                        await consume_until(
                            drafted, lambda rs: len(rs) >= len(queries), timeout=300
                        ),
                        "ScriptDrafted",
                    )
                }
        finally:
            await indexed.stop()
            await drafted.stop()
            await deps.aclose()

    outcomes, result = score(scripts, queries, passage_of, passages)
    print("\nheld-out queries through the public API")
    print(format_scores(result["report"], result["narration"]))
    report, spoken = result["report"], result["narration"]

    # Never a spoken fact that misses the answer or comes from another passage.
    assert spoken["overall"]["narrated"] > 0
    assert spoken["overall"]["missing_answer"] == 0
    assert spoken["overall"]["wrong_passage"] == 0
    # The case: the hottest planet is answered by the English Venus passage, and the
    # Korean passage on Jupiter is neither cited nor spoken.
    venus = next(o for o in outcomes if o.query.query_id == VENUS)
    assert venus.cited == ["en-sci-p004"]
    assert "목성" not in venus.narrated
    # Floors below the measured figures (docs/retrieval-eval.md): they fail on a regression,
    # not on one query of a small set.
    assert report["overall"]["citation_precision"] >= 0.9
    assert report["ko"]["recall_at_k"] >= 0.85
    assert report["ko_en"]["recall_at_k"] >= 0.6
    assert report["none"]["abstention"] >= 0.6
    assert all(problem_id(q) in scripts for q in queries)
