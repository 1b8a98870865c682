"""Request telemetry of the API: a SERVER span per request and Prometheus request metrics.

Spans come from OpenTelemetry's own FastAPI/ASGI instrumentation (``instrument_server_spans``):
named by method and route *template* (``POST /v1/problems``), an incoming W3C ``traceparent``
becomes the parent, so a producer's own trace continues through us, and the span is current
while the route runs, so the ``publish <topic>`` spans of the events it accepts hang off it.

Metrics come from ``RequestTelemetry``, a pure ASGI middleware (no ``BaseHTTPMiddleware``: it
would buffer streamed video bodies). The route template labels them, never the raw path: ids in
paths would make unbounded label sets.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import NoOpTracerProvider
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streams.telemetry import metrics, tracing

# Probes and scrapes: every few seconds from every kubelet/Prometheus; spans would drown the
# journeys and say nothing. They are still counted in the request metrics.
_UNTRACED = ("/healthz", "/readyz", "/metrics")


def instrument_server_spans(app: FastAPI) -> None:
    """A SERVER span per request from the provider installed now (``tracing.install``; none:
    no-op spans). The instrumentation's per-message ``http send``/``receive`` spans are off:
    a streamed video would make thousands of them."""
    provider = tracing.provider()
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider if provider is not None else NoOpTracerProvider(),
        excluded_urls=",".join(f"{path}$" for path in _UNTRACED),
        exclude_spans=["receive", "send"],
    )


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
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = raw_path if raw_path in _UNTRACED else _template(scope, raw_path)
            metrics.API_REQUESTS.labels(method, route, str(status["code"])).inc()
            metrics.API_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def _template(scope: Scope, raw_path: str) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths (404s, scanners) share one label instead of one per probed URL.
    return str(path) if path else "unmatched"
