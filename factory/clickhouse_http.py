"""Start ClickHouse's HTTP interface for analysts in the process that owns chdb.

``munjero up`` calls ``serve_clickhouse_http`` once the warehouse schema exists; with a
ClickHouse server configured (``MUNJERO_CLICKHOUSE_URL``) there is nothing to serve: analysts
point their tools at the server itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from dataclasses import dataclass
from urllib.parse import quote

import uvicorn

from connectors.warehouse.chdb_adapter import ChdbWarehouse
from connectors.warehouse.chdb_readonly import ChdbReadOnlyEngine, QueryLimits
from factory.serving import QuietServer
from services.clickhouse_http.app import create_clickhouse_app
from services.clickhouse_http.users import ANALYST, URL_FILE, credentials_dir, ensure_analyst
from streams.ports.warehouse import Warehouse
from streams.settings import Settings

HOST = "127.0.0.1"  # loopback only: the analyst password travels in clear over HTTP


@dataclass(frozen=True)
class AnalystEndpoint:
    url: str  # http://127.0.0.1:<port>
    user: str
    password: str

    @property
    def url_with_credentials(self) -> str:
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{self.user}:{quote(self.password, safe='')}@{rest}"


def query_limits(settings: Settings) -> QueryLimits:
    return QueryLimits(
        max_execution_time_s=settings.clickhouse_http_max_execution_s,
        max_result_rows=settings.clickhouse_http_max_result_rows,
        max_result_bytes=settings.clickhouse_http_max_result_bytes,
    )


async def serve_clickhouse_http(
    stack: contextlib.AsyncExitStack, settings: Settings, warehouse: Warehouse
) -> AnalystEndpoint | None:
    """Serve the HTTP interface on loopback until ``stack`` closes; None without chdb."""
    if not isinstance(warehouse, ChdbWarehouse):
        return None
    users, password = ensure_analyst(credentials_dir(settings.data_dir))
    engine = ChdbReadOnlyEngine(
        warehouse.path,
        database=settings.clickhouse_database,
        limits=query_limits(settings),
        max_concurrent=settings.clickhouse_http_max_concurrent,
    )
    # Closed before the warehouse (the stack unwinds in reverse): chdb's engine stays up
    # while any session on it is open.
    stack.push_async_callback(engine.close)
    await engine.info()  # opens the first session now, not on an analyst's first request
    sock = _bind(settings.clickhouse_http_port)
    port = sock.getsockname()[1]
    server = QuietServer(
        uvicorn.Config(
            create_clickhouse_app(engine, users),
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=False,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"clickhouse-http:{port}")

    async def stop() -> None:
        server.should_exit = True
        await task
        sock.close()

    stack.push_async_callback(stop)
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the ClickHouse HTTP interface stopped during start-up")
        await asyncio.sleep(0.02)
    endpoint = AnalystEndpoint(f"http://{HOST}:{port}", ANALYST, password)
    announced = credentials_dir(settings.data_dir) / URL_FILE
    announced.write_text(endpoint.url + "\n", encoding="utf-8")
    stack.callback(announced.unlink, missing_ok=True)
    return endpoint


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise RuntimeError(
                f"port {port} is in use: set MUNJERO_CLICKHOUSE_HTTP_PORT to another port "
                "(0 picks a free one)"
            ) from exc
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock
