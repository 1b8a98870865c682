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
            (-8.4103, 1.3354, 1.4025, 1.9527, 2.6628, 2.1596, 3.4573, 3.3176, 1.8460, 1.1624)
        ),
        foreign=LogisticModel(
            (-6.6264, 1.3034, 1.3238, 5.7629, 5.1721, 1.8928, 2.9371, 2.9690, -0.1840, 0.6104)
        ),
        source="evaluation set 2026-12-07, 377 queries, 9137 candidates",
    ),
    ("e5-small", ""): Calibration(
        same=LogisticModel(
            (-9.4450, 1.5019, 1.5812, 1.5019, 1.5812, 2.4628, 3.8897, 3.3109, 2.2800, 0.8843)
        ),
        foreign=LogisticModel(
            (-7.7880, 2.1330, 2.1712, 2.1330, 2.1712, 2.2382, 3.7072, 2.9627, 0.6266, 0.4215)
        ),
        source="evaluation set 2026-12-07, 377 queries, 7208 candidates",
    ),
    ("use-m3", ""): Calibration(
        same=LogisticModel(
            (-7.4314, 1.0772, 1.9336, 1.0772, 1.9336, 2.1779, 3.1993, 3.4867, 1.7840, 1.3526)
        ),
        foreign=LogisticModel(
            (-6.0837, 3.6696, 3.4037, 3.6696, 3.4037, 1.6562, 2.7693, 2.9620, -0.2559, 0.6680)
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
