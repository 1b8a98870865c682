"""The analysts' queries in ``dashboards/*.sql``: load by name, their declared parameters,
run with parameters.

Each file starts with a header comment: a title line, then the parameters, one per line,
name, ClickHouse type, an optional ``= default`` and what it means, then what in its rows is
simulated::

    -- Best shorts by views at their latest observed window.
    -- Parameters:
    --   db     Identifier = munjero   database of the tables (the runner passes its own)
    --   limit  UInt32     = 20        how many shorts
    -- Simulated: `simulated` is true for a short published on the channel simulator.

``munjero dashboards run NAME --param k=v`` (``factory/cli.py``) checks given values against
these declarations before anything reaches ClickHouse; ``tests/unit/test_dashboard_params.py``
checks that every ``{name:Type}`` of a query is declared with that type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from streams.ports.warehouse import Warehouse

DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"

_PARAM_LINE = re.compile(
    r"^--\s+(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[A-Za-z0-9]+)"
    r"(?:\s*=\s*(?P<default>\S+))?\s+(?P<meaning>\S.*)$"
)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([A-Za-z0-9]+)\}")
_RELATIVE_DAYS = re.compile(r"^-(\d{1,5})d$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_RANGES = {
    f"{sign}Int{bits}": (
        (0, 2**bits - 1) if sign == "U" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    )
    for sign in ("U", "")
    for bits in (8, 16, 32, 64)
}
TYPES = frozenset({*_INT_RANGES, "Float32", "Float64", "Date", "DateTime", "String", "Identifier"})


class ParameterError(ValueError):
    """A parameter is missing, unknown or ill-typed; the message is one line and lists the
    dashboard's parameters."""


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: str | None
    meaning: str

    def describe(self) -> str:
        default = f" = {self.default}" if self.default is not None else " (required)"
        return f"{self.name} {self.type}{default}: {self.meaning}"


@dataclass(frozen=True)
class Dashboard:
    name: str
    title: str
    parameters: tuple[Parameter, ...]
    simulated: str  # what of its rows is simulated, as the header says
    sql: str

    def usage(self) -> str:
        """One line: every parameter of the dashboard."""
        return "; ".join(p.describe() for p in self.parameters) or "no parameters"


def names() -> list[str]:
    return sorted(p.stem for p in DASHBOARDS.glob("*.sql"))


@cache
def query_text(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a dashboard name: {name!r}")
    path = DASHBOARDS / f"{name}.sql"
    if not path.is_file():
        raise ValueError(f"no dashboard {name!r}; known: {', '.join(names())}")
    return path.read_text(encoding="utf-8")


@cache
def dashboard(name: str) -> Dashboard:
    """The dashboard ``name`` with its header parsed; ``ValueError`` for a malformed header."""
    sql = query_text(name)
    comments = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            break
        comments.append(line)
    if not comments:
        raise ValueError(f"dashboards/{name}.sql has no header comment")
    title = comments[0].lstrip("- ").strip()
    parameters: list[Parameter] = []
    simulated = ""
    section = ""
    for line in comments[1:]:
        text = line[2:].strip()
        if text.startswith("Parameters:"):
            section = "parameters"
        elif text.startswith("Simulated:"):
            section, simulated = "simulated", text[len("Simulated:") :].strip()
        elif section == "parameters" and (match := _PARAM_LINE.match(line)):
            if match["type"] not in TYPES:
                raise ValueError(f"dashboards/{name}.sql: unsupported type {match['type']}")
            parameters.append(
                Parameter(match["name"], match["type"], match["default"], match["meaning"])
            )
        elif section == "simulated" and text:
            simulated = f"{simulated} {text}"
    if not simulated:
        raise ValueError(f"dashboards/{name}.sql: the header must say what is simulated")
    return Dashboard(name, title, tuple(parameters), simulated, sql)


def placeholders(sql: str) -> dict[str, str]:
    """``{name:Type}`` placeholders of ``sql``: name -> type."""
    return {m.group(1): m.group(2) for m in _PLACEHOLDER.finditer(sql)}


def resolve(
    name: str, given: Mapping[str, str], database: str, *, today: date | None = None
) -> dict[str, str]:
    """Every parameter of ``name`` as the text ClickHouse parses (``param_<name>``): given
    values checked against their declared types, defaults for the rest, ``db`` = ``database``
    unless given. ``ParameterError`` (one line, with the parameter list) otherwise."""
    board = dashboard(name)
    declared = {p.name: p for p in board.parameters}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(
            f"{name}: unknown parameter {', '.join(unknown)}; parameters: {board.usage()}"
        )
    day = today or datetime.now(UTC).date()
    values: dict[str, str] = {}
    for param in board.parameters:
        raw = given.get(param.name)
        if raw is None:
            raw = database if param.name == "db" else param.default
        if raw is None:
            raise ParameterError(
                f"{name}: missing parameter {param.name}; parameters: {board.usage()}"
            )
        try:
            values[param.name] = _check(param.type, raw, day)
        except ValueError as exc:
            raise ParameterError(
                f"{name}: parameter {param.name} must be {param.type} ({exc}), got {raw!r}; "
                f"parameters: {board.usage()}"
            ) from None
    return values


def _check(kind: str, raw: str, today: date) -> str:
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return str(int(raw))
    if kind in ("Float32", "Float64"):
        float(raw)  # raises ValueError
        return raw
    if kind == "Date":
        relative = _RELATIVE_DAYS.match(raw)
        if relative:
            return (today - timedelta(days=int(relative.group(1)))).isoformat()
        if raw == "today":
            return today.isoformat()
        return date.fromisoformat(raw).isoformat()  # ValueError names the problem
    if kind == "DateTime":
        return datetime.fromisoformat(raw).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "Identifier":
        if not _IDENT.match(raw):
            raise ValueError("a plain identifier")
        return raw
    return raw  # String


async def run(
    warehouse: Warehouse, name: str, database: str, **params: Any
) -> list[dict[str, Any]]:
    """Rows of dashboard ``name``; the database goes in as an identifier parameter."""
    return await warehouse.query(query_text(name), {"db": database, **params})
