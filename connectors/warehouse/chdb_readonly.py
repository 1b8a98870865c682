"""Analysts' SQL on the embedded warehouse: read-only chdb sessions beside the sink's.

chdb admits one data path per process, so analysts cannot open the warehouse from their own
process while the factory runs: the process that owns chdb answers their SQL (served as
ClickHouse's HTTP interface by ``services/clickhouse_http``). Each query runs in a session of
its own, set up once like a ClickHouse user profile:

* ``readonly = 1``: ClickHouse itself refuses ``INSERT``/``ALTER``/``DROP``/``CREATE``, table
  functions that reach files or the network, and any change of a setting (code 164, READONLY).
  Sessions keep their own settings, so the sink's session stays writable (measured, chdb 4.4).
* limits set before ``readonly`` (so analysts cannot lift them): ``max_execution_time``,
  ``max_result_rows``/``max_result_bytes`` (``result_overflow_mode = 'throw'``),
  ``max_memory_usage`` and ``max_threads = 1``: an analyst query uses one of the two cores and
  never the core the sink decodes on plus the one chdb ingests on; ``os_thread_priority = 19``
  (nice 19) on the threads that execute it, and on this adapter's own threads, so the sink's
  threads get the CPU first when both want it.
* bounded concurrency: at most ``max_concurrent`` queries run, each on its own thread of a
  dedicated pool (never the event loop's default executor, where the sink's inserts run);
  later ones wait up to ``queue_timeout_s`` and then get ClickHouse's 202.

chdb's parser, not ours, decides what a statement is: ``formatQuery`` (which executes nothing)
refuses multi-statements and yields the canonical text, whose top-level ``FORMAT`` and
``INTO OUTFILE`` clauses stand on lines of their own. ``INTO OUTFILE`` is refused like a server
refuses it over HTTP (358): clickhouse-local, which chdb is, would write the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from chdb import session as chdb_session

from connectors.warehouse.sql import format_param
from streams.ports.warehouse import (
    ClickHouseError,
    ServerInfo,
    SqlAnswer,
    SqlRequest,
    WarehouseError,
)

_Session: Any = chdb_session.Session

# ClickHouse's own error codes for what this adapter refuses before chdb runs anything.
UNKNOWN_FORMAT = 73
TOO_MANY_SIMULTANEOUS_QUERIES = 202
INTO_OUTFILE_NOT_ALLOWED = 358
SETTING_CONSTRAINT_VIOLATION = 452
SYNTAX_ERROR = 62
UNKNOWN_EXCEPTION = 1002

_CODE = re.compile(r"Code: (\d+)\. DB::Exception: ")
_NESTED = re.compile(r"^(Code: (\d+)\. DB::Exception: )\1")
_VERSION_TAIL = re.compile(r"( \(version [^)]*\))\. \([A-Z_0-9]+\)$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class QueryLimits:
    """The analyst profile: what every query is held to (set before ``readonly = 1``)."""

    max_execution_time_s: float = 30.0
    max_result_rows: int = 1_000_000
    max_result_bytes: int = 256 * 1024 * 1024
    max_memory_usage: int = 2 * 1024 * 1024 * 1024
    max_threads: int = 1
    # Linux nice of the threads that execute an analyst query (ClickHouse's own setting; needs
    # CAP_SYS_NICE, else a no-op): the sink's threads win the CPU whenever both want it.
    os_thread_priority: int = 19

    def statements(self) -> list[str]:
        return [
            f"SET max_execution_time = {self.max_execution_time_s:g}",
            f"SET max_result_rows = {int(self.max_result_rows)}",
            f"SET max_result_bytes = {int(self.max_result_bytes)}",
            "SET result_overflow_mode = 'throw'",
            f"SET max_memory_usage = {int(self.max_memory_usage)}",
            f"SET max_threads = {int(self.max_threads)}",
            f"SET os_thread_priority = {int(self.os_thread_priority)}",
            # Responses are compressed when the client asks (Accept-Encoding), as a server does
            # for a profile with this setting; a read-only client could not turn it on itself.
            "SET enable_http_compression = 1",
            "SET readonly = 1",
        ]


class Shape(NamedTuple):
    """What chdb's parser says about a statement."""

    kind: str  # first keyword of the canonical text: SELECT, INSERT, SHOW, USE...
    output_format: str | None  # its FORMAT clause, if it has one
    into_outfile: bool


def clickhouse_error(exc: BaseException) -> ClickHouseError:
    """chdb's exception as ``ClickHouseError``: its code and one ``Code: N. ...`` message."""
    text = str(exc).strip()
    # chdb sometimes nests the same exception in itself: "Code: 164. DB::Exception: Code: 164.
    # DB::Exception: ... (version 26.9.2.1). (READONLY)". Keep one of each.
    while (nested := _NESTED.match(text)) is not None:
        text = text[len(nested.group(1)) :]
        text = _VERSION_TAIL.sub(r"\1", text)  # a server's form: "... (READONLY) (version X)"
    found = _CODE.search(text)
    if found is None:
        return ClickHouseError(
            UNKNOWN_EXCEPTION, f"Code: {UNKNOWN_EXCEPTION}. DB::Exception: {text}"
        )
    return ClickHouseError(int(found.group(1)), text[found.start() :])


