"""``ChdbWarehouse.insert_encoded``: ClickHouse decodes the Confluent wire format itself, with
writer schemas from a real registry server, into exactly the rows the Python decoder makes.

The sink's own behaviour with both decoders is in ``test_sink.py``; this is the adapter's
contract: every column of every ingested table equal either way, all or nothing, the dedup
token, the ids it reports, and a clear ``WarehouseError`` when ClickHouse cannot decode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.registry_client import HttpSchemaRegistry
from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from schemas.serializer import AvroSerde, subject_for
from streams.catalogue import ingested_topics
from streams.ports.warehouse import EncodedRows, WarehouseError
from tests import sample_events as samples
from tests.bench.ingest_bench import mixed_events
from tests.integration.registry_fixtures import running_registry
from tests.unit.test_serializer import RECORDS
from warehouse import avro_input
from warehouse.rows import mapper_for_topic

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 12, 0, 0, 123000, tzinfo=UTC)
SPECS = {spec.name: spec for spec in ingested_topics()}


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    with running_registry(tmp_path / "registry.db") as url:
        yield url


@pytest.fixture
async def wh(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    warehouse = ChdbWarehouse(tmp_path / "chdb")
    try:
        for db in ("by_clickhouse", "by_python"):
            await ensure_schema(warehouse, db)
        yield warehouse
    finally:
        await warehouse.close()


def physical(topic: str) -> str:
    return f"ns.{topic}"


async def encoded(
    serde: AvroSerde, registry: str, topic: str, records: list[dict[str, Any]], first: int = 0
) -> EncodedRows:
    spec = SPECS[topic]
    payloads = [
        await serde.encode_async(subject_for(physical(topic)), spec.value_schema, r)
        for r in records
    ]
    structure, select = avro_input.avro_input(topic)
    coordinates = [(physical(topic), 3, first + 2 * i) for i in range(len(records))]
    return EncodedRows(
        format=avro_input.FORMAT,
        structure=structure,
        select=select,
        data=b"".join(payloads),
        params=avro_input.coordinates(coordinates, AT),
        settings={"format_avro_schema_registry_url": registry},
    )


async def test_every_table_gets_the_rows_python_would_make(
    wh: ChdbWarehouse, registry: str
) -> None:
    serde = AvroSerde(HttpSchemaRegistry(registry))
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for topic, _, record in mixed_events(300):
        by_topic.setdefault(topic, []).append(record)
    for topic, spec in SPECS.items():  # tables the pipeline sample has no events for
        if mapper_for_topic(topic).table not in {mapper_for_topic(t).table for t in by_topic}:
            by_topic[topic] = [RECORDS[spec.value_schema]]
    tables = {mapper_for_topic(topic).table for topic in by_topic}
    assert tables == {mapper_for_topic(topic).table for topic in SPECS}  # every table
    for topic, records in by_topic.items():
        mapper = mapper_for_topic(topic)
        rows = await encoded(serde, registry, topic, records)
        await wh.insert_encoded(f"by_clickhouse.{mapper.table}", mapper.columns, rows)
        python_rows = []
        for i, record in enumerate(records):
            payload = await serde.encode_async(
                subject_for(physical(topic)), SPECS[topic].value_schema, record
            )
            decoded = await serde.decode(payload, SPECS[topic].value_schema)
            python_rows.append(mapper.row(decoded.record, physical(topic), 3, 2 * i, AT))
        await wh.insert(f"by_python.{mapper.table}", mapper.columns, python_rows)
    expected: dict[str, int] = {}
    for topic, records in by_topic.items():
        table = mapper_for_topic(topic).table
        expected[table] = expected.get(table, 0) + len(records)
    for table, count in expected.items():
        order = "ORDER BY _topic, _offset"
        got = await wh.query(f"SELECT * FROM by_clickhouse.{table} {order}")
        want = await wh.query(f"SELECT * FROM by_python.{table} {order}")
        assert len(got) == count
        assert got == want, table


async def test_a_retried_insert_with_its_token_lands_once(wh: ChdbWarehouse, registry: str) -> None:
    serde = AvroSerde(HttpSchemaRegistry(registry))
    records = [samples.problem_submitted(p, 1)[2] for p in samples.PROBLEMS[:3]]
    rows = await encoded(serde, registry, "problems.submitted", records)
    table, columns = "by_clickhouse.problems_submitted", mapper_for_topic("problems.submitted")
    for _ in range(2):
        await wh.insert_encoded(table, columns.columns, rows, dedup_token="avro:t:0:0-5")
    count = await wh.query(f"SELECT count() AS c FROM {table}")
    assert count == [{"c": 3}]


async def test_it_reports_the_ids_it_inserted(wh: ChdbWarehouse, registry: str) -> None:
    serde = AvroSerde(HttpSchemaRegistry(registry))
    problem = samples.problem_submitted(samples.PROBLEMS[0], 4)[2]
    scripts = [samples.script_drafted(problem, arm)[2] for arm in ("a", "b")]
    rows = await encoded(serde, registry, "scripts.drafted", scripts)
    mapper = mapper_for_topic("scripts.drafted")
    found = await wh.insert_encoded(
        f"by_clickhouse.{mapper.table}",
        mapper.columns,
        rows,
        distinct=("problem_id", "script_id", "short_id"),
    )
    assert found == {
        "problem_id": frozenset({problem["problem_id"]}),
        "script_id": frozenset(s["script_id"] for s in scripts),
        "short_id": frozenset(),  # not a column of this table
    }


async def test_one_corrupt_record_fails_the_whole_insert(wh: ChdbWarehouse, registry: str) -> None:
    serde = AvroSerde(HttpSchemaRegistry(registry))
    records = [samples.problem_submitted(p, 2)[2] for p in samples.PROBLEMS[:2]]
    good = await encoded(serde, registry, "problems.submitted", records)
    cut = EncodedRows(**{**good.__dict__, "data": good.data[: len(good.data) - 7]})
    mapper = mapper_for_topic("problems.submitted")
    with pytest.raises(WarehouseError, match="chdb: "):
        await wh.insert_encoded(f"by_clickhouse.{mapper.table}", mapper.columns, cut)
    count = await wh.query(f"SELECT count() AS c FROM by_clickhouse.{mapper.table}")
    assert count == [{"c": 0}]  # all or nothing: the good record did not land either


async def test_an_unreachable_registry_is_a_warehouse_error(
    wh: ChdbWarehouse, registry: str
) -> None:
    serde = AvroSerde(HttpSchemaRegistry(registry))
    rows = await encoded(
        serde,
        registry,
        "problems.submitted",
        [samples.problem_submitted(samples.PROBLEMS[1], 3)[2]],
    )
    gone = EncodedRows(
        **{**rows.__dict__, "settings": {"format_avro_schema_registry_url": "http://127.0.0.1:9"}}
    )
    mapper = mapper_for_topic("problems.submitted")
    with pytest.raises(WarehouseError):
        await wh.insert_encoded(f"by_clickhouse.{mapper.table}", mapper.columns, gone)
