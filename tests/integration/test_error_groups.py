"""Error groups on real ClickHouse (chdb): log records as the log pipeline writes them into
``otel_logs`` become one group per fingerprint (occurrences, first and last seen, the latest
details), redelivered records count once, and the dashboard shows the groups."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from observability.clickhouse_traces import LOGS_TABLE
from observability.error_groups import ERROR_GROUPS_SQL, backfill_sql, error_groups_statements
from observability.logs import LOG_COLUMNS, log_doc, log_row
from services.api.auth import ApiKeyStore
from services.api.dashboard import DashboardDeps, dashboard_routes
from streams.telemetry.errors import FINGERPRINT_ATTRIBUTE, exception_attributes

pytestmark = pytest.mark.integration
DB = "munjero"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


def _encode_failure(script_id: str) -> None:
    raise RuntimeError(f"encoder crashed on script '{script_id}' {HOSTILE}")


def _broker_down(attempt: int) -> None:
    raise ConnectionError(f"broker unreachable after {attempt} attempts")


def _caught(fn: Any, arg: Any) -> BaseException:
    try:
        fn(arg)
    except Exception as exc:  # the exception with its traceback is the input
        return exc
    raise AssertionError("did not raise")


def _row(
    at: datetime,
    exc: BaseException | None,
    *,
    level: int = logging.ERROR,
    service: str = "render-worker",
    tags: dict[str, str] | None = None,
) -> list[Any]:
    """An ``otel_logs`` row made the way the log handler makes it."""
    record = logging.LogRecord(
        "streams.processor",
        level,
        __file__,
        1,
        "dead-lettering",
        (),
        (type(exc), exc, exc.__traceback__) if exc else None,
    )
    record.created = at.timestamp()
    record.munjero = tags or {}
    doc = log_doc(record, service, exception_attributes=exception_attributes)
    return log_row(doc, {"service.name": service})


def _fp(exc: BaseException) -> str:
    return exception_attributes(exc)[FINGERPRINT_ATTRIBUTE]


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    wh = ChdbWarehouse(str(tmp_path / "chdb"))
    await wh.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    try:
        yield wh
    finally:
        await wh.close()


async def _create(wh: ChdbWarehouse) -> None:
    for statement in error_groups_statements(DB, ttl_days=3650):
        await wh.execute(statement)


async def _insert(wh: ChdbWarehouse, rows: list[list[Any]]) -> None:
    await wh.insert(f"{DB}.{LOGS_TABLE}", LOG_COLUMNS, rows)


async def _groups(wh: ChdbWarehouse, limit: int = 10) -> list[dict[str, Any]]:
    return await wh.query(ERROR_GROUPS_SQL, {"db": DB, "limit": limit})


async def test_errors_group_by_fingerprint_and_redelivery_counts_once(
    warehouse: ChdbWarehouse,
) -> None:
    await _create(warehouse)
    await _create(warehouse)  # idempotent: every start runs it
    # Three occurrences of one bug (other scripts, other days), one of another bug.
    a = [_caught(_encode_failure, f"s-{n}") for n in range(3)]
    b = _caught(_broker_down, 7)
    assert len({_fp(e) for e in a}) == 1
    assert _fp(b) != _fp(a[0])
    step = {"topic": "scripts.drafted", "agent": "render"}
    batch = [
        _row(T0, a[0], tags={**step, "problem_id": "p-1"}),
        _row(T0 + timedelta(hours=1), a[1], tags={**step, "problem_id": "p-2"}),
        # The latest names no problem: the last problem id seen stays p-2.
        _row(T0 + timedelta(days=2), a[2], service="render-worker-2", tags=step),
        _row(T0 + timedelta(minutes=30), b, level=logging.CRITICAL, service="api"),
        # Not errors, or errors without an exception: not grouped.
        _row(T0 + timedelta(days=3), a[0], level=logging.WARNING, tags=step),
        _row(T0 + timedelta(days=3), None, tags=step),
    ]
    await _insert(warehouse, batch)
    # The log sink crashed before committing: the same batch arrives again.
    await _insert(warehouse, batch)

    first, second = await _groups(warehouse)
    assert first["fingerprint"] == _fp(a[0])
    assert first["occurrences"] == 3
    assert first["first_seen"] == T0
    assert first["last_seen"] == T0 + timedelta(days=2)
    assert first["exception_type"] == "RuntimeError"
    assert first["message"] == str(a[2])
    assert (first["service"], first["agent"], first["topic"], first["problem_id"]) == (
        "render-worker-2", "render", "scripts.drafted", "p-2",
    )  # fmt: skip
    assert second["fingerprint"] == _fp(b)
    assert (second["occurrences"], second["exception_type"]) == (1, "ConnectionError")
    assert second["first_seen"] == second["last_seen"] == T0 + timedelta(minutes=30)
    assert (second["service"], second["agent"], second["problem_id"]) == ("api", "", "")

    # A later occurrence after merges: still one group, the count goes on.
    await warehouse.execute(f"OPTIMIZE TABLE {DB}.error_groups FINAL")
    await _insert(warehouse, [_row(T0 + timedelta(days=4), a[1], tags=step)])
    (latest,) = await _groups(warehouse, limit=1)
    assert (latest["fingerprint"], latest["occurrences"]) == (_fp(a[0]), 4)
    assert latest["first_seen"] == T0
    # Grouping the stored records again (the backfill of an older data directory) changes
    # no count: occurrences are distinct records.
    await warehouse.execute(backfill_sql(DB))
    assert [g["occurrences"] for g in await _groups(warehouse)] == [4, 1]


async def test_the_dashboard_shows_the_groups_and_copes_without_the_table(
    warehouse: ChdbWarehouse, tmp_path: Path
) -> None:
    keys = ApiKeyStore.load(tmp_path / "keys.json")
    auth = {"Authorization": f"Bearer {keys.create_key('ops', ['dashboard:read'])}"}
    await ensure_schema(warehouse, DB)
    app = FastAPI()
    dashboard_routes(app, DashboardDeps(warehouse=warehouse, database=DB), keys)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://dashboard", headers=auth
    ) as client:
        # A data directory from before error tracking: an empty panel, not a 500.
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert 'id="errors"' in page.text
        assert "No errors recorded." in page.text
        assert (await client.get("/dashboard/data")).json()["errors"] == []

        await _create(warehouse)
        exc = _caught(_encode_failure, "s-1")
        tags = {"topic": "scripts.drafted", "agent": "render", "problem_id": "p-9"}
        await _insert(warehouse, [_row(T0, exc, tags=tags), _row(T0 + timedelta(hours=2), exc)])
        page = await client.get("/dashboard")
        data = (await client.get("/dashboard/data")).json()

    assert page.status_code == 200
    fp = _fp(exc)
    assert f'data-metric="errors.occurrences" data-key="{fp}" data-value="2"' in page.text
    assert "2026-03-01 10:00:00" in page.text
    assert "2026-03-01 12:00:00" in page.text
    assert "p-9" in page.text
    assert HOSTILE not in page.text  # producer data in messages is escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    (group,) = data["errors"]
    assert (group["fingerprint"], group["occurrences"], group["agent"]) == (fp, 2, "render")
