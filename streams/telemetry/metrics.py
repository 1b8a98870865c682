"""Every Prometheus metric the factory exports, in one place.

Names and labels here are a contract: the alert rules (``observability.alerts``), the Grafana
dashboards and the Kubernetes ServiceMonitor read them. Each process exposes the metrics it
updates on its own ``/metrics`` (``observability.metrics_server``); the process that can see the
broker and the warehouse (the API process on the embedded default) also exports the gauges that
are read from them (consumer lag, dead-letter depth, last publish time) through collectors.

Label values are bounded sets (catalogue topics, agent names, route templates), never ids: an
unbounded label is a memory leak in every Prometheus that scrapes us.

Names follow Prometheus' conventions (prometheus.io/docs/practices/naming): a unit suffix in
plural base units (``_seconds``, ``_records``, ``_units``), ``_total`` on counters (spelled out
here; prometheus_client would append it anyway) and nothing but counters end in ``_total``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# prometheus_client exports a ``<name>_created`` timestamp beside every counter and histogram:
# a second series per child that no rule or panel reads (Prometheus itself ignores it unless
# created-timestamp ingestion is switched on). Process-wide, so it is done where the metrics are.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream

# Seconds: a drafted script takes milliseconds, a render ~10 s, an upload minutes.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
RENDER_BUCKETS = (2, 4, 6, 8, 10, 12, 15, 20, 30, 45, 60, 90, 120, 180)
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

EVENTS_IN = Counter(
    "munjero_events_in_total",
    "Events an agent consumed (including retry tiers), by catalogue topic",
    ["agent", "topic"],
)
EVENTS_OUT = Counter(
    "munjero_events_out_total",
    "Events an agent published, by catalogue topic",
    ["agent", "topic"],
)
EVENTS_FAILED = Counter(
    "munjero_events_failed_total",
    "Events whose step failed, by where they went (retry tier or dead letters)",
    ["agent", "topic", "route"],
)
PROCESSING_SECONDS = Histogram(
    "munjero_processing_seconds",
    "Time an agent's step took for one event (decode, step, encode)",
    ["agent", "topic"],
    buckets=STEP_BUCKETS,
)
RENDER_SECONDS = Histogram(
    "munjero_render_seconds",
    "Wall time of one short's render, cache hits excluded",
    ["language"],
    buckets=RENDER_BUCKETS,
)
SHORTS_PUBLISHED = Counter(
    "munjero_shorts_published_total",
    "Shorts this process published (uploads that completed)",
    ["channel"],
)
# Labelled so that it exports nothing until a YouTube publisher has measured it: an unlabelled
# gauge reads 0 from import on, which the quota alert would take for an exhausted quota.
QUOTA_REMAINING = Gauge(
    "munjero_youtube_quota_remaining_units",
    "YouTube Data API units left in the current Pacific quota day",
    ["channel"],
)
API_REQUESTS = Counter(
    "munjero_api_requests_total",
    "HTTP requests answered by the API, by route template and status code",
    ["method", "route", "status"],
)
API_SECONDS = Histogram(
    "munjero_api_request_seconds",
    "HTTP request latency of the API, by route template",
    ["method", "route"],
    buckets=API_BUCKETS,
)
SINK_ROWS = Counter(
    "munjero_sink_rows_total",
    "Rows the embedded ClickHouse sink landed, by who decoded their Avro (clickhouse, python)",
    ["decoder"],
)
SPANS_DROPPED = Counter(
    "munjero_spans_dropped_total",
    "Spans lost: the span queue was full, the broker refused them, or shutdown ran out of time",
)

# Read from the broker / warehouse by collectors in the process that exports them.
CONSUMER_LAG = "munjero_consumer_lag_records"  # gauge {group, topic, partition}
DEAD_LETTER_DEPTH = "munjero_dead_letter_records"  # gauge {topic}: records in each DLQ topic
LAST_PUBLISHED = "munjero_last_short_published_timestamp_seconds"  # gauge, unix seconds
SHORTS_TODAY = "munjero_shorts_published_today"  # gauge: shorts published since 00:00 UTC
