"""The read side of ``GET /v1/problems/{id}``: where a problem is in the pipeline.

Production reads ClickHouse's ``pipeline_status`` view; the API only needs this port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

StatusDict = dict[str, Any]


class StatusReader(Protocol):
    """Looks up a problem's pipeline progress."""

    async def problem_status(self, problem_id: str) -> StatusDict | None:
        """``{"problem_id": ..., "steps": [{"step", "status", "at", ...}, ...], ...}`` or None
        when the problem is unknown (never submitted, or not yet ingested by the warehouse)."""
        ...


class InMemoryStatusReader:
    """Statuses in a dict: for unit tests and demos without a warehouse."""

    def __init__(self, statuses: Mapping[str, StatusDict] | None = None) -> None:
        self._statuses: dict[str, StatusDict] = dict(statuses or {})

    def set(self, problem_id: str, status: StatusDict) -> None:
        self._statuses[problem_id] = status

    async def problem_status(self, problem_id: str) -> StatusDict | None:
        return self._statuses.get(problem_id)
