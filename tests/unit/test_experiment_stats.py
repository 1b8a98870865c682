"""Experiment statistics, cross-checked against statsmodels and independent closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaln
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from agents.experiments.stats import (
    DEFAULT_RHO,
    ArmCounts,
    ArmMoments,
    CtrArm,
    beta_binomial,
    confidence_sequence_diff,
    decide,
    design_effect,
    normal_mixture_radius,
    rho_for,
    two_proportion_ztest,
    welch_ttest,
)

# (views a, impressions a, views b, impressions b): small, typical, large and degenerate-ish.
PROPORTIONS = [
    (45, 1_000, 60, 1_100),
    (3, 40, 9, 41),
    (0, 50, 3, 60),
    (5_000, 100_000, 5_200, 100_000),
    (49_000, 1_000_000, 50_500, 1_000_000),
    (123_456, 2_500_000, 120_001, 2_400_000),
]


def moments(arm_id: str, x: np.ndarray) -> ArmMoments:
    return ArmMoments(arm_id, len(x), float(x.sum()), float((x * x).sum()))


def ctr_arm(arm_id: str, rng: np.random.Generator, n: int, ctr: float, imps: int = 2000) -> CtrArm:
    """n shorts of one arm with lognormal short quality, as ClickHouse would summarise them."""
    impressions = rng.poisson(imps, n).clip(1)
    views = rng.binomial(impressions, np.minimum(ctr * rng.lognormal(-0.045, 0.3, n), 1))
    per_short = views / impressions
    return CtrArm(
        ArmCounts(arm_id, n, float(views.sum()), float(impressions.sum())),
        moments(arm_id, per_short),
    )


def test_ztest_matches_statsmodels() -> None:
    worst = 0.0
    for sa, ta, sb, tb in PROPORTIONS:
        ours = two_proportion_ztest(ArmCounts("a", 10, sa, ta), ArmCounts("b", 10, sb, tb))
        stat, pval = proportions_ztest([sa, sb], [ta, tb])
        low, high = confint_proportions_2indep(sa, ta, sb, tb, method="wald", compare="diff")
        diffs = [
            ours.statistic - stat,
            ours.p_value - pval,
            ours.ci_low - low,
            ours.ci_high - high,
            ours.diff - (sa / ta - sb / tb),
        ]
        worst = max(worst, *map(abs, diffs))
    print(f"z-test max |ours - statsmodels| = {worst:.2e}")
    assert worst < 1e-9


def test_ztest_confidence_level_is_honoured() -> None:
    a, b = ArmCounts("a", 5, 45, 1000), ArmCounts("b", 5, 60, 1100)
    wide = two_proportion_ztest(a, b, confidence=0.99)
    low, high = confint_proportions_2indep(45, 1000, 60, 1100, method="wald", alpha=0.01)
    assert wide.ci_low == pytest.approx(low, abs=1e-12)
    assert wide.ci_high == pytest.approx(high, abs=1e-12)


@pytest.mark.parametrize(
    ("na", "nb", "scale_a", "scale_b"),
    [(12, 30, 10.0, 25.0), (40, 40, 15.0, 15.0), (300, 75, 20.0, 5.0), (100_000, 80_000, 18, 22)],
)
def test_welch_matches_statsmodels(na: int, nb: int, scale_a: float, scale_b: float) -> None:
    rng = np.random.default_rng(na * 7 + nb)
    # Average view percentages of shorts: 0-100, retention-like.
    xa = np.clip(rng.normal(55, scale_a, na), 0, 100)
    xb = np.clip(rng.normal(52, scale_b, nb), 0, 100)
    ours = welch_ttest(moments("a", xa), moments("b", xb))
    stat, pval, _ = ttest_ind(xa, xb, usevar="unequal")
    low, high = CompareMeans(DescrStatsW(xa), DescrStatsW(xb)).tconfint_diff(usevar="unequal")
    diffs = [ours.statistic - stat, ours.p_value - pval, ours.ci_low - low, ours.ci_high - high]
    worst = max(map(abs, diffs))
    print(f"Welch n=({na},{nb}) max |ours - statsmodels| = {worst:.2e}")
    assert worst < 1e-6


def test_moments_helpers() -> None:
    x = np.array([0.02, 0.05, 0.07, 0.04])
    m = moments("a", x)
    assert m.mean == pytest.approx(x.mean(), abs=1e-15)
    assert m.var == pytest.approx(x.var(ddof=1), abs=1e-15)
    assert ArmMoments("a", 1, 3.0, 9.0).var == 0.0


def test_counts_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="successes"):
        ArmCounts("a", 3, 11, 10)


def miller_p_b_beats_a(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """Evan Miller's closed form for P(p_B > p_A), integer a_b (float64: ~1e-9 at 1e6 trials)."""
    i = np.arange(int(a_b))
    terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(np.exp(terms).sum())


