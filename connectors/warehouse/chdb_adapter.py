"""The embedded warehouse: chdb (ClickHouse in-process) on a data directory.

chdb calls block and one connection must not be used by two threads at once, so every call runs
in a worker thread (``asyncio.to_thread``) under one lock: the event loop keeps fetching from
Kafka while ClickHouse parses and merges.

Inserts travel as Arrow IPC streams (``FORMAT ArrowStream``): on the 2-core machine conversion
plus ingest measured ~11-24 us/row against ~16-28 us/row for ``JSONCompactEachRow`` built with
orjson, and Arrow carries raw bytes (dead letters hold Kafka payloads) that JSON cannot. Each
insert also costs ~10 ms for the part it creates, whatever its size: insert in batches.

chdb allows one data path per process: a second ``ChdbWarehouse`` must use the same path (it
then shares the engine), and a different path fails until every session on the first is closed.
Never run ``ENGINE = Kafka`` DDL here: it fails and corrupts the data directory.

``insert_encoded`` lets ClickHouse decode Kafka payloads itself (``FORMAT AvroConfluent``, writer
schemas fetched from the registry and cached by ClickHouse): the bytes go to a private file
(in ``/dev/shm`` when there is one) that ``INSERT ... SELECT ... FROM file()`` reads, because
chdb's streaming insert takes no ``SELECT`` to map the input's columns onto the table's.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from chdb import session as chdb_session

from connectors.warehouse.arrow import arrow_type, from_ipc_stream, to_ipc_stream, warm_up
from connectors.warehouse.sql import (
    check_dedup_token,
    format_param,
    quote_columns,
    quote_ident,
    quote_literal,
    quote_table,
    split_table,
)
from streams.ports.warehouse import EncodedRows, Params, Row, WarehouseError

T = TypeVar("T")

INSERTERS = 2  # sessions for insert_encoded: this machine's cores

# chdb ships no type information: treat its session class as dynamic.
_Session: Any = chdb_session.Session

# Session settings applied once: String leaves as Arrow binary so non-UTF-8 bytes survive until
# the adapter decides how to present them (see ``Warehouse.query``).
_SESSION_SETTINGS = ("SET output_format_arrow_string_as_string = 0",)
_COLUMNS_SQL = (
    "SELECT name, type FROM system.columns "
    "WHERE database = {db:String} AND table = {table:String} ORDER BY position"
)


class ChdbWarehouse:
    """``Warehouse`` on chdb. ``path=None`` keeps everything in memory (tests, DDL checks)."""

    def __init__(self, path: Path | str | None) -> None:
        self._path = ":memory:" if path is None else str(Path(path).resolve())
        self._session: Any = None
        self._closed = False
        self._lock = threading.Lock()
        self._types: dict[str, dict[str, str]] = {}  # table -> column -> ClickHouse type
        self._spool: Path | None = None  # private directory of insert_encoded's input files
        self._spooled = itertools.count()
        # insert_encoded runs on sessions of its own, so two tables' inserts use both cores (a
        # session runs one query at a time; sessions on one path share the engine).
        self._inserters: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._inserter_count = 0
        self._all_inserters: list[Any] = []

    @property
    def path(self) -> str:
        return self._path

    async def execute(self, sql: str, params: Params | None = None) -> None:
        await self._call(lambda s: self._run(s, sql, params, "CSV"))
        # DDL may have changed a table's columns: forget what inserts learned.
        self._types.clear()

    async def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        return await self._call(lambda s: from_ipc_stream(self._run(s, sql, params, "ArrowStream")))

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
        sql = f"INSERT INTO {quote_table(table)} ({quote_columns(columns)})"
        if dedup_token is not None:
            # Not a parameter: streaming inserts take no parameters, so the token is checked
            # against a closed alphabet that cannot end the string literal.
            sql += f" SETTINGS insert_deduplication_token = '{check_dedup_token(dedup_token)}'"

        types = self._types.get(table)
        if types is None:
            types = await self._call(lambda s: self._column_types(s, table))
        try:
            arrow_types = [arrow_type(types[c]) for c in columns]
        except KeyError as exc:
            raise WarehouseError(f"{table} has no column {exc.args[0]!r}") from None
        # Converted here, on the caller's thread, not in the worker: conversion holds the GIL
        # either way, and from the worker it made the event loop's socket calls queue for the
        # GIL behind it (seen in profiles). The worker then only runs chdb, which releases it.
        data = to_ipc_stream(columns, arrow_types, rows)

        def run(session: Any) -> None:
            try:
                with session.send_insert(sql, "ArrowStream") as inserter:
                    inserter.append(data)
                    inserter.finish()
            except Exception:
                # Another handle may have altered the table: learn its columns again next time.
                self._types.pop(table, None)
                raise

        await self._call(run)

    async def insert_encoded(
        self,
        table: str,
        columns: Sequence[str],
        rows: EncodedRows,
        *,
        dedup_token: str | None = None,
        distinct: Sequence[str] = (),
    ) -> dict[str, frozenset[str]]:
        if not rows.data:
            return {name: frozenset() for name in distinct}
        if len(rows.select) != len(columns):
            raise WarehouseError(f"{len(columns)} columns but {len(rows.select)} expressions")
        path = self._spool_file()
        # The input's columns plus its row number, computed once: each call of
        # rowNumberInAllBlocks() counts on its own, and one reading thread keeps the order.
        # Identifiers are checked, literals quoted, values bound as parameters; the expressions
        # are the sink's own, generated from the contracts.
        source = (
            f"(SELECT *, rowNumberInAllBlocks() + 1 AS _row FROM file({quote_literal(str(path))}, "  # noqa: S608
            f"{quote_literal(rows.format)}, {quote_literal(rows.structure)}))"
        )
        reading = {**rows.settings, "max_threads": "1"}
        writing = dict(reading)
        if dedup_token is not None:
            writing["insert_deduplication_token"] = check_dedup_token(dedup_token)
        projection = ", ".join(
            f"{expr} AS {quote_ident(name)}"
            for expr, name in zip(rows.select, columns, strict=True)
        )
        insert = (
            f"INSERT INTO {quote_table(table)} ({quote_columns(columns)}) "  # noqa: S608
            f"SELECT {projection} FROM {source} SETTINGS {_settings(writing)}"
        )
        wanted = [c for c in distinct if c in columns]
        report = ""
        if wanted:
            exprs = dict(zip(columns, rows.select, strict=True))
            uniques = ", ".join(
                f"arrayMap(x -> toString(x), groupUniqArray({exprs[c]})) AS {quote_ident(c)}"
                for c in wanted
            )
            report = f"SELECT {uniques} FROM {source} SETTINGS {_settings(reading)}"  # noqa: S608

        def run(session: Any) -> list[dict[str, Any]]:
            try:
                path.write_bytes(rows.data)
                self._run(session, insert, rows.params, "CSV")
                if not report:
                    return []
                return from_ipc_stream(self._run(session, report, rows.params, "ArrowStream"))
            finally:
                path.unlink(missing_ok=True)

        found = await asyncio.to_thread(self._on_inserter, run)
        out: dict[str, frozenset[str]] = {name: frozenset() for name in distinct}
        for name in wanted:
            out[name] = frozenset(_text(v) for v in found[0][name] if v is not None)
        return out

    def _on_inserter(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` on an idle inserter session (worker thread), opening one if fewer than
        ``INSERTERS`` exist and none is idle."""
        try:
            session = self._inserters.get_nowait()
        except queue.Empty:
            with self._lock:
                self._open()  # the main session first: it applies the session settings
                if self._inserter_count < INSERTERS:
                    self._inserter_count += 1
                    try:
                        session = _Session(self._path)
                    except Exception as exc:
                        self._inserter_count -= 1
                        raise WarehouseError(f"cannot open chdb at {self._path}: {exc}") from exc
                    self._all_inserters.append(session)
                else:
                    session = None
            if session is None:
                session = self._inserters.get()
        try:
            if self._closed:
                raise WarehouseError("warehouse is closed")
            return fn(session)
        except WarehouseError:
            raise
        except Exception as exc:
            raise WarehouseError(f"chdb: {exc}") from exc
        finally:
            self._inserters.put(session)

    def _spool_file(self) -> Path:
        if self._spool is None:
            shm = Path("/dev/shm")  # noqa: S108 (a private mkdtemp directory inside it)
            # 0700, created by mkdtemp: no other user can read the payloads or swap the file.
            self._spool = Path(
                tempfile.mkdtemp(prefix="munjero-chdb-", dir=shm if shm.is_dir() else None)
            )
        return self._spool / f"{next(self._spooled)}.bin"

    async def ping(self) -> None:
        await self._call(lambda s: self._run(s, "SELECT 1", None, "CSV"))

    async def close(self) -> None:
        def run() -> None:
            with self._lock:
                self._closed = True
                if self._session is not None:
                    session, self._session = self._session, None
                    session.close()
                inserters, self._all_inserters = self._all_inserters, []
                for inserter in inserters:
                    inserter.close()
                if self._spool is not None:
                    shutil.rmtree(self._spool, ignore_errors=True)
                    self._spool = None

        await asyncio.to_thread(run)

    # -- internals (run in the worker thread, under the lock) --------------------------------

    async def _call(self, fn: Callable[[Any], T]) -> T:
        def run() -> T:
            with self._lock:
                session = self._open()
                try:
                    return fn(session)
                except WarehouseError:
                    raise
                except Exception as exc:  # chdb raises RuntimeError subclasses; pyarrow its own
                    raise WarehouseError(f"chdb: {exc}") from exc

        return await asyncio.to_thread(run)

    def _open(self) -> Any:
        if self._closed:
            raise WarehouseError("warehouse is closed")
        if self._session is None:
            if self._path != ":memory:":
                Path(self._path).mkdir(parents=True, exist_ok=True)
            try:
                session = _Session(self._path)
                for statement in _SESSION_SETTINGS:
                    session.query(statement)
                warm_up()
            except Exception as exc:
                raise WarehouseError(f"cannot open chdb at {self._path}: {exc}") from exc
            self._session = session
        return self._session

    @staticmethod
    def _run(session: Any, sql: str, params: Params | None, fmt: str) -> bytes:
        bound = {k: format_param(v) for k, v in params.items()} if params else None
        result = session.query(sql, fmt, params=bound)
        data: bytes = result.bytes() if hasattr(result, "bytes") else bytes(result or b"")
        return data

    def _column_types(self, session: Any, table: str) -> dict[str, str]:
        cached = self._types.get(table)
        if cached is not None:
            return cached
        database, name = split_table(table)
        if database is None:
            current = from_ipc_stream(
                self._run(session, "SELECT currentDatabase() AS db", None, "ArrowStream")
            )
            database = str(current[0]["db"])
        rows = from_ipc_stream(
            self._run(session, _COLUMNS_SQL, {"db": database, "table": name}, "ArrowStream")
        )
        if not rows:
            raise WarehouseError(f"table {table} does not exist")
        types = {str(r["name"]): str(r["type"]) for r in rows}
        self._types[table] = types
        return types


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _settings(settings: dict[str, str]) -> str:
    # Numbers stay bare: an integer setting given a string literal is not converted everywhere.
    return ", ".join(
        f"{quote_ident(k)} = {v if v.isdigit() else quote_literal(v)}" for k, v in settings.items()
    )
