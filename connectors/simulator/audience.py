"""The seeded audience model: how a simulated audience answers one short.

Pure: no I/O, no clock, no global random state. Everything a video will ever do is fixed by
``(seed, video_id)`` and its arm; a snapshot only reveals how much of it has happened by
``as_of``. That gives the two properties the experiment loop relies on:

* determinism independent of call order: each video draws from its own stream seeded by a
  stable hash of ``(seed, video_id)``, so asking about video B first never changes video A;
* cumulative counts never decrease as ``as_of`` grows: impressions are a monotone function of
  time, and views are the successes among those impressions *in arrival order*, drawn once per
  video (likewise likes/comments/subscribers among views). At every moment views given
  impressions is exactly Binomial(impressions, CTR), and a later snapshot only adds to it.

The ``effects`` are the *true* effects of the arms: the answer the experiment evaluator should
discover from the metrics without ever reading them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from agents.drafting.arms import ARMS
from agents.drafting.hashing import stable_int
from streams.ports.analytics import VideoMetrics

DEFAULT_DURATION_SECONDS = 30.0


@dataclass(frozen=True)
class ArmEffect:
    """The true effect of one arm. ``ctr_lift`` is relative (0.10 = CTR x 1.10, must stay
    > -1 so CTR stays positive); ``retention_shift`` is in percentage points of average view
    percentage."""

    ctr_lift: float = 0.0
    retention_shift: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ctr_lift) and self.ctr_lift > -1.0):
            raise ValueError(f"ctr_lift must be a finite number > -1, got {self.ctr_lift}")
        if not (math.isfinite(self.retention_shift) and abs(self.retention_shift) <= 100.0):
            raise ValueError(
                f"retention_shift must be within [-100, 100] points, got {self.retention_shift}"
            )


NO_EFFECT = ArmEffect()

# The true effects the demo should discover. One clear CTR winner, two modest winners, a few
# losers, the rest neutral. story+comment_answer holds viewers better but is clicked less, so a
# CTR-only evaluator and a retention-aware one disagree about it on purpose.
DEFAULT_EFFECTS: Mapping[str, ArmEffect] = MappingProxyType(
    {
        "challenge+comment_answer": ArmEffect(ctr_lift=0.25, retention_shift=3.0),
        "surprising_fact+comment_answer": ArmEffect(ctr_lift=0.10, retention_shift=1.0),
        "question_first+comment_answer": ArmEffect(ctr_lift=0.06, retention_shift=0.0),
        "challenge+follow": ArmEffect(ctr_lift=0.0, retention_shift=-1.0),
        "story+comment_answer": ArmEffect(ctr_lift=-0.05, retention_shift=4.0),
        "question_first+see_part2": ArmEffect(ctr_lift=-0.08, retention_shift=-2.0),
        "story+follow": ArmEffect(ctr_lift=-0.12, retention_shift=-1.0),
        "story+see_part2": ArmEffect(ctr_lift=-0.18, retention_shift=-4.0),
    }
)


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _mean_one_lognormal(rng: np.random.Generator, sigma: float) -> float:
    # mu = -sigma^2/2 makes the mean exactly 1, so a configured base rate is the mean rate and
    # sigma only adds spread, not bias.
    return float(rng.lognormal(-0.5 * sigma * sigma, sigma)) if sigma > 0 else 1.0


def _success_positions(rng: np.random.Generator, trials: int, p: float) -> NDArray[np.int64]:
    """1-based indices of the successes among ``trials`` Bernoulli(p) trials, in order.

    Drawn as geometric gaps, so the cost is the number of successes, not of trials. The chunk
    sizes depend only on (trials, p), keeping the draw reproducible.
    """
    if trials <= 0 or p <= 0.0:
        return np.empty(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(1, trials + 1, dtype=np.int64)
    chunks: list[NDArray[np.int64]] = []
    last = 0
    while last < trials:
        expected = (trials - last) * p
        size = int(expected + 4.0 * math.sqrt(expected) + 16)
        positions = last + np.cumsum(rng.geometric(p, size).astype(np.int64))
        chunks.append(positions)
        last = int(positions[-1])
    everything = np.concatenate(chunks)
    return everything[everything <= trials]


def _count_upto(positions: NDArray[np.int64], n: int) -> int:
    """How many of the sorted ``positions`` are <= n."""
    return int(np.searchsorted(positions, n, side="right"))


@dataclass(frozen=True, eq=False)
class VideoDraw:
    """Everything one video will ever do, fixed at publication; snapshots reveal it over time."""

    video_id: str
    arm_id: str | None
    quality: float  # latent, mean 1: multiplies CTR
    ctr: float  # the video's true click-through rate
    reach: int  # lifetime impressions
    retention_mean: float  # the video's true average view percentage (before viewer noise)
    duration_seconds: float
    view_at: NDArray[np.int64]  # impression indices (1-based, arrival order) that became views
    like_at: NDArray[np.int64]  # view indices that liked
    comment_at: NDArray[np.int64]
    subscribe_at: NDArray[np.int64]
    # Running sums of per-viewer standard-normal retention noise: the average over the first
    # v viewers is retention_mean + view_sd * noise_sum[v-1] / v.
    retention_noise_sum: NDArray[np.float64]


class AudienceModel:
    """A seeded audience. Impressions arrive on a saturating curve (``saturation_hours``: the
    time by which 90% of a video's lifetime reach has arrived, 72 h by default);
    ``impressions_per_day_mean`` is the mean number of impressions in a video's first 24 h.

    CTR = base_ctr x (1 + ctr_lift) x quality, quality ~ lognormal with mean 1 and
    ``quality_sigma``, capped at ``max_ctr``. Average view percentage is
    base_retention + retention_shift + per-video noise (``retention_sigma``) + per-viewer
    noise (``view_retention_sigma``, averaging out as views grow), clipped to [5, 100].
    """

    def __init__(
        self,
        seed: int,
        *,
        base_ctr: float = 0.05,
        base_retention: float = 55.0,
        impressions_per_day_mean: float = 1000.0,
        effects: Mapping[str, ArmEffect] = DEFAULT_EFFECTS,
        quality_sigma: float = 0.3,
        reach_sigma: float = 0.5,
        retention_sigma: float = 6.0,
        view_retention_sigma: float = 20.0,
        saturation_hours: float = 72.0,
        like_rate: float = 0.04,
        comment_rate: float = 0.005,
        subscribe_rate: float = 0.002,
        engagement_sigma: float = 0.3,
        max_ctr: float = 0.95,
    ) -> None:
        if not 0.0 < base_ctr < 1.0:
            raise ValueError(f"base_ctr must be in (0, 1), got {base_ctr}")
        if not 0.0 < max_ctr < 1.0:
            raise ValueError(f"max_ctr must be in (0, 1), got {max_ctr}")
        if not 0.0 <= base_retention <= 100.0:
            raise ValueError(f"base_retention must be in [0, 100], got {base_retention}")
        if not impressions_per_day_mean > 0:
            raise ValueError(
                f"impressions_per_day_mean must be > 0, got {impressions_per_day_mean}"
            )
        if not saturation_hours > 0:
            raise ValueError(f"saturation_hours must be > 0, got {saturation_hours}")
        for name, rate in (
            ("like_rate", like_rate),
            ("comment_rate", comment_rate),
            ("subscribe_rate", subscribe_rate),
        ):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {rate}")
        for name, sigma in (
            ("quality_sigma", quality_sigma),
            ("reach_sigma", reach_sigma),
            ("retention_sigma", retention_sigma),
            ("view_retention_sigma", view_retention_sigma),
            ("engagement_sigma", engagement_sigma),
        ):
            if not (math.isfinite(sigma) and sigma >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {sigma}")
        self.seed = int(seed)
        self.base_ctr = base_ctr
        self.base_retention = base_retention
        self.impressions_per_day_mean = impressions_per_day_mean
        self.effects: Mapping[str, ArmEffect] = MappingProxyType(dict(effects))
        self.quality_sigma = quality_sigma
        self.reach_sigma = reach_sigma
        self.retention_sigma = retention_sigma
        self.view_retention_sigma = view_retention_sigma
        self.saturation_hours = saturation_hours
        self.like_rate = like_rate
        self.comment_rate = comment_rate
        self.subscribe_rate = subscribe_rate
        self.engagement_sigma = engagement_sigma
        self.max_ctr = max_ctr
        # Exponential arrival: F(h) = 1 - exp(-h / tau), with F(saturation_hours) = 0.9.
        self._tau_hours = saturation_hours / math.log(10.0)
        self.lifetime_impressions_mean = impressions_per_day_mean / self.arrived_fraction(24.0)

    # -- the truth, for evaluating the evaluator ----------------------------------------------

    def effect(self, arm_id: str | None) -> ArmEffect:
        """The true effect of ``arm_id``; none for an unknown or missing arm."""
        return NO_EFFECT if arm_id is None else self.effects.get(arm_id, NO_EFFECT)

    def expected_ctr(self, arm_id: str | None) -> float:
        """The mean true CTR of a video of ``arm_id`` (exact, including the ``max_ctr`` cap)."""
        c = self.base_ctr * (1.0 + self.effect(arm_id).ctr_lift)
        s = self.quality_sigma
        if s == 0:
            return min(c, self.max_ctr)
        # E[min(c X, cap)] for X ~ lognormal(-s^2/2, s): the part below the cap plus the cap
        # times the probability of reaching it.
        mu = -0.5 * s * s
        log_k = math.log(self.max_ctr / c)
        return c * _phi((log_k - mu - s * s) / s) + self.max_ctr * (1.0 - _phi((log_k - mu) / s))

    def expected_retention(self, arm_id: str | None) -> float:
        """The mean true average view percentage of a video of ``arm_id`` (before clipping)."""
        return self.base_retention + self.effect(arm_id).retention_shift

    def true_best_arm(self, arm_ids: Iterable[str] | None = None) -> str:
        """The arm of highest expected CTR (ties: higher retention, then arm id) among
        ``arm_ids``, by default the experiment's catalogue plus every arm given an effect."""
        candidates = (
            set(arm_ids) if arm_ids is not None else {a.arm_id for a in ARMS} | set(self.effects)
        )
        if not candidates:
            raise ValueError("no arms to choose from")
        return min(
            candidates,
            key=lambda a: (-self.expected_ctr(a), -self.expected_retention(a), a),
        )

    def arrived_fraction(self, hours: float) -> float:
        """The share of a video's lifetime impressions that have arrived ``hours`` after
        publication."""
        return 0.0 if hours <= 0 else -math.expm1(-hours / self._tau_hours)

    # -- one video ------------------------------------------------------------------------------

    def draw(
        self,
        video_id: str,
        arm_id: str | None,
        duration_seconds: float = DEFAULT_DURATION_SECONDS,
    ) -> VideoDraw:
        """The whole future of ``video_id``. Same inputs, same draw, in any process."""
        if not (math.isfinite(duration_seconds) and duration_seconds > 0):
            duration_seconds = DEFAULT_DURATION_SECONDS
        root = np.random.SeedSequence(stable_int("sim-audience", str(self.seed), video_id))
        # Separate child streams: the latent draws, the views and each engagement kind never
        # shift one another, so a different arm (another CTR) changes the views but keeps the
        # video's quality, reach and noise (common random numbers across arms).
        latent, views, likes, comments, subs, retention = (
            np.random.default_rng(s) for s in root.spawn(6)
        )
        quality = _mean_one_lognormal(latent, self.quality_sigma)
        reach_mean = self.lifetime_impressions_mean * _mean_one_lognormal(latent, self.reach_sigma)
        reach = int(latent.poisson(reach_mean))
        retention_noise = float(latent.normal(0.0, 1.0)) * self.retention_sigma
        like_p = min(1.0, self.like_rate * _mean_one_lognormal(latent, self.engagement_sigma))
        comment_p = min(1.0, self.comment_rate * _mean_one_lognormal(latent, self.engagement_sigma))
        sub_p = min(1.0, self.subscribe_rate * _mean_one_lognormal(latent, self.engagement_sigma))

        effect = self.effect(arm_id)
        ctr = min(self.base_ctr * (1.0 + effect.ctr_lift) * quality, self.max_ctr)
        view_at = _success_positions(views, reach, ctr)
        n_views = len(view_at)
        return VideoDraw(
            video_id=video_id,
            arm_id=arm_id,
            quality=quality,
            ctr=ctr,
            reach=reach,
            retention_mean=self.base_retention + effect.retention_shift + retention_noise,
            duration_seconds=float(duration_seconds),
            view_at=view_at,
            like_at=_success_positions(likes, n_views, like_p),
            comment_at=_success_positions(comments, n_views, comment_p),
            subscribe_at=_success_positions(subs, n_views, sub_p),
            retention_noise_sum=np.cumsum(retention.standard_normal(n_views)),
        )

    def metrics_at(self, draw: VideoDraw, hours_since_publication: float) -> VideoMetrics:
        """Cumulative metrics of ``draw`` ``hours_since_publication`` after publication."""
        # Rounding (not flooring) the expected arrivals lets the count reach the full reach;
        # both are monotone, which is what matters.
        arrived = draw.reach * self.arrived_fraction(hours_since_publication)
        impressions = min(draw.reach, math.floor(arrived + 0.5))
        views = _count_upto(draw.view_at, impressions)
        if views:
            noise = self.view_retention_sigma * float(draw.retention_noise_sum[views - 1]) / views
            pct = min(100.0, max(5.0, draw.retention_mean + noise))
        else:
            pct = 0.0  # YouTube reports no retention without views
        duration = pct / 100.0 * draw.duration_seconds
        return VideoMetrics(
            video_id=draw.video_id,
            impressions=impressions,
            views=views,
            impressions_ctr=views / impressions if impressions else 0.0,
            average_view_percentage=pct,
            average_view_duration_seconds=duration,
            estimated_minutes_watched=views * duration / 60.0,
            likes=_count_upto(draw.like_at, views),
            comments=_count_upto(draw.comment_at, views),
            subscribers_gained=_count_upto(draw.subscribe_at, views),
            simulated=True,
        )

    def snapshot(
        self,
        video_id: str,
        *,
        arm_id: str | None,
        published_at: datetime,
        as_of: datetime,
        duration_seconds: float = DEFAULT_DURATION_SECONDS,
    ) -> VideoMetrics:
        """Cumulative metrics of ``video_id`` from ``published_at`` up to ``as_of`` (both
        timezone-aware); all zero at or before publication."""
        hours = (as_of - published_at).total_seconds() / 3600.0
        return self.metrics_at(self.draw(video_id, arm_id, duration_seconds), hours)
