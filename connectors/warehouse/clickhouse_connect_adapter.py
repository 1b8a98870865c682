"""The production warehouse: a ClickHouse server through clickhouse-connect.

clickhouse-connect's sync client runs in worker threads (``asyncio.to_thread``): its async client
is a thread pool around the same code, and the sync client is also what its in-process chdb
interface supports, which is how the contract suite runs this adapter without a server
(``ClickHouseConnectWarehouse.from_client``). Query parameters are bound server-side by
clickhouse-connect (``{name:Type}`` placeholders become HTTP ``param_<name>`` values).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.exceptions import Error as ClickHouseConnectError

from connectors.warehouse.sql import check_dedup_token, quote_ident, split_table
from streams.ports.warehouse import Params, Row, WarehouseError

T = TypeVar("T")


class ClickHouseConnectWarehouse:
    """``Warehouse`` on a clickhouse-connect client (HTTP server, or chdb in tests)."""

    def __init__(
        self,
        url: str,
        user: str = "default",
        password: str | None = None,
        database: str = "default",
        *,
        connect_timeout_s: float = 10.0,
        send_receive_timeout_s: float = 300.0,
    ) -> None:
        def connect() -> Any:
            return clickhouse_connect.get_client(
                dsn=url,
                username=user,
                password=password or "",
                database=database,
                connect_timeout=connect_timeout_s,
                send_receive_timeout=send_receive_timeout_s,
                tz_mode="aware",
                # No server session: concurrent requests from the worker threads are allowed.
                autogenerate_session_id=False,
            )

        self._connect: Callable[[], Any] = connect
        self._client: Any = None
        self._closed = False
        # An HTTP client is safe to share between threads; a chdb-backed one is not.
        self._lock: threading.Lock | None = None
        self._open_lock = threading.Lock()
        self._types: dict[tuple[str, tuple[str, ...]], Any] = {}

    @classmethod
    def from_client(cls, client: Any, *, serialize: bool = True) -> ClickHouseConnectWarehouse:
        """Wrap an existing clickhouse-connect client (e.g. ``get_client(interface="chdb")``).

        ``serialize=True`` runs one call at a time, as a chdb-backed client requires.
        """
        warehouse = cls("http://unused")
        warehouse._client = client
        warehouse._lock = threading.Lock() if serialize else None
        return warehouse

    async def execute(self, sql: str, params: Params | None = None) -> None:
        await self._call(lambda c: c.command(sql, parameters=dict(params) if params else None))
        self._types.clear()  # DDL may have changed columns that inserts cached

    async def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        def run(client: Any) -> list[dict[str, Any]]:
            result = client.query(sql, parameters=dict(params) if params else None)
            return [_aware(row) for row in result.named_results()]

        return await self._call(run)

    async def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Row],
        *,
        dedup_token: str | None = None,
    ) -> None:
        if not rows:
            return
        database, name = split_table(table)
        for column in columns:
            quote_ident(column)
        settings = (
            {"insert_deduplication_token": check_dedup_token(dedup_token)}
            if dedup_token is not None
            else None
        )
        key = (table, tuple(columns))

        def run(client: Any) -> None:
            types = self._types.get(key)
            if types is None:
                # One DESCRIBE per table and column list, not one per batch.
                context = client.create_insert_context(name, list(columns), database=database)
                types = self._types[key] = context.column_types
            try:
                client.insert(
                    name,
                    rows,
                    column_names=list(columns),
                    database=database,
                    column_types=types,
                    settings=settings,
                )
            except Exception:
                self._types.pop(key, None)
                raise

        await self._call(run)

    async def ping(self) -> None:
        await self._call(lambda c: c.command("SELECT 1"))

    async def close(self) -> None:
        def run() -> None:
            with self._open_lock:
                self._closed = True
                client, self._client = self._client, None
            if client is not None:
                client.close()

        await asyncio.to_thread(run)

    async def _call(self, fn: Callable[[Any], T]) -> T:
        def run() -> T:
            client = self._open()
            with self._serialized():
                try:
                    return fn(client)
                except WarehouseError:
                    raise
                except (ClickHouseConnectError, OSError, ValueError, TypeError) as exc:
                    raise WarehouseError(f"clickhouse: {exc}") from exc

        return await asyncio.to_thread(run)

    @contextlib.contextmanager
    def _serialized(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield

    def _open(self) -> Any:
        with self._open_lock:
            if self._closed:
                raise WarehouseError("warehouse is closed")
            if self._client is None:
                try:
                    self._client = self._connect()
                except (ClickHouseConnectError, OSError, ValueError) as exc:
                    raise WarehouseError(f"cannot connect to ClickHouse: {exc}") from exc
            return self._client


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    # tz_mode="aware" covers server clients; a chdb-backed client may still hand back naive UTC.
    for key, value in row.items():
        if isinstance(value, datetime) and value.tzinfo is None:
            row[key] = value.replace(tzinfo=UTC)
    return row
