"""``configure_tracing``: exporters, resource, and the OTLP endpoint it posts to."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from observability.kafka_exporter import configure_tracing
from streams.kafka_auth import KafkaClientConfig


class _Collector(ThreadingHTTPServer):
    paths: list[str]
    received: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.received.set()

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector(("127.0.0.1", 0), _Handler)
    server.paths, server.received = [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_extra_exporters_get_spans_with_the_service_resource() -> None:
    memory = InMemorySpanExporter()
    provider = configure_tracing("api", extra_exporters=[memory], service_version="9.9")
    with provider.get_tracer("t").start_as_current_span("work"):
        pass
    assert provider.force_flush(5_000)
    provider.shutdown()
    (span,) = memory.get_finished_spans()
    assert span.resource.attributes["service.name"] == "api"
    assert span.resource.attributes["service.version"] == "9.9"


@pytest.mark.parametrize("suffix", ["", "/", "/v1/traces"])
def test_otlp_posts_to_the_traces_path(collector: _Collector, suffix: str) -> None:
    host, port = collector.server_address[:2]
    provider = configure_tracing("api", otlp_endpoint=f"http://{host!s}:{port}{suffix}")
    with provider.get_tracer("t").start_as_current_span("work"):
        pass
    assert provider.force_flush(5_000)
    assert collector.received.wait(5)
    provider.shutdown()
    assert collector.paths == ["/v1/traces"]


def test_kafka_needs_a_topic() -> None:
    with pytest.raises(ValueError, match="together"):
        configure_tracing("api", kafka=KafkaClientConfig("localhost:9092"))
