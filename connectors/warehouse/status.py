"""``GET /v1/problems/{id}`` read side: the ``pipeline_status`` view as the API's StatusReader."""

from __future__ import annotations

from typing import Any

from streams.ports.warehouse import Warehouse

STEPS = (
    ("submitted", "submissions"),
    ("drafted", "scripts_drafted"),
    ("rendered", "renders"),
    ("published", "published"),
)


def status_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """Pure: a pipeline_status row -> the API's status document."""
    steps = [
        {
            "step": step,
            "status": "done" if int(row[column]) > 0 else "pending",
            "count": row[column],
        }
        for step, column in STEPS
    ]
    submitted_at = row.get("submitted_at")
    steps[0]["at"] = submitted_at.isoformat() if submitted_at is not None else None
    failed = int(row["dead_lettered"])
    return {
        "problem_id": row["problem_id"],
        "steps": steps,
        "dead_lettered": failed,
        "last_step": row["last_step"],
        "last_event_at": row["last_event_at"].isoformat() if row.get("last_event_at") else None,
    }


class WarehouseStatusReader:
    """Reads one problem's row of the view (deduplicated by construction: uniqExact ids)."""

    def __init__(self, warehouse: Warehouse, database: str) -> None:
        self._warehouse = warehouse
        self._database = database

    async def problem_status(self, problem_id: str) -> dict[str, Any] | None:
        rows = await self._warehouse.query(
            # Only the database identifier (from settings) is formatted; the id is a parameter.
            f"SELECT * FROM `{self._database}`.pipeline_status "  # noqa: S608
            "WHERE problem_id = {pid:String}",
            {"pid": problem_id},
        )
        return status_from_row(rows[0]) if rows else None
