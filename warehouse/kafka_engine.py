"""Production ingestion DDL: a ``Kafka`` engine table per ingested topic plus materialized views
(pure SQL text; run on a ClickHouse server after ``schema.sql``, NEVER in chdb, where
``ENGINE = Kafka`` fails and corrupts the data directory).

* ``kafka_format = 'AvroConfluent'`` resolves each message's schema id through the registry.
  ClickHouse's Avro input maps a nested record to a named ``Tuple`` (matched by field name), so
  the Kafka table declares ``meta Tuple(event_id String, ...)`` and the view flattens it with
  ``tupleElement``; fields the table does not declare are skipped, so adding a field with a
  default to a contract does not break ingestion.
* ``kafka_handle_error_mode = 'stream'``: a message that fails to parse becomes a row with
  default column values and non-empty ``_error`` / ``_raw_message`` virtual columns, instead of
  stalling the consumer. One view routes good rows to the raw table, one routes ``_error`` rows to
  ``ingest_errors``: the same table the embedded sink fills with what it cannot decode.
* Broker list and registry URL are ``${...}`` placeholders (render with ``envsubst`` from the
  Kustomize config) or real values passed to ``kafka_ingest_statements``.
* On a cluster (``replication``) every replica runs the Kafka tables in the same consumer group,
  so the topic's partitions are shared between replicas and the views write into replicated
  tables. ``kafka_num_consumers`` per replica is the topic's partitions (catalogue) divided by
  the replicas, rounded up: every partition has a consumer, none idles for long. ClickHouse caps
  it at the server's physical cores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from schemas.contracts import load_schema
from streams.catalogue import TopicSpec, ingested_topics
from warehouse.replication import Cluster, on_cluster
from warehouse.tables import (
    DATABASE,
    INGEST_ERRORS,
    UTC_MS,
    RawTable,
    clickhouse_type,
    ident,
    table_for_topic,
)

BROKERS = "${KAFKA_BOOTSTRAP_SERVERS}"
REGISTRY_URL = "${SCHEMA_REGISTRY_URL}"
GROUP = "munjero.clickhouse"


def kafka_table_name(spec: TopicSpec) -> str:
    return "kafka_" + spec.name.replace(".", "_")


def kafka_columns(event_type: str) -> list[tuple[str, str]]:
    """Columns of the Kafka engine table: the Avro record as ClickHouse's Avro input reads it
    (``meta`` stays a Tuple; no LowCardinality: this table is a stream, never stored)."""
    schema = load_schema(event_type)
    named: dict[str, Any] = {}
    return [(f["name"], clickhouse_type(f["type"], named)) for f in schema["fields"]]


def _literal(value: str) -> str:
    # Settings values come from the catalogue, the settings model or ${...} placeholders.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def consumers_per_replica(spec: TopicSpec, replicas: int = 1) -> int:
    """Kafka consumers each replica's table runs so the group covers every partition."""
    if replicas < 1:
        raise ValueError("replicas must be positive")
    return max(1, math.ceil(spec.partitions / replicas))


def create_kafka_table(
    spec: TopicSpec,
    database: str,
    brokers: str,
    registry_url: str,
    namespace: str,
    replicas: int = 1,
) -> str:
    table = table_for_topic(spec.name)
    columns = ",\n".join(f"    {ident(n)} {t}" for n, t in kafka_columns(table.event_type))
    group = f"{namespace}{GROUP}.{kafka_table_name(spec)}"
    consumers = consumers_per_replica(spec, replicas)
    # Several consumers in one thread flush together; a thread each flushes independently.
    threads = "    kafka_thread_per_consumer = 1,\n" if consumers > 1 else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {ident(database)}.{ident(kafka_table_name(spec))}\n"
        f"(\n{columns}\n)\n"
        "ENGINE = Kafka\n"
        "SETTINGS\n"
        f"    kafka_broker_list = {_literal(brokers)},\n"
        f"    kafka_topic_list = {_literal(namespace + spec.name)},\n"
        # One group per table: tables on different topics never rebalance each other.
        f"    kafka_group_name = {_literal(group)},\n"
        f"    kafka_num_consumers = {consumers},\n"
        f"{threads}"
        "    kafka_format = 'AvroConfluent',\n"
        f"    format_avro_schema_registry_url = {_literal(registry_url)},\n"
        "    kafka_handle_error_mode = 'stream'"
    )


