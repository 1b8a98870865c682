"""A warehouse created by an older release gets the columns of newer schema versions at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.schema import ensure_schema
from warehouse.tables import create_raw_table, table_for_topic

pytestmark = pytest.mark.integration


async def test_an_old_table_gains_the_new_columns(tmp_path: Path) -> None:
    wh = ChdbWarehouse(str(tmp_path / "chdb"))
    try:
        table = table_for_topic("renders.completed")
        new = {"artifact_key", "language", "title", "description"}
        old = table.__class__(
            table.name,
            table.event_type,
            table.topics,
            table.order_by,
            tuple(c for c in table.columns if c.name not in new),
        )
        await wh.execute("CREATE DATABASE IF NOT EXISTS munjero")
        await wh.execute(create_raw_table(old, "munjero"))
        await ensure_schema(wh, "munjero")
        rows = await wh.query(
            "SELECT name FROM system.columns WHERE database = 'munjero' AND table = {t:String}",
            {"t": table.name},
        )
        assert {r["name"] for r in rows} == {c.name for c in table.columns}
        await ensure_schema(wh, "munjero")  # idempotent: a second start changes nothing
    finally:
        await wh.close()
