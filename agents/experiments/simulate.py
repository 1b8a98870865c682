"""Seeded simulations of Shorts experiments (pure): the bandit policy against uniform allocation,
and the power and false-positive rate of the stopping rule under continuous monitoring.

The data model is deliberately not binomial: every short has its own quality (lognormal, mean
1), so its views are Binomial(impressions, ctr * quality). Pooled-impression statistics are
overconfident under this model, which is what the tests must be able to catch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from agents.experiments.bandit import thompson_weights
from agents.experiments.stats import (
    ArmCounts,
    ArmMoments,
    CtrArm,
    decide,
    design_effect,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ShortsModel:
    """How one short performs: impressions ~ Poisson(impressions_mean) (at least 1, so every
    short has a CTR), views ~ Binomial(impressions, ctr * quality), quality ~ lognormal with
    mean 1 and log-sd ``quality_sigma`` (0.3: a typical short is within -25%/+35% of its arm)."""

    impressions_mean: float = 2000.0
    quality_sigma: float = 0.3

    def draw(
        self, rng: np.random.Generator, ctr: FloatArray | float, size: tuple[int, ...]
    ) -> tuple[FloatArray, FloatArray]:
        """(impressions, views) of shorts of the given shape; ``ctr`` broadcasts to it."""
        impressions = np.maximum(rng.poisson(self.impressions_mean, size=size), 1)
        sigma = self.quality_sigma
        quality = rng.lognormal(-sigma * sigma / 2, sigma, size=size)
        p = np.minimum(np.asarray(ctr) * quality, 1.0)
        views = rng.binomial(impressions, p)
        return impressions.astype(np.float64), views.astype(np.float64)


@dataclass
class _Arm:
    arm_id: str
    shorts: int = 0
    views: float = 0.0
    impressions: float = 0.0
    ctr_sum: float = 0.0
    ctr_sq: float = 0.0

    def add(self, impressions: FloatArray, views: FloatArray) -> None:
        ctr = views / impressions
        self.shorts += len(ctr)
        self.views += float(views.sum())
        self.impressions += float(impressions.sum())
        self.ctr_sum += float(ctr.sum())
        self.ctr_sq += float((ctr * ctr).sum())

    def ctr_arm(self) -> CtrArm:
        return CtrArm(
            ArmCounts(self.arm_id, self.shorts, self.views, self.impressions),
            ArmMoments(self.arm_id, self.shorts, self.ctr_sum, self.ctr_sq),
        )


@dataclass(frozen=True)
class PolicyRun:
    """One simulated policy: per day, the share of shorts given to the true best arm and the
    cumulative regret (expected views lost against always publishing in the best arm)."""

    policy: str
    best_share: list[float]
    cumulative_regret: list[float]
    arms: list[CtrArm]


def simulate_policy(
    true_ctr: Mapping[str, float],
    *,
    policy: Literal["thompson", "uniform"],
    seed: int,
    days: int = 30,
    shorts_per_day: int = 20,
    model: ShortsModel = ShortsModel(),  # frozen: a shared default is safe
    burn_in_shorts: int = 10,
    floor: float = 0.02,
) -> PolicyRun:
    """Allocate ``shorts_per_day`` shorts a day by the policy's weights (multinomial),
    recomputing Thompson weights daily from design-effect-deflated counts."""
    rng = np.random.default_rng(seed)
    ids = sorted(true_ctr)
    ctr = np.array([true_ctr[i] for i in ids])
    best = int(np.argmax(ctr))
    arms = [_Arm(i) for i in ids]
    shares, regret, lost = [], [], 0.0
    for _ in range(days):
        if policy == "uniform":
            weights = np.full(len(ids), 1 / len(ids))
        else:
            current = [a.ctr_arm() for a in arms]
            deflated = [c.counts.deflated(design_effect(c.counts, c.per_short)) for c in current]
            w = thompson_weights(deflated, burn_in_shorts=burn_in_shorts, floor=floor)
            weights = np.array([w[i] for i in ids])
        allocation = rng.multinomial(shorts_per_day, weights)
        for k, count in enumerate(allocation):
            if count == 0:
                continue
            impressions, views = model.draw(rng, float(ctr[k]), (int(count),))
            arms[k].add(impressions, views)
            # Expected, not realised, views lost: regret should not depend on quality luck.
            lost += float(impressions.sum()) * float(ctr[best] - ctr[k])
        shares.append(float(allocation[best]) / shorts_per_day)
        regret.append(lost)
    return PolicyRun(policy, shares, regret, [a.ctr_arm() for a in arms])


def compare_policies(
    true_ctr: Mapping[str, float],
    *,
    seed: int,
    days: int = 30,
    shorts_per_day: int = 20,
    model: ShortsModel = ShortsModel(),
    burn_in_shorts: int = 10,
    floor: float = 0.02,
) -> tuple[PolicyRun, PolicyRun]:
    """(Thompson, uniform) with the same seed and settings."""

    def run(policy: Literal["thompson", "uniform"]) -> PolicyRun:
        return simulate_policy(
            true_ctr,
            policy=policy,
            seed=seed,
            days=days,
            shorts_per_day=shorts_per_day,
            model=model,
            burn_in_shorts=burn_in_shorts,
            floor=floor,
        )

    return run("thompson"), run("uniform")


@dataclass(frozen=True)
class MonitoringResult:
    """Continuous monitoring of a two-arm experiment over ``runs`` simulated replications."""

    runs: int
    declared: int  # runs in which decide() named any winner by the horizon
    correct: int  # ... named the truly better arm (0 in an A/A test)
    mean_stop_shorts: float  # shorts per arm at the first declaration, over declaring runs

    @property
    def rate(self) -> float:
        return self.declared / self.runs

    @property
    def power(self) -> float:
        return self.correct / self.runs


def _monitor(
    ctr_a: float,
    ctr_b: float,
    *,
    shorts_per_arm: int,
    runs: int,
    batch: int,
    seed: int,
    model: ShortsModel,
    alpha: float,
    unit: Literal["short", "impression"],
) -> MonitoringResult:
    rng = np.random.default_rng(seed)
    # All runs at once: (runs, 2 arms, shorts) draws, then running sums at every checkpoint.
    impressions, views = model.draw(
        rng, np.array([ctr_a, ctr_b])[None, :, None], (runs, 2, shorts_per_arm)
    )
    ctr = views / impressions
    checkpoints = np.arange(batch, shorts_per_arm + 1, batch) - 1
    sums = [np.cumsum(x, axis=2)[:, :, checkpoints] for x in (views, impressions, ctr, ctr * ctr)]
    v, m, c, c2 = (s.tolist() for s in sums)
    ids = ("a", "b")
    truth = "a" if ctr_a > ctr_b else "b" if ctr_b > ctr_a else None
    declared = correct = 0
    stops = []
    for r in range(runs):
        for t, last in enumerate(checkpoints):
            n = int(last) + 1
            if unit == "short":
                arms: list[CtrArm] | list[ArmMoments] = [
                    CtrArm(
                        ArmCounts(ids[k], n, v[r][k][t], m[r][k][t]),
                        ArmMoments(ids[k], n, c[r][k][t], c2[r][k][t]),
                    )
                    for k in range(2)
                ]
            else:
                # The mistake this harness exists to expose: every impression as an independent
                # Bernoulli observation (n = impressions, sum = sum of squares = views).
                arms = [
                    ArmMoments(ids[k], int(m[r][k][t]), v[r][k][t], v[r][k][t]) for k in range(2)
                ]
            decision = decide("simulation", "ctr", arms, alpha=alpha)
            if decision.winner is not None:
                declared += 1
                correct += decision.winner == truth
                stops.append(n)
                break
    return MonitoringResult(runs, declared, correct, float(np.mean(stops)) if stops else 0.0)


def measure_power(
    *,
    base_ctr: float = 0.05,
    relative_lift: float = 0.10,
    shorts_per_arm: int = 600,
    runs: int = 200,
    batch: int = 10,
    seed: int = 20240601,
    model: ShortsModel = ShortsModel(),
    alpha: float = 0.05,
) -> MonitoringResult:
    """How often ``decide``, checked after every ``batch`` shorts per arm, names the arm with
    the higher CTR within ``shorts_per_arm`` shorts per arm (``power``)."""
    return _monitor(
        base_ctr * (1 + relative_lift),
        base_ctr,
        shorts_per_arm=shorts_per_arm,
        runs=runs,
        batch=batch,
        seed=seed,
        model=model,
        alpha=alpha,
        unit="short",
    )


def measure_fpr(
    *,
    base_ctr: float = 0.05,
    shorts_per_arm: int = 600,
    runs: int = 1000,
    batch: int = 10,
    seed: int = 20240602,
    model: ShortsModel = ShortsModel(),
    alpha: float = 0.05,
    unit: Literal["short", "impression"] = "short",
) -> MonitoringResult:
    """A/A experiments monitored after every ``batch`` shorts: the share of runs in which
    ``decide`` ever names a winner (``rate``). ``unit="impression"`` runs the same data through
    the naive pooled-binomial analysis, to show what treating impressions as trials costs."""
    return _monitor(
        base_ctr,
        base_ctr,
        shorts_per_arm=shorts_per_arm,
        runs=runs,
        batch=batch,
        seed=seed,
        model=model,
        alpha=alpha,
        unit=unit,
    )
