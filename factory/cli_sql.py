"""``munjero sql`` and ``munjero dashboards``: analysts' SQL against the running factory.

Both speak ClickHouse's HTTP interface, so the same commands work against the embedded
warehouse (the interface ``munjero up`` serves as the read-only ``analyst`` user, its password
read from ``data_dir/clickhouse-http/analyst.password``) and against a ClickHouse server
(``MUNJERO_CLICKHOUSE_URL`` with ``MUNJERO_CLICKHOUSE_USER``/``_PASSWORD``), or any URL given
with ``--url http://user:password@host:port``.

Mistakes (no factory running, an unknown dashboard, a missing or ill-typed parameter) are one
line on stderr and exit code 2; a query ClickHouse refuses is its one-line error and exit 1.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import typer
from rich.table import Table

from factory.cli_support import console, fail
from services.clickhouse_http.users import ANALYST, URL_FILE, analyst_password, credentials_dir
from streams.settings import Settings
from warehouse import dashboards as boards

dashboards_cli = typer.Typer(
    help="The analysts' queries in dashboards/: list them, run one.", no_args_is_help=True
)
QUERY_FAILED = 1


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    parquet = "parquet"


# What each output asks ClickHouse for: the server formats, not ours.
_CLICKHOUSE_FORMAT = {
    OutputFormat.table: "JSONCompact",
    OutputFormat.csv: "CSVWithNames",
    OutputFormat.tsv: "TSVWithNames",
    OutputFormat.json: "JSONEachRow",
    OutputFormat.parquet: "Parquet",
}

FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", help="table, csv, tsv, json (one object per line) or parquet"),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="write the result to this file instead of stdout"),
]
UrlOption = Annotated[
    str | None,
    typer.Option(
        help="ClickHouse HTTP URL, http://user:password@host:port (default: the running "
        "factory's interface, or MUNJERO_CLICKHOUSE_URL)"
    ),
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="NAME=VALUE for a {NAME:Type} placeholder (repeatable)"),
]


@dataclass(frozen=True)
class Target:
    """Where the SQL goes, as whom."""

    url: str
    user: str
    password: str
    database: str


def target(settings: Settings, url: str | None) -> Target:
    """``--url``, else the configured server, else the running factory's interface."""
    database = settings.clickhouse_database
    if url:
        parts = urlsplit(url)
        host = parts.hostname or "127.0.0.1"
        netloc = f"{host}:{parts.port}" if parts.port else host
        bare = urlunsplit((parts.scheme or "http", netloc, parts.path, "", ""))
        if parts.username is not None:
            return Target(bare, unquote(parts.username), unquote(parts.password or ""), database)
        return Target(bare, ANALYST, _analyst_password(settings), database)
    if settings.clickhouse_url:
        secret = settings.clickhouse_password
        return Target(
            settings.clickhouse_url,
            settings.clickhouse_user,
            secret.get_secret_value() if secret else "",
            database,
        )
    announced = credentials_dir(settings.data_dir) / URL_FILE
    try:
        local = announced.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        local = f"http://127.0.0.1:{settings.clickhouse_http_port}"
    return Target(local, ANALYST, _analyst_password(settings), database)


def _analyst_password(settings: Settings) -> str:
    password = analyst_password(credentials_dir(settings.data_dir))
    if password is None:
        fail(
            f"no analyst password in {credentials_dir(settings.data_dir)}: start the factory with "
            "`munjero up` (it issues one), or pass --url http://user:password@host:port"
        )
    return password


