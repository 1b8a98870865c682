"""One contract for the ``Warehouse`` port, run against every adapter.

* ``TestChdbWarehouse``: the embedded adapter on its own chdb data directory per test.
* ``TestClickHouseConnectWarehouse``: the production adapter's code (parameter binding, Native
  inserts with settings, result conversion, error mapping) driven through clickhouse-connect's
  in-process chdb interface. Only the HTTP transport to a real server is not exercised: no
  ClickHouse server can be installed here (see docs/clickhouse.md).

chdb allows one data path per process, so every test closes its warehouse before the next opens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.clickhouse_connect_adapter import ClickHouseConnectWarehouse
from connectors.warehouse.schema import ensure_schema
from streams.ports.warehouse import Warehouse, WarehouseError

pytestmark = pytest.mark.integration

DB = "contract"
T0 = datetime(2026, 1, 31, 23, 59, 59, 123000, tzinfo=UTC)
T1 = datetime(2026, 2, 1, 0, 0, 0, 456000, tzinfo=UTC)

EVENTS_DDL = f"""
CREATE TABLE {DB}.events
(
    event_id String,
    occurred_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    note Nullable(String),
    payload String,
    tags Array(String),
    refs Array(Tuple(key String, value Nullable(String))),
    score Float64,
    n Int64,
    ok Bool
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id
SETTINGS non_replicated_deduplication_window = 100
"""
COLUMNS = ["event_id", "occurred_at", "kind", "note", "payload", "tags", "refs", "score", "n", "ok"]


def row(event_id: str, *, at: datetime = T0, n: int = 1, note: str | None = None) -> list[Any]:
    return [
        event_id, at, "drafted", note, b"\x00\xff raw", ["한국어", "quiz"],
        [{"key": "traceparent", "value": "00-abc"}, {"key": "empty", "value": None}],
        0.25, n, True,
    ]  # fmt: skip


class WarehouseContract:
    """Every adapter must pass these. Subclasses provide the ``warehouse`` fixture."""

    @pytest.fixture
    async def wh(self, warehouse: Warehouse) -> Warehouse:
        await warehouse.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
        await warehouse.execute(EVENTS_DDL)
        return warehouse

    async def count(self, wh: Warehouse, final: bool = False) -> int:
        rows = await wh.query(f"SELECT count() AS c FROM {DB}.events{' FINAL' if final else ''}")
        return int(rows[0]["c"])

    async def test_ping(self, wh: Warehouse) -> None:
        await wh.ping()

    async def test_insert_then_query_round_trips_every_type(self, wh: Warehouse) -> None:
        await wh.insert(f"{DB}.events", COLUMNS, [row("e1", note="첫 번째"), row("e2")])
        rows = await wh.query(
            f"SELECT * EXCEPT payload, hex(payload) AS payload_hex FROM {DB}.events"
            " ORDER BY event_id"
        )
        assert [r["event_id"] for r in rows] == ["e1", "e2"]
        first = rows[0]
        assert first["occurred_at"] == T0
        assert first["occurred_at"].tzinfo is not None
        assert first["kind"] == "drafted"
        assert first["note"] == "첫 번째"
        assert rows[1]["note"] is None
        assert first["payload_hex"] == "00FF20726177"
        assert first["tags"] == ["한국어", "quiz"]
        assert first["refs"] == [
            {"key": "traceparent", "value": "00-abc"},
            {"key": "empty", "value": None},
        ]
        assert first["score"] == 0.25
        assert first["n"] == 1
        assert first["ok"] is True

    async def test_query_without_rows_is_an_empty_list(self, wh: Warehouse) -> None:
        assert await wh.query(f"SELECT * FROM {DB}.events") == []

    async def test_empty_insert_is_a_no_op(self, wh: Warehouse) -> None:
        await wh.insert(f"{DB}.events", COLUMNS, [])
        assert await self.count(wh) == 0

    async def test_parameters_of_every_type(self, wh: Warehouse) -> None:
        tricky = 'it\'s \\ "quoted"\n\ttabbed; DROP TABLE x --'
        rows = await wh.query(
            "SELECT {s:String} AS s, {n:Int64} AS n, {f:Float64} AS f, {b:Bool} AS b,"
            " {t:DateTime64(3, 'UTC')} AS t, {a:Array(String)} AS a, {z:Nullable(String)} AS z",
            {"s": tricky, "n": -7, "f": 2.5, "b": True, "t": T1, "a": ["x", "y'z"], "z": None},
        )
        assert rows == [
            {"s": tricky, "n": -7, "f": 2.5, "b": True, "t": T1, "a": ["x", "y'z"], "z": None}
        ]

    async def test_parameters_filter_rows_and_are_never_sql(self, wh: Warehouse) -> None:
        await wh.insert(f"{DB}.events", COLUMNS, [row("e1"), row("e2", n=5)])
        found = await wh.query(
            f"SELECT event_id FROM {DB}.events WHERE event_id = {{id:String}}", {"id": "e2"}
        )
        assert found == [{"event_id": "e2"}]
        injected = await wh.query(
            f"SELECT count() AS c FROM {DB}.events WHERE event_id = {{id:String}}",
            {"id": "e1' OR '1'='1"},
        )
        assert injected[0]["c"] == 0
        await wh.execute(
            f"ALTER TABLE {DB}.events DELETE WHERE n = {{n:Int64}} SETTINGS mutations_sync = 1",
            {"n": 5},
        )
        assert await self.count(wh) == 1

    async def test_dedup_token_makes_a_retried_insert_land_once(self, wh: Warehouse) -> None:
        batch = [row("e1"), row("e2")]
        await wh.insert(f"{DB}.events", COLUMNS, batch, dedup_token="topic.a:0:0-1")
        await wh.insert(f"{DB}.events", COLUMNS, batch, dedup_token="topic.a:0:0-1")
        assert await self.count(wh) == 2  # no merge involved: the second insert was dropped
        await wh.insert(f"{DB}.events", COLUMNS, batch, dedup_token="topic.a:0:2-3")
        assert await self.count(wh) == 4  # another token is another insert

    async def test_replacing_merge_tree_final_collapses_on_the_sorting_key(
        self, wh: Warehouse
    ) -> None:
        await wh.insert(f"{DB}.events", COLUMNS, [row("e1", n=1)])
        await wh.insert(f"{DB}.events", COLUMNS, [row("e1", n=2), row("e2")])
        assert await self.count(wh) == 3
        assert await self.count(wh, final=True) == 2
        latest = await wh.query(f"SELECT n FROM {DB}.events FINAL WHERE event_id = 'e1'")
        assert latest == [{"n": 2}]

    async def test_final_collapses_a_replay_that_crossed_a_partition(self, wh: Warehouse) -> None:
        # A replayed event keeps its id but gets a new occurred_at, here in the next month.
        await wh.insert(f"{DB}.events", COLUMNS, [row("e1", at=T0)])
        await wh.insert(f"{DB}.events", COLUMNS, [row("e1", at=T1)])
        parts = await wh.query(
            "SELECT uniqExact(partition) AS p FROM system.parts"
            " WHERE database = {db:String} AND table = 'events' AND active",
            {"db": DB},
        )
        assert parts[0]["p"] == 2
        assert await self.count(wh, final=True) == 1

    async def test_statement_errors_become_warehouse_errors(self, wh: Warehouse) -> None:
        with pytest.raises(WarehouseError):
            await wh.query("SELECT * FROM contract.no_such_table")
        with pytest.raises(WarehouseError):
            await wh.execute("CREATE TABLE broken (")
        with pytest.raises(WarehouseError):
            await wh.insert(f"{DB}.no_such_table", ["a"], [[1]])
        with pytest.raises(WarehouseError):
            await wh.insert(f"{DB}.events", ["no_such_column"], [["x"]])

    async def test_unsafe_names_and_tokens_are_refused(self, wh: Warehouse) -> None:
        with pytest.raises(WarehouseError):
            await wh.insert(f"{DB}.events; DROP TABLE x", COLUMNS, [row("e1")])
        with pytest.raises(WarehouseError):
            await wh.insert(f"{DB}.events", COLUMNS, [row("e1")], dedup_token="a' , b='")
        assert await self.count(wh) == 0

    async def test_the_generated_schema_applies(self, wh: Warehouse) -> None:
        await ensure_schema(wh, "munjero_contract")
        await ensure_schema(wh, "munjero_contract")  # idempotent
        tables = await wh.query(
            "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": "munjero_contract"},
        )
        names = {t["name"] for t in tables}
        assert {"problems_submitted", "dead_letters", "ingest_errors", "pipeline_status"} <= names
        assert await wh.query("SELECT * FROM munjero_contract.pipeline_status") == []


class TestChdbWarehouse(WarehouseContract):
    @pytest.fixture
    async def warehouse(self, tmp_path: Path) -> AsyncIterator[Warehouse]:
        wh = ChdbWarehouse(tmp_path / "chdb")
        try:
            yield wh
        finally:
            await wh.close()

    async def test_close_is_idempotent_and_final(self, wh: Warehouse) -> None:
        await wh.close()
        await wh.close()
        with pytest.raises(WarehouseError):
            await wh.ping()


class TestClickHouseConnectWarehouse(WarehouseContract):
    @pytest.fixture
    async def warehouse(self, tmp_path: Path) -> AsyncIterator[Warehouse]:
        client = clickhouse_connect.get_client(
            interface="chdb", path=str(tmp_path / "chdb"), tz_mode="aware"
        )
        wh = ClickHouseConnectWarehouse.from_client(client)
        try:
            yield wh
        finally:
            await wh.close()

    async def test_unreachable_server_is_a_warehouse_error(self) -> None:
        wh = ClickHouseConnectWarehouse("http://127.0.0.1:9", connect_timeout_s=1)
        with pytest.raises(WarehouseError):
            await wh.ping()
        await wh.close()
