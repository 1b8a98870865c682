"""Retrieval evaluation set for choosing the embedding model and calibrating drafting (see
docs/retrieval-eval.md): bilingual passages, paraphrased queries and pure scoring functions."""

from factory.retrieval_eval.dataset import (
    SLICES,
    Passage,
    Query,
    SliceScore,
    evaluate,
    evaluate_citations,
    load_heldout,
    load_passages,
    load_queries,
    recall_at_k,
    reciprocal_rank,
    validate,
)

__all__ = [
    "SLICES",
    "Passage",
    "Query",
    "SliceScore",
    "evaluate",
    "evaluate_citations",
    "load_heldout",
    "load_passages",
    "load_queries",
    "recall_at_k",
    "reciprocal_rank",
    "validate",
]
