"""A warehouse holding sample events, served over ClickHouse's HTTP interface the way
``munjero up`` serves it (``factory.clickhouse_http.serve_clickhouse_http``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from factory.clickhouse_http import AnalystEndpoint, serve_clickhouse_http
from streams.settings import Settings
from tests import sample_events as samples
from tests.warehouse_loader import load_events

DB = "munjero"


def sample_events(problems: int = 4) -> list[samples.Event]:
    """``problems`` pipelines (3 arms, 2 metrics windows each) and one dead letter."""
    out: list[samples.Event] = []
    for n, problem in enumerate(samples.PROBLEMS[:problems]):
        out += samples.pipeline(problem, n, arms=3, windows=2)
    out.append(samples.step_failed("scripts.drafted", "scripts.drafted", "k1", b"\xff", 1))
    return out


@contextlib.asynccontextmanager
async def serving(
    data_dir: Path, events: list[samples.Event], **settings: Any
) -> AsyncIterator[tuple[AnalystEndpoint, ChdbWarehouse]]:
    config = Settings(data_dir=data_dir, clickhouse_http_port=0, **settings)
    async with contextlib.AsyncExitStack() as stack:
        warehouse = ChdbWarehouse(config.data_dir / "chdb")
        stack.push_async_callback(warehouse.close)
        await ensure_schema(warehouse, DB)
        await load_events(warehouse, events, DB)
        endpoint = await serve_clickhouse_http(stack, config, warehouse)
        assert endpoint is not None
        yield endpoint, warehouse
