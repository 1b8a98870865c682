"""The evaluation set run through the real drafting path.

    python -m factory.retrieval_eval.drafting [--embedder e5-small] [--crosslingual use-m3]
        [--heldout] [--limit N] [--features FILE] [--json FILE]

Every passage is indexed by the real ``IndexStep`` into a fresh embedded vector store (with the
real embedders), every query is submitted as a problem to the real ``DraftStep`` whose fact
source is built by ``factory.steps.fact_retriever`` from ``Settings`` - the production
construction, not a parallel path. The report scores what the scripts cite (per slice:
citation precision, recall@5, MRR, abstention) and what they *say*: a narrated fact must come
from the query's relevant passage and state the answer.

``--heldout`` runs the held-out queries instead (``data/heldout.jsonl``: never fitted on; the
same check through the public API is tests/integration/test_retrieval_heldout_api.py).
``--limit`` keeps every N-th query (a quick run for tests); ``--features`` writes every judged
candidate with its features, which ``factory.retrieval_eval.calibrate`` fits.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.draft import DraftStep
from agents.draft.lexical import mentions
from agents.draft.relevance import Candidate, features
from agents.index import IndexStep
from factory.resources import Resources
from factory.retrieval_eval.dataset import (
    SLICES,
    Passage,
    Query,
    SliceScore,
    evaluate_citations,
    load_heldout,
    load_passages,
    load_queries,
)
from factory.steps import fact_retriever, knowledge_indexes
from schemas.records import KnowledgeDocumentIngested, ProblemSubmitted
from streams import events
from streams.settings import Settings

CHOICES = 4


@dataclass
class Outcome:
    """What drafting did with one query."""

    query: Query
    cited: list[str]  # passage ids, best first
    narrated: str  # the fact sentence the script speaks, "" for none
    narrated_from: str | None  # its passage id


@dataclass
class Run:
    outcomes: list[Outcome]
    report: dict[str, SliceScore]
    narration: dict[str, dict[str, float]]
    seconds: dict[str, float]
    features: list[dict[str, Any]] = field(default_factory=list)


def document(passage: Passage) -> KnowledgeDocumentIngested:
    """A passage as the knowledge API would publish it."""
    return {
        "meta": events.meta(correlation_id=events.new_id()),
        "document_id": passage.passage_id,
        "title": passage.title,
        "subject": passage.subject,
        "language": passage.language,
        "content_type": "text/plain",
        "content": passage.text,
        "content_sha256": hashlib.sha256(passage.text.encode()).hexdigest(),
        "tags": [],
        "deleted": False,
        "submitted_by": "retrieval-eval",
    }


def problem(query: Query, queries: Sequence[Query]) -> ProblemSubmitted:
    """A query as a quiz problem: its answer among distractors (other answers in its language,
    picked and placed by a stable hash) and no author explanation, so anything the script
    explains comes from a retrieved fact."""

    def rank(text: str) -> str:
        return hashlib.sha256(f"{query.query_id}\x1f{text}".encode()).hexdigest()

    others = sorted(
        {q.answer for q in queries if q.language == query.language and q.answer != query.answer},
        key=rank,
    )[: CHOICES - 1]
    position = int(rank("answer"), 16) % CHOICES
    choices = [*others[:position], query.answer, *others[position:]]
    return {
        "meta": events.meta(correlation_id=events.new_id()),
        "problem_id": f"eval-{query.query_id}",
        "language": query.language,
        "subject": query.subject,
        "question": query.text,
        "choices": choices,
        "answer_index": position,
        "explanation": "",
        "difficulty": None,
        "tags": [],
        "submitted_by": "retrieval-eval",
    }


async def run(settings: Settings, queries: Sequence[Query], passages: Sequence[Passage]) -> Run:
    resources = Resources(settings)
    recorded: list[dict[str, Any]] = []
    by_problem = {f"eval-{q.query_id}": q for q in queries}
    try:
        started = time.perf_counter()
        indexer = IndexStep(
            store=resources.vector_store,
            indexes=knowledge_indexes(settings, resources),
            max_chars=settings.chunk_max_chars,
        )
        passage_of: dict[str, str] = {}
        for passage in passages:
            (emit,) = await indexer(document(passage))
            passage_of.update(dict.fromkeys(emit.record["chunk_ids"], passage.passage_id))
        indexed = time.perf_counter()

        def observe(
            problem: ProblemSubmitted, candidates: list[Candidate], probabilities: list[float]
        ) -> None:
            query = by_problem[problem["problem_id"]]
            same = [c for c in candidates if not c.foreign]
            foreign = [c for c in candidates if c.foreign]
            for c, p in zip(candidates, probabilities, strict=True):
                recorded.append(
                    {
                        "query_id": query.query_id,
                        "slice": query.slice,
                        "passage_id": passage_of[c.chunk_id],
                        "relevant": passage_of[c.chunk_id] == query.passage_id,
                        "foreign": c.foreign,
                        "features": features(c, foreign if c.foreign else same),
                        "probability": p,
                    }
                )

        retriever = fact_retriever(settings, resources)
        retriever.observe = observe
        step = DraftStep(k=1, retriever=retriever, grounding_min_score=settings.grounding_min_score)
        outcomes = []
        texts = {p.passage_id: p.text for p in passages}
        for query in queries:
            (emit,) = await step(problem(query, queries))
            outcomes.append(outcome(query, emit.record, passage_of, texts))
        drafted = time.perf_counter()
    finally:
        await resources.vector_store.close()
    report = evaluate_citations({o.query.query_id: o.cited for o in outcomes}, queries)
    return Run(
        outcomes,
        report,
        narration_report(outcomes),
        {
            "index_s": indexed - started,
            "draft_s": drafted - indexed,
            "ms_per_problem": 1000 * (drafted - indexed) / max(1, len(queries)),
        },
        recorded,
    )


def outcome(
    query: Query,
    script: Mapping[str, Any],
    passage_of: Mapping[str, str],
    texts: Mapping[str, str],
) -> Outcome:
    """What one drafted script (a ``scripts.drafted`` record) cites and says for ``query``:
    ``passage_of`` maps chunk ids to passage ids, ``texts`` passage ids to their text. The
    problem has no author explanation, so whatever the explanation says is a spoken fact."""
    cited = [passage_of[c["chunk_id"]] for c in script["citations"]]
    narrated = str(script["explanation"]).strip()
    source = next((p for p in cited if narrated and narrated in texts[p]), None)
    return Outcome(query, cited, narrated, source)


def narration_report(outcomes: Sequence[Outcome]) -> dict[str, dict[str, float]]:
    """Per slice: how many scripts speak a fact, and how many of those are wrong - a fact that
    does not state the answer, or that is not from the query's relevant passage."""
    rows: dict[str, dict[str, float]] = {}
    for name in ("overall", *SLICES):
        members = [o for o in outcomes if name in ("overall", o.query.slice)]
        if not members:
            continue
        spoken = [o for o in members if o.narrated]
        rows[name] = {
            "narrated": float(len(spoken)),
            "missing_answer": float(sum(not mentions(o.narrated, o.query.answer) for o in spoken)),
            "wrong_passage": float(sum(o.narrated_from != o.query.passage_id for o in spoken)),
        }
    return rows


