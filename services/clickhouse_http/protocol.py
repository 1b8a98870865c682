"""ClickHouse's HTTP protocol, the parts clients rely on (pure: no I/O).

Reference: ClickHouse's docs/en/interfaces/http.md and src/Server/HTTPHandler.cpp. A request
carries the query in ``?query=`` or the body (or its start in the URL and the rest in the body),
``database``, ``default_format``, ``query_id``, ``param_<name>`` values and any other URL
parameter as a setting. Credentials come from ``X-ClickHouse-User``/``X-ClickHouse-Key``,
HTTP basic auth, or ``user``/``password`` parameters, in that order.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import lz4.frame  # type: ignore[import-untyped]  # no stubs ship with lz4
from backports import zstd

from streams.ports.warehouse import ClickHouseError, SqlAnswer, SqlRequest

# URL parameters that are part of the protocol, not settings (HTTPHandler.cpp's reserved names).
# ``session_*`` are accepted and ignored: every query is independent here (no temporary tables).
RESERVED = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "close_session",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "stacktrace",
        "role",
        "client_protocol_version",
    }
)
PARAM_PREFIX = "param_"
DEFAULT_USER = "default"

# Response encodings, preferred in this order when the client accepts several equally.
ENCODERS = {
    "zstd": zstd.compress,
    "lz4": lz4.frame.compress,
    "gzip": lambda data: zlib.compress(data, 6, wbits=31),
    "deflate": zlib.compress,
}
_DECODERS = {
    "zstd": zstd.decompress,
    "lz4": lz4.frame.decompress,
    "gzip": lambda data: zlib.decompress(data, wbits=47),
    "x-gzip": lambda data: zlib.decompress(data, wbits=47),
    "deflate": zlib.decompress,
}

# ClickHouse error codes this module answers with.
SYNTAX_ERROR = 62
UNKNOWN_COMPRESSION_METHOD = 89
NOT_IMPLEMENTED = 48
QUERY_IS_TOO_LARGE = 229
AUTHENTICATION_FAILED = 516
CANNOT_DECOMPRESS = 271

# ClickHouse's src/Server/HTTP/exceptionCodeToHTTPStatus.cpp, by code; anything else is 500.
# CANNOT_PARSE_*, SYNTAX_ERROR, BAD_ARGUMENTS, TYPE_MISMATCH, INCORRECT_DATA, *_AST...
_BAD_REQUEST = (6, 8, 15, 25, 26, 27, 36, 37, 38, 41, 44, 53, 62, 72, 117, 123, 167, 168)
_BAD_REQUEST_TOO = (223, 321, 376, 427, 441, 675, 676)
_NOT_FOUND = (46, 47, 50, 56, 60, 63, 73, 78, 81, 115, 152, 336, 511)  # UNKNOWN_*
_HTTP_STATUS: dict[int, int] = {
    194: 401,  # REQUIRED_PASSWORD
    **dict.fromkeys((192, 193, 497, 512, 516), 403),  # wrong user/password, access denied
    **dict.fromkeys(_BAD_REQUEST, 400),
    **dict.fromkeys(_BAD_REQUEST_TOO, 400),
    **dict.fromkeys(_NOT_FOUND, 404),
    229: 413,  # QUERY_IS_TOO_LARGE
    48: 501,  # NOT_IMPLEMENTED
    209: 503,  # SOCKET_TIMEOUT
    76: 503,  # CANNOT_OPEN_FILE
    381: 411,  # HTTP_LENGTH_REQUIRED
    159: 408,  # TIMEOUT_EXCEEDED
    439: 503,  # CANNOT_SCHEDULE_TASK
    779: 415,  # UNSUPPORTED_MEDIA_TYPE
}

# Content types ClickHouse sends for the formats clients most often ask for.
_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=UTF-8; header=present",
    "TSVWithNames": "text/tab-separated-values; charset=UTF-8; header=present",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONCompactEachRow": "application/x-ndjson; charset=UTF-8",
    "XML": "application/xml; charset=UTF-8",
}
_TEXT_PREFIXES = ("Pretty", "Vertical", "Markdown", "Values", "Raw", "Template", "Tab", "TSV")


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


def http_status(code: int) -> int:
    """The HTTP status ClickHouse answers an exception with ``code`` with."""
    return _HTTP_STATUS.get(code, 500)


def error(code: int, name: str, text: str) -> ClickHouseError:
    return ClickHouseError(code, f"Code: {code}. DB::Exception: {text}. ({name})")


def credentials(headers: Mapping[str, str], params: Mapping[str, str]) -> Credentials:
    """Who the request says it is. Mixing two methods is refused, as ClickHouse does."""
    methods = []
    if "x-clickhouse-user" in headers or "x-clickhouse-key" in headers:
        methods.append(
            Credentials(
                headers.get("x-clickhouse-user", DEFAULT_USER), headers.get("x-clickhouse-key", "")
            )
        )
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise error(
                AUTHENTICATION_FAILED,
                "AUTHENTICATION_FAILED",
                f"Unsupported authentication scheme {scheme}",
            )
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            raise error(
                AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED", "Malformed basic authentication"
            ) from None
        methods.append(Credentials(user, password))
    if "user" in params or "password" in params:
        methods.append(Credentials(params.get("user", DEFAULT_USER), params.get("password", "")))
    if len(methods) > 1:
        raise error(
            AUTHENTICATION_FAILED,
            "AUTHENTICATION_FAILED",
            "Invalid authentication: it is not allowed to use two authentication methods "
            "(X-ClickHouse-* headers, Authorization header, URL parameters) simultaneously",
        )
    return methods[0] if methods else Credentials(DEFAULT_USER, "")


def sql_request(params: Mapping[str, str], body: bytes) -> SqlRequest:
    """The statement a request carries. ``params`` are the URL parameters (last value wins)."""
    if params.get("compress", "0") not in ("0", ""):
        # ClickHouse's own block compression (CityHash128-checksummed LZ4) is what only
        # clickhouse-client speaks; HTTP clients use Accept-Encoding, which is served.
        raise error(
            NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "compress=1 is not supported here; use Accept-Encoding",
        )
    if params.get("decompress", "0") not in ("0", ""):
        raise error(
            NOT_IMPLEMENTED,
            "NOT_IMPLEMENTED",
            "decompress=1 is not supported here; use Content-Encoding",
        )
    query = params.get("query")
    data: bytes | None = None
    if query is None:
        try:
            sql = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            # An INSERT with its rows in the same body (clickhouse-connect sends
            # "INSERT ... FORMAT Native\n<binary rows>"): the statement ends at the last line
            # break before the first byte that is not text.
            cut = body.rfind(b"\n", 0, exc.start)
            if cut < 0:
                raise error(
                    SYNTAX_ERROR, "SYNTAX_ERROR", "the query in the request body is not UTF-8"
                ) from None
            sql, data = body[:cut].decode("utf-8"), body[cut + 1 :]
    else:
        sql, data = query, body or None
    return SqlRequest(
        sql=sql,
        default_format=params.get("default_format") or "TabSeparated",
        database=params.get("database") or None,
        params={k[len(PARAM_PREFIX) :]: v for k, v in params.items() if k.startswith(PARAM_PREFIX)},
        settings={
            k: v for k, v in params.items() if k not in RESERVED and not k.startswith(PARAM_PREFIX)
        },
        data=data,
    )


def decode_body(body: bytes, content_encoding: str) -> bytes:
    """The request body without its ``Content-Encoding``."""
    encoding = content_encoding.strip().lower()
    if not encoding or encoding == "identity":
        return body
    decoder = _DECODERS.get(encoding)
    if decoder is None:
        raise error(
            UNKNOWN_COMPRESSION_METHOD,
            "UNKNOWN_COMPRESSION_METHOD",
            f"Unknown HTTP content encoding {encoding}",
        )
    try:
        return bytes(decoder(body))
    except Exception as exc:  # each codec raises its own error type
        raise error(
            CANNOT_DECOMPRESS,
            "CANNOT_DECOMPRESS",
            f"Cannot decompress the {encoding} request body: {exc}",
        ) from None


def choose_encoding(accept_encoding: str) -> str | None:
    """The encoding to answer in: the supported one the client accepts most (q-values)."""
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept_encoding.split(",")):
        name, _, rest = item.strip().partition(";")
        name = name.strip().lower()
        if name not in ENCODERS:
            continue
        quality = 1.0
        rest = rest.strip()
        if rest.startswith("q="):
            try:
                quality = float(rest[2:])
            except ValueError:
                quality = 0.0
        if quality <= 0:
            continue
        rank = (quality, -position, name)
        if best is None or rank[:2] > best[:2]:
            best = rank
    return best[2] if best else None


def content_type(fmt: str) -> str:
    known = _CONTENT_TYPES.get(fmt)
    if known is not None:
        return known
    if fmt.startswith("JSON"):
        return "application/json; charset=UTF-8"
    if fmt.startswith(_TEXT_PREFIXES):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


def summary(answer: SqlAnswer) -> str:
    """``X-ClickHouse-Summary``: counters as JSON strings, as ClickHouse sends them."""
    return json.dumps(
        {
            "read_rows": str(answer.read_rows),
            "read_bytes": str(answer.read_bytes),
            "written_rows": str(answer.written_rows),
            "written_bytes": str(answer.written_bytes),
            "total_rows_to_read": str(answer.read_rows),
            "result_rows": str(answer.result_rows),
            "result_bytes": str(answer.result_bytes),
            "elapsed_ns": str(answer.elapsed_ns),
        },
        separators=(",", ":"),
    )
