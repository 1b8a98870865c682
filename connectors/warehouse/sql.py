"""SQL text helpers shared by the adapters: identifiers, dedup tokens, parameter values.

Values never enter SQL text: identifiers are validated and back-quoted, dedup tokens are checked
against a closed alphabet, and parameter values are rendered in the escaped text form ClickHouse
parses for server-side ``{name:Type}`` parameters (the same form as HTTP ``param_<name>``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from streams.ports.warehouse import WarehouseError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"[A-Za-z0-9._:/@=+\-]{1,512}")
# Top-level parameter values are parsed like a TSV field: only these need escaping.
_TOP_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})
# Nested values (inside arrays/tuples) are parsed as SQL literals: quotes need escaping too.
_NESTED_ESCAPES = str.maketrans(
    {"\\": "\\\\", "'": "\\'", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}
)


def quote_ident(name: str) -> str:
    """``name`` back-quoted after checking it is a plain identifier."""
    if not _IDENT.fullmatch(name):
        raise WarehouseError(f"not a plain identifier: {name!r}")
    return f"`{name}`"


def quote_literal(text: str) -> str:
    """``text`` as a ClickHouse string literal (for the few places a parameter cannot go:
    table-function arguments and ``SETTINGS`` values)."""
    return f"'{text.translate(_NESTED_ESCAPES)}'"


def split_table(table: str) -> tuple[str | None, str]:
    """``(database, name)`` of ``name`` or ``database.name``; both validated."""
    parts = table.split(".")
    if len(parts) == 1:
        quote_ident(parts[0])
        return None, parts[0]
    if len(parts) == 2:
        quote_ident(parts[0])
        quote_ident(parts[1])
        return parts[0], parts[1]
    raise WarehouseError(f"not a table name: {table!r}")


def quote_table(table: str) -> str:
    database, name = split_table(table)
    return f"{quote_ident(database)}.{quote_ident(name)}" if database else quote_ident(name)


def quote_columns(columns: Sequence[str]) -> str:
    if not columns:
        raise WarehouseError("an insert needs at least one column")
    return ", ".join(quote_ident(c) for c in columns)


def check_dedup_token(token: str) -> str:
    """The token, if it is safe to place in a ``SETTINGS`` clause (closed alphabet)."""
    if not _TOKEN.fullmatch(token):
        raise WarehouseError(f"dedup token has characters outside [A-Za-z0-9._:/@=+-]: {token!r}")
    return token


def _format_datetime(value: datetime) -> str:
    # Naive datetimes are taken as UTC, like every timestamp in this project.
    utc = value.astimezone(UTC) if value.tzinfo else value
    return utc.strftime("%Y-%m-%d %H:%M:%S.%f")


def _nested(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return f"'{value.translate(_NESTED_ESCAPES)}'"
    if isinstance(value, bytes | bytearray):
        return "'" + "".join(f"\\x{b:02x}" for b in value) + "'"
    if isinstance(value, datetime):
        return f"'{_format_datetime(value)}'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_nested(v) for v in value) + ")"
    raise WarehouseError(f"unsupported parameter type {type(value).__name__}")


def _number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value)


def format_param(value: Any) -> str:
    """The text ClickHouse parses for a ``{name:Type}`` parameter holding ``value``."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_TOP_ESCAPES)
    if isinstance(value, bytes | bytearray):
        return "".join(f"\\x{b:02x}" for b in value)
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, list | tuple | bool | int | float | date):
        return _nested(value)
    raise WarehouseError(f"unsupported parameter type {type(value).__name__}")
