"""The API's SERVER spans come from OpenTelemetry's FastAPI instrumentation: named by route
template, parented by an incoming ``traceparent``, current while the route runs (so the spans it
starts are its children), probes untraced; request metrics still count every request."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from services.api.telemetry import RequestTelemetry, instrument_server_spans
from streams.telemetry import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.install(None)
    provider.shutdown()


def app() -> FastAPI:
    api = FastAPI()

    @api.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        with tracing.span("publish things", munjero__thing_id=thing_id):
            return {"id": thing_id}

    @api.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    api.add_middleware(RequestTelemetry)
    instrument_server_spans(api)
    return api


def spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


async def test_server_span_continues_the_callers_trace(exporter: InMemorySpanExporter) -> None:
    transport = httpx.ASGITransport(app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        answer = await client.get("/v1/things/t-1", headers={"traceparent": TRACEPARENT})
        assert answer.status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/boom")).status_code == 500

    ok, failed = spans(exporter, SpanKind.SERVER)
    assert ok.name == "GET /v1/things/{thing_id}"
    assert ok.context is not None
    assert ok.parent is not None
    assert f"{ok.context.trace_id:032x}" == TRACE_ID
    assert f"{ok.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert ok.attributes is not None
    assert ok.attributes["http.route"] == "/v1/things/{thing_id}"
    (child,) = spans(exporter, SpanKind.INTERNAL)
    assert child.parent is not None
    assert child.parent.span_id == ok.context.span_id
    assert failed.name == "GET /boom"
    assert failed.status.status_code is StatusCode.ERROR
    # No span for the probe, and no per-message send/receive spans.
    assert len(exporter.get_finished_spans()) == 3


async def test_request_metrics_use_the_route_template_and_count_probes(
    exporter: InMemorySpanExporter,
) -> None:
    def count(route: str, status: str) -> float:
        value = REGISTRY.get_sample_value(
            "munjero_api_requests_total", {"method": "GET", "route": route, "status": status}
        )
        return value or 0.0

    before = (count("/v1/things/{thing_id}", "200"), count("/healthz", "200"))
    before_404 = count("unmatched", "404")
    transport = httpx.ASGITransport(app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        await client.get("/v1/things/t-2")
        await client.get("/healthz")
        await client.get("/nowhere/123")
    assert (count("/v1/things/{thing_id}", "200"), count("/healthz", "200")) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert count("unmatched", "404") == before_404 + 1


def test_without_a_provider_spans_are_no_ops() -> None:
    tracing.install(None)
    api = app()  # instruments with the no-op provider: nothing to export, nothing raised
    assert api.user_middleware
