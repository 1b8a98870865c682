"""The ASGI app of ClickHouse's HTTP interface: ``create_clickhouse_app(engine, users)``.

Like the producer API it starts nothing: the caller owns the engine and serves the app
(``factory/supervisor.py`` on ``MUNJERO_CLICKHOUSE_HTTP_PORT``, loopback only).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from services.clickhouse_http import protocol
from services.clickhouse_http.users import UserStore
from streams.ports.warehouse import ClickHouseError, ServerInfo, SqlEngine, WarehouseError

log = logging.getLogger(__name__)

QUERIES = Counter(
    "munjero_clickhouse_http_queries_total",
    "Queries answered by the ClickHouse HTTP interface, by ClickHouse exception code (0: ok)",
    ["code"],
)
SECONDS = Histogram(
    "munjero_clickhouse_http_query_seconds",
    "Time from request to answer of the ClickHouse HTTP interface",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

MAX_BODY_BYTES = 16 * 1024 * 1024
# Compressing a large answer holds the GIL for a while: off the event loop the sink shares.
_COMPRESS_INLINE_BYTES = 64 * 1024


def create_clickhouse_app(
    engine: SqlEngine, users: UserStore, *, max_body_bytes: int = MAX_BODY_BYTES
) -> Starlette:
    """Serve ``engine`` to the users of ``users`` over ClickHouse's HTTP protocol."""

    async def ok(_: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        params = dict(request.query_params)  # a repeated parameter: the last one wins
        query_id = params.get("query_id") or str(uuid.uuid4())
        info = await engine.info()
        try:
            who = protocol.credentials(request.headers, params)
            if not users.check(who.user, who.password):
                raise protocol.error(
                    protocol.AUTHENTICATION_FAILED,
                    "AUTHENTICATION_FAILED",
                    f"{who.user}: Authentication failed: password is incorrect, or there is no "
                    "user with such name",
                )
            body = protocol.decode_body(
                await _read_body(request, max_body_bytes),
                request.headers.get("content-encoding", ""),
            )
            if request.method == "GET" and "query" not in params:
                return PlainTextResponse("Ok.\n")
            answer = await engine.run(protocol.sql_request(params, body))
        except ClickHouseError as exc:
            QUERIES.labels(str(exc.code)).inc()
            SECONDS.observe(time.perf_counter() - started)
            return _error_response(exc, query_id, info)
        except WarehouseError as exc:  # the engine itself failed (closed, cannot open)
            QUERIES.labels("1002").inc()
            log.warning("analyst query failed in the engine: %s", exc)
            return _error_response(
                protocol.error(1002, "UNKNOWN_EXCEPTION", str(exc)), query_id, info
            )
        headers = _headers(query_id, info)
        headers["X-ClickHouse-Format"] = answer.format
        headers["X-ClickHouse-Summary"] = protocol.summary(answer)
        data = answer.body
        encoding = protocol.choose_encoding(request.headers.get("accept-encoding", ""))
        if encoding is not None and data:
            encoder = protocol.ENCODERS[encoding]
            if len(data) <= _COMPRESS_INLINE_BYTES:
                data = encoder(data)
            else:
                data = await asyncio.to_thread(encoder, data)
            headers["Content-Encoding"] = encoding
        QUERIES.labels("0").inc()
        SECONDS.observe(time.perf_counter() - started)
        return Response(data, headers=headers, media_type=protocol.content_type(answer.format))

    return Starlette(
        routes=[
            Route("/", handle, methods=["GET", "POST"]),
            Route("/ping", ok, methods=["GET", "HEAD"]),
            Route("/replicas_status", ok, methods=["GET"]),
        ]
    )


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise protocol.error(
                protocol.QUERY_IS_TOO_LARGE,
                "QUERY_IS_TOO_LARGE",
                f"The request body is larger than {limit} bytes",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _headers(query_id: str, info: ServerInfo) -> dict[str, str]:
    return {
        "X-ClickHouse-Query-Id": query_id,
        "X-ClickHouse-Server-Display-Name": info.display_name,
        "X-ClickHouse-Timezone": info.timezone,
    }


def _error_response(exc: ClickHouseError, query_id: str, info: ServerInfo) -> Response:
    headers = _headers(query_id, info)
    headers["X-ClickHouse-Exception-Code"] = str(exc.code)
    message = exc.message if exc.message.endswith("\n") else exc.message + "\n"
    return PlainTextResponse(message, status_code=protocol.http_status(exc.code), headers=headers)
