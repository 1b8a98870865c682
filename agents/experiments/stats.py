"""Experiment statistics over per-arm sufficient statistics (pure: numpy/scipy only).

The unit of an experiment is the *short*: every arm publishes its own videos, and videos differ
in quality far more than binomial noise suggests. Two kinds of inputs therefore exist:

* ``ArmCounts`` -- pooled impressions (trials) and views (successes) of an arm's shorts. Good
  for descriptive tests and Beta posteriors, but treating every impression as an independent
  Bernoulli trial overstates precision by the design effect (often 5-20x for Shorts).
* ``ArmMoments`` -- one observation per short (its CTR, or its average view percentage) as
  ``n``, sum and sum of squares. The stopping rule (``decide``) uses only these: the variance
  between shorts then includes short-quality noise, so the false-positive rate holds.

ClickHouse computes both per experiment and arm (``count()``, ``sum(views)``,
``sum(impressions)``, ``sum(views / impressions)``, ``sum(pow(views / impressions, 2))``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import integrate, special
from scipy import stats as sps

# Tail mass left outside a posterior's integration window: far below the 1e-9 target.
_TAIL = 1e-14


@dataclass(frozen=True)
class ArmCounts:
    """Pooled binomial counts of one arm: ``shorts`` videos, ``trials`` impressions,
    ``successes`` views."""

    arm_id: str
    shorts: int
    successes: float
    trials: float

    def __post_init__(self) -> None:
        if self.shorts < 0 or self.trials < 0 or not 0 <= self.successes <= self.trials:
            raise ValueError(f"arm {self.arm_id}: need 0 <= successes <= trials and shorts >= 0")

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials > 0 else 0.0

    def deflated(self, design_effect: float) -> ArmCounts:
        """The same rate with counts divided by ``design_effect``: the binomial evidence an arm
        really carries once between-short variance is accounted for (Kish effective size)."""
        if design_effect < 1:
            raise ValueError("design effect must be >= 1")
        return ArmCounts(
            self.arm_id,
            self.shorts,
            self.successes / design_effect,
            self.trials / design_effect,
        )


@dataclass(frozen=True)
class ArmMoments:
    """One observation per short (a per-short CTR or average view percentage): count, sum and
    sum of squares."""

    arm_id: str
    n: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n > 0 else 0.0

    @property
    def var(self) -> float:
        """Sample variance (ddof=1); 0 below two observations. Clipped at 0 because the
        sum-of-squares form can go slightly negative by rounding."""
        if self.n < 2:
            return 0.0
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))

    @property
    def var_of_mean(self) -> float:
        return self.var / self.n if self.n > 0 else math.inf


@dataclass(frozen=True)
class CtrArm:
    """The CTR inputs of one arm: pooled counts (guards, posteriors, the published record) and
    per-short CTR moments (the stopping rule)."""

    counts: ArmCounts
    per_short: ArmMoments

    def __post_init__(self) -> None:
        if self.counts.arm_id != self.per_short.arm_id or self.counts.shorts != self.per_short.n:
            raise ValueError(f"arm {self.counts.arm_id}: counts and per-short moments disagree")

    @property
    def arm_id(self) -> str:
        return self.counts.arm_id


@dataclass(frozen=True)
class TestResult:
    """A two-sided test of arm a minus arm b; ``diff`` is a - b, the CI is for that diff."""

    statistic: float
    p_value: float
    diff: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Decision:
    winner: str | None
    reason: str


def design_effect(counts: ArmCounts, per_short: ArmMoments) -> float:
    """Variance of the arm's mean measured between shorts over the binomial variance that
    pooled counts imply, at least 1. Dividing the counts by it (``ArmCounts.deflated``) gives
    Beta posteriors that are not overconfident about a short-clustered arm."""
    p = counts.rate
    if counts.trials <= 0 or per_short.n < 2 or p <= 0 or p >= 1:
        return 1.0
    binomial = p * (1 - p) / counts.trials
    return max(1.0, per_short.var_of_mean / binomial)


def two_proportion_ztest(a: ArmCounts, b: ArmCounts, *, confidence: float = 0.95) -> TestResult:
    """Two-sided z-test of equal proportions (pooled SE under H0, as in
    ``statsmodels.stats.proportion.proportions_ztest``) with a Wald CI of ``p_a - p_b``
    (unpooled SE, as ``confint_proportions_2indep(method="wald")``).

    Descriptive only: impressions are not independent trials (see module docstring)."""
    if a.trials <= 0 or b.trials <= 0:
        raise ValueError("both arms need trials")
    pa, pb = a.rate, b.rate
    diff = pa - pb
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials))
    # Identical all-zero or all-one arms: no evidence of a difference, not a division error.
    z = diff / se0 if se0 > 0 else 0.0
    p_value = float(2 * sps.norm.sf(abs(z)))
    se = math.sqrt(pa * (1 - pa) / a.trials + pb * (1 - pb) / b.trials)
    q = float(sps.norm.ppf(0.5 + confidence / 2))
    return TestResult(z, p_value, diff, diff - q * se, diff + q * se)


def welch_ttest(a: ArmMoments, b: ArmMoments, *, confidence: float = 0.95) -> TestResult:
    """Welch's unequal-variance t-test of ``mean_a - mean_b`` with Welch-Satterthwaite degrees
    of freedom, and the matching t CI of the difference."""
    if a.n < 2 or b.n < 2:
        raise ValueError("both arms need at least two observations")
    va, vb = a.var_of_mean, b.var_of_mean
    diff = a.mean - b.mean
    se = math.sqrt(va + vb)
    if se == 0:
        return TestResult(0.0, 1.0, diff, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    t = diff / se
    p_value = float(2 * sps.t.sf(abs(t), df))
    q = float(sps.t.ppf(0.5 + confidence / 2, df))
    return TestResult(t, p_value, diff, diff - q * se, diff + q * se)


def _posteriors(
    arms: Sequence[ArmCounts], prior: tuple[float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    a = np.array([prior[0] + arm.successes for arm in arms], dtype=np.float64)
    b = np.array([prior[1] + arm.trials - arm.successes for arm in arms], dtype=np.float64)
    return a, b


def _breakpoints(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], lo: float, hi: float
) -> list[float]:
    """Points inside (lo, hi) around every posterior's bulk. A posterior with 1e5 trials is a
    spike of width ~1e-3; without these hints adaptive quadrature can step over it."""
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    pts = (mean[:, None] + sd[:, None] * np.array([-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0])).ravel()
    inside = np.unique(pts[(pts > lo) & (pts < hi)])
    return [float(x) for x in inside]


def _quad(f: object, lo: float, hi: float, points: list[float]) -> float:
    if hi <= lo:
        return 0.0
    value, _ = integrate.quad(
        f, lo, hi, points=points or None, limit=500, epsabs=1e-13, epsrel=1e-11
    )
    return float(value)


def beta_binomial(
    arms: Sequence[ArmCounts], prior: tuple[float, float] = (1.0, 1.0)
) -> dict[str, tuple[float, float]]:
    """Arm id -> (chance to win, expected loss) under independent Beta posteriors of the CTR.

    chance_i = P(p_i is the largest) = int f_i(x) prod_{j != i} F_j(x) dx, and
    loss_i = E[max_j p_j] - E[p_i], with E[max] = int_0^1 (1 - prod_j F_j(x)) dx. Both integrals
    are computed by adaptive quadrature (no Monte Carlo, so results are reproducible to ~1e-11)
    over windows that leave at most 1e-14 of any posterior outside, using the exact quantile
    functions rather than mean +- k sd because skewed posteriors (few successes) have heavy
    right tails. Pass counts ``deflated`` by the design effect for short-clustered data.
    """
    ids = [arm.arm_id for arm in arms]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate arm ids")
    if not arms:
        return {}
    if len(arms) == 1:
        return {ids[0]: (1.0, 0.0)}
    a, b = _posteriors(arms, prior)
    lows = special.betaincinv(a, b, _TAIL)
    highs = special.betainccinv(a, b, _TAIL)
    means = a / (a + b)

    def cdfs(x: float) -> npt.NDArray[np.float64]:
        return np.asarray(special.betainc(a, b, x), dtype=np.float64)

    chances = []
    for i in range(len(arms)):
        others = np.arange(len(arms)) != i
        m = float(means[i])

        def density(x: float, i: int = i, m: float = m) -> float:
            # Unnormalised pdf relative to its value at the mean. The textbook log-pdf,
            # (a-1) log x + (b-1) log(1-x) - betaln(a, b), subtracts terms of ~1e5 for a
            # posterior with 1e6 trials and loses ~1e-9 to rounding; log-ratios to the mean
            # are small where the mass is, and the normaliser below is integrated the same way.
            u = x - m
            return math.exp(
                special.xlog1py(a[i] - 1, u / m) + special.xlog1py(b[i] - 1, -u / (1 - m))
            )

        def integrand(x: float, i: int = i, others: npt.NDArray[np.bool_] = others) -> float:
            return density(x) * float(np.prod(cdfs(x)[others]))

        own_lo, own_hi = float(lows[i]), float(highs[i])
        norm = _quad(density, own_lo, own_hi, _breakpoints(a, b, own_lo, own_hi))
        # Below the highest lower quantile some other arm's CDF is < 1e-14: arm i cannot win.
        lo = max(own_lo, float(lows[others].max()))
        chances.append(_quad(integrand, lo, own_hi, _breakpoints(a, b, lo, own_hi)) / norm)

    # E[max] = lo + int_lo^hi (1 - prod F) dx: below the highest lower quantile the product is
    # ~0 (integrand 1), above the highest upper quantile it is ~1 (integrand 0).
    lo, hi = float(lows.max()), float(highs.max())
    e_max = lo + _quad(lambda x: 1.0 - float(np.prod(cdfs(x))), lo, hi, _breakpoints(a, b, lo, hi))
    result: dict[str, tuple[float, float]] = {}
    for i, arm_id in enumerate(ids):
        result[arm_id] = (chances[i], max(0.0, e_max - float(means[i])))
    return result


def rho_for(n_opt: float, alpha: float = 0.05) -> float:
    """The mixture parameter that makes the confidence sequence tightest after ``n_opt``
    observations per arm (Howard et al. 2021, eq. for the normal mixture;
    Waudby-Smith et al. 2024, eq. (15)): rho^2 = (-2 log a + log(1 - 2 log a)) / n_opt."""
    c = -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))
    return math.sqrt(c / n_opt)


# Tightest after ~500 shorts per arm: the size of a CTR experiment (see test_experiment_power).
DEFAULT_RHO = rho_for(500)


def normal_mixture_radius(
    var_of_diff: float, unit_var: float, alpha: float, rho: float = DEFAULT_RHO
) -> float:
    """Half-width of the two-sided normal-mixture confidence sequence for an estimate with
    variance ``var_of_diff``; ``unit_var`` is the variance of one observation (per arm), so
    that ``r = rho^2 * unit_var / var_of_diff`` is rho^2 times the effective sample size.

    radius = sqrt( 2 V (1 + r) / r * log( sqrt(1 + r) / alpha ) )

    which is Robbins' normal mixture (Howard, Ramdas, McAuliffe, Sekhon 2021, Ann. Stat.,
    eq. (14)) as used by the asymptotic CS of Waudby-Smith, Arnold, Wu, Wu, Ramdas (2024,
    "Time-uniform central limit theory and asymptotic confidence sequences", Thm 2.2):
    mu_hat_t +- sigma_hat_t * sqrt(2(t rho^2 + 1)/(t^2 rho^2) * log(sqrt(t rho^2 + 1)/alpha)).
    With V = sigma^2 / t it is that formula exactly; written with tau^2 = rho^2 * unit_var it is
    the mSPRT interval of Johari, Pekelis, Walsh (2022, Oper. Res.).
    """
    if var_of_diff <= 0:
        return 0.0
    if not math.isfinite(var_of_diff):
        return math.inf
    r = rho * rho * unit_var / var_of_diff
    if r <= 0:
        return math.inf
    return math.sqrt(2 * var_of_diff * (1 + r) / r * math.log(math.sqrt(1 + r) / alpha))


def confidence_sequence_diff(
    a: ArmMoments, b: ArmMoments, *, alpha: float = 0.05, rho: float = DEFAULT_RHO
) -> tuple[float, float]:
    """An asymptotic always-valid (anytime) (1 - alpha) confidence sequence for
    ``mean_a - mean_b``, one observation per short: per-short CTRs or per-short retention.

    Why it may be checked after every new short: let V = s_a^2/n_a + s_b^2/n_b and I = 1/V.
    For Gaussian observations with known variances, S = I * (d_hat - d) is a Gaussian process
    with Cov(S(s), S(t)) = I(s) for s < t, i.e. Brownian motion run on the clock I, for any
    sequence of arm sizes fixed in advance (under data-dependent allocation, e.g. a bandit, it is
    an approximation: per-arm means stay martingales but the clock then depends on the data).
    Robbins' normal mixture martingale of that Brownian motion (effect ~ N(0, tau^2), r = tau^2 I),
    sqrt(1/(1 + r)) exp(r S^2 / (2 I (1 + r))), stays below 1/alpha forever with probability
    >= 1 - alpha (Ville), which is the boundary of ``normal_mixture_radius``. Plugging in the
    sample variances and the CLT makes it asymptotic (Waudby-Smith et al. 2024). ``rho`` only
    moves where it is tightest (``rho_for``); any fixed value keeps the guarantee, so it must
    not be tuned on the data.

    Why per-short observations and not impressions: shorts differ in quality, so the views of
    one short are correlated. The binomial variance p(1-p)/impressions misses the
    between-short variance and the false-positive rate explodes (test_experiment_power shows
    it); the variance of per-short CTRs contains it. The estimand becomes the mean per-short
    CTR, which is what an arm controls: the next short's expected CTR.
    """
    if a.n < 2 or b.n < 2:
        return (-math.inf, math.inf)
    diff = a.mean - b.mean
    v = a.var_of_mean + b.var_of_mean
    radius = normal_mixture_radius(v, a.var + b.var, alpha, rho)
    return (diff - radius, diff + radius)


def _observations(arms: Sequence[ArmMoments] | Sequence[CtrArm]) -> list[tuple[ArmMoments, float]]:
    """(per-short moments, trials) per arm; trials is +inf where the metric has none."""
    out: list[tuple[ArmMoments, float]] = []
    for arm in arms:
        if isinstance(arm, CtrArm):
            out.append((arm.per_short, arm.counts.trials))
        else:
            out.append((arm, math.inf))
    return out


def decide(
    experiment: str,
    metric: str,
    arms: Sequence[ArmMoments] | Sequence[CtrArm],
    *,
    min_shorts_per_arm: int = 30,
    min_trials_per_arm: float = 10_000,
    alpha: float = 0.05,
    rho: float = DEFAULT_RHO,
) -> Decision:
    """The stopping rule: a winner only when every arm passed burn-in (``min_shorts_per_arm``
    shorts and, for CTR, ``min_trials_per_arm`` impressions) and the arm with the best mean has
    an always-valid confidence sequence against *every* other arm that excludes 0.

    Each comparison runs at alpha / (k - 1): a wrong winner needs a miss of the CS between it
    and a truly best arm, one of only k - 1 pairs, so the chance of ever declaring a wrong
    winner, however often this is called, stays <= alpha (asymptotically).
    """
    obs = _observations(arms)
    ids = [m.arm_id for m, _ in obs]
    if len(obs) < 2 or len(set(ids)) != len(ids):
        raise ValueError(f"{experiment}/{metric}: need two or more arms with distinct ids")
    if min_shorts_per_arm < 2:
        raise ValueError("min_shorts_per_arm must be >= 2: a variance needs two shorts")
    waiting = []
    for moments, trials in sorted(obs, key=lambda o: o[0].arm_id):
        if moments.n < min_shorts_per_arm:
            waiting.append(f"arm {moments.arm_id} has {moments.n} < {min_shorts_per_arm} shorts")
        elif trials < min_trials_per_arm:
            waiting.append(
                f"arm {moments.arm_id} has {trials:.0f} < {min_trials_per_arm:.0f} impressions"
            )
    if waiting:
        return Decision(None, "burn-in: " + "; ".join(waiting))
    # Ties go to the smaller arm id so the decision does not depend on the listing order.
    best = min((m for m, _ in obs), key=lambda m: (-m.mean, m.arm_id))
    per_pair = alpha / (len(obs) - 1)
    weakest: tuple[float, str, float] | None = None
    for other, _ in obs:
        if other.arm_id == best.arm_id:
            continue
        low, high = confidence_sequence_diff(best, other, alpha=per_pair, rho=rho)
        if weakest is None or low < weakest[0]:
            weakest = (low, other.arm_id, high)
    assert weakest is not None
    low, rival, high = weakest
    level = f"{1 - alpha:.0%}"
    if low > 0:
        return Decision(
            best.arm_id,
            f"{metric}: arm {best.arm_id} beats every other arm; closest {rival}: "
            f"always-valid {level} CS of the difference [{low:.4g}, {high:.4g}]",
        )
    return Decision(
        None,
        f"no arm separates yet: best {best.arm_id} vs {rival}: "
        f"always-valid {level} CS [{low:.4g}, {high:.4g}] contains 0",
    )
