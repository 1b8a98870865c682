"""What every write route shares: authentication, publishing with a deadline, idempotent answers
and trace-context propagation."""

# No `from __future__ import annotations`: FastAPI must evaluate the annotations of the route
# closures, which refer to local names (the scope dependencies).

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Header, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from connectors.api.auth import Principal
from connectors.api.deps import ApiDeps
from connectors.api.errors import JSON, ServiceUnavailable
from connectors.api.idempotency import MAX_KEY_LENGTH, Answer, answer_once
from connectors.api.ports import Message
from streams.errors import BrokerUnavailableError

log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer mj_<key_id>_<secret>`",
)
_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="apiKey",
    description="The same key in `X-API-Key` (for clients that cannot set Authorization).",
)

# Security() (not Depends) so both schemes are listed in OpenAPI and "Authorize" works in /docs.
_bearer_dep = Security(_bearer)
_api_key_dep = Security(_api_key)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        description="Optional. A retry with the same key (same producer, same body) gets the "
        "first answer and publishes nothing new. Answers are kept 24 h.",
    ),
]
TraceParent = Annotated[
    str | None,
    Header(description="W3C trace context; copied onto the Kafka records."),
]

# W3C trace-context level 1: version-traceid-parentid-flags, lowercase hex.
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32


def trace_headers(traceparent: str | None, tracestate: str | None) -> list[tuple[str, bytes]]:
    """Kafka headers carrying a valid incoming trace context; an invalid one is dropped (the
    spec says to ignore it rather than fail the request)."""
    if (
        traceparent is None
        or not _TRACEPARENT.fullmatch(traceparent)
        or traceparent.startswith("ff")
        or traceparent[3:35] == _ZERO_TRACE
    ):
        return []
    headers = [("traceparent", traceparent.encode())]
    if tracestate:
        headers.append(("tracestate", tracestate.encode()))
    return headers


class Gateway:
    """Route plumbing bound to one ``ApiDeps``."""

    def __init__(self, deps: ApiDeps) -> None:
        self.deps = deps
        self._timeout = deps.settings.api_broker_timeout_s

    def requires(self, scope: str) -> Callable[..., Awaitable[Principal]]:
        """A dependency resolving the caller and demanding ``scope`` (401 / 403)."""
        keys = self.deps.keys

        # async on purpose: FastAPI runs plain ``def`` dependencies in a thread pool.
        async def principal(
            bearer: Annotated[HTTPAuthorizationCredentials | None, _bearer_dep],
            api_key: Annotated[str | None, _api_key_dep],
        ) -> Principal:
            credential = bearer.credentials if bearer is not None else api_key
            found = keys.authenticate(credential)
            found.require(scope)
            return found

        return principal

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish all of ``messages`` within the configured deadline, or answer 503."""
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
        idempotency_key: str | None,
        body: bytes,
        compute: Callable[[], Awaitable[Answer]],
    ) -> Response:
        """Run ``compute`` once per (producer, Idempotency-Key); replay its answer after."""
        if idempotency_key is None:
            answer, replayed = await compute(), False
        else:
            # The route is part of the fingerprint: one key must not serve two endpoints.
            fingerprint = hashlib.sha256(
                b"%s %s\0%s" % (request.method.encode(), request.url.path.encode(), body)
            ).hexdigest()
            scope = f"{principal.producer}\x1f{idempotency_key}"
            answer, replayed = await answer_once(self.deps.idempotency, scope, fingerprint, compute)
        headers = dict(answer.headers)
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(answer.body, status_code=answer.status, media_type=JSON, headers=headers)
