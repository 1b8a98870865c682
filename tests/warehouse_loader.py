"""Load sample events into a warehouse the way the sink does (same rows, same tables)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from streams.ports.warehouse import Warehouse
from warehouse.rows import mapper_for_topic

Event = tuple[str, str, dict[str, Any]]


async def load_events(warehouse: Warehouse, events: list[Event], database: str) -> None:
    by_table: dict[str, tuple[tuple[str, ...], list[Any]]] = {}
    grouped: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        grouped[event[0]].append(event)
    now = datetime.now(UTC)
    for topic, items in grouped.items():
        mapper = mapper_for_topic(topic)
        columns, rows = by_table.setdefault(mapper.table, (mapper.columns, []))
        for offset, (_, _, record) in enumerate(items):
            rows.append(mapper.row(record, f"test.{topic}", 0, offset, now))
    for table, (columns, rows) in by_table.items():
        await warehouse.insert(f"{database}.{table}", columns, rows)
