"""Metric names follow Prometheus' conventions, and every name a rule, the dashboard or the
Rollout analysis reads is one the factory exports."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from factory.generate import dashboard_json
from observability.alerts.rules import RULES
from observability.kafka_exporter import KafkaSpanSink
from observability.ops_collector import OpsCollector, OpsSnapshot
from streams.kafka_auth import KafkaClientConfig
from streams.telemetry import metrics
from tools.k8s_validate import ROOT

DECLARED = [m for m in vars(metrics).values() if isinstance(m, Counter | Gauge | Histogram)]


def exposition() -> str:
    """What a process with every metric (and the system gauges) serves on /metrics."""
    registry = CollectorRegistry()
    for metric in DECLARED:
        registry.register(metric)
    collector = OpsCollector()
    collector.snapshot = OpsSnapshot(
        lag=[("munjero.render", "scripts.drafted", 0, 4)],
        dead_letters={"scripts.drafted.dlq": 2},
        last_published=1.7e9,
        shorts_today=3,
    )
    registry.register(collector)
    metrics.EVENTS_IN.labels("render", "scripts.drafted").inc()
    metrics.PROCESSING_SECONDS.labels("render", "scripts.drafted").observe(0.1)
    return generate_latest(registry).decode()


def test_counters_end_in_total_and_nothing_else_does() -> None:
    types = dict(re.findall(r"^# TYPE (munjero_\S+) (\S+)$", exposition(), re.M))
    assert len(types) >= len(DECLARED)
    for family, kind in types.items():
        assert family.endswith("_total") == (kind == "counter"), (family, kind)
        if kind == "histogram":
            assert family.endswith("_seconds"), family
    assert types["munjero_spans_dropped_total"] == "counter"


def test_no_created_series_are_exported() -> None:
    text = exposition()
    assert "munjero_events_in_total{" in text
    assert "_created" not in text


def test_system_gauges_name_their_unit() -> None:
    text = exposition()
    assert 'munjero_consumer_lag_records{group="munjero.render"' in text
    assert 'munjero_dead_letter_records{topic="scripts.drafted.dlq"} 2.0' in text
    assert "munjero_last_short_published_timestamp_seconds 1.7e+09" in text


def test_every_name_the_rules_dashboard_and_analysis_read_is_exported() -> None:
    families = set(re.findall(r"^# TYPE (\S+) ", exposition(), re.M))
    exported = families | {f"{f}_total" for f in families} | {f"{f}_bucket" for f in families}
    exported |= {"up"}  # Prometheus' own, per scrape target
    apps = (ROOT / "k8s/base/apps/apps.yaml").read_text()
    read = [r.promql() for r in RULES] + [dashboard_json(), apps]
    names = {n for text in read for n in re.findall(r"\b(munjero_[a-z_]+|up)\b(?=[{\[ )])", text)}
    assert names, "no metric names found"
    assert names <= exported, names - exported


def test_lost_spans_are_counted_as_a_metric() -> None:
    before = metrics.SPANS_DROPPED._value.get()
    # Nothing listens on port 1: the sink never connects, so its queue is all it has.
    sink = KafkaSpanSink(
        KafkaClientConfig("127.0.0.1:1"),
        "otel.spans",
        max_queue=1,
        lost_metric=metrics.SPANS_DROPPED,
    )
    try:
        assert sink.offer([(b"k", b"a"), (b"k", b"b"), (b"k", b"c")]) == 1
        assert metrics.SPANS_DROPPED._value.get() == before + 2
    finally:
        sink.shutdown(0.5)
    # The one still queued at shutdown is lost too.
    assert sink.dropped == 3
    assert metrics.SPANS_DROPPED._value.get() == before + 3
