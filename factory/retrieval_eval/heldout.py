"""The held-out check through the public API: what goes in, and how the drafted scripts score.

The held-out queries (``data/heldout.jsonl``) were never used to fit the relevance models. The
check posts every passage with ``POST /v1/knowledge`` and every query as a problem with
``POST /v1/problems:batch``, lets the real content worker index and draft them, and reads the
citations and the explanation of each ``scripts.drafted`` record (the drafting step's public
output). The I/O is the caller's (tests/integration/test_retrieval_heldout_api.py); this module
builds the request bodies and scores what came out, with the same metrics as the in-process
run (``factory.retrieval_eval.drafting``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from factory.retrieval_eval.dataset import Passage, Query, evaluate_citations
from factory.retrieval_eval.drafting import (
    Outcome,
    format_scores,
    narration_report,
    outcome,
    problem,
)

__all__ = ["VENUS", "format_scores", "knowledge_body", "problem_body", "problem_id", "score"]

# The example: asked which planet is hottest (Venus, an English passage), the script
# narrated the Korean passage on Jupiter. Its held-out paraphrase.
VENUS = "h-xl-01"


def knowledge_body(passage: Passage) -> dict[str, Any]:
    """A passage as a ``POST /v1/knowledge`` request body."""
    return {
        "document_id": passage.passage_id,
        "title": passage.title,
        "subject": passage.subject,
        "language": passage.language,
        "content_type": "text/plain",
        "content": passage.text,
        "tags": ["retrieval-eval"],
    }


def problem_body(query: Query, queries: Sequence[Query]) -> dict[str, Any]:
    """A query as a ``POST /v1/problems`` body: the problem the in-process run drafts (its
    answer among other answers of the set, no author explanation), minus the event fields."""
    record = problem(query, queries)
    return {key: value for key, value in record.items() if key not in ("meta", "submitted_by")}


def score(
    scripts: Mapping[str, Mapping[str, Any]],
    queries: Sequence[Query],
    passage_of: Mapping[str, str],
    passages: Sequence[Passage],
) -> tuple[list[Outcome], dict[str, Any]]:
    """Outcomes and report of drafted scripts: ``scripts`` maps problem ids to one
    ``scripts.drafted`` record each, ``passage_of`` chunk ids to passage ids (from
    ``knowledge.indexed``). The report holds ``report`` (citations per split) and
    ``narration`` (spoken facts per split, and how many miss the answer or the passage)."""
    texts = {p.passage_id: p.text for p in passages}
    outcomes = [outcome(q, scripts[problem_id(q)], passage_of, texts) for q in queries]
    report = evaluate_citations({o.query.query_id: o.cited for o in outcomes}, queries)
    return outcomes, {"report": report, "narration": narration_report(outcomes)}


def problem_id(query: Query) -> str:
    """The problem id a query is submitted under (as in the in-process run)."""
    return f"eval-{query.query_id}"
