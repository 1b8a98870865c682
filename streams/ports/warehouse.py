"""The warehouse port: what the rest of the factory needs from ClickHouse.

Two adapters sit behind it: ``ChdbWarehouse`` (chdb, in-process, the embedded default) and
``ClickHouseConnectWarehouse`` (a ClickHouse server through clickhouse-connect). Both pass the
same contract suite (``tests/integration/test_warehouse_contract.py``).

``SqlEngine`` is the other side analysts see: SQL text in, bytes in a ClickHouse format out
(``services/clickhouse_http`` serves it as ClickHouse's HTTP interface; the chdb adapter is
``connectors/warehouse/chdb_readonly.py``).

SQL is always parametrised with ClickHouse server-side placeholders (``{name:Type}``, e.g.
``WHERE problem_id = {pid:String}``); adapters never format a value into SQL text. Every
failure surfaces as ``WarehouseError`` (defined here: it is part of the port's contract).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class EncodedRows:
    """Records in a ClickHouse input format, for ClickHouse to decode itself.

    ``structure`` declares the input's columns (``name Type, ...``); ``select`` holds, per target
    column, an expression over those columns, over ``_row`` (the record's 1-based position in
    ``data``) and over ``{name:Type}`` placeholders filled from ``params``. ``settings`` are the
    input format's (e.g. ``format_avro_schema_registry_url``).
    """

    format: str
    structure: str
    select: Sequence[str]
    data: bytes
    params: Params = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class DecodingWarehouse(Protocol):
    """A warehouse that can decode records itself (``EncodedRows``): the sink then hands it
    Kafka payloads as they came, with no per-record work in Python."""

    async def insert_encoded(
        self,
        table: str,
        columns: Sequence[str],
        rows: EncodedRows,
        *,
        dedup_token: str | None = None,
        distinct: Sequence[str] = (),
    ) -> dict[str, frozenset[str]]:
        """Insert the decoded records into ``table``'s ``columns`` (all or nothing), with
        ``dedup_token`` as in ``Warehouse.insert``; return the distinct non-null values, as
        text, of each target column named in ``distinct``. A record ClickHouse cannot decode
        fails the whole call with ``WarehouseError``."""
        ...


# -- ClickHouse SQL as analysts send it (the HTTP interface on the embedded default) ---------


class ClickHouseError(WarehouseError):
    """ClickHouse refused a statement with one of its own error codes (164 ``READONLY``, 62
    ``SYNTAX_ERROR``...): what ClickHouse's HTTP interface reports as
    ``X-ClickHouse-Exception-Code`` and ``Code: N. DB::Exception: ...``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SqlRequest:
    """One statement as ClickHouse's HTTP interface receives it.

    ``params`` and ``settings`` hold text exactly as it arrives in ``param_<name>`` and
    ``<setting>=`` URL parameters. ``data`` is what follows the statement in a request body when
    the statement came in the URL (the rows of an ``INSERT``, or the rest of the query).
    """

    sql: str
    default_format: str = "TabSeparated"
    database: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    data: bytes | None = None


@dataclass(frozen=True)
class SqlAnswer:
    """A statement's output in ``format`` and what ``X-ClickHouse-Summary`` reports."""

    body: bytes
    format: str
    read_rows: int = 0
    read_bytes: int = 0
    written_rows: int = 0
    written_bytes: int = 0
    result_rows: int = 0
    result_bytes: int = 0
    elapsed_ns: int = 0


@dataclass(frozen=True)
class ServerInfo:
    """What a ClickHouse server tells clients about itself in response headers."""

    version: str
    timezone: str
    display_name: str


@runtime_checkable
class SqlEngine(Protocol):
    """Runs ClickHouse SQL text as given and answers bytes in a ClickHouse output format."""

    async def run(self, request: SqlRequest) -> SqlAnswer:
        """Run one statement; ``ClickHouseError`` carries ClickHouse's code when it is refused
        (a read-only engine refuses ``INSERT``/``ALTER``/``DROP``/``CREATE`` with 164)."""
        ...

    async def info(self) -> ServerInfo:
        """Version, time zone and display name of the engine."""
        ...

    async def close(self) -> None:
        """Release every session. Idempotent."""
        ...
