"""Typed API errors and the handlers that turn every failure into one JSON envelope.

Every error body is ``{"detail": <message or list>, "code": <stable machine code>}``: ``detail``
keeps FastAPI's convention (so generic clients and tools understand it) and ``code`` lets callers
branch without parsing English.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from streams.errors import MunjeroError
from streams.events import new_id

log = logging.getLogger(__name__)

JSON = "application/json"


class FieldError(BaseModel):
    """One invalid field of a 422."""

    loc: list[str | int] = Field(examples=[["body", "problems", 3, "answer_index"]])
    msg: str = Field(
        examples=["answer_index 4 is out of range: there are 4 choices, so it must be 0..3"]
    )
    type: str = Field(examples=["answer_out_of_range"])


class ErrorBody(BaseModel):
    """The body of every non-2xx answer."""

    detail: str | list[FieldError] = Field(
        description="What went wrong: a message, or a list of field errors for 422."
    )
    code: str = Field(description="Stable machine-readable error code.", examples=["unauthorized"])


class ApiError(MunjeroError):
    """An error with a definite HTTP answer."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class Unauthenticated(ApiError):
    status = 401
    code = "unauthorized"

    def __init__(self, message: str) -> None:
        # RFC 6750: a 401 must tell the client which scheme to use.
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="munjero"'})


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class IdempotencyKeyReused(ApiError):
    # 422, as the IETF Idempotency-Key draft recommends for a key reused with another payload.
    status = 422
    code = "idempotency_key_reused"


class ServiceUnavailable(ApiError):
    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """orjson-encoded JSON answer (faster than the stdlib encoder on the hot path)."""
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON, headers=headers)


def error_response(
    status: int, code: str, detail: Any, headers: Mapping[str, str] | None = None
) -> Response:
    return json_response(status, {"detail": detail, "code": code}, headers)


def validation_detail(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's field-error list without echoing inputs (a 1 MB body would come back) or
    exception objects (not JSON); ``loc`` / ``msg`` / ``type`` are what a client needs."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in errors
    ]


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "validation_failed", validation_detail(exc.errors()))


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, exc.detail, exc.headers)


async def _unexpected(_: Request, exc: Exception) -> Response:
    # Internals (messages, tracebacks) stay in the log; the client gets an id to quote.
    error_id = new_id()
    log.error("unhandled API error %s", error_id, exc_info=exc)
    return json_response(
        500, {"detail": "internal error", "code": "internal_error", "error_id": error_id}
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type to its JSON answer."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


# OpenAPI ``responses=`` fragments shared by the routes.
def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    texts = {
        401: "Missing or invalid API key (see `WWW-Authenticate`).",
        403: "The API key lacks the scope this operation needs.",
        404: "Unknown resource.",
        413: "Request body larger than the configured limit.",
        415: "The body is not sent as `Content-Type: application/json`.",
        422: "Invalid body (field errors with their location) or a reused Idempotency-Key.",
        503: "A dependency (the broker, the warehouse) did not answer in time; retry after "
        "`Retry-After` seconds.",
    }
    return {s: {"model": ErrorBody, "description": texts[s]} for s in statuses}