KAFKA_COORDINATES = {
    "_topic": "_topic",
    "_partition": "toInt32(_partition)",
    "_offset": "toInt64(_offset)",
    "_ingested_at": "now64(3, 'UTC')",
}


def column_expressions(
    table: RawTable, coordinates: dict[str, str] = KAFKA_COORDINATES
) -> list[str]:
    """Per raw column, its expression over the Avro input's columns (``meta`` a Tuple) and the
    ``coordinates`` of the record (the Kafka engine's virtual columns by default)."""
    exprs = []
    for column in table.columns:
        if not column.path:
            expr = coordinates[column.name]
        elif len(column.path) == 2:
            expr = f"tupleElement({ident(column.path[0])}, '{column.path[1]}')"
        else:
            expr = ident(column.path[0])
        exprs.append(expr)
    return exprs


def select_expressions(table: RawTable) -> list[str]:
    """The view's projection from Kafka-table columns (and virtual columns) to raw columns."""
    return [
        f"{expr} AS {ident(column.name)}"
        for expr, column in zip(column_expressions(table), table.columns, strict=True)
    ]


def error_expressions() -> list[str]:
    return [
        "_topic AS `_topic`",
        "toInt32(_partition) AS `_partition`",
        "toInt64(_offset) AS `_offset`",
        f"CAST(_timestamp_ms AS Nullable({UTC_MS})) AS `message_timestamp`",
        "_raw_message AS `raw_message`",
        "_error AS `error`",
        "now64(3, 'UTC') AS `_ingested_at`",
    ]


def create_views(spec: TopicSpec, database: str) -> tuple[str, str]:
    table = table_for_topic(spec.name)
    source = f"{ident(database)}.{ident(kafka_table_name(spec))}"
    rows = ",\n    ".join(select_expressions(table))
    errors = ",\n    ".join(error_expressions())
    good = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS "
        f"{ident(database)}.{ident('mv_' + kafka_table_name(spec))}\n"
        f"TO {ident(database)}.{ident(table.name)} AS\n"
        f"SELECT\n    {rows}\nFROM {source}\nWHERE length(_error) = 0"
    )
    bad = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS "
        f"{ident(database)}.{ident('mv_' + kafka_table_name(spec) + '_errors')}\n"
        f"TO {ident(database)}.{ident(INGEST_ERRORS)} AS\n"
        f"SELECT\n    {errors}\nFROM {source}\nWHERE length(_error) > 0"
    )
    return good, bad


def iter_kafka_ingest(
    database: str = DATABASE,
    *,
    brokers: str = BROKERS,
    registry_url: str = REGISTRY_URL,
    namespace: str = "",
    replicas: int = 1,
) -> Iterator[str]:
    """Every statement of ``kafka-ingest.sql``: engine tables first, then the views (a view
    starts consuming as soon as it exists)."""
    specs = ingested_topics()
    for spec in specs:
        yield create_kafka_table(spec, database, brokers, registry_url, namespace, replicas)
    for spec in specs:
        yield from create_views(spec, database)


def kafka_ingest_statements(
    database: str = DATABASE,
    *,
    brokers: str = BROKERS,
    registry_url: str = REGISTRY_URL,
    namespace: str = "",
    cluster: Cluster | None = None,
    replicas: int = 1,
) -> list[str]:
    """``kafka-ingest.sql``; with ``cluster``, ``ON CLUSTER`` and consumers shared between
    ``replicas`` replicas."""
    statements = iter_kafka_ingest(
        database, brokers=brokers, registry_url=registry_url, namespace=namespace, replicas=replicas
    )
    return [on_cluster(statement, cluster) for statement in statements]
