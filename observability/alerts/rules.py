"""The alert rules: one definition, two evaluators.

Production: ``prometheus_rule_groups()`` is written to a Prometheus rule file and to the
Kubernetes PrometheusRule (``make generate``), and Alertmanager delivers. Embedded default:
``observability.alerts.evaluator`` evaluates the same rules (same thresholds, windows and
``for`` durations) over the samples it scrapes from every process's ``/metrics``.
Each rule has a runbook section (docs/runbook.md#<anchor>); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str  # PromQL, as Prometheus evaluates it
    for_s: int  # how long the condition must hold before the alert fires
    severity: str  # "page" (wake someone) or "ticket"
    summary: str
    description: str
    # Parameters of the condition, shared by the PromQL above and the embedded evaluator.
    params: dict[str, float] = field(default_factory=dict)

    @property
    def runbook_anchor(self) -> str:
        return self.name.lower()


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
            "sum by (agent) (rate(munjero_events_failed_total[5m]))"
            " / clamp_min(sum by (agent) (rate(munjero_events_in_total[5m])), 1e-9)"
            f" > {FAILURE_RATE_THRESHOLD}"
        ),
        for_s=0,
        severity="page",
        summary="{{ $labels.agent }} fails {{ $value | humanizePercentage }} of its events",
        description="More than 5% of an agent's events failed (retried or dead-lettered) "
        "over the last 5 minutes.",
        params={"threshold": FAILURE_RATE_THRESHOLD, "window_s": 300},
    ),
    AlertRule(
        name="ConsumerLagGrowing",
        expr=(
            "sum by (group, topic) (munjero_consumer_lag)"
            " > sum by (group, topic) (munjero_consumer_lag offset 10m)"
            f" and sum by (group, topic) (munjero_consumer_lag) > {LAG_MIN_RECORDS}"
        ),
        for_s=600,
        severity="page",
        summary="{{ $labels.group }} is falling behind on {{ $labels.topic }}",
        description="Consumer lag has grown for 10 minutes and is above 100 records.",
        params={"min_records": LAG_MIN_RECORDS, "offset_s": 600},
    ),
    AlertRule(
        name="DeadLettersGrowing",
        expr="sum by (topic) (delta(munjero_dead_letter_depth[15m])) > 0",
        for_s=0,
        severity="ticket",
        summary="New dead letters on {{ $labels.topic }}",
        description="Events were dead-lettered in the last 15 minutes.",
        params={"window_s": 900},
    ),
    AlertRule(
        name="NoShortPublished",
        expr="time() - max(munjero_last_short_published_timestamp_seconds) > 86400",
        for_s=0,
        severity="page",
        summary="No short has been published for 24 hours",
        description="The last published short is more than a day old.",
        params={"max_age_s": 86400},
    ),
    AlertRule(
        name="YouTubeQuotaExhausted",
        expr=f"min(munjero_youtube_quota_remaining_units) < {QUOTA_UPLOAD_UNITS}",
        for_s=0,
        severity="ticket",
        summary="YouTube quota left ({{ $value }} units) is less than one upload",
        description="Uploads wait for the next Pacific quota day.",
        params={"units": QUOTA_UPLOAD_UNITS},
    ),
)


def rule(name: str) -> AlertRule:
    for candidate in RULES:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def prometheus_rule_groups(runbook_base: str = "docs/runbook.md") -> dict[str, Any]:
    """The rules as a Prometheus rule file (``groups:``), also the PrometheusRule ``spec``."""
    return {
        "groups": [
            {
                "name": "munjero",
                "rules": [
                    {
                        "alert": r.name,
                        "expr": r.expr,
                        **({"for": f"{r.for_s}s"} if r.for_s else {}),
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
