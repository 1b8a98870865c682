"""ClickHouse column types <-> Apache Arrow, for the chdb adapter's insert and query paths.

chdb ingests Arrow IPC streams natively (no per-value text parsing), and Arrow carries bytes,
nested tuples and millisecond timestamps without the escaping problems of JSON: a ``StepFailed``
record holds raw Kafka bytes that JSON cannot represent. The Arrow schema of an insert is derived
from the table's ClickHouse types, so a column of all ``NULL`` or all empty arrays is still typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from streams.ports.warehouse import WarehouseError

_INTS = {
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "String": pa.binary(),
    "UUID": pa.string(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
}
_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}
_NAME = re.compile(r"`?([A-Za-z_][A-Za-z0-9_]*)`?")


def split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a type, e.g. ``a String, b Array(Int32)``."""
    args: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        args.append(tail)
    return args


def _outer(type_text: str) -> tuple[str, list[str]]:
    text = " ".join(type_text.split())
    if "(" not in text:
        return text, []
    name, _, rest = text.partition("(")
    if not rest.endswith(")"):
        raise WarehouseError(f"malformed ClickHouse type {type_text!r}")
    return name.strip(), split_args(rest[:-1])


def arrow_type(type_text: str) -> pa.DataType:
    """The Arrow type chdb reads into (and writes from) a ClickHouse column type."""
    name, args = _outer(type_text)
    if not args:
        if name in _INTS:
            return _INTS[name]
        if name.startswith("Enum"):
            return pa.string()
        if name == "DateTime":
            return pa.timestamp("s", tz="UTC")
    elif name in ("LowCardinality", "Nullable"):
        return arrow_type(args[0])
    elif name == "FixedString":
        return pa.binary()
    elif name.startswith("Enum"):
        return pa.string()
    elif name == "DateTime":
        return pa.timestamp("s", tz=args[0].strip("'"))
    elif name == "DateTime64":
        unit = _UNITS.get(int(args[0]))
        if unit is None:
            raise WarehouseError(f"DateTime64 precision {args[0]} has no Arrow unit")
        return pa.timestamp(unit, tz=args[1].strip("'") if len(args) > 1 else "UTC")
    elif name == "Array":
        return pa.list_(arrow_type(args[0]))
    elif name == "Map":
        return pa.map_(arrow_type(args[0]), arrow_type(args[1]))
    elif name == "Tuple":
        return pa.struct([_tuple_field(i, arg) for i, arg in enumerate(args, start=1)])
    elif name == "Decimal":
        return pa.decimal128(int(args[0]), int(args[1]))
    raise WarehouseError(f"no Arrow mapping for ClickHouse type {type_text!r}")


def _tuple_field(position: int, element: str) -> pa.Field:
    first, _, rest = element.partition(" ")
    match = _NAME.fullmatch(first)
    # "name Type" is a named element; "Type" or "Type(args with spaces)" is positional.
    if match and rest:
        return pa.field(match.group(1), arrow_type(rest))
    return pa.field(str(position), arrow_type(element))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKS = {
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
    "us": timedelta(microseconds=1),
}


def _ticks(value: Any, tick: timedelta) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # naive means UTC here
        return (aware - _EPOCH) // tick
    return value


def warm_up() -> None:
    """pyarrow imports pandas on its first conversion from Python objects (seconds on this
    machine): pay that when the warehouse opens, not inside the first batch."""
    pa.array([0], type=pa.int64())


def _column(values: list[Any], typ: Any) -> Any:
    """One Arrow array. Top-level datetimes become integer ticks first: pyarrow converts aware
    datetimes through pandas, whose import alone costs seconds on the first batch."""
    if pa.types.is_timestamp(typ) and typ.unit in _TICKS:
        tick = _TICKS[typ.unit]
        return pa.array([_ticks(v, tick) for v in values], type=typ)
    return pa.array(values, type=typ)


def to_ipc_stream(
    columns: Sequence[str], types: Sequence[pa.DataType], rows: Sequence[Sequence[Any]]
) -> bytes:
    """An Arrow IPC stream of ``rows`` (row-major Python values) with the given column types."""
    try:
        arrays = [_column([row[i] for row in rows], typ) for i, typ in enumerate(types)]
        batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
    except (pa.ArrowException, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise WarehouseError(f"rows do not match the column types: {exc}") from exc
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _has_binary(typ: pa.DataType) -> bool:
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        return True
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        return _has_binary(typ.value_type)
    if pa.types.is_struct(typ):
        return any(_has_binary(typ.field(i).type) for i in range(typ.num_fields))
    if pa.types.is_map(typ):
        return _has_binary(typ.key_type) or _has_binary(typ.item_type)
    return False


def _text(value: Any) -> Any:
    # Same rule as clickhouse-connect: UTF-8 text as str, anything else as hex.
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value.hex()
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict):
        return {k: _text(v) for k, v in value.items()}
    return value


def from_ipc_stream(data: bytes) -> list[dict[str, Any]]:
    """Rows of an Arrow IPC stream as dicts; ``String`` (Arrow binary) decoded as described in
    ``Warehouse.query``."""
    if not data:
        return []
    table = pa.ipc.open_stream(data).read_all()
    for i, typ in enumerate(table.schema.types):
        # The port promises aware UTC datetimes; a column without a zone is server time (UTC).
        if pa.types.is_timestamp(typ) and typ.tz is None:
            utc = pa.timestamp(typ.unit, tz="UTC")
            table = table.set_column(i, table.column_names[i], table.column(i).cast(utc))
    binary = [
        name
        for name, typ in zip(table.column_names, table.schema.types, strict=True)
        if _has_binary(typ)
    ]
    rows: list[dict[str, Any]] = table.to_pylist()
    if binary:
        for row in rows:
            for name in binary:
                row[name] = _text(row[name])
    return rows
