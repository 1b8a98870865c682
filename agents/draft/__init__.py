"""Drafting: rules (``rules``), facts and duplicates over ports (``facts``), the step (``step``)."""

from agents.draft.calibration import calibration_for
from agents.draft.facts import DuplicateDetector, FactSource, Retriever
from agents.draft.rules import (
    AGENT,
    STEP,
    grounded_explanation,
    normalised_problem,
    retrieval_query,
    script_record,
    speakable,
    validate_problem,
)
from agents.draft.step import DraftStep
from agents.drafting.writer_port import Fact
from agents.knowledge.indexes import DenseIndex

__all__ = [
    "AGENT",
    "STEP",
    "DenseIndex",
    "DraftStep",
    "DuplicateDetector",
    "Fact",
    "FactSource",
    "Retriever",
    "calibration_for",
    "grounded_explanation",
    "normalised_problem",
    "retrieval_query",
    "script_record",
    "speakable",
    "validate_problem",
]
