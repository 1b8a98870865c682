"""Thompson-sampling arm weights for CTR and the ExperimentUpdated record that carries them (pure).

Weights bias which arms the next problems are drafted in (``agents.drafting.arms``); they never
decide an experiment -- ``stats.decide`` does, with an always-valid stopping rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.experiments.stats import ArmCounts, Decision, beta_binomial
from streams.events import meta


def thompson_weights(
    arms: Sequence[ArmCounts],
    *,
    rng: np.random.Generator | None = None,
    draws: int = 10_000,
    burn_in_shorts: int = 30,
    floor: float = 0.02,
    prior: tuple[float, float] = (1.0, 1.0),
) -> dict[str, float]:
    """Arm id -> share of the next shorts, summing to 1.

    Uniform until every arm has ``burn_in_shorts`` shorts: early posteriors rest on a handful of
    videos whose quality noise would otherwise lock in a lucky arm. Afterwards each arm gets
    ``floor + (1 - k * floor) * P(arm is best)``, so every arm keeps at least ``floor`` of the
    traffic and the experiment can still detect that it was wrong.

    P(arm is best) is Thompson sampling's allocation in expectation. Without ``rng`` it is the
    exact integral of ``beta_binomial`` (the default: the same counts always give the same
    weights, so a replayed update is byte-identical, and there is no Monte Carlo error next to a
    2% floor). With ``rng`` it is estimated from ``draws`` posterior draws per arm, which costs
    O(draws * k) whatever the posteriors look like -- the choice for very many arms.

    Pass counts ``deflated`` by the design effect: the Beta posterior of pooled impressions is
    overconfident when shorts differ in quality, which would make the bandit exploit too early.
    """
    k = len(arms)
    if k == 0:
        return {}
    if floor < 0 or k * floor > 1:
        raise ValueError(f"floor {floor} impossible for {k} arms")
    ids = [arm.arm_id for arm in arms]
    if len(set(ids)) != k:
        raise ValueError("duplicate arm ids")
    if any(arm.shorts < burn_in_shorts for arm in arms):
        return dict.fromkeys(ids, 1.0 / k)
    if rng is None:
        best = {arm_id: chance for arm_id, (chance, _) in beta_binomial(arms, prior).items()}
    else:
        alphas = np.array([prior[0] + arm.successes for arm in arms])
        betas = np.array([prior[1] + arm.trials - arm.successes for arm in arms])
        samples = rng.beta(alphas, betas, size=(draws, k))
        wins = np.bincount(np.argmax(samples, axis=1), minlength=k)
        best = {arm_id: float(w) / draws for arm_id, w in zip(ids, wins, strict=True)}
    # Renormalising first absorbs the ~1e-14 by which the integrals miss summing to one.
    total = sum(best.values())
    return {arm_id: floor + (1 - k * floor) * best[arm_id] / total for arm_id in ids}


def experiment_record(
    experiment_id: str,
    metric: str,
    arms: Sequence[ArmCounts],
    weights: Mapping[str, float],
    decision: Decision,
    chance: Mapping[str, float] | None = None,
    *,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """An ExperimentUpdated record. The correlation id defaults to the experiment id, so every
    update of one experiment can be traced together; ``chance`` is P(arm is best) when known."""
    return {
        "meta": meta(event_id=event_id, correlation_id=correlation_id or experiment_id),
        "experiment_id": experiment_id,
        "metric": metric,
        "arms": [
            {
                "arm_id": arm.arm_id,
                "weight": float(weights[arm.arm_id]),
                "shorts": int(arm.shorts),
                "successes": float(arm.successes),
                "trials": float(arm.trials),
                "chance_to_win": None if chance is None else chance.get(arm.arm_id),
            }
            for arm in arms
        ],
        "decision": decision.winner,
        "reason": decision.reason,
    }
