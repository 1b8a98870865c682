"""What every route shares: authentication, body parsing, publishing with a deadline,
idempotent answers and trace-context propagation.

The write routes take the bare ``Request`` and do this work here instead of declaring FastAPI
dependencies and a body parameter: FastAPI's per-request dependency solving cost more CPU than
everything else the request does (measured: ~60% of in-process time on ``POST /v1/problems``;
see tests/bench/api_bench.py). Their OpenAPI description is declared in ``openapi.py``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response

from services.api.auth import Principal
from services.api.deps import ApiDeps
from services.api.errors import JSON, ServiceUnavailable, UnsupportedMediaType
from services.api.idempotency import MAX_KEY_LENGTH, Answer, answer_once
from streams.errors import BrokerUnavailableError
from streams.ports.producer import Message
from streams.telemetry import tracing
from streams.telemetry.context import PROBLEM_ATTRIBUTE
from streams.telemetry.propagation import inject, publish_span

log = logging.getLogger(__name__)

T = TypeVar("T")

# W3C trace-context level 1: version-traceid-parentid-flags, lowercase hex.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32


def trace_headers(headers: Headers) -> list[tuple[str, bytes]]:
    """Kafka headers carrying a valid incoming trace context; an invalid one is dropped (the
    spec says to ignore it rather than fail the request)."""
    traceparent = headers.get("traceparent")
    if (
        traceparent is None
        or not _TRACEPARENT.fullmatch(traceparent)
        or traceparent.startswith("ff")
        or traceparent[3:35] == _ZERO_TRACE
    ):
        return []
    out = [("traceparent", traceparent.encode())]
    tracestate = headers.get("tracestate")
    if tracestate:
        out.append(("tracestate", tracestate.encode()))
    return out


def traced_headers(
    topic: str,
    entity_id: str,
    headers: Headers,
    *,
    attribute: str = PROBLEM_ATTRIBUTE,
    own_trace: bool = False,
) -> list[tuple[str, bytes]]:
    """The Kafka headers of one published event: a ``publish <topic>`` span (child of the
    request's span) tagged with the entity id (what the journey query looks up), its context
    injected. ``own_trace``: the span roots a trace of its own, linked to the request's span,
    so each problem of a batch has its own journey. Untraced, the client's valid
    ``traceparent`` is forwarded as is."""
    with publish_span(tracing.tracer(), topic, key=entity_id, new_trace=own_trace) as span:
        if not span.get_span_context().is_valid:
            return trace_headers(headers)
        span.set_attribute(attribute, entity_id)
        return inject()


def idempotency_key(headers: Headers) -> str | None:
    """The ``Idempotency-Key`` header, or 422 when it is empty or too long."""
    key = headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise RequestValidationError(
            [
                {
                    "type": "string_too_long" if key else "string_too_short",
                    "loc": ("header", "Idempotency-Key"),
                    "msg": f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters, got {len(key)}",
                }
            ]
        )
    return key


def require_json(headers: Headers) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``,
    UTF-8 if a charset is named): a body sent as text/plain or a form is a client bug, better
    named than guessed at."""
    media, _, params = headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    json_type = media == JSON or (media.startswith("application/") and media.endswith("+json"))
    if not json_type or charset not in ("", "utf-8"):
        sent = headers.get("content-type") or "no Content-Type"
        raise UnsupportedMediaType(f"send the body as Content-Type: {JSON} (got {sent})")


def parse_body(adapter: TypeAdapter[T], body: bytes, context: dict[str, Any] | None = None) -> T:
    """Validate a JSON body; errors become a 422 located under ``body`` like FastAPI's own."""
    try:
        return adapter.validate_json(body, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in errors]
        ) from None


class Gateway:
    """Route plumbing bound to one ``ApiDeps``."""

    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps
        self._timeout = deps.config.broker_timeout_s

    def authorize(self, headers: Headers, scope: str) -> Principal:
        """The caller, holding ``scope`` (else 401 / 403). ``Authorization: Bearer`` wins over
        ``X-API-Key`` when both are sent."""
        authorization = headers.get("authorization")
        if authorization is not None and authorization[:7].lower() == "bearer ":
            credential: str | None = authorization
        else:
            credential = headers.get("x-api-key") or authorization
        principal = self.deps.keys.authenticate(credential)
        principal.require(scope)
        return principal

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish all of ``messages`` within the configured deadline, or answer 503."""
        if self.deps.draining:
            raise ServiceUnavailable(
                "the factory is stopping and accepts no new work; retry after Retry-After "
                "seconds with the same Idempotency-Key (nothing of this request was published)"
            )
        try:
            await self.deps.publisher.publish_many(messages, timeout=self._timeout)
        except (BrokerUnavailableError, TimeoutError) as exc:
            log.warning("publish of %d record(s) failed: %s", len(messages), exc)
            raise ServiceUnavailable(
                "the event broker did not acknowledge in time, so the request was not accepted; "
                "retry after Retry-After seconds with the same Idempotency-Key or body (a retry "
                "reuses the same event ids, so it is never processed twice)"
            ) from exc

    async def respond(
        self,
        request: Request,
        principal: Principal,
        key: str | None,
        body: bytes,
        compute: Callable[[], Awaitable[Answer]],
    ) -> Response:
        """Run ``compute`` once per (producer, Idempotency-Key); replay its answer after."""
        if key is None:
            answer, replayed = await compute(), False
        else:
            # The route is part of the fingerprint: one key must not serve two endpoints.
            fingerprint = hashlib.sha256(
                b"%s %s\0%s" % (request.method.encode(), request.scope["path"].encode(), body)
            ).hexdigest()
            scope = f"{principal.producer}\x1f{key}"
            answer, replayed = await answer_once(self.deps.idempotency, scope, fingerprint, compute)
        headers = dict(answer.headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(answer.body, status_code=answer.status, media_type=JSON, headers=headers)
