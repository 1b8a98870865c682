"""ClickHouse's HTTP interface on the embedded warehouse, judged by third-party clients:
clickhouse-connect (its own request shapes: Native and Arrow formats, lz4/zstd, basic auth,
readonly discovery through ``system.settings``) and curl.

The interface is started the way ``munjero up`` starts it (``serve_clickhouse_http``) over a
warehouse holding the sample pipeline's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.chdb_readonly import ChdbReadOnlyEngine, QueryLimits
from factory.clickhouse_http import AnalystEndpoint
from services.clickhouse_http.users import PASSWORD_FILE
from streams.ports.warehouse import ClickHouseError, SqlRequest
from tests import sample_events as samples
from tests.analyst_server import DB, sample_events, serving
from warehouse import dashboards

pytestmark = pytest.mark.integration
T = TypeVar("T")


@pytest.fixture(scope="module")
def events() -> list[samples.Event]:
    return sample_events()


@pytest.fixture
async def served(
    tmp_path: Path, events: list[samples.Event]
) -> AsyncIterator[tuple[AnalystEndpoint, ChdbWarehouse]]:
    async with serving(
        tmp_path / "data",
        events,
        clickhouse_http_max_result_rows=10_000,
        clickhouse_http_max_execution_s=2.0,
    ) as served:
        yield served


def _client(endpoint: AnalystEndpoint, **kwargs: Any) -> Any:
    return clickhouse_connect.get_client(
        dsn=endpoint.url, username=endpoint.user, password=endpoint.password, **kwargs
    )


async def _in_thread(fn: Callable[[], T]) -> T:
    # Third-party clients block; the interface answers on this test's event loop.
    return await asyncio.to_thread(fn)


async def _curl(*args: str) -> tuple[int, dict[str, str], bytes]:
    """(HTTP status, response headers in lower case, body) of one curl call."""
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-D", "-", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    head, _, body = out.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}
    return int(status_line.split()[1]), headers, body


# -- clickhouse-connect -------------------------------------------------------------------


async def test_clickhouse_connect_queries_as_the_analyst(
    served: tuple[AnalystEndpoint, ChdbWarehouse], events: list[samples.Event]
) -> None:
    endpoint, _ = served
    submitted = sorted(r["problem_id"] for t, _, r in events if t == "problems.submitted")

    def run() -> tuple[Any, ...]:
        client = _client(endpoint, database=DB)
        try:
            rows = client.query(
                "SELECT problem_id FROM problems_submitted WHERE language = {lang:String} "
                "ORDER BY problem_id",
                parameters={"lang": "ko"},
            ).result_rows
            df = client.query_df("SELECT short_id, views FROM metrics_observed ORDER BY short_id")
            table = client.query_arrow("SELECT short_id, published_at FROM shorts_published")
            count = client.command("SELECT count() FROM shorts_published")
            return rows, df, table, count, client.server_version
        finally:
            client.close()

    rows, df, table, count, version = await _in_thread(run)
    assert [r[0] for r in rows] == [p for p in submitted if p]  # all sample problems are ko
    assert len(df) == sum(1 for t, _, _ in events if t == "metrics.observed")
    assert list(df.columns) == ["short_id", "views"]
    assert isinstance(table, pa.Table)
    assert table.num_rows == count == 12
    assert pa.types.is_timestamp(table.schema.field("published_at").type)
    assert version.startswith("26.")  # chdb's engine, reported as the server version


async def test_clickhouse_connect_insert_is_refused_with_the_readonly_code(
    served: tuple[AnalystEndpoint, ChdbWarehouse],
) -> None:
    endpoint, warehouse = served

    def run() -> list[int]:
        client = _client(endpoint, database=DB)
        codes = []
        attempts: list[Callable[[], Any]] = [
            lambda: client.insert("dead_letters", [["x"]], column_names=["event_id"]),
            lambda: client.command("DROP TABLE dead_letters"),
            lambda: client.command("ALTER TABLE dead_letters DELETE WHERE 1"),
            lambda: client.command("CREATE TABLE t (a Int8) ENGINE = Memory"),
        ]
        try:
            for attempt in attempts:
                with pytest.raises(DatabaseError) as refused:
                    attempt()
                codes.append(int(getattr(refused.value, "code", 0) or 0))
        finally:
            client.close()
        return codes

    assert await _in_thread(run) == [164, 164, 164, 164]
    (row,) = await warehouse.query(f"SELECT count() AS n FROM {DB}.dead_letters")
    assert row["n"] == 1  # the sample's one dead letter, nothing added or dropped


async def test_clickhouse_connect_wrong_password_and_each_compression(
    served: tuple[AnalystEndpoint, ChdbWarehouse],
) -> None:
    endpoint, _ = served

    def run() -> tuple[int, dict[str, list[int]]]:
        with pytest.raises(DatabaseError) as refused:
            clickhouse_connect.get_client(
                dsn=endpoint.url, username=endpoint.user, password=endpoint.password + "x"
            )
        answers = {}
        for method in ("lz4", "zstd", "gzip", "deflate"):
            client = _client(endpoint, compress=method)
            try:
                rows = client.query("SELECT number FROM numbers(5000)").result_rows
                answers[method] = [r[0] for r in rows]
            finally:
                client.close()
        return int(getattr(refused.value, "code", 0) or 0), answers

    code, answers = await _in_thread(run)
    assert code == 516  # AUTHENTICATION_FAILED
    assert answers == {m: list(range(5000)) for m in ("lz4", "zstd", "gzip", "deflate")}


async def test_every_dashboard_runs_through_clickhouse_connect(
    served: tuple[AnalystEndpoint, ChdbWarehouse],
) -> None:
    endpoint, warehouse = served
    from observability.error_groups import error_groups_statements

    for statement in error_groups_statements(DB):
        await warehouse.execute(statement)
    expected = {}
    for name in dashboards.names():
        params = dashboards.resolve(name, {}, DB)
        expected[name] = await warehouse.query(dashboards.query_text(name), params)

    def run() -> dict[str, list[dict[str, Any]]]:
        client = _client(endpoint, database=DB)
        try:
            return {
                name: list(
                    client.query(
                        dashboards.query_text(name), parameters=dashboards.resolve(name, {}, DB)
                    ).named_results()
                )
                for name in dashboards.names()
            }
        finally:
            client.close()

    got = await _in_thread(run)
    assert got.keys() == expected.keys()
    for name, rows in got.items():
        assert len(rows) == len(expected[name]), name
        assert [list(r) for r in rows] == [list(r) for r in expected[name]], name
    assert got["top_shorts"]
    assert all(r["simulated"] for r in got["top_shorts"])


async def test_limits_hold_for_clickhouse_connect(
    served: tuple[AnalystEndpoint, ChdbWarehouse],
) -> None:
    endpoint, _ = served

    def run() -> list[int]:
        client = _client(endpoint)
        codes = []
        try:
            for sql in (
                "SELECT number FROM numbers(50000)",  # max_result_rows 10,000
                "SELECT count() FROM numbers(100000000000)",  # max_execution_time 2 s
                "SELECT 1 SETTINGS max_result_rows = 100000",  # a limit cannot be lifted
            ):
                with pytest.raises(DatabaseError) as refused:
                    client.query(sql)
                codes.append(int(getattr(refused.value, "code", 0) or 0))
        finally:
            client.close()
        return codes

    assert await _in_thread(run) == [396, 159, 164]


# -- curl ---------------------------------------------------------------------------------


async def test_curl_get_post_formats_parameters_and_auth(
    served: tuple[AnalystEndpoint, ChdbWarehouse],
) -> None:
    endpoint, _ = served
    auth = f"{endpoint.user}:{endpoint.password}"

    status, headers, body = await _curl(
        "-u", auth, "--get", endpoint.url + "/",
        "--data-urlencode", "query=SELECT count() FROM shorts_published WHERE title != ''",
        "--data-urlencode", f"database={DB}",
    )  # fmt: skip
    assert (status, body) == (200, b"12\n")
    assert headers["x-clickhouse-format"] == "TabSeparated"
    assert headers["x-clickhouse-timezone"]
    assert headers["x-clickhouse-server-display-name"]
    assert headers["x-clickhouse-query-id"]
    summary = json.loads(headers["x-clickhouse-summary"])
    assert summary["result_rows"] == "1"
    assert summary["read_rows"] == "12"

    status, headers, body = await _curl(
        "-H", f"X-ClickHouse-User: {endpoint.user}", "-H", f"X-ClickHouse-Key: {endpoint.password}",
        f"{endpoint.url}/?database={DB}&param_n=2",
        "--data-binary", "SELECT number * {n:UInt8} AS twice FROM numbers(3) FORMAT JSONEachRow",
    )  # fmt: skip
    assert status == 200
    assert headers["x-clickhouse-format"] == "JSONEachRow"
    assert [json.loads(line)["twice"] for line in body.splitlines()] == [0, 2, 4]

    status, headers, body = await _curl(
        "-u", auth, f"{endpoint.url}/?default_format=CSVWithNames",
        "--data-binary", "SELECT 1 AS a, 'x' AS b",
    )  # fmt: skip
    assert (status, headers["x-clickhouse-format"], body) == (
        200,
        "CSVWithNames",
        b'"a","b"\n1,"x"\n',
    )


async def test_curl_compression_as_the_client_asks(
    served: tuple[AnalystEndpoint, ChdbWarehouse],
) -> None:
    endpoint, _ = served
    auth = f"{endpoint.user}:{endpoint.password}"
    sql = "SELECT number FROM numbers(1000) FORMAT CSV"
    expected = "".join(f"{n}\n" for n in range(1000)).encode()
    for encoding in ("gzip", "deflate", "zstd"):
        status, headers, body = await _curl(
            "-u", auth, "-H", f"Accept-Encoding: {encoding}", "--compressed",
            endpoint.url + "/", "--data-binary", sql,
        )  # fmt: skip
        assert status == 200
        assert headers["content-encoding"] == encoding
        assert body == expected, encoding  # curl decoded it
    status, headers, body = await _curl("-u", auth, endpoint.url + "/", "--data-binary", sql)
    assert "content-encoding" not in headers
    assert body == expected


async def test_curl_errors_are_clickhouse_errors(
    served: tuple[AnalystEndpoint, ChdbWarehouse], tmp_path: Path
) -> None:
    endpoint, _ = served
    auth = f"{endpoint.user}:{endpoint.password}"
    outfile = tmp_path / "stolen.csv"
    cases = [
        (("-u", "analyst:wrong"), "SELECT 1", 403, 516),
        ((), "SELECT 1", 403, 516),  # no credentials: the "default" user, which does not exist
        (("-u", auth), f"INSERT INTO {DB}.dead_letters (event_id) VALUES ('x')", 500, 164),
        (("-u", auth), f"SELECT 1 INTO OUTFILE '{outfile}'", 500, 358),
        (("-u", auth), "SELECT 1; SELECT 2", 400, 62),
        (("-u", auth), "SELECT * FROM file('/etc/passwd', 'LineAsString')", 500, 164),
        (("-u", auth), "SELECT nope FROM system.one", 404, 47),
    ]
    for args, sql, status_wanted, code in cases:
        status, headers, body = await _curl(*args, endpoint.url + "/", "--data-binary", sql)
        assert (status, headers.get("x-clickhouse-exception-code")) == (status_wanted, str(code)), (
            sql
        )
        assert body.startswith(f"Code: {code}. DB::Exception: ".encode()), body
    assert not outfile.exists()
    status, headers, _ = await _curl("-u", auth, endpoint.url + "/?max_threads=8", "-d", "SELECT 1")
    assert headers["x-clickhouse-exception-code"] == "164"  # readonly=1: no setting changes
    # Grafana's plugin sends max_execution_time with every query: allowed up to the profile's.
    status, _, body = await _curl(
        "-u", auth, endpoint.url + "/?max_execution_time=2", "-d", "SELECT 1"
    )
    assert (status, body) == (200, b"1\n")
    status, headers, _ = await _curl(
        "-u", auth, endpoint.url + "/?max_execution_time=100", "-d", "SELECT 1"
    )
    assert headers["x-clickhouse-exception-code"] == "452"
    status, headers, _ = await _curl(
        "-u", auth, endpoint.url + "/?no_such_setting=1", "-d", "SELECT 1"
    )
    assert headers["x-clickhouse-exception-code"] == "115"
    status, headers, _ = await _curl(
        "-u", auth, endpoint.url + "/?default_format=DataFrame", "-d", "SELECT 1"
    )
    assert headers["x-clickhouse-exception-code"] == "73"  # chdb's Python-only names never pass


async def test_ping_and_the_password_file(
    served: tuple[AnalystEndpoint, ChdbWarehouse], tmp_path: Path
) -> None:
    endpoint, _ = served
    status, _, body = await _curl(endpoint.url + "/ping")
    assert (status, body) == (200, b"Ok.\n")
    password_file = tmp_path / "data" / "clickhouse-http" / PASSWORD_FILE
    assert password_file.read_text().strip() == endpoint.password
    assert password_file.stat().st_mode & 0o777 == 0o600


# -- beside ingestion ---------------------------------------------------------------------


async def test_queries_beyond_the_limit_wait_then_get_202(tmp_path: Path) -> None:
    warehouse = ChdbWarehouse(tmp_path / "chdb")
    await warehouse.ping()
    engine = ChdbReadOnlyEngine(
        warehouse.path, limits=QueryLimits(max_execution_time_s=5), max_concurrent=1,
        queue_timeout_s=0.2,
    )  # fmt: skip
    try:
        slow = asyncio.create_task(engine.run(SqlRequest("SELECT sleep(1)")))
        while not engine.saturated:  # the slow query holds the only slot
            await asyncio.sleep(0)
        with pytest.raises(ClickHouseError) as busy:
            await engine.run(SqlRequest("SELECT 1"))
        assert busy.value.code == 202
        assert (await slow).body == b"0\n"
        assert (await engine.run(SqlRequest("SELECT 1"))).body == b"1\n"  # the slot is free
    finally:
        await engine.close()
        await warehouse.close()


@pytest.mark.alone  # bounds a time: not beside the parallel phase
async def test_the_sinks_inserts_do_not_wait_for_an_analyst_query(tmp_path: Path) -> None:
    warehouse = ChdbWarehouse(tmp_path / "chdb")
    await warehouse.execute("CREATE TABLE default.t (n UInt64) ENGINE = MergeTree ORDER BY n")
    engine = ChdbReadOnlyEngine(
        warehouse.path, limits=QueryLimits(max_execution_time_s=3), max_concurrent=1
    )
    try:
        heavy = asyncio.create_task(
            engine.run(
                SqlRequest(
                    "SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) % 7 = 0"
                )
            )
        )
        while not engine.saturated:
            await asyncio.sleep(0)
        started = time.monotonic()
        for n in range(5):
            await warehouse.insert("default.t", ["n"], [[n]])
        inserts = time.monotonic() - started
        assert not heavy.done()  # the analyst query was running all along
        # chdb's thread executing it runs at the analyst profile's nice (os_thread_priority).
        # /proc has no event to await: look until the query has reached its executing thread.
        deadline = time.monotonic() + 2.0
        while ("QueryPullPipeEx", 19) not in (seen := _thread_nice_values()):
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.05)
        assert inserts < 1.0, f"5 inserts took {inserts:.2f}s beside an analyst query"
        with pytest.raises(ClickHouseError) as stopped:
            await heavy
        assert stopped.value.code == 159  # max_execution_time ended it
    finally:
        await engine.close()
        await warehouse.close()


def _thread_nice_values() -> set[tuple[str, int]]:
    """(name, nice) of this process's threads, from /proc."""
    found = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
            found.add(((task / "comm").read_text().strip(), int(stat[16])))
    return found
