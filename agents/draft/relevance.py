"""Is this passage relevant to this question? A calibrated probability (pure).

Raw cosine does not answer it: e5-small scores unrelated Korean passages 0.80-0.88 and the
right one 0.88-0.93, and the scales of two embedders differ. So each candidate gets features
that mean the same for every question, and a logistic model fitted on the evaluation set
(``python -m factory.retrieval_eval.calibrate``) turns them into a probability:

- the cosine of each index that found it (the within-language index and the cross-lingual one);
- its *margin* over the best other candidate of the same kind: a passage that is only one of
  several equally close ones is rarely the one that answers;
- the weighted share of the question's (and answer's) key terms it contains
  (``agents.draft.lexical``), and that share's margin;
- the share of the *answer's* key terms it contains: a passage that never names the answer
  rarely explains it ("Who was the first woman in space?" is not answered by Gagarin's);
- the share of the question's names and numbers it contains (1 when the question has
  none): "설악산은 어느 도에 있나요?" is not answered by a passage that only says 강원도;
- its BM25 score over the analyser's morphemes (``lexical.bm25``, document frequencies over
  the question's candidates), relative to the best candidate's: the lexical half of the
  hybrid ranking.

Same-language and foreign-language candidates have separate models: across languages the
cosines are lower and lexical evidence is limited to names and numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FEATURES = (
    "bias",
    "primary",
    "primary_margin",
    "cross",
    "cross_margin",
    "lexical",
    "lex_margin",
    "answer",
    "bm25",
    "names",
)


@dataclass(frozen=True)
class Candidate:
    """One passage found for a question, with the evidence about it."""

    chunk_id: str
    text: str
    language: str
    foreign: bool  # in another language than the question
    # cosine per index role ("primary", "cross"); a role that did not return the passage
    # contributes the lowest score it returned (an upper bound on the passage's own)
    dense: Mapping[str, float]
    lexical: float
    answer: float = 0.0
    bm25: float = 0.0  # raw score; the feature is relative to the best of its kind
    names: float = 1.0


@dataclass(frozen=True)
class LogisticModel:
    """``sigmoid(weights . features)``; weights in :data:`FEATURES` order."""

    weights: tuple[float, ...]

    def probability(self, features: Sequence[float]) -> float:
        z = sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True)
class Calibration:
    """The fitted models of one pair of embedders, and where they came from."""

    same: LogisticModel
    foreign: LogisticModel
    source: str = ""


def features(candidate: Candidate, rivals: Sequence[Candidate]) -> tuple[float, ...]:
    """The feature vector of ``candidate`` among ``rivals`` (the candidates of its kind,
    itself included)."""

    def margin(value: float, others: list[float]) -> float:
        return value - max(others) if others else value

    others = [r for r in rivals if r.chunk_id != candidate.chunk_id]
    primary = candidate.dense.get("primary", 0.0)
    cross = candidate.dense.get("cross", 0.0)
    return (
        1.0,
        primary,
        margin(primary, [r.dense.get("primary", 0.0) for r in others]),
        cross,
        margin(cross, [r.dense.get("cross", 0.0) for r in others]),
        candidate.lexical,
        margin(candidate.lexical, [r.lexical for r in others]),
        candidate.answer,
        candidate.bm25 / best if (best := max(r.bm25 for r in rivals)) > 0 else 0.0,
        candidate.names,
    )


def score(candidates: Sequence[Candidate], calibration: Calibration) -> list[float]:
    """The probability that each candidate is relevant, in input order."""
    same = [c for c in candidates if not c.foreign]
    foreign = [c for c in candidates if c.foreign]
    return [
        (calibration.foreign if c.foreign else calibration.same).probability(
            features(c, foreign if c.foreign else same)
        )
        for c in candidates
    ]