def shape_of(canonical: str) -> Shape:
    """The shape of ``formatQuery``'s canonical text. Top-level clauses start lines at column 0
    there; nested queries are indented and string literals keep newlines escaped, so neither
    can pass for the statement's own ``FORMAT`` or ``INTO OUTFILE``."""
    lines = canonical.splitlines()
    kind = lines[0].split(" ", 1)[0].upper() if lines else ""
    output_format: str | None = None
    outfile = False
    for line in lines[1:] if kind != "INSERT" else ():
        if line.startswith("FORMAT "):
            output_format = line[len("FORMAT ") :].strip()
        elif line.startswith("INTO OUTFILE "):
            outfile = True
    return Shape(kind, output_format, outfile)


def quote_database(name: str) -> str:
    """``name`` as a back-quoted identifier (any text: ClickHouse escapes inside back quotes)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


class ChdbReadOnlyEngine:
    """``SqlEngine`` on read-only chdb sessions of the data directory ``path``.

    ``path`` must be the path the process's ``ChdbWarehouse`` uses (chdb admits one per
    process); the sessions share its engine. ``database`` is the default database (the
    ``database`` URL parameter overrides it per query).
    """

    def __init__(
        self,
        path: Path | str | None,
        *,
        database: str = "default",
        limits: QueryLimits | None = None,
        max_concurrent: int = 2,
        queue_timeout_s: float | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self._path = ":memory:" if path is None else str(Path(path).resolve())
        self._database = database
        self._limits = limits or QueryLimits()
        self._max_concurrent = max_concurrent
        self._queue_timeout_s = (
            self._limits.max_execution_time_s if queue_timeout_s is None else queue_timeout_s
        )
        self._slots = asyncio.Semaphore(max_concurrent)
        self._executor = ThreadPoolExecutor(
            max_concurrent,
            thread_name_prefix="chdb-analyst",
            initializer=_lower_priority,
            initargs=(self._limits.os_thread_priority,),
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[Any] = []
        self._closed = False
        self._output_formats: frozenset[str] = frozenset()
        self._info: ServerInfo | None = None

    @property
    def saturated(self) -> bool:
        """True while ``max_concurrent`` queries run (the next one waits)."""
        return self._slots.locked()

    async def run(self, request: SqlRequest) -> SqlAnswer:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._queue_timeout_s)
        except TimeoutError:
            raise ClickHouseError(
                TOO_MANY_SIMULTANEOUS_QUERIES,
                f"Code: {TOO_MANY_SIMULTANEOUS_QUERIES}. DB::Exception: Too many simultaneous "
                f"queries. Maximum: {self._max_concurrent}. (TOO_MANY_SIMULTANEOUS_QUERIES)",
            ) from None
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._run_sync, request)
        # The slot frees when the thread is done, not when a caller that went away stops
        # waiting: a query chdb is still running counts against the limit.
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(future)

    async def info(self) -> ServerInfo:
        if self._info is None:
            loop = asyncio.get_running_loop()
            self._info = await loop.run_in_executor(self._executor, self._info_sync)
        return self._info

    async def close(self) -> None:
        def run() -> None:
            with self._lock:
                self._closed = True
            self._executor.shutdown(wait=True)
            with self._lock:
                sessions, self._sessions = self._sessions, []
            for session in sessions:
                session.close()

        await asyncio.to_thread(run)

    # -- in the pool's threads ----------------------------------------------------------------

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is not None:
            return session
        with self._lock:
            if self._closed:
                raise WarehouseError("the analyst engine is closed")
        try:
            session = _Session(self._path)
            for statement in self._limits.statements():
                session.query(statement)
            if not self._output_formats:
                formats = session.query(
                    "SELECT name FROM system.formats WHERE is_output", "TabSeparated"
                )
                self._output_formats = frozenset(_text(formats).split())
        except Exception as exc:
            raise WarehouseError(f"cannot open a read-only chdb session: {exc}") from exc
        with self._lock:
            self._sessions.append(session)
        self._local.session = session
        self._local.database = None
        return session

    def _info_sync(self) -> ServerInfo:
        with _errors():
            row = _text(self._session().query("SELECT version(), timezone()", "TabSeparated"))
        version, timezone = row.strip().split("\t")
        return ServerInfo(version, timezone, socket.gethostname())

    def _run_sync(self, request: SqlRequest) -> SqlAnswer:
        started = time.perf_counter_ns()
        with _errors():
            session = self._session()
            sql = request.sql
            shape = self._shape(session, sql)
            if request.data and shape.kind != "INSERT":
                # The URL held the start of the query and the body holds the rest.
                sql = f"{sql}\n{_decode(request.data)}"
                shape = self._shape(session, sql)
            if shape.into_outfile:
                raise ClickHouseError(
                    INTO_OUTFILE_NOT_ALLOWED,
                    f"Code: {INTO_OUTFILE_NOT_ALLOWED}. DB::Exception: INTO OUTFILE is not "
                    "allowed. (INTO_OUTFILE_NOT_ALLOWED)",
                )
            self._check_settings(session, request.settings)
            self._use(session, request.database or self._database)
            fmt = shape.output_format or request.default_format
            if shape.kind == "INSERT":
                # chdb checks readonly before it reads a row: the analyst gets 164 here.
                with session.send_insert(sql, fmt) as inserter:
                    if request.data:
                        inserter.append(request.data)
                    inserter.finish()
                return SqlAnswer(b"", fmt, elapsed_ns=time.perf_counter_ns() - started)
            self._check_format(fmt)
            result = session.query(sql, fmt, params=dict(request.params) or None)
            if shape.kind == "USE":
                self._local.database = None  # the statement moved the session elsewhere
        body = _bytes(result)
        return SqlAnswer(
            body=body,
            format=fmt,
            read_rows=_count(result, "storage_rows_read"),
            read_bytes=_count(result, "storage_bytes_read"),
            written_rows=_count(result, "rows_written"),
            written_bytes=_count(result, "bytes_written"),
            result_rows=_count(result, "rows_read"),
            result_bytes=_count(result, "bytes_read"),
            elapsed_ns=time.perf_counter_ns() - started,
        )

    @staticmethod
    def _shape(session: Any, sql: str) -> Shape:
        canonical = session.query(
            "SELECT formatQuery({q:String})", "RawBLOB", params={"q": format_param(sql)}
        )
        return shape_of(_text(canonical))

    def _check_settings(self, session: Any, settings: Mapping[str, str]) -> None:
        """Let chdb judge each requested setting: under ``readonly = 1`` it accepts only the
        value already in force (so there is nothing to apply) and refuses any change with 164,
        an unknown name with 115, exactly as a server does for a read-only user.

        One exception, as a server profile grants it with ``CHANGEABLE_IN_READONLY`` and a
        ``MAX``: ``max_execution_time`` up to the profile's own. Grafana's ClickHouse plugin
        sends it with every query (its query timeout). A lower value is accepted without being
        applied (a read-only session cannot change it): the profile's limit still ends the
        query, and the client's own timeout ends its wait.
        """
        for name, value in settings.items():
            if name == "max_execution_time":
                self._check_execution_time(value)
                continue
            if not _IDENT.fullmatch(name):
                raise ClickHouseError(
                    SYNTAX_ERROR, f"Code: {SYNTAX_ERROR}. DB::Exception: bad setting name {name!r}"
                )
            literal = value.replace("\\", "\\\\").replace("'", "\\'")
            session.query(f"SELECT 1 FORMAT Null SETTINGS `{name}` = '{literal}'")

    def _check_execution_time(self, value: str) -> None:
        cap = self._limits.max_execution_time_s
        try:
            seconds = float(value)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= cap:
            raise ClickHouseError(
                SETTING_CONSTRAINT_VIOLATION,
                f"Code: {SETTING_CONSTRAINT_VIOLATION}. DB::Exception: Setting "
                f"max_execution_time shouldn't be greater than {cap:g} (or 0), got {value}. "
                "(SETTING_CONSTRAINT_VIOLATION)",
            )

    def _use(self, session: Any, database: str) -> None:
        if self._local.database != database:
            session.query(f"USE {quote_database(database)}")
            self._local.database = database

    def _check_format(self, fmt: str) -> None:
        # chdb's Python layer gives a few names of its own a meaning ("DataFrame",
        # "ArrowTable"); only ClickHouse's output formats may reach it.
        if fmt not in self._output_formats:
            raise ClickHouseError(
                UNKNOWN_FORMAT,
                f"Code: {UNKNOWN_FORMAT}. DB::Exception: Unknown output format {fmt}. "
                "(UNKNOWN_FORMAT)",
            )


def _lower_priority(nice: int) -> None:
    """Give this thread the nice value of the analyst profile (a thread's own, on Linux): it
    parses and formats what chdb's query threads compute. Raising one's own nice needs no
    privilege; lowering it back does, so this only ever lowers the priority."""
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (ClickHouseError, WarehouseError):
        raise
    except Exception as exc:  # chdb raises RuntimeError subclasses with ClickHouse's text
        raise clickhouse_error(exc) from exc


def _bytes(result: Any) -> bytes:
    if result is None:
        return b""
    data: bytes = result.bytes() if hasattr(result, "bytes") else bytes(result)
    return data


def _text(result: Any) -> str:
    return _bytes(result).decode("utf-8")


def _count(result: Any, name: str) -> int:
    method: Callable[[], int] | None = getattr(result, name, None)
    return int(method()) if method is not None else 0


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ClickHouseError(
            SYNTAX_ERROR,
            f"Code: {SYNTAX_ERROR}. DB::Exception: the query in the request body is not UTF-8. "
            "(SYNTAX_ERROR)",
        ) from None
