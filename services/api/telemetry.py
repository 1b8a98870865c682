"""Request telemetry of the API: a SERVER span per request and Prometheus request metrics.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streamed video bodies).
The route *template* labels metrics and names spans (``POST /v1/problems``), never the raw path:
ids in paths would make unbounded label sets. An incoming W3C ``traceparent`` becomes the
parent, so a producer's own trace continues through us.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streams.telemetry import metrics, tracing
from streams.telemetry.propagation import extract

# Probes and scrapes: every few seconds from every kubelet/Prometheus; spans would drown the
# journeys and say nothing.
_UNTRACED = {"/healthz", "/readyz", "/metrics"}


class RequestTelemetry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope["method"])
        raw_path = str(scope["path"])
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        started = time.perf_counter()
        if raw_path in _UNTRACED:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                self._observe(method, raw_path, status["code"], started)
            return
        headers = [(k.decode("latin-1"), v) for k, v in scope.get("headers", [])]
        with tracing.tracer().start_as_current_span(
            f"{method} {raw_path}",
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": raw_path},
        ) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                template = _template(scope, raw_path)
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status["code"])
                if status["code"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                self._observe(method, template, status["code"], started)

    @staticmethod
    def _observe(method: str, route: str, code: int, started: float) -> None:
        metrics.API_REQUESTS.labels(method, route, str(code)).inc()
        metrics.API_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def _template(scope: Scope, raw_path: str) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths (404s, scanners) share one label instead of one per probed URL.
    return str(path) if path else ("unmatched" if raw_path not in _UNTRACED else raw_path)
