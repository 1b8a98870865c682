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
            (-7.7377, 1.4189, 1.3996, 1.7067, 2.5928, 2.5318, 3.4889, 3.1627, 1.8890)
        ),
        foreign=LogisticModel(
            (-6.5106, 1.4446, 1.3951, 5.7372, 5.1814, 2.0467, 2.8354, 2.6965, -0.0389)
        ),
        source="evaluation set 2026-12-07, 377 queries, 9137 candidates",
    ),
    ("e5-small", ""): Calibration(
        same=LogisticModel(
            (-8.9818, 1.5526, 1.5633, 1.5526, 1.5633, 2.7469, 3.8915, 3.1770, 2.2597)
        ),
        foreign=LogisticModel(
            (-7.8225, 2.2688, 2.2753, 2.2688, 2.2753, 2.2885, 3.6434, 2.6922, 0.7640)
        ),
        source="evaluation set 2026-12-07, 377 queries, 7208 candidates",
    ),
    ("use-m3", ""): Calibration(
        same=LogisticModel(
            (-6.5252, 0.9376, 1.9215, 0.9376, 1.9215, 2.5860, 3.2605, 3.2612, 1.7991)
        ),
        foreign=LogisticModel(
            (-5.8440, 3.6552, 3.4365, 3.6552, 3.4365, 1.9106, 2.4779, 2.6616, -0.0913)
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
