"""``GET /v1/problems/{id}`` read side: the raw tables as the API's StatusReader (the queries and
why they are shaped so are in ``connectors/warehouse/variants.py``)."""

from __future__ import annotations

from typing import Any

from connectors.warehouse.variants import problem_detail
from streams.ports.warehouse import Warehouse


class WarehouseStatusReader:
    """Reads one problem's submission and variants from the warehouse."""

    def __init__(self, warehouse: Warehouse, database: str) -> None:
        self._warehouse = warehouse
        self._database = database

    async def problem_status(self, problem_id: str) -> dict[str, Any] | None:
        return await problem_detail(self._warehouse, self._database, problem_id)
