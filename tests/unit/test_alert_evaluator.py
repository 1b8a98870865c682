"""The embedded evaluator on synthetic series: firing, resolving, ``for``, resets, scaling."""

from __future__ import annotations

import pytest

from observability.alerts.evaluator import (
    AlertInstance,
    AlertState,
    Evaluator,
    extrapolated_rate,
    go_float,
    max_window_s,
    render_template,
)
from observability.alerts.store import SeriesStore
from tests.unit.alert_scenarios import SCENARIOS, Scenario, python_firing

UP = {"job": "munjero-worker-render", "instance": "127.0.0.1:9100"}


def _labels(alerts: list[AlertInstance]) -> list[list[tuple[str, str]]]:
    return sorted(
        sorted((k, v) for k, v in a.labels.items() if k not in ("alertname", "severity"))
        for a in alerts
    )


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.alertname)
def test_each_rule_fires_and_resolves(scenario: Scenario) -> None:
    found = python_firing(scenario)
    for t, expected in scenario.expected.items():
        assert _labels(found[t]) == sorted(sorted(e.items()) for e in expected), f"t={t}s"
    # Each scenario contains both a firing and a quiet time, so it proves both directions.
    assert any(found.values())
    assert any(not alerts for alerts in found.values())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.alertname)
def test_window_scale_compresses_time_without_changing_outcomes(scenario: Scenario) -> None:
    """1/64 turns minutes into ~1 s (exact in binary floating point); the same alerts fire
    at the same scaled times, so a test can run the real rules in seconds."""
    scale = 1 / 64
    assert {t: _labels(a) for t, a in python_firing(scenario, scale).items()} == {
        t: _labels(a) for t, a in python_firing(scenario).items()
    }


def test_for_duration_keeps_the_alert_pending_first() -> None:
    store = SeriesStore(retention_s=3600)
    evaluator = Evaluator()
    states = []
    for t, up in [(0, 1), (60, 0), (90, 0), (119, 0), (120, 0), (180, 1), (240, 1)]:
        store.add("up", UP, float(t), float(up))
        states.append([a.state for a in evaluator.evaluate(store, float(t))])
    assert states == [
        [],
        [AlertState.PENDING],
        [AlertState.PENDING],
        [AlertState.PENDING],
        [AlertState.FIRING],  # held for 60 s
        [AlertState.RESOLVED],  # answering again
        [],
    ]


def test_a_pending_alert_that_clears_never_fires_or_resolves() -> None:
    store = SeriesStore(retention_s=3600)
    evaluator = Evaluator()
    store.add("up", UP, 0.0, 0.0)
    assert [a.state for a in evaluator.evaluate(store, 0.0)] == [AlertState.PENDING]
    store.add("up", UP, 30.0, 1.0)
    assert evaluator.evaluate(store, 30.0) == []
    store.add("up", UP, 60.0, 0.0)
    # A new episode: pending again from 60 s, not firing on the old activation time.
    assert [a.state for a in evaluator.evaluate(store, 60.0)] == [AlertState.PENDING]


def test_counter_reset_is_added_back() -> None:
    samples = [(0.0, 100.0), (60.0, 160.0), (120.0, 10.0), (180.0, 70.0)]
    # 60 before the reset, 10 + 60 after it: 130, no extrapolation (window == samples).
    assert extrapolated_rate(samples, 0.0, 180.0, is_counter=True, is_rate=False) == 130.0
    assert extrapolated_rate(samples, 0.0, 180.0, is_counter=True, is_rate=True) == 130.0 / 180
    # ``delta`` on a gauge takes the drop at face value.
    assert extrapolated_rate(samples, 0.0, 180.0, is_counter=False, is_rate=False) == -30.0


def test_counter_is_not_extrapolated_below_zero() -> None:
    # Started at 0 at t=60 in a window from 0: extrapolating 30 s back would invent events.
    samples = [(60.0, 0.0), (120.0, 60.0)]
    assert extrapolated_rate(samples, 0.0, 120.0, is_counter=True, is_rate=False) == 60.0


def test_extrapolation_to_the_window_edges() -> None:
    # Samples 10 s from each edge (< 1.1 x 60 s interval): extrapolated all the way.
    samples = [(10.0, 100.0), (70.0, 160.0), (130.0, 220.0)]
    assert extrapolated_rate(samples, 0.0, 140.0, is_counter=True, is_rate=False) == 140.0
    # Far from the start edge (200 s > 66 s): only half an interval is added there.
    assert (
        extrapolated_rate(samples, -190.0, 140.0, is_counter=True, is_rate=False) == 120.0 + 30 + 10
    )


def test_fewer_than_two_samples_give_no_rate() -> None:
    assert extrapolated_rate([(0.0, 5.0)], -300.0, 0.0, is_counter=True, is_rate=True) is None


def test_stale_series_are_ignored_by_instant_queries() -> None:
    store = SeriesStore(retention_s=3600)
    store.ingest_target("a", [("up", UP, 0.0)], 0.0)
    evaluator = Evaluator(lookback_s=300)
    assert evaluator.evaluate(store, 0.0)[0].state is AlertState.PENDING
    store.drop_target("a", 10.0)  # the target left discovery
    assert evaluator.evaluate(store, 20.0) == []


def test_store_prunes_beyond_retention() -> None:
    store = SeriesStore(retention_s=100)
    for t in range(0, 1000, 10):
        store.add("up", UP, float(t), 1.0)
    store.prune(990.0)
    assert len(store) == 11  # 890 .. 990
    assert max_window_s() == 900  # dead letters' 15 min window is the longest


def test_annotation_templates_render_like_prometheus() -> None:
    labels = {"agent": "render"}
    assert (
        render_template(
            "{{ $labels.agent }} fails {{ $value | humanizePercentage }}", labels, 0.125
        )
        == "render fails 12.5%"
    )
    assert render_template("left ({{ $value }} units)", {}, 1599.0) == "left (1599 units)"
    assert [go_float(v) for v in (1e6, 0.5, 86401.0, 1.5e-5)] == [
        "1e+06",
        "0.5",
        "86401",
        "1.5e-05",
    ]


def test_every_rule_has_an_embedded_condition() -> None:
    Evaluator()  # raises if a rule in RULES has no Python evaluation
