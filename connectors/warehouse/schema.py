"""Create the warehouse schema (database, raw tables, views) through any ``Warehouse``."""

from __future__ import annotations

from streams.ports.warehouse import Warehouse
from warehouse.schema import schema_statements
from warehouse.tables import DATABASE


async def ensure_schema(warehouse: Warehouse, database: str = DATABASE) -> None:
    """Run every statement of ``schema.sql`` for ``database``; idempotent (``IF NOT EXISTS`` /
    ``OR REPLACE``), so every sink start may call it."""
    for statement in schema_statements(database):
        await warehouse.execute(statement)
