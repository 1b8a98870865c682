"""The generated ClickHouse DDL: type mapping, coverage of the catalogue, the replicated server
DDL that parses (never executed: Kafka DDL corrupts a chdb data dir) while chdb keeps plain
engines from the same generator, and no drift in checked-in files."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
import yaml

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from factory import generate
from factory.generate import CLICKHOUSE_REPLICAS, ROOT
from schemas.contracts import parsed_schema
from streams.catalogue import ALL_TOPICS, ingested_topics
from tests import sample_events as samples
from warehouse.kafka_engine import (
    consumers_per_replica,
    kafka_columns,
    kafka_ingest_statements,
    select_expressions,
)
from warehouse.replication import Cluster, on_cluster
from warehouse.schema import schema_statements
from warehouse.tables import (
    UnsupportedAvroType,
    clickhouse_type,
    event_columns,
    raw_tables,
    table_for_topic,
)

TS = {"type": "long", "logicalType": "timestamp-millis"}


@pytest.mark.parametrize(
    ("avro", "expected"),
    [
        ("string", "String"),
        ("int", "Int32"),
        ("long", "Int64"),
        ("double", "Float64"),
        ("float", "Float32"),
        ("boolean", "Bool"),
        ("bytes", "String"),
        (TS, "DateTime64(3, 'UTC')"),
        ({"type": "string"}, "String"),
        ({"type": "array", "items": "string"}, "Array(String)"),
        (["null", "string"], "Nullable(String)"),
        (["string", "null"], "Nullable(String)"),
        (["null", TS], "Nullable(DateTime64(3, 'UTC'))"),
        ({"type": "map", "values": "long"}, "Map(String, Int64)"),
        ({"type": "fixed", "name": "Sha", "size": 32}, "FixedString(32)"),
        ({"type": "enum", "name": "E", "symbols": ["A"]}, "LowCardinality(String)"),
        (
            {"type": "record", "name": "R", "fields": [
                {"name": "a", "type": "string"}, {"name": "b", "type": ["null", "double"]}]},
            "Tuple(`a` String, `b` Nullable(Float64))",
        ),
        (
            {"type": "array", "items": {"type": "record", "name": "C", "fields": [
                {"name": "chunk_id", "type": "string"}, {"name": "score", "type": "double"}]}},
            "Array(Tuple(`chunk_id` String, `score` Float64))",
        ),
    ],
)  # fmt: skip
def test_avro_types_map_to_clickhouse(avro: Any, expected: str) -> None:
    assert clickhouse_type(avro) == expected


def test_named_types_resolve_on_later_use() -> None:
    named: dict[str, Any] = {}
    record = {"type": "record", "name": "H", "namespace": "x", "fields": [
        {"name": "k", "type": "string"}]}  # fmt: skip
    assert clickhouse_type(record, named) == "Tuple(`k` String)"
    assert clickhouse_type("x.H", named) == "Tuple(`k` String)"
    assert clickhouse_type({"type": "array", "items": "H"}, named) == "Array(Tuple(`k` String))"


@pytest.mark.parametrize(
    "avro",
    [
        ["null", {"type": "array", "items": "string"}],  # ClickHouse has no Nullable(Array)
        ["string", "long"],  # a real union
        "Unknown",
    ],
)
def test_unmappable_avro_types_are_refused(avro: Any) -> None:
    with pytest.raises(UnsupportedAvroType):
        clickhouse_type(avro)


def test_meta_is_flattened_first_and_coordinates_last() -> None:
    columns = [(c.name, c.type) for c in event_columns("ProblemSubmitted")]
    assert columns[:5] == [
        ("event_id", "String"),
        ("occurred_at", "DateTime64(3, 'UTC')"),
        ("correlation_id", "String"),
        ("causation_id", "Nullable(String)"),
        ("producer", "LowCardinality(String)"),
    ]
    assert columns[-4:] == [
        ("_topic", "LowCardinality(String)"),
        ("_partition", "Int32"),
        ("_offset", "Int64"),
        ("_ingested_at", "DateTime64(3, 'UTC')"),
    ]
    assert ("choices", "Array(String)") in columns
    assert ("difficulty", "LowCardinality(Nullable(String))") in columns


def test_every_ingested_topic_has_its_table() -> None:
    text = "\n".join(schema_statements())
    for spec in ingested_topics():
        assert f"CREATE TABLE IF NOT EXISTS `munjero`.`{spec.table}`" in text
        assert table_for_topic(spec.name).name == spec.table
    dead = table_for_topic("scripts.drafted.dlq")
    assert dead.name == "dead_letters"
    assert {s.name for s in dead.topics} == {
        s.name for s in ALL_TOPICS if s.role.value == "dlq" and s.ingest
    }


def test_dedup_never_depends_on_occurred_at() -> None:
    for table in raw_tables():
        assert table.order_by[-1] == "event_id"
        assert "occurred_at" not in table.order_by
        names = {c.name for c in table.columns}
        assert set(table.order_by) <= names


def test_schema_sql_never_creates_a_kafka_engine() -> None:
    # chdb runs schema.sql; a Kafka engine there corrupts the data directory.
    assert not any("ENGINE = Kafka" in s for s in schema_statements())


@pytest.fixture(scope="module")
def chdb_memory() -> Iterator[ChdbWarehouse]:
    warehouse = ChdbWarehouse(None)
    yield warehouse
    asyncio.run(warehouse.close())


def server_statements() -> list[str]:
    """What the DDL Job runs on the server: schema.sql, then kafka-ingest.sql."""
    return schema_statements(cluster=Cluster()) + kafka_ingest_statements(
        brokers="kafka:9092",
        registry_url="http://sr:8081",
        cluster=Cluster(),
        replicas=CLICKHOUSE_REPLICAS,
    )


def test_every_server_statement_parses(chdb_memory: ChdbWarehouse) -> None:
    statements = server_statements()
    assert sum("ENGINE = Kafka" in s for s in statements) == len(ingested_topics())

    async def parse_all() -> list[str]:
        out = []
        for statement in statements:
            # formatQuery parses without executing: the only safe way to check Kafka DDL here.
            rows = await chdb_memory.query("SELECT formatQuery({q:String}) AS f", {"q": statement})
            out.append(rows[0]["f"])
        return out

    formatted = asyncio.run(parse_all())
    assert len(formatted) == len(statements)
    # ClickHouse's own parser saw the cluster clause and the replicated engines.
    assert all(" ON CLUSTER `{cluster}`" in f.splitlines()[0] for f in formatted)
    engines = [line for f in formatted for line in f.splitlines() if line.startswith("ENGINE")]
    merge_trees = [e for e in engines if "MergeTree" in e]
    assert merge_trees
    assert all(
        e.startswith("ENGINE = Replicated")
        and "('/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" in e
        for e in merge_trees
    ), merge_trees
    assert any("kafka_handle_error_mode = 'stream'" in f for f in formatted)
    assert any("WHERE length(_error) > 0" in f for f in formatted)


def test_server_deduplicates_inserts_with_the_replicated_setting() -> None:
    text = "\n".join(server_statements())
    assert "non_replicated_deduplication_window" not in text
    raw = [s for s in schema_statements(cluster=Cluster()) if "ReplacingMergeTree" in s]
    assert all("SETTINGS replicated_deduplication_window = 10000" in s for s in raw)


def test_chdb_keeps_plain_engines_from_the_same_generator() -> None:
    plain = schema_statements()
    assert not any("Replicated" in s or "ON CLUSTER" in s for s in plain)
    # Exactly the same statements, but for the cluster clause, engine and setting.
    assert [on_cluster(s, Cluster()) for s in plain] == schema_statements(cluster=Cluster())
    assert on_cluster(plain[1], None) == plain[1]


def test_a_statement_without_a_cluster_form_is_refused() -> None:
    with pytest.raises(ValueError, match="no cluster form"):
        on_cluster("INSERT INTO `munjero`.`t` VALUES (1)", Cluster())


def test_kafka_consumers_cover_every_partition_across_replicas() -> None:
    statements = kafka_ingest_statements(cluster=Cluster(), replicas=CLICKHOUSE_REPLICAS)
    for spec in ingested_topics():
        consumers = consumers_per_replica(spec, CLICKHOUSE_REPLICAS)
        # Enough consumers for every partition, and no replica with a wholly idle one.
        assert consumers * CLICKHOUSE_REPLICAS >= spec.partitions
        assert consumers == 1 or (consumers - 1) * CLICKHOUSE_REPLICAS < spec.partitions
        (table,) = [s for s in statements if f"kafka_topic_list = '{spec.name}'" in s]
        assert f"kafka_num_consumers = {consumers}," in table
    problems = next(s for s in ingested_topics() if s.name == "problems.submitted")
    assert problems.partitions == 6
    assert consumers_per_replica(problems, 2) == 3


def test_generator_replicas_match_the_clickhouse_installation() -> None:
    (chi, *_) = yaml.safe_load_all((ROOT / "k8s/base/clickhouse/clickhouse.yaml").read_text())
    (cluster,) = chi["spec"]["configuration"]["clusters"]
    assert cluster["layout"]["replicasCount"] == CLICKHOUSE_REPLICAS
    nodes = chi["spec"]["configuration"]["zookeeper"]["nodes"]
    keeper = next(
        d
        for d in yaml.safe_load_all((ROOT / "k8s/base/clickhouse/keeper.yaml").read_text())
        if d["kind"] == "StatefulSet"
    )
    assert [n["host"] for n in nodes] == [
        f"clickhouse-keeper-{i}.clickhouse-keeper" for i in range(keeper["spec"]["replicas"])
    ]


def _encode_container(event_type: str, records: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    fastavro.writer(buf, parsed_schema(event_type), records)
    return buf.getvalue()


def _sample(event_type: str) -> dict[str, Any]:
    events = samples.pipeline(samples.PROBLEMS[0], 0, arms=1, windows=1)
    events.append(samples.step_failed("scripts.drafted", "scripts.drafted", "k", b"\xff", 1))
    events += [samples.knowledge_ingested(1), samples.experiment_updated(1)]
    return next(record for _, et, record in events if et == event_type)


@pytest.mark.parametrize(
    "topic_name",
    ["problems.submitted", "knowledge.ingested", "scripts.drafted", "renders.completed",
     "shorts.published", "metrics.observed", "experiments.updated", "scripts.drafted.dlq"],
)  # fmt: skip
def test_kafka_columns_and_view_projection_read_real_avro(
    topic_name: str, tmp_path: Path, chdb_memory: ChdbWarehouse
) -> None:
    """ClickHouse's own Avro decoder (shared by AvroConfluent) reads our records into the Kafka
    table's columns, and the materialized view's projection fits the raw table."""
    table = table_for_topic(topic_name)
    path = tmp_path / "events.avro"
    path.write_bytes(_encode_container(table.event_type, [_sample(table.event_type)]))
    structure = ", ".join(f"`{n}` {t}" for n, t in kafka_columns(table.event_type))
    # The Kafka engine's virtual columns, as constants: the projection is the view's, verbatim.
    source = (
        "(SELECT *, 'p.topic' AS _topic, toUInt64(2) AS _partition, toUInt64(41) AS _offset,"
        " '' AS _error FROM file({path:String}, 'Avro', {structure:String}))"
    )
    db = f"ddl_{table.name}"

    async def run() -> list[dict[str, Any]]:
        for statement in schema_statements(db):
            await chdb_memory.execute(statement)
        await chdb_memory.execute(
            f"INSERT INTO {db}.{table.name} SELECT {', '.join(select_expressions(table))}"
            f" FROM {source} WHERE length(_error) = 0",
            {"path": str(path), "structure": structure},
        )
        return await chdb_memory.query(
            f"SELECT event_id, occurred_at, _topic, _partition, _offset FROM {db}.{table.name}"
        )

    rows = asyncio.run(run())
    sample = _sample(table.event_type)
    assert len(rows) == 1
    assert rows[0]["event_id"] == sample["meta"]["event_id"]
    assert rows[0]["occurred_at"] == sample["meta"]["occurred_at"]
    assert (rows[0]["_topic"], rows[0]["_partition"], rows[0]["_offset"]) == ("p.topic", 2, 41)


def test_checked_in_files_do_not_drift() -> None:
    assert generate.main(["--check"]) == 0


def test_drift_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1
    assert "drifted" in capsys.readouterr().out
    generate.write(tmp_path)
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0


def test_strimzi_topics_cover_the_catalogue() -> None:
    docs = list(yaml.safe_load_all(generate.topics_yaml()))
    assert [d["spec"]["topicName"] for d in docs] == [s.name for s in ALL_TOPICS]
    for doc, spec in zip(docs, ALL_TOPICS, strict=True):
        assert doc["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert doc["kind"] == "KafkaTopic"
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == "munjero"
        assert doc["spec"]["partitions"] == spec.partitions
        assert doc["spec"]["replicas"] == spec.replicas
        assert {k: str(v) for k, v in doc["spec"]["config"].items()} == spec.config()


def test_the_voice_fallback_reason_is_queryable_after_ingest(
    tmp_path: Path, chdb_memory: ChdbWarehouse
) -> None:
    """RenderCompleted v3's voice columns through ClickHouse's Avro decoder into the raw table:
    analysts can count fallbacks (``voice_fallback_reason IS NOT NULL``) per voice."""
    table = table_for_topic("renders.completed")
    fell_back = {
        **_sample(table.event_type),
        "voice": "offline",
        "voice_fallback_reason": "google-cloud-tts: Google TTS answered HTTP 503: down",
        "caption_srt_key": "renders/ab/ab/short.srt",
    }
    spoke = {**_sample(table.event_type), "voice": "google-cloud-tts"}
    spoke["meta"] = {**spoke["meta"], "event_id": "another-event"}
    path = tmp_path / "events.avro"
    path.write_bytes(_encode_container(table.event_type, [fell_back, spoke]))
    structure = ", ".join(f"`{n}` {t}" for n, t in kafka_columns(table.event_type))
    source = (
        "(SELECT *, 'p.topic' AS _topic, toUInt64(0) AS _partition, toUInt64(0) AS _offset,"
        " '' AS _error FROM file({path:String}, 'Avro', {structure:String}))"
    )
    db = "ddl_voice"

    async def run() -> list[dict[str, Any]]:
        for statement in schema_statements(db):
            await chdb_memory.execute(statement)
        await chdb_memory.execute(
            f"INSERT INTO {db}.{table.name} SELECT {', '.join(select_expressions(table))}"
            f" FROM {source}",
            {"path": str(path), "structure": structure},
        )
        return await chdb_memory.query(
            f"SELECT voice, countIf(voice_fallback_reason IS NOT NULL) AS fallbacks,"
            f" any(caption_srt_key) AS srt FROM {db}.{table.name} GROUP BY voice ORDER BY voice"
        )

    rows = asyncio.run(run())
    assert [(r["voice"], r["fallbacks"]) for r in rows] == [
        ("google-cloud-tts", 0),
        ("offline", 1),
    ]
    assert rows[1]["srt"] == "renders/ab/ab/short.srt"
