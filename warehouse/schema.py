"""The whole warehouse schema in order: raw tables (``tables``), then the views that read them
(``views``), then the analysts' tables and views (``analytics``). chdb runs it as generated; the
server's ``schema.sql`` is the same statements in their cluster form (``replication``)."""

from __future__ import annotations

from collections.abc import Iterator

from warehouse.analytics import analytics_statements
from warehouse.replication import Cluster, on_cluster
from warehouse.tables import (
    DATABASE,
    add_missing_columns,
    create_ingest_errors,
    create_raw_table,
    ident,
    raw_tables,
)
from warehouse.views import view_statements


def iter_schema(database: str = DATABASE) -> Iterator[str]:
    """Every statement of ``schema.sql`` in order (what chdb runs too)."""
    yield f"CREATE DATABASE IF NOT EXISTS {ident(database)}"
    for table in raw_tables():
        yield create_raw_table(table, database)
        yield add_missing_columns(table, database)
    yield create_ingest_errors(database)
    yield from view_statements(database)
    yield from analytics_statements(database)


def schema_statements(database: str = DATABASE, cluster: Cluster | None = None) -> list[str]:
    """Every statement of the schema; with ``cluster``, replicated and ``ON CLUSTER``."""
    return [on_cluster(statement, cluster) for statement in iter_schema(database)]
