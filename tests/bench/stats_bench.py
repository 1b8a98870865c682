"""A/B statistics figures: power at the stated sample size, the A/A false-positive rate under
continuous monitoring, and agreement with statsmodels on the same data.

    python -m tests.bench.stats_bench [--runs 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from agents.experiments.simulate import measure_fpr, measure_power
from agents.experiments.stats import ArmCounts, two_proportion_ztest

SHORTS_PER_ARM = 600
LIFT = 0.10


def agreement(samples: int = 200, seed: int = 11) -> float:
    """Max |ours - statsmodels| over z statistic, p-value and CI bounds on random datasets."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(samples):
        trials = rng.integers(1_000, 2_000_000, size=2)
        successes = rng.binomial(trials, rng.uniform(0.01, 0.2, size=2))
        a = ArmCounts("a", 10, float(successes[0]), float(trials[0]))
        b = ArmCounts("b", 10, float(successes[1]), float(trials[1]))
        ours = two_proportion_ztest(a, b)
        z, p = proportions_ztest([successes[0], successes[1]], [trials[0], trials[1]])
        low, high = confint_proportions_2indep(
            successes[0], trials[0], successes[1], trials[1], method="wald"
        )
        worst = max(
            worst,
            abs(ours.statistic - z),
            abs(ours.p_value - p),
            abs(ours.ci_low - low),
            abs(ours.ci_high - high),
        )
    return worst


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    power = measure_power(relative_lift=LIFT, shorts_per_arm=SHORTS_PER_ARM, runs=args.runs // 2)
    fpr = measure_fpr(shorts_per_arm=SHORTS_PER_ARM, runs=args.runs)
    naive = measure_fpr(shorts_per_arm=SHORTS_PER_ARM, runs=args.runs // 5, unit="impression")
    print(
        f"power:    {power.power:.3f} at {SHORTS_PER_ARM} shorts/arm, +{LIFT:.0%} CTR (5% base), "
        f"monitored every 10 shorts ({args.runs // 2} runs; target >= 0.95)"
    )
    print(
        f"A/A FPR:  {fpr.rate:.3f} over {args.runs} runs with continuous monitoring "
        f"(target <= 0.05); pooled-impression analysis would give {naive.rate:.3f}"
    )
    print(f"agreement with statsmodels (z, p, Wald CI): max |diff| {agreement():.2e} (<= 1e-6)")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
