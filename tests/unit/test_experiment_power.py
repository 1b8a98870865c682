"""Power and false-positive rate of the stopping rule under continuous monitoring.

Stated design: two arms, 600 shorts per arm, impressions per short ~ Poisson(2000), per-short
quality lognormal (log-sd 0.3, mean 1), base CTR 5%. ``decide`` is checked after every 10
shorts per arm (60 looks). Seeded and vectorised: well under a few seconds.
"""

from __future__ import annotations

import math

from agents.experiments.simulate import measure_fpr, measure_power

SHORTS_PER_ARM = 600
LIFT = 0.10  # relative: 5.0% -> 5.5% CTR


def test_power_of_a_ten_percent_lift() -> None:
    result = measure_power(
        base_ctr=0.05, relative_lift=LIFT, shorts_per_arm=SHORTS_PER_ARM, runs=200
    )
    print(
        f"power at {SHORTS_PER_ARM} shorts/arm for a {LIFT:.0%} lift: {result.power:.3f} "
        f"({result.correct}/{result.runs}); mean stop at {result.mean_stop_shorts:.0f} shorts/arm"
    )
    assert result.declared == result.correct  # never the worse arm
    assert result.power >= 0.95


def test_aa_false_positive_rate_under_continuous_monitoring() -> None:
    result = measure_fpr(base_ctr=0.05, shorts_per_arm=SHORTS_PER_ARM, runs=1000)
    bound = 0.05 + 2 * math.sqrt(0.05 * 0.95 / result.runs)
    print(f"A/A false-positive rate with 60 looks: {result.rate:.3f} (bound {bound:.3f})")
    assert result.rate <= bound


def test_aa_catches_impressions_treated_as_independent_trials() -> None:
    """The same A/A data analysed per impression: the FPR test above would fail it."""
    naive = measure_fpr(base_ctr=0.05, shorts_per_arm=SHORTS_PER_ARM, runs=200, unit="impression")
    print(f"A/A false-positive rate, impressions as trials: {naive.rate:.3f}")
    assert naive.rate > 0.05 + 2 * math.sqrt(0.05 * 0.95 / naive.runs)
