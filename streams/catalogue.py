"""The topic catalogue: every topic the factory uses, declared once.

This module is the single source of truth for topic names, keys, value schemas, partitions,
retention, cleanup policy, retry tiers and dead-letter topics. Topic creation, the ClickHouse DDL
and the Strimzi ``KafkaTopic`` manifests are all generated from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

DAY = timedelta(days=1)


class TopicRole(StrEnum):
    EVENT = "event"  # a fact of the pipeline; ingested into ClickHouse
    RETRY = "retry"  # a backoff tier of an event topic
    DLQ = "dlq"  # dead letters of an event topic (StepFailed records)
    INTERNAL = "internal"  # operational traffic (readiness canaries); not an event, not Avro


@dataclass(frozen=True)
class TopicSpec:
    """One physical topic (before the settings' namespace prefix is applied)."""

    name: str
    key: str  # the field whose value is the record key: what must stay ordered
    value_schema: str  # event type name in schemas/avro
    partitions: int
    retention: timedelta | None  # None: keep forever (compacted topics)
    cleanup_policy: str = "delete"  # delete | compact | compact,delete
    role: TopicRole = TopicRole.EVENT
    parent: str | None = None  # for retry / dlq topics: the event topic they serve
    retry_tiers: tuple[timedelta, ...] = ()  # delay of each tier, growing
    replicas: int = 3  # production replication; the embedded broker has one node
    description: str = ""
    ingest: bool = True  # sink into ClickHouse
    table: str = field(default="")
    # Which copy of an event id the ClickHouse table keeps (the highest): by default the last
    # ingested; metrics snapshots keep the latest observation (a late re-poll supersedes).
    version: str = ""

    @property
    def retry_topics(self) -> tuple[str, ...]:
        return tuple(f"{self.name}.retry.{n}" for n in range(1, len(self.retry_tiers) + 1))

    @property
    def dlq_topic(self) -> str:
        return f"{self.name}.dlq"

    def config(self) -> dict[str, str]:
        """Kafka topic-level configs."""
        retention_ms = -1 if self.retention is None else int(self.retention.total_seconds() * 1000)
        return {"cleanup.policy": self.cleanup_policy, "retention.ms": str(retention_ms)}


# Retry tiers: 3 attempts after the first, backing off 2 s -> 30 s -> 5 min. A transient outage
# shorter than ~5.5 minutes is absorbed without a human; longer ones land in the DLQ to replay.
DEFAULT_TIERS = (timedelta(seconds=2), timedelta(seconds=30), timedelta(minutes=5))

EVENT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="problems.submitted",
        key="problem_id",
        value_schema="ProblemSubmitted",
        partitions=6,
        retention=timedelta(days=30),
        retry_tiers=DEFAULT_TIERS,
        description="Problems accepted by the producer API.",
        table="problems_submitted",
    ),
    TopicSpec(
        name="knowledge.ingested",
        key="document_id",
        value_schema="KnowledgeDocumentIngested",
        partitions=3,
        # Compacted: the latest version of each document is the truth the index is rebuilt from.
        retention=None,
        cleanup_policy="compact",
        retry_tiers=DEFAULT_TIERS,
        description="Knowledge documents (and deletions) accepted for indexing.",
        table="knowledge_ingested",
    ),
    TopicSpec(
        name="knowledge.indexed",
        key="document_id",
        value_schema="KnowledgeIndexed",
        partitions=3,
        retention=timedelta(days=30),
        retry_tiers=DEFAULT_TIERS,
        description="Knowledge documents whose chunks are in the vector store (or removed).",
        table="knowledge_indexed",
    ),
    TopicSpec(
        name="scripts.drafted",
        key="script_id",
        value_schema="ScriptDrafted",
        partitions=6,
        retention=timedelta(days=30),
        retry_tiers=DEFAULT_TIERS,
        description="One script per variant arm.",
        table="scripts_drafted",
    ),
    TopicSpec(
        name="renders.storyboarded",
        key="script_id",
        value_schema="StoryboardReady",
        partitions=6,
        retention=timedelta(days=30),
        retry_tiers=DEFAULT_TIERS,
        description="Contact sheets of a render's key scenes, published before the full render.",
        table="renders_storyboarded",
    ),
    TopicSpec(
        name="renders.completed",
        key="script_id",
        value_schema="RenderCompleted",
        partitions=6,
        retention=timedelta(days=30),
        retry_tiers=DEFAULT_TIERS,
        description="Rendered videos that passed the quality gate.",
        table="renders_completed",
    ),
    TopicSpec(
        name="shorts.published",
        key="short_id",
        value_schema="ShortPublished",
        partitions=3,
        retention=timedelta(days=365),
        retry_tiers=DEFAULT_TIERS,
        description="Shorts uploaded to a channel.",
        table="shorts_published",
    ),
    TopicSpec(
        name="metrics.observed",
        key="short_id",
        value_schema="MetricsObserved",
        partitions=3,
        retention=timedelta(days=365),
        retry_tiers=DEFAULT_TIERS,
        description="Performance snapshots per short and window (event id per short+window).",
        table="metrics_observed",
        version="observed_at",
    ),
    TopicSpec(
        name="experiments.updated",
        key="experiment_id",
        value_schema="ExperimentUpdated",
        partitions=1,
        retention=None,
        cleanup_policy="compact",
        retry_tiers=DEFAULT_TIERS,
        description="Arm weights per experiment (latest wins).",
        table="experiments_updated",
    ),
)


