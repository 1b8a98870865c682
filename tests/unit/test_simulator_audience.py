"""The seeded audience model: deterministic, monotone over time, and faithful to its effects."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from agents.drafting.arms import ARMS
from connectors.simulator.audience import (
    DEFAULT_EFFECTS,
    ArmEffect,
    AudienceModel,
)
from connectors.simulator.config import EffectsConfigError, effects_from_setting, parse_effects
from streams.ports.analytics import VideoMetrics

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
MONTH = T0 + timedelta(days=30)
ARM_IDS = [a.arm_id for a in ARMS]
BEST = "challenge+comment_answer"


def snap(
    model: AudienceModel, vid: str, arm: str | None, as_of: datetime, duration: float = 30.0
) -> VideoMetrics:
    return model.snapshot(vid, arm_id=arm, published_at=T0, as_of=as_of, duration_seconds=duration)


def test_same_seed_and_video_same_metrics_in_any_call_order() -> None:
    ids = [f"v{i}" for i in range(30)]
    first = {v: snap(AudienceModel(7), v, BEST, MONTH) for v in ids}
    model = AudienceModel(7)
    again = {v: snap(model, v, BEST, MONTH) for v in reversed(ids)}
    assert first == again
    other_seed = {v: snap(AudienceModel(8), v, BEST, MONTH) for v in ids}
    assert other_seed != first
    # Different videos differ (quality and reach are per video).
    assert len({m.impressions for m in first.values()}) > 20


def test_common_random_numbers_across_arms() -> None:
    # The same video under another arm keeps its latent quality and reach; only CTR moves.
    model = AudienceModel(3)
    a, b = model.draw("v1", BEST), model.draw("v1", "story+see_part2")
    assert a.quality == b.quality
    assert a.reach == b.reach
    assert a.ctr > b.ctr


def test_zero_before_and_at_publication() -> None:
    model = AudienceModel(1)
    for as_of in (T0 - timedelta(days=3), T0 - timedelta(seconds=1), T0):
        m = snap(model, "v1", BEST, as_of)
        assert (m.impressions, m.views, m.likes, m.comments, m.subscribers_gained) == (0,) * 5
        assert m.impressions_ctr == m.average_view_percentage == 0.0
        assert m.estimated_minutes_watched == m.average_view_duration_seconds == 0.0
        assert m.simulated


def _assert_monotone(series: list[VideoMetrics]) -> None:
    for prev, m in itertools.pairwise(series):
        assert 0 <= m.views <= m.impressions
        assert max(m.likes, m.comments, m.subscribers_gained) <= m.views
        assert m.impressions >= prev.impressions
        assert m.views >= prev.views
        assert m.likes >= prev.likes
        assert m.comments >= prev.comments
        assert m.subscribers_gained >= prev.subscribers_gained


def test_cumulative_metrics_never_decrease() -> None:
    model = AudienceModel(11)
    # Fine grid on one draw per video: every minute-scale step of 40 days.
    hours = [m / 60 for m in range(0, 60 * 24 * 40, 37)]
    for i in range(40):
        arm = ARM_IDS[i % len(ARM_IDS)]
        draw = model.draw(f"video-{i}", arm)
        series = [model.metrics_at(draw, h) for h in hours]
        _assert_monotone(series)
        assert series[-1].impressions == draw.reach
    # Coarse grid through snapshot(): every call redraws, and must agree with the one draw.
    moments = [T0 + timedelta(hours=h) for h in (0.5, 2, 5, 11, 23, 47, 71, 100, 200, 700)]
    for i in range(10):
        arm = ARM_IDS[i % len(ARM_IDS)]
        series = [snap(model, f"video-{i}", arm, as_of) for as_of in moments]
        _assert_monotone(series)
        draw = model.draw(f"video-{i}", arm)
        assert series == [model.metrics_at(draw, (t - T0).total_seconds() / 3600) for t in moments]


def test_impressions_saturate_mostly_in_the_first_72_hours() -> None:
    model = AudienceModel(5)
    assert model.arrived_fraction(72.0) == pytest.approx(0.9)
    day1 = [snap(model, f"v{i}", None, T0 + timedelta(hours=24)).impressions for i in range(400)]
    assert statistics.fmean(day1) == pytest.approx(model.impressions_per_day_mean, rel=0.1)
    for i in range(50):
        total = snap(model, f"v{i}", None, MONTH).impressions
        at_72h = snap(model, f"v{i}", None, T0 + timedelta(hours=72)).impressions
        assert at_72h >= 0.85 * total


def test_ctr_matches_expected_ctr_over_many_videos() -> None:
    model = AudienceModel(2024)
    for arm in (BEST, None, "story+see_part2"):
        ctrs = [snap(model, f"ctr-{i}", arm, MONTH).impressions_ctr for i in range(1500)]
        mean, sd = statistics.fmean(ctrs), statistics.stdev(ctrs)
        # 5 standard errors: a seeded test that would still pass for almost any seed.
        assert abs(mean - model.expected_ctr(arm)) < 5 * sd / math.sqrt(len(ctrs))
    assert model.expected_ctr(BEST) == pytest.approx(0.05 * 1.25, rel=1e-6)


def test_expected_ctr_accounts_for_the_cap() -> None:
    model = AudienceModel(
        0, base_ctr=0.5, quality_sigma=1.0, max_ctr=0.6, impressions_per_day_mean=20
    )
    draws = [model.draw(f"v{i}", None).ctr for i in range(4000)]
    assert max(draws) == 0.6
    sd = statistics.stdev(draws)
    assert abs(statistics.fmean(draws) - model.expected_ctr(None)) < 5 * sd / math.sqrt(4000)
    assert model.expected_ctr(None) < 0.5


def test_arm_ordering_by_effect_is_visible_over_2000_videos() -> None:
    model = AudienceModel(99)
    by_arm: dict[str, list[tuple[int, int]]] = {a: [] for a in ARM_IDS}
    for i in range(2000):
        arm = ARM_IDS[i % len(ARM_IDS)]
        m = snap(model, f"order-{i}", arm, MONTH)
        by_arm[arm].append((m.views, m.impressions))
    pooled = {a: sum(v for v, _ in rows) / sum(n for _, n in rows) for a, rows in by_arm.items()}
    assert max(pooled, key=lambda a: pooled[a]) == BEST == model.true_best_arm()
    positive = [a for a in ARM_IDS if model.effect(a).ctr_lift >= 0.06]
    negative = [a for a in ARM_IDS if model.effect(a).ctr_lift <= -0.08]
    neutral = [a for a in ARM_IDS if model.effect(a).ctr_lift == 0.0]
    assert positive
    assert negative
    assert neutral

    def group(arms: list[str]) -> float:
        return statistics.fmean(pooled[a] for a in arms)

    assert group(positive) > group(neutral) > group(negative)
    # Rank agreement between the observed and the true CTRs.
    observed = sorted(ARM_IDS, key=lambda a: pooled[a])
    truth = sorted(ARM_IDS, key=model.expected_ctr)
    rank = {a: i for i, a in enumerate(truth)}
    n = len(ARM_IDS)
    d2 = sum((i - rank[a]) ** 2 for i, a in enumerate(observed))
    # Seeds 0-19 all give rho > 0.6 (the lowest 0.69): a bound for any seed, not tuned to this one.
    assert 1 - 6 * d2 / (n * (n * n - 1)) > 0.6  # Spearman's rho


def test_retention_shift_is_visible() -> None:
    effects = {BEST: ArmEffect(0.0, 8.0), "story+follow": ArmEffect(0.0, -8.0)}
    model = AudienceModel(17, effects=effects)

    def mean_pct(arm: str | None) -> float:
        return statistics.fmean(
            snap(model, f"ret-{i}", arm, MONTH).average_view_percentage for i in range(600)
        )

    up, flat, down = mean_pct(BEST), mean_pct(None), mean_pct("story+follow")
    assert up - flat == pytest.approx(8.0, abs=1.5)
    assert flat - down == pytest.approx(8.0, abs=1.5)
    assert flat == pytest.approx(model.base_retention, abs=1.5)


def test_watch_time_follows_retention_and_duration() -> None:
    model = AudienceModel(4)
    m = snap(model, "v1", BEST, MONTH, duration=40.0)
    assert m.views > 0
    assert 5.0 <= m.average_view_percentage <= 100.0
    assert m.average_view_duration_seconds == pytest.approx(m.average_view_percentage * 0.4)
    assert m.estimated_minutes_watched == pytest.approx(
        m.views * m.average_view_duration_seconds / 60
    )


def test_engagement_is_proportional_to_views() -> None:
    model = AudienceModel(8)
    views = likes = comments = subs = 0
    for i in range(500):
        m = snap(model, f"eng-{i}", None, MONTH)
        views += m.views
        likes += m.likes
        comments += m.comments
        subs += m.subscribers_gained
    assert likes / views == pytest.approx(model.like_rate, rel=0.15)
    assert comments / views == pytest.approx(model.comment_rate, rel=0.3)
    assert subs / views == pytest.approx(model.subscribe_rate, rel=0.4)


def test_default_effects_name_real_arms_with_one_clear_winner() -> None:
    assert set(DEFAULT_EFFECTS) <= set(ARM_IDS)
    lifts = sorted((e.ctr_lift for e in DEFAULT_EFFECTS.values()), reverse=True)
    assert lifts[0] == DEFAULT_EFFECTS[BEST].ctr_lift == 0.25
    assert lifts[0] - lifts[1] >= 0.1
    assert sum(1 for lift in lifts if lift < 0) >= 3
    assert AudienceModel(0).true_best_arm() == BEST


def test_arm_effect_and_model_validation() -> None:
    with pytest.raises(ValueError, match="ctr_lift"):
        ArmEffect(ctr_lift=-1.0)
    with pytest.raises(ValueError, match="retention_shift"):
        ArmEffect(retention_shift=float("nan"))
    with pytest.raises(ValueError, match="base_ctr"):
        AudienceModel(0, base_ctr=1.5)
    with pytest.raises(ValueError, match="quality_sigma"):
        AudienceModel(0, quality_sigma=-0.1)


def test_effects_parse_from_json() -> None:
    effects = parse_effects(
        '{"challenge+comment_answer": {"ctr_lift": 0.25, "retention_shift": 3},'
        ' "story+follow": {"ctr_lift": -0.1}}'
    )
    assert effects == {
        BEST: ArmEffect(0.25, 3.0),
        "story+follow": ArmEffect(-0.1, 0.0),
    }
    assert isinstance(effects, MappingProxyType)
    assert effects_from_setting(None) is DEFAULT_EFFECTS
    assert effects_from_setting("  ") is DEFAULT_EFFECTS
    assert effects_from_setting("{}") == {}
    assert parse_effects('{"x": {}}', known_arms=["x"]) == {"x": ArmEffect()}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"challenge+coment_answer": {"ctr_lift": 0.2}}', "unknown arm 'challenge\\+coment"),
        ('{"story+follow": 0.2}', "must map to an object"),
        ('{"story+follow": {"ctr": 0.2}}', "unknown field\\(s\\) ctr"),
        ('{"story+follow": {"ctr_lift": "0.2"}}', "story\\+follow.ctr_lift must be a number"),
        ('{"story+follow": {"ctr_lift": true}}', "must be a number"),
        ('{"story+follow": {"ctr_lift": -1.5}}', "ctr_lift must be a finite number > -1"),
        ('{"story+follow": {"retention_shift": 1e400}}', "must be finite"),
        ('{"story+follow": {"retention_shift": 150}}', "within \\[-100, 100\\]"),
    ],
)
def test_effects_validation_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(EffectsConfigError, match=message):
        parse_effects(text)
