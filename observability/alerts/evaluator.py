"""The embedded alert evaluator: the PromQL of ``rules.RULES`` evaluated in Python.

Pure (no I/O, no clock): ``Evaluator.evaluate(store, now)`` reads a ``SeriesStore`` and returns
the alerts at ``now``. It reproduces the Prometheus 2.x semantics the rules rely on, so the
embedded default and a production Prometheus fire on the same input
(``tests/unit/test_alert_promtool.py`` runs both on the same series and compares):

* instant vectors: the newest sample within the lookback window (5 min), none if stale;
* range vectors ``[w]``: the non-stale samples in ``[t - w, t]``;
* ``rate`` / ``delta``: Prometheus' ``extrapolatedRate`` (counter resets, extrapolation to the
  window edges, never below zero for counters);
* ``offset``, ``sum by``, ``min``, ``max``, ``clamp_min``, ``time()``;
* the ``for`` state machine: pending when the condition first holds, firing once it has held
  for ``for``, resolved when it stops holding (a pending alert that clears is dropped).

``window_scale`` multiplies every window, offset, age and ``for`` duration (parameters ending
in ``_s``): tests shrink minutes to seconds; production keeps 1.0.
"""

from __future__ import annotations

import enum
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from observability.alerts.rules import RULES, AlertRule
from observability.alerts.store import Labels, Sample, SeriesStore, is_stale, label_key
from streams.telemetry.metrics import CONSUMER_LAG, DEAD_LETTER_DEPTH, LAST_PUBLISHED

LOOKBACK_S = 300.0  # Prometheus' default --query.lookback-delta
RUNBOOK_BASE = "docs/runbook.md"

EVENTS_IN_TOTAL = "munjero_events_in_total"
EVENTS_FAILED_TOTAL = "munjero_events_failed_total"
QUOTA_REMAINING = "munjero_youtube_quota_remaining_units"