def run_sql(
    to: Target, sql: str, clickhouse_format: str, params: dict[str, str] | None = None
) -> bytes:
    """The answer of ``sql`` in ``clickhouse_format``; one-line exits on failure."""
    query = {"database": to.database, "default_format": clickhouse_format}
    query.update({f"param_{k}": v for k, v in (params or {}).items()})
    try:
        answer = httpx.post(
            to.url.rstrip("/") + "/",
            params=query,
            content=sql.encode("utf-8"),
            auth=(to.user, to.password),
            timeout=httpx.Timeout(10.0, read=600.0),
        )
    except httpx.HTTPError as exc:
        fail(f"no ClickHouse answers at {to.url} ({exc}); is `munjero up` running?")
    if answer.status_code != 200:
        code = answer.headers.get("x-clickhouse-exception-code", "?")
        message = answer.text.strip() or f"HTTP {answer.status_code}"
        fail(f"ClickHouse refused the query (code {code}): {message}", QUERY_FAILED)
    return answer.content


def _params(pairs: list[str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--param takes NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


def emit(answer: bytes, output: OutputFormat, to_file: Path | None, *, note: str = "") -> None:
    """Print (or write) an answer fetched in ``_CLICKHOUSE_FORMAT[output]``."""
    if output is OutputFormat.table:
        _print_table(json.loads(answer), note)
        return
    if to_file is not None:
        to_file.write_bytes(answer)
        return
    if output is OutputFormat.parquet and sys.stdout.isatty():
        fail("Parquet is binary: pass --output FILE or redirect stdout")
    sys.stdout.buffer.write(answer)
    sys.stdout.flush()


def _print_table(document: dict[str, Any], note: str) -> None:
    names = [column["name"] for column in document.get("meta", [])]
    rows: list[list[Any]] = document.get("data", [])
    flag = names.index("simulated") if "simulated" in names else None
    simulated = 0
    table = Table(*names)
    for row in rows:
        labelled = flag is not None and bool(row[flag]) and row[flag] not in ("0", "false")
        simulated += labelled
        table.add_row(*("NULL" if v is None else str(v) for v in row),
                      style="yellow" if labelled else None)  # fmt: skip
    if simulated:
        table.caption = f"{simulated} of {len(rows)} rows include simulated data (yellow)"
    elif note:
        table.caption = note
    console().print(table)


def sql(
    query: Annotated[
        str, typer.Argument(help="SQL text, a .sql file, or - to read the SQL from stdin")
    ],
    output: FormatOption = OutputFormat.table,
    to_file: OutputOption = None,
    param: ParamOption = None,
    url: UrlOption = None,
) -> None:
    """Run one SQL statement against the running factory's ClickHouse (read-only analyst)."""
    if query == "-":
        text = sys.stdin.read()
    elif query.endswith(".sql"):
        try:
            text = Path(query).read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"cannot read {query}: {exc.strerror}")
    else:
        text = query
    to = target(Settings(), url)
    answer = run_sql(to, text, _CLICKHOUSE_FORMAT[output], _params(param))
    emit(answer, output, to_file)


@dashboards_cli.command("list")
def dashboards_list() -> None:
    """Every dashboard with its parameters (name, type, default, meaning)."""
    table = Table("dashboard", "what", "parameters", "simulated rows")
    for name in boards.names():
        board = boards.dashboard(name)
        params = "\n".join(p.describe() for p in board.parameters if p.name != "db")
        table.add_row(name, board.title, params or "-", board.simulated)
    console().print(table)


@dashboards_cli.command("run")
def dashboards_run(
    name: Annotated[str, typer.Argument(help="a dashboard (munjero dashboards list)")],
    param: ParamOption = None,
    output: FormatOption = OutputFormat.table,
    to_file: OutputOption = None,
    url: UrlOption = None,
) -> None:
    """Run one dashboard query; parameters are checked against its declared types first."""
    if name not in boards.names():
        raise typer.BadParameter(f"no dashboard {name!r}; dashboards: {', '.join(boards.names())}")
    settings = Settings()
    to = target(settings, url)
    try:
        values = boards.resolve(name, _params(param), to.database)
    except boards.ParameterError as exc:
        fail(str(exc))
    board = boards.dashboard(name)
    answer = run_sql(to, board.sql, _CLICKHOUSE_FORMAT[output], values)
    emit(answer, output, to_file, note=f"simulated: {board.simulated}")
