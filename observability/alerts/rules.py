"""The alert rules, evaluated by Prometheus and delivered by Alertmanager.

``prometheus_rule_groups()`` is the rule file of the local Prometheus that ``munjero up`` starts
(observability/monitoring.py) and the spec of the Kubernetes PrometheusRule (``make generate``).
Each rule has a runbook section (docs/runbook.md#<anchor>); a test keeps the two in step, and
``promtool test rules`` checks every rule against a scenario (tests/unit/test_alert_promtool.py).

Every duration of a rule (range windows, offsets, ages, ``for``) is a named number of seconds,
so ``scale`` can shrink them all together: a test runs the real rules on a real Prometheus in
seconds instead of minutes (``MUNJERO_ALERT_WINDOW_SCALE``). Production keeps 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Template
from typing import Any


@dataclass(frozen=True)
class AlertRule:
    name: str
    # PromQL with ``$name`` placeholders for ``durations`` (seconds): ``$window`` becomes a
    # PromQL duration (``5m``) for ranges and offsets; a name ending in ``_s`` becomes a plain
    # number of seconds, for comparisons with ``time()``.
    expr: str
    for_s: int  # how long the condition must hold before the alert fires
    severity: str  # "page" (wake someone) or "ticket"
    summary: str
    description: str
    durations: dict[str, int] = field(default_factory=dict)

    @property
    def runbook_anchor(self) -> str:
        return self.name.lower()

    def promql(self, scale: float = 1.0) -> str:
        """The expression with every duration multiplied by ``scale`` (at least 1 s)."""
        values = {
            name: str(_scaled(s, scale)) if name.endswith("_s") else _duration(_scaled(s, scale))
            for name, s in self.durations.items()
        }
        return Template(self.expr).substitute(values)

    def for_duration(self, scale: float = 1.0) -> str | None:
        """The ``for:`` of the rule (``None``: fires at the first evaluation that matches)."""
        return _duration(_scaled(self.for_s, scale)) if self.for_s else None


def _scaled(seconds: int, scale: float) -> int:
    return max(1, round(seconds * scale))


def _duration(seconds: int) -> str:
    """A PromQL duration literal: the largest whole unit (``600`` -> ``10m``)."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


FAILURE_RATE_THRESHOLD = 0.05
LAG_MIN_RECORDS = 100
QUOTA_UPLOAD_UNITS = 1600

RULES: tuple[AlertRule, ...] = (
    AlertRule(
        name="ServiceDown",
        expr='up{job=~"munjero.*"} == 0',
        for_s=60,
        severity="page",
        summary="{{ $labels.job }} on {{ $labels.instance }} is not answering scrapes",
        description="A munjero process has not answered /metrics for a minute.",
    ),
    AlertRule(
        name="HighFailureRate",
        expr=(
            "sum by (agent) (rate(munjero_events_failed_total[$window]))"
            " / clamp_min(sum by (agent) (rate(munjero_events_in_total[$window])), 1e-9)"
            f" > {FAILURE_RATE_THRESHOLD}"
        ),
        for_s=0,
        severity="page",
        summary="{{ $labels.agent }} fails {{ $value | humanizePercentage }} of its events",
        description="More than 5% of an agent's events failed (retried or dead-lettered) "
        "over the last 5 minutes.",
        durations={"window": 300},
    ),
    AlertRule(
        name="ConsumerLagGrowing",
        expr=(
            "sum by (group, topic) (munjero_consumer_lag_records)"
            " > sum by (group, topic) (munjero_consumer_lag_records offset $offset)"
            f" and sum by (group, topic) (munjero_consumer_lag_records) > {LAG_MIN_RECORDS}"
        ),
        for_s=600,
        severity="page",
        summary="{{ $labels.group }} is falling behind on {{ $labels.topic }}",
        description="Consumer lag has grown for 10 minutes and is above 100 records.",
        durations={"offset": 600},
    ),
    AlertRule(
        name="DeadLettersGrowing",
        expr="sum by (topic) (delta(munjero_dead_letter_records[$window])) > 0",
        for_s=0,
        severity="ticket",
        summary="New dead letters on {{ $labels.topic }}",
        description="Events were dead-lettered in the last 15 minutes.",
        durations={"window": 900},
    ),
    AlertRule(
        name="NoShortPublished",
        expr="time() - max(munjero_last_short_published_timestamp_seconds) > $max_age_s",
        for_s=0,
        severity="page",
        summary="No short has been published for 24 hours",
        description="The last published short is more than a day old.",
        durations={"max_age_s": 86400},
    ),
    AlertRule(
        name="YouTubeQuotaExhausted",
        expr=f"min(munjero_youtube_quota_remaining_units) < {QUOTA_UPLOAD_UNITS}",
        for_s=0,
        severity="ticket",
        summary="YouTube quota left ({{ $value }} units) is less than one upload",
        description="Uploads wait for the next Pacific quota day.",
    ),
)


def rule(name: str) -> AlertRule:
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def prometheus_rule_groups(
    runbook_base: str = "docs/runbook.md", *, scale: float = 1.0
) -> dict[str, Any]:
    """The rules as a Prometheus rule file (``groups:``), also the PrometheusRule ``spec``;
    ``scale`` multiplies every duration (tests)."""
    return {
        "groups": [
            {
                "name": "munjero",
                "rules": [
                    {
                        "alert": r.name,
                        "expr": r.promql(scale),
                        **({"for": r.for_duration(scale)} if r.for_s else {}),
                        "labels": {"severity": r.severity},
                        "annotations": {
                            "summary": r.summary,
                            "description": r.description,
                            "runbook_url": f"{runbook_base}#{r.runbook_anchor}",
                        },
                    }
                    for r in RULES
                ],
            }
        ]
    }