def stucchio_loss_of_a(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """E[max(p_B - p_A, 0)] in closed form: E[p_B 1{p_B > p_A}] - E[p_A 1{p_B > p_A}]."""
    return a_b / (a_b + b_b) * miller_p_b_beats_a(a_a, b_a, a_b + 1, b_b) - a_a / (
        a_a + b_a
    ) * miller_p_b_beats_a(a_a + 1, b_a, a_b, b_b)


@pytest.mark.parametrize(("sa", "ta", "sb", "tb"), [*PROPORTIONS[:5], (3, 100_000, 40, 100_000)])
def test_beta_two_arms_match_closed_form(sa: int, ta: int, sb: int, tb: int) -> None:
    result = beta_binomial([ArmCounts("a", 1, sa, ta), ArmCounts("b", 1, sb, tb)])
    post = (1 + sa, 1 + ta - sa, 1 + sb, 1 + tb - sb)
    swapped = (post[2], post[3], post[0], post[1])
    assert result["b"][0] == pytest.approx(miller_p_b_beats_a(*post), abs=1e-6)
    assert result["a"][0] + result["b"][0] == pytest.approx(1, abs=1e-9)
    assert result["a"][1] == pytest.approx(stucchio_loss_of_a(*post), abs=1e-9)
    assert result["b"][1] == pytest.approx(stucchio_loss_of_a(*swapped), abs=1e-9)


def test_beta_matches_30_digit_reference_at_large_counts() -> None:
    import mpmath as mp  # declared dev dependency: the high-precision reference

    mp.mp.dps = 30
    a_a, b_a, a_b, b_b = 5_001, 95_001, 5_201, 94_801

    def lb(x: float, y: float) -> object:
        return mp.loggamma(x) + mp.loggamma(y) - mp.loggamma(x + y)

    exact = mp.fsum(
        mp.exp(lb(a_a + i, b_a + b_b) - mp.log(b_b + i) - lb(1 + i, b_b) - lb(a_a, b_a))
        for i in range(a_b)
    )
    ours = beta_binomial([ArmCounts("a", 1, 5_000, 100_000), ArmCounts("b", 1, 5_200, 100_000)])
    print(f"chance to win vs 30-digit reference: {abs(ours['b'][0] - float(exact)):.1e}")
    assert ours["b"][0] == pytest.approx(float(exact), abs=1e-12)


def test_beta_many_arms_against_monte_carlo() -> None:
    arms = [
        ArmCounts("a", 1, 500, 10_000),
        ArmCounts("b", 1, 520, 10_000),
        ArmCounts("c", 1, 30, 500),  # wide posterior next to narrow ones
        ArmCounts("d", 1, 50_500, 1_000_000),
    ]
    exact = beta_binomial(arms)
    assert sum(c for c, _ in exact.values()) == pytest.approx(1, abs=1e-9)
    assert beta_binomial(arms) == exact  # deterministic: no sampling
    rng = np.random.default_rng(7)
    draws = rng.beta(
        [1 + a.successes for a in arms], [1 + a.trials - a.successes for a in arms], (200_000, 4)
    )
    mc_chance = np.bincount(draws.argmax(axis=1), minlength=4) / len(draws)
    mc_loss = (draws.max(axis=1)[:, None] - draws).mean(axis=0)
    for k, arm in enumerate(arms):
        assert exact[arm.arm_id][0] == pytest.approx(mc_chance[k], abs=5e-3)
        assert exact[arm.arm_id][1] == pytest.approx(mc_loss[k], abs=2e-4)


def test_beta_prior_and_trivial_cases() -> None:
    assert beta_binomial([ArmCounts("a", 0, 0, 0)]) == {"a": (1.0, 0.0)}
    flat = beta_binomial([ArmCounts("a", 0, 0, 0), ArmCounts("b", 0, 0, 0)], prior=(2, 3))
    assert flat["a"][0] == pytest.approx(0.5, abs=1e-12)
    with pytest.raises(ValueError, match="duplicate"):
        beta_binomial([ArmCounts("a", 0, 0, 0), ArmCounts("a", 0, 0, 0)])


def test_radius_is_the_published_normal_mixture() -> None:
    """Johari et al.'s mSPRT form, written independently: same boundary."""
    var, unit, alpha = 2e-6, 5e-4, 0.05
    tau2 = DEFAULT_RHO**2 * unit
    johari = math.sqrt(
        var * (var + tau2) / tau2 * (math.log((var + tau2) / var) - 2 * math.log(alpha))
    )
    assert normal_mixture_radius(var, unit, alpha) == pytest.approx(johari, rel=1e-12)
    # One sample of size t (V = sigma^2 / t): Waudby-Smith et al.'s Theorem 2.2 form.
    sigma2, t, rho = 4.0, 250, 0.1
    ws = math.sqrt(sigma2) * math.sqrt(
        2 * (t * rho**2 + 1) / (t**2 * rho**2) * math.log(math.sqrt(t * rho**2 + 1) / alpha)
    )
    assert normal_mixture_radius(sigma2 / t, sigma2, alpha, rho) == pytest.approx(ws, rel=1e-12)
    assert rho_for(500) == DEFAULT_RHO


def test_confidence_sequence_is_wider_than_fixed_ci_and_shrinks() -> None:
    rng = np.random.default_rng(3)
    a = ctr_arm("a", rng, 400, 0.055)
    b = ctr_arm("b", rng, 400, 0.05)
    low, high = confidence_sequence_diff(a.per_short, b.per_short)
    fixed = welch_ttest(a.per_short, b.per_short)
    assert low < fixed.ci_low < fixed.diff < fixed.ci_high < high
    assert (low + high) / 2 == pytest.approx(fixed.diff, abs=1e-15)
    small = confidence_sequence_diff(
        ArmMoments("a", 40, a.per_short.mean * 40, a.per_short.total_sq / 10),
        ArmMoments("b", 40, b.per_short.mean * 40, b.per_short.total_sq / 10),
    )
    assert small[1] - small[0] > high - low
    assert confidence_sequence_diff(ArmMoments("a", 1, 1, 1), b.per_short) == (-math.inf, math.inf)


def test_per_short_variance_exceeds_binomial_variance() -> None:
    """The design effect the module docstring warns about is real in the simulated data."""
    arm = ctr_arm("a", np.random.default_rng(5), 500, 0.05)
    deff = design_effect(arm.counts, arm.per_short)
    # Quality sd 0.3 -> between-short CTR variance ~(0.015)^2 vs binomial ~0.05*0.95/2000.
    assert 5 < deff < 20
    assert arm.counts.deflated(deff).rate == pytest.approx(arm.counts.rate)
    assert design_effect(arm.counts, ArmMoments("a", 1, 0.05, 0.0025)) == 1.0


def test_decide_burn_in_reasons() -> None:
    rng = np.random.default_rng(11)
    arms = [ctr_arm("a", rng, 12, 0.05), ctr_arm("b", rng, 40, 0.05)]
    assert decide("exp", "ctr", arms).reason == "burn-in: arm a has 12 < 30 shorts"
    few = [ctr_arm("a", rng, 40, 0.05, imps=100), ctr_arm("b", rng, 40, 0.05)]
    decision = decide("exp", "ctr", few, min_trials_per_arm=10_000)
    assert decision.winner is None
    assert decision.reason.startswith("burn-in: arm a has ")
    assert decision.reason.endswith(" < 10000 impressions")
    # Even an overwhelming difference waits for the burn-in.
    lopsided = [ctr_arm("a", rng, 29, 0.20), ctr_arm("b", rng, 29, 0.01)]
    assert decide("exp", "ctr", lopsided).winner is None


def test_decide_declares_a_clear_winner_only() -> None:
    rng = np.random.default_rng(12)
    clear = [ctr_arm("a", rng, 300, 0.05), ctr_arm("b", rng, 300, 0.07)]
    decision = decide("exp", "ctr", clear)
    assert decision.winner == "b"
    assert "beats every other arm" in decision.reason
    close = [ctr_arm("a", rng, 60, 0.05), ctr_arm("b", rng, 60, 0.051)]
    decision = decide("exp", "ctr", close)
    assert decision.winner is None
    assert decision.reason.startswith("no arm separates yet")


def test_decide_needs_the_best_arm_to_beat_every_other() -> None:
    rng = np.random.default_rng(13)
    # c clearly beats a, but not b: no winner.
    arms = [
        ctr_arm("a", rng, 300, 0.03),
        ctr_arm("b", rng, 300, 0.0695),
        ctr_arm("c", rng, 300, 0.07),
    ]
    decision = decide("exp", "ctr", arms)
    assert decision.winner is None
    assert any(f"best {x} vs {y}:" in decision.reason for x, y in (("b", "c"), ("c", "b")))
    arms[1] = ctr_arm("b", rng, 300, 0.03)
    assert decide("exp", "ctr", arms).winner == "c"


def test_decide_on_retention_and_invalid_input() -> None:
    rng = np.random.default_rng(14)
    retention = [
        moments("hook", np.clip(rng.normal(62, 12, 200), 0, 100)),
        moments("plain", np.clip(rng.normal(50, 12, 200), 0, 100)),
    ]
    assert decide("exp", "retention", retention).winner == "hook"
    with pytest.raises(ValueError, match="two or more arms"):
        decide("exp", "retention", retention[:1])
    with pytest.raises(ValueError, match="two or more arms"):
        decide("exp", "retention", [retention[0], retention[0]])
