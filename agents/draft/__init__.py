"""Drafting: rules (``rules``), facts and duplicates over ports (``facts``), the step (``step``)."""

from agents.draft.facts import DuplicateDetector, FactSource, Retriever
from agents.draft.rules import (
    AGENT,
    STEP,
    grounded_explanation,
    retrieval_query,
    script_record,
    validate_problem,
)
from agents.draft.step import DraftStep
from agents.drafting.writer_port import Fact

__all__ = [
    "AGENT",
    "STEP",
    "DraftStep",
    "DuplicateDetector",
    "Fact",
    "FactSource",
    "Retriever",
    "grounded_explanation",
    "retrieval_query",
    "script_record",
    "validate_problem",
]