def format_scores(
    report: Mapping[str, SliceScore], narration: Mapping[str, Mapping[str, float]]
) -> str:
    """Citations and spoken facts per split, one line each."""
    head = (
        f"{'split':<8} {'queries':>7} {'cited':>5} {'precision':>9} {'R@5':>6} {'MRR':>6} "
        f"{'abstain':>7} {'no-cite':>7} {'spoken':>6} {'bad':>4}"
    )
    lines = [head]
    for name, row in report.items():
        spoken = narration[name]
        bad = spoken["missing_answer"] + spoken["wrong_passage"]

        def cell(key: str, row: SliceScore = row) -> str:
            return f"{row[key]:.3f}" if key in row else "-"

        lines.append(
            f"{name:<8} {int(row['queries']):>7} {int(row['cited']):>5} "
            f"{cell('citation_precision'):>9} {cell('recall_at_k'):>6} {cell('mrr'):>6} "
            f"{cell('abstention'):>7} {cell('false_abstention'):>7} "
            f"{int(spoken['narrated']):>6} {int(bad):>4}"
        )
    return "\n".join(lines)


def format_report(result: Run) -> str:
    s = result.seconds
    return (
        format_scores(result.report, result.narration)
        + f"\nindexing {s['index_s']:.1f} s; drafting {s['draft_s']:.1f} s "
        f"({s['ms_per_problem']:.0f} ms/problem)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--embedder", default="e5-small")
    parser.add_argument("--crosslingual", default="use-m3", help='"" for no cross-lingual index')
    parser.add_argument("--limit", type=int, default=1, help="keep every N-th query")
    parser.add_argument("--features", type=Path, help="write judged candidates (JSON lines)")
    parser.add_argument("--json", type=Path, help="write the report as JSON")
    parser.add_argument(
        "--heldout", action="store_true", help="the held-out queries (never fitted on)"
    )
    args = parser.parse_args(argv)
    queries = (load_heldout() if args.heldout else load_queries())[:: args.limit]
    passages = load_passages()
    with tempfile.TemporaryDirectory(prefix="munjero-eval-") as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            embedder=args.embedder,
            crosslingual_embedder=args.crosslingual,
        )
        result = asyncio.run(run(settings, queries, passages))
    print(
        f"embedders {args.embedder}+{args.crosslingual or 'none'}; "
        f"cite >= {settings.retrieval_min_score}, speak >= {settings.grounding_min_score}"
    )
    print(format_report(result))
    if args.features:
        with args.features.open("w", encoding="utf-8") as out:
            for row in result.features:
                out.write(json.dumps(row) + "\n")
    if args.json:
        args.json.write_text(
            json.dumps({"report": result.report, "narration": result.narration}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
