"""``munjero sql`` and ``munjero dashboards`` as a user runs them: the real CLI in its own
process, against the HTTP interface a running factory serves (found through the data dir)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.analyst_server import sample_events, serving
from warehouse import dashboards

pytestmark = pytest.mark.integration


@pytest.fixture
async def data_dir(tmp_path: Path) -> AsyncIterator[Path]:
    async with serving(tmp_path / "data", sample_events()):
        yield tmp_path / "data"


async def in_process(data_dir: Path, *args: str) -> tuple[int, str, str]:
    """``munjero ARGS`` through click's test runner (in a thread: the interface answers on this
    event loop), for the many one-line mistakes; a fresh process costs seconds of imports."""
    from typer.testing import CliRunner

    from factory.cli import cli

    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MUNJERO_")}
    env["MUNJERO_DATA_DIR"] = str(data_dir)
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


async def munjero(data_dir: Path, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``munjero ARGS`` with ``MUNJERO_DATA_DIR=data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUNJERO_")}
    env["MUNJERO_DATA_DIR"] = str(data_dir)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "factory.cli", *args,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_sql_prints_a_table_csv_json_and_parquet(data_dir: Path, tmp_path: Path) -> None:
    sql = "SELECT arm_id, count() AS shorts FROM shorts_published GROUP BY arm_id ORDER BY arm_id"
    code, out, err = await munjero(data_dir, "sql", sql)
    assert code == 0, err
    assert "arm_id" in out
    assert "arm-a" in out
    assert "│ 4" in out.replace("  ", " ")

    code, out, _ = await munjero(data_dir, "sql", sql, "--format", "csv")
    assert out == '"arm_id","shorts"\n"arm-a",4\n"arm-b",4\n"arm-c",4\n'

    code, out, _ = await munjero(data_dir, "sql", sql, "--format", "json")
    assert [json.loads(line) for line in out.splitlines()] == [
        {"arm_id": f"arm-{a}", "shorts": 4} for a in "abc"
    ]

    target = tmp_path / "arms.parquet"
    code, _, err = await munjero(data_dir, "sql", sql, "--format", "parquet", "-o", str(target))
    assert code == 0, err
    assert pq.read_table(target).to_pylist()[0] == {"arm_id": "arm-a", "shorts": 4}


async def test_sql_from_a_file_stdin_and_with_parameters(data_dir: Path, tmp_path: Path) -> None:
    query = tmp_path / "count.sql"
    query.write_text("SELECT count() AS n FROM dead_letters\n")
    code, out, _ = await munjero(data_dir, "sql", str(query), "--format", "tsv")
    assert (code, out) == (0, "n\n1\n")
    code, out, _ = await munjero(
        data_dir, "sql", "-", "--format", "tsv", "-p", "k=7",
        stdin=b"SELECT {k:UInt8} * 2 AS twice",
    )  # fmt: skip
    assert (code, out) == (0, "twice\n14\n")


async def test_sql_refused_by_clickhouse_is_one_line_exit_1(data_dir: Path) -> None:
    code, _out, err = await munjero(data_dir, "sql", "DROP TABLE shorts_published")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "code 164" in err
    assert "READONLY" in err
    assert "Traceback" not in err


async def test_dashboards_list_and_run_label_simulated_rows(data_dir: Path) -> None:
    code, out, _ = await munjero(data_dir, "dashboards", "list")
    assert code == 0
    for name in dashboards.names():
        assert name in out
    assert "limit UInt32 = 20" in out  # name, type, default and meaning of each parameter

    code, out, err = await munjero(
        data_dir, "dashboards", "run", "top_shorts", "--param", "limit=3"
    )
    assert code == 0, err
    assert "3 of 3 rows include simulated data" in out

    code, out, err = await munjero(
        data_dir, "dashboards", "run", "daily_output",
        "--param", "since=2000-01-01", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    published = [r for r in rows if r["step"] == "published"]
    assert published
    assert all(r["simulated"] == r["n"] for r in published)
    assert all(r["simulated"] == 0 for r in rows if r["step"] != "published")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("top_shorts", "--param", "limit=many"), "parameter limit must be UInt32"),
        (("daily_output", "--param", "since=yesterday"), "parameter since must be Date"),
        (("daily_output", "--param", "until=2026-01-01"), "unknown parameter until"),
        (("top_shorts", "--param", "limit"), "--param takes NAME=VALUE"),
        (("no_such_board",), "no dashboard 'no_such_board'"),
    ],
)
async def test_dashboard_mistakes_are_one_line_exit_2(
    data_dir: Path, args: tuple[str, ...], says: str
) -> None:
    code, _, err = await in_process(data_dir, "dashboards", "run", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert says in err
    assert "Traceback" not in err
    if "parameter" in says:
        assert "parameters:" in err  # the list of what the dashboard takes


async def test_no_running_factory_is_one_line_exit_2(tmp_path: Path) -> None:
    code, _, err = await in_process(tmp_path / "empty", "sql", "SELECT 1")
    assert code == 2
    assert "no analyst password" in err
    assert len(err.strip().splitlines()) == 1


async def test_url_with_credentials_reaches_the_same_interface(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path / "data", sample_events(1)) as (endpoint, _):
        code, out, err = await munjero(
            tmp_path / "elsewhere", "sql", "SELECT currentDatabase()", "--format", "tsv",
            "--url", endpoint.url_with_credentials,
        )  # fmt: skip
    assert (code, out) == (0, "currentDatabase()\nmunjero\n"), err
