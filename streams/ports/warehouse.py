"""The warehouse port: what the rest of the factory needs from ClickHouse.

Two adapters sit behind it: ``ChdbWarehouse`` (chdb, in-process, the embedded default) and
``ClickHouseConnectWarehouse`` (a ClickHouse server through clickhouse-connect). Both pass the
same contract suite (``tests/integration/test_warehouse_contract.py``).

SQL is always parametrised with ClickHouse server-side placeholders (``{name:Type}``, e.g.
``WHERE problem_id = {pid:String}``); adapters never format a value into SQL text. Every
failure surfaces as ``WarehouseError`` (defined here: it is part of the port's contract).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from streams.errors import RetriableError

Params = Mapping[str, Any]


class WarehouseError(RetriableError):
    """ClickHouse refused or failed a statement; batches are retried, never dropped."""


Row = Sequence[Any]


@runtime_checkable
class Warehouse(Protocol):
    """An analytical store speaking ClickHouse SQL."""

    async def execute(self, sql: str, params: Params | None = None) -> None:
        """Run one statement that returns no rows (DDL, ``INSERT ... SELECT``, ``OPTIMIZE``).

        ``params`` fill ``{name:Type}`` placeholders server-side. One statement per call: the
        embedded engine does not split scripts, so callers loop over statements.
        """
        ...

    async def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Rows of a ``SELECT`` as dicts keyed by column name, in result order.

        Types: integers as ``int``, floats as ``float``, ``Bool`` as ``bool``, ``String`` as
        ``str`` (bytes that are not UTF-8 come back hex-encoded: select ``hex(col)`` or
        ``base64Encode(col)`` when a column holds binary data), ``DateTime64`` as a timezone-aware
        ``datetime`` in UTC, ``Array`` as ``list``, named ``Tuple`` as ``dict``, ``NULL`` as
        ``None``.
        """
        ...

    async def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Row],
        *,
        dedup_token: str | None = None,
    ) -> None:
        """Insert ``rows`` (one value per column, in ``columns`` order) into ``table``.

        ``table`` is ``name`` or ``database.name``. Values are Python objects matching the column
        types: ``str``/``bytes`` for ``String``, aware ``datetime`` for ``DateTime64``, ``list``
        for ``Array``, ``dict`` or ``tuple`` for ``Tuple``, ``None`` for ``NULL``.

        ``dedup_token`` sets ``insert_deduplication_token``: inserting the same token into the same
        table again (within the table's ``non_replicated_deduplication_window``) is a no-op, so a
        batch retried after an unknown outcome lands once. Tokens are restricted to
        ``[A-Za-z0-9._:/@=+-]`` (they are built from topic names and offsets).
        """
        ...

    async def ping(self) -> None:
        """Return when the warehouse answers a trivial query; ``WarehouseError`` otherwise."""
        ...

    async def close(self) -> None:
        """Release the connection or engine handle. Idempotent."""
        ...
