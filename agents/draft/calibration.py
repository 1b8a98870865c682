"""Fitted relevance models, one per pair of embedders (primary, cross-lingual).

Produced by ``python -m factory.retrieval_eval.calibrate`` on the evaluation set
(docs/retrieval-eval.md), which prints these entries and the precision/recall curve of the
citation threshold (quoted in docs/retrieval-eval.md). The probabilities they give mean the same
for every pair, so one set of thresholds serves all; a pair without an entry cannot be used:
its cosines mean something else.
"""

from __future__ import annotations

from agents.draft.relevance import Calibration, LogisticModel

CALIBRATIONS: dict[tuple[str, str], Calibration] = {
    ("e5-small", "use-m3"): Calibration(
        same=LogisticModel(
            (-7.6495, 1.4366, 1.4361, 1.7563, 2.6674, 2.4703, 3.4551, 3.2279, 1.7725)
        ),
        foreign=LogisticModel(
            (-6.5208, 1.4987, 1.4494, 5.7707, 5.1490, 2.2110, 2.7719, 2.5443, -0.0220)
        ),
        source="evaluation set 2026-12-07, 377 queries, 9137 candidates",
    ),
    ("e5-small", ""): Calibration(
        same=LogisticModel(
            (-8.9122, 1.5834, 1.6182, 1.5834, 1.6182, 2.6947, 3.8830, 3.2356, 2.1386)
        ),
        foreign=LogisticModel(
            (-7.8797, 2.3307, 2.3374, 2.3307, 2.3374, 2.4855, 3.5501, 2.5619, 0.8170)
        ),
        source="evaluation set 2026-12-07, 377 queries, 7208 candidates",
    ),
    ("use-m3", ""): Calibration(
        same=LogisticModel(
            (-6.4326, 0.9636, 1.9739, 0.9636, 1.9739, 2.5249, 3.2187, 3.3287, 1.6925)
        ),
        foreign=LogisticModel(
            (-5.8092, 3.6810, 3.4003, 3.6810, 3.4003, 2.0658, 2.4323, 2.4866, -0.0917)
        ),
        source="evaluation set 2026-12-07, 377 queries, 7208 candidates",
    ),
}


def calibration_for(primary: str, cross: str) -> Calibration:
    """The fitted models for embedders ``primary`` and ``cross`` (settings names; ``cross``
    "" or equal to ``primary`` when there is no separate cross-lingual index). ``ValueError``
    names the calibrated pairs."""
    if cross == primary:
        cross = ""  # one multilingual index serves both kinds of candidate
    try:
        return CALIBRATIONS[(primary, cross)]
    except KeyError:
        pairs = ", ".join(f"{p}+{c or 'none'}" for p, c in CALIBRATIONS)
        raise ValueError(
            f"no relevance calibration for embedders {primary}+{cross or 'none'} "
            f"(calibrated: {pairs}); run python -m factory.retrieval_eval.calibrate"
        ) from None