class AlertState(enum.StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class AlertInstance:
    """One alert at one evaluation, as Prometheus would send it to Alertmanager."""

    alertname: str
    severity: str
    labels: dict[str, str]  # alertname, severity and the rule's grouping labels
    value: float
    state: AlertState
    active_at: float
    resolved_at: float | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Identity across evaluations: alertname plus the sorted labels."""
        return fingerprint(self.labels)


def fingerprint(labels: Mapping[str, str]) -> str:
    pairs = label_key(labels)
    return ",".join(f"{k}={v}" for k, v in pairs)


# -- PromQL building blocks -------------------------------------------------------------------

Vector = list[tuple[dict[str, str], float]]


def instant_vector(store: SeriesStore, name: str, at: float, lookback_s: float) -> Vector:
    """``name`` at time ``at``: each series' newest sample in ``(at - lookback, at]``."""
    out: Vector = []
    for series in store.select(name):
        newest: Sample | None = None
        for t, v in series.samples:
            if t > at:
                break
            newest = (t, v)
        if newest is None or newest[0] <= at - lookback_s or is_stale(newest[1]):
            continue
        out.append((series.labels, newest[1]))
    return out


def range_vector(
    store: SeriesStore, name: str, at: float, window_s: float
) -> list[tuple[dict[str, str], list[Sample]]]:
    """``name[window]`` at ``at``: non-stale samples in ``[at - window, at]`` (Prometheus 2.x
    includes both ends)."""
    out: list[tuple[dict[str, str], list[Sample]]] = []
    for series in store.select(name):
        points = [(t, v) for t, v in series.samples if at - window_s <= t <= at and not is_stale(v)]
        if points:
            out.append((series.labels, points))
    return out


def extrapolated_rate(
    samples: Sequence[Sample], start: float, end: float, *, is_counter: bool, is_rate: bool
) -> float | None:
    """Prometheus' ``extrapolatedRate`` (promql/functions.go): ``rate`` / ``increase`` when
    ``is_counter``, ``delta`` otherwise. None with fewer than two samples, as PromQL returns
    no series then."""
    if len(samples) < 2:
        return None
    first_t, first_v = samples[0]
    last_t, last_v = samples[-1]
    result = last_v - first_v
    if is_counter:
        # A counter that went down was reset (process restart): add back what it had reached.
        for (_, prev), (_, cur) in itertools.pairwise(samples):
            if cur < prev:
                result += prev
    to_start = first_t - start
    to_end = end - last_t
    sampled = last_t - first_t
    average = sampled / (len(samples) - 1)
    if is_counter and result > 0 and first_v >= 0:
        # A counter cannot have been below zero: do not extrapolate past where it was zero.
        to_zero = sampled * (first_v / result)
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    result *= interval / sampled
    if is_rate:
        result /= end - start
    return result


def rate_vector(store: SeriesStore, name: str, at: float, window_s: float) -> Vector:
    return _extrapolated_vector(store, name, at, window_s, counter=True)


def delta_vector(store: SeriesStore, name: str, at: float, window_s: float) -> Vector:
    return _extrapolated_vector(store, name, at, window_s, counter=False)


def _extrapolated_vector(
    store: SeriesStore, name: str, at: float, window_s: float, *, counter: bool
) -> Vector:
    """``rate`` (counter) or ``delta`` (gauge) of every series: PromQL's shared
    ``extrapolatedRate`` with its two callers' flags."""
    out: Vector = []
    for labels, points in range_vector(store, name, at, window_s):
        value = extrapolated_rate(points, at - window_s, at, is_counter=counter, is_rate=counter)
        if value is not None:
            out.append((labels, value))
    return out


def sum_by(
    vector: Iterable[tuple[Mapping[str, str], float]], by: Sequence[str]
) -> dict[Labels, float]:
    sums: dict[Labels, float] = {}
    for labels, value in vector:
        key = label_key({k: labels.get(k, "") for k in by})
        sums[key] = sums.get(key, 0.0) + value
    return sums


# -- The rules' conditions --------------------------------------------------------------------

Condition = Callable[[SeriesStore, float, Mapping[str, float], float], Vector]


def _service_down(store: SeriesStore, now: float, p: Mapping[str, float], lb: float) -> Vector:
    # up{job=~"munjero.*"} == 0 ; PromQL regex matchers are fully anchored.
    return [
        (labels, value)
        for labels, value in instant_vector(store, "up", now, lb)
        if re.fullmatch("munjero.*", labels.get("job", "")) and value == 0
    ]


def _high_failure_rate(store: SeriesStore, now: float, p: Mapping[str, float], lb: float) -> Vector:
    window = p["window_s"]
    failed = sum_by(rate_vector(store, EVENTS_FAILED_TOTAL, now, window), ["agent"])
    consumed = sum_by(rate_vector(store, EVENTS_IN_TOTAL, now, window), ["agent"])
    out: Vector = []
    for key, failed_rate in failed.items():
        if key not in consumed:
            continue  # vector division keeps only label sets present on both sides
        ratio = failed_rate / max(consumed[key], 1e-9)
        if ratio > p["threshold"]:
            out.append((dict(key), ratio))
    return out


def _consumer_lag_growing(
    store: SeriesStore, now: float, p: Mapping[str, float], lb: float
) -> Vector:
    by = ["group", "topic"]
    current = sum_by(instant_vector(store, CONSUMER_LAG, now, lb), by)
    before = sum_by(instant_vector(store, CONSUMER_LAG, now - p["offset_s"], lb), by)
    return [
        (dict(key), lag)
        for key, lag in current.items()
        if key in before and lag > before[key] and lag > p["min_records"]
    ]


def _dead_letters_growing(
    store: SeriesStore, now: float, p: Mapping[str, float], lb: float
) -> Vector:
    deltas = sum_by(delta_vector(store, DEAD_LETTER_DEPTH, now, p["window_s"]), ["topic"])
    return [(dict(key), value) for key, value in deltas.items() if value > 0]


def _no_short_published(
    store: SeriesStore, now: float, p: Mapping[str, float], lb: float
) -> Vector:
    values = [value for _, value in instant_vector(store, LAST_PUBLISHED, now, lb)]
    if not values:
        return []  # max() of nothing is nothing: the rule cannot fire without the gauge
    age = now - max(values)
    return [({}, age)] if age > p["max_age_s"] else []


def _quota_exhausted(store: SeriesStore, now: float, p: Mapping[str, float], lb: float) -> Vector:
    values = [value for _, value in instant_vector(store, QUOTA_REMAINING, now, lb)]
    if not values:
        return []
    lowest = min(values)
    return [({}, lowest)] if lowest < p["units"] else []


CONDITIONS: dict[str, Condition] = {
    "ServiceDown": _service_down,
    "HighFailureRate": _high_failure_rate,
    "ConsumerLagGrowing": _consumer_lag_growing,
    "DeadLettersGrowing": _dead_letters_growing,
    "NoShortPublished": _no_short_published,
    "YouTubeQuotaExhausted": _quota_exhausted,
}


def scaled_params(rule: AlertRule, scale: float) -> dict[str, float]:
    """Durations (``*_s``) scaled; thresholds and counts unchanged."""
    return {k: v * scale if k.endswith("_s") else v for k, v in rule.params.items()}


def max_window_s(rules: Iterable[AlertRule] = RULES, scale: float = 1.0) -> float:
    """The longest look into the past any rule needs (window, offset or age, plus lookback),
    which bounds how much history the store must keep."""
    longest = 0.0
    for r in rules:
        p = scaled_params(r, scale)
        longest = max(longest, p.get("window_s", 0.0), p.get("offset_s", 0.0) + LOOKBACK_S * scale)
    return max(longest, LOOKBACK_S * scale)


# -- Annotation templates ---------------------------------------------------------------------

_TEMPLATE = re.compile(r"\{\{\s*\$(labels\.(\w+)|value)\s*(?:\|\s*(\w+)\s*)?\}\}")


def go_float(value: float) -> str:
    """``value`` as Go's ``%v`` prints a float64 (what ``{{ $value }}`` renders)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(digits) + exponent - 1  # decimal exponent of the leading digit
    minus = "-" if sign else ""
    # Go's shortest %g switches to exponent form below 1e-4 and from 1e6 on ("1e+06").
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    return minus + format(Decimal(repr(abs(value))).normalize(), "f")


def render_template(template: str, labels: Mapping[str, str], value: float) -> str:
    """The subset of Prometheus alert templating the rules use: ``$labels.x``, ``$value`` and
    ``humanizePercentage``."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return labels.get(match.group(2), "")
        pipe = match.group(3)
        if pipe is None:
            return go_float(value)
        if pipe == "humanizePercentage":
            return f"{value * 100:.4g}%"
        raise ValueError(f"unsupported template function {pipe!r}")

    return _TEMPLATE.sub(substitute, template)


def render_annotations(rule: AlertRule, labels: Mapping[str, str], value: float) -> dict[str, str]:
    """The rule's annotations as ``prometheus_rule_groups()`` declares them, rendered."""
    return {
        "summary": render_template(rule.summary, labels, value),
        "description": render_template(rule.description, labels, value),
        "runbook_url": f"{RUNBOOK_BASE}#{rule.runbook_anchor}",
    }


# -- The ``for`` state machine ----------------------------------------------------------------


@dataclass
class _Active:
    active_at: float
    state: AlertState


class Evaluator:
    """Evaluates ``rules`` over a store; keeps only the pending/firing state between calls."""

    def __init__(
        self,
        rules: Sequence[AlertRule] = RULES,
        *,
        window_scale: float = 1.0,
        lookback_s: float | None = None,
    ) -> None:
        missing = [r.name for r in rules if r.name not in CONDITIONS]
        if missing:
            raise ValueError(f"no embedded evaluation for rules {missing}")
        self.rules = tuple(rules)
        self.window_scale = window_scale
        self.lookback_s = LOOKBACK_S * window_scale if lookback_s is None else lookback_s
        self._active: dict[tuple[str, Labels], _Active] = {}

    def evaluate(self, store: SeriesStore, now: float) -> list[AlertInstance]:
        """Pending and firing alerts at ``now``, plus those that resolved at this evaluation."""
        out: list[AlertInstance] = []
        for rule in self.rules:
            params = scaled_params(rule, self.window_scale)
            hold = rule.for_s * self.window_scale
            results = CONDITIONS[rule.name](store, now, params, self.lookback_s)
            current: set[tuple[str, Labels]] = set()
            for series_labels, value in results:
                labels = {**series_labels, "alertname": rule.name, "severity": rule.severity}
                key = (rule.name, label_key(labels))
                current.add(key)
                active = self._active.setdefault(key, _Active(now, AlertState.PENDING))
                if active.state is AlertState.PENDING and now - active.active_at >= hold:
                    active.state = AlertState.FIRING
                out.append(self._instance(rule, labels, value, active))
            for key in [k for k in self._active if k[0] == rule.name and k not in current]:
                active = self._active.pop(key)
                if active.state is AlertState.FIRING:
                    labels = dict(key[1])
                    resolved = _Active(active.active_at, AlertState.RESOLVED)
                    out.append(self._instance(rule, labels, 0.0, resolved, resolved_at=now))
        return out

    @staticmethod
    def _instance(
        rule: AlertRule,
        labels: dict[str, str],
        value: float,
        active: _Active,
        resolved_at: float | None = None,
    ) -> AlertInstance:
        return AlertInstance(
            alertname=rule.name,
            severity=rule.severity,
            labels=labels,
            value=value,
            state=active.state,
            active_at=active.active_at,
            resolved_at=resolved_at,
            annotations=render_annotations(rule, labels, value),
        )