def _derived(spec: TopicSpec) -> list[TopicSpec]:
    derived = [
        TopicSpec(
            name=name,
            key=spec.key,
            value_schema=spec.value_schema,
            partitions=spec.partitions,
            retention=timedelta(days=7),
            role=TopicRole.RETRY,
            parent=spec.name,
            description=f"Retry tier {tier} of {spec.name} (delay {delay}).",
            ingest=False,
        )
        for tier, (name, delay) in enumerate(
            zip(spec.retry_topics, spec.retry_tiers, strict=True), start=1
        )
    ]
    derived.append(
        TopicSpec(
            name=spec.dlq_topic,
            key=spec.key,
            value_schema="StepFailed",
            partitions=1,
            retention=timedelta(days=90),
            role=TopicRole.DLQ,
            parent=spec.name,
            description=f"Dead letters of {spec.name}; replay with `munjero dlq replay`.",
            table="dead_letters",
        )
    )
    return derived


# The API's readiness probe produces a tiny JSON canary here and waits for the broker's ack.
HEALTH_TOPIC = TopicSpec(
    name="munjero.health",
    key="canary",
    value_schema="",
    partitions=1,
    retention=timedelta(hours=1),
    role=TopicRole.INTERNAL,
    replicas=3,
    description="Readiness canaries of the producer API (JSON, not Avro).",
    ingest=False,
)


# Telemetry of every process (JSON documents, not Avro): the process that owns ClickHouse writes
# them into the OpenTelemetry Collector layout (observability/telemetry_sink.py). Short
# retention: ClickHouse keeps the history; Kafka only buffers.
def _telemetry_topic(name: str, key: str, description: str) -> TopicSpec:
    return TopicSpec(
        name=name,
        key=key,
        value_schema="",
        partitions=3,
        retention=timedelta(days=1),
        role=TopicRole.INTERNAL,
        description=description,
        ingest=False,
    )


SPANS_TOPIC = _telemetry_topic(
    "otel.spans",
    "trace_id",
    "Finished spans of every process (JSON, observability/clickhouse_traces.py).",
)
LOGS_TOPIC = _telemetry_topic(
    "otel.logs", "service", "Structured log records of every process (JSON, observability/logs.py)."
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    EVENT_TOPICS
    + tuple(d for spec in EVENT_TOPICS for d in _derived(spec))
    + (HEALTH_TOPIC, SPANS_TOPIC, LOGS_TOPIC)
)
_BY_NAME = {spec.name: spec for spec in ALL_TOPICS}


def topic(name: str) -> TopicSpec:
    """The spec of a catalogue topic (un-namespaced name)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the topic catalogue") from None


def event_topic(name: str) -> TopicSpec:
    """The event topic a retry/dlq/event topic belongs to."""
    spec = topic(name)
    return topic(spec.parent) if spec.parent else spec


def ingested_topics() -> tuple[TopicSpec, ...]:
    """Topics the ClickHouse sink consumes."""
    return tuple(spec for spec in ALL_TOPICS if spec.ingest)


def retry_delay(spec: TopicSpec, tier: int) -> timedelta:
    """Delay before tier ``tier`` (1-based) of event topic ``spec`` is retried."""
    return spec.retry_tiers[tier - 1]
