"""Near-duplicate problems are flagged (real e5 embedder, real qdrant-edge store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.draft import DraftStep, DuplicateDetector
from connectors.embeddings.factory import open_embedder
from connectors.vectors.edge_adapter import EdgeVectorStore
from tests.factories import problem_event

pytestmark = pytest.mark.integration


async def test_a_repeated_problem_is_flagged_and_distinct_ones_are_not(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path / "qdrant")
    detector = DuplicateDetector(store, open_embedder("e5-small"), min_score=0.97)
    step = DraftStep(k=2, duplicates=detector)
    try:
        original = problem_event(0, problem_id="original")
        # Same question resubmitted under a new id, with a trailing space and reordered tags.
        repeat = problem_event(0, problem_id="repeat", question=original["question"] + " ")
        others = [problem_event(i, problem_id=f"other-{i}") for i in range(1, 30)]

        first = await step(original)
        assert {e.record["duplicate_of"] for e in first} == {None}
        for other in others:
            assert {e.record["duplicate_of"] for e in await step(other)} == {None}
        again = await step(repeat)
        assert {e.record["duplicate_of"] for e in again} == {"original"}
        # Re-drafting the same problem id (a replay) is not a duplicate of itself.
        assert {e.record["duplicate_of"] for e in await step(original)} == {None}
    finally:
        await store.close()
