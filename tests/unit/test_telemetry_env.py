"""The standard OpenTelemetry and Sentry variables configure telemetry; the ``MUNJERO_`` names
stay as aliases, and a worker child sees what its parent saw."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision

from observability.kafka_exporter import configure_tracing, make_sampler
from observability.telemetry import resource_attributes, service_name, setup_telemetry
from streams.settings import Settings
from streams.telemetry import tracing

STANDARD = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
    "OTEL_SERVICE_NAME": "factory-blue",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging,team=shorts%20ops",
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.25",
    "SENTRY_DSN": "https://key@sentry.example/1",
}


def test_standard_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in STANDARD.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.otlp_endpoint == "http://collector:4318"
    assert s.otel_service_name == "factory-blue"
    assert s.trace_sampler == "parentbased_traceidratio"
    assert s.trace_sample_ratio == 0.25
    assert s.sentry_dsn is not None
    assert s.sentry_dsn.get_secret_value() == "https://key@sentry.example/1"


def test_standard_names_win_over_the_munjero_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUNJERO_OTLP_ENDPOINT", "http://old:4318")
    monkeypatch.setenv("MUNJERO_TRACE_SAMPLE_RATIO", "0.5")
    assert Settings().otlp_endpoint == "http://old:4318"  # the alias alone still works
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://new:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    assert Settings().otlp_endpoint == "http://new:4318"
    assert Settings().trace_sample_ratio == 0.1
    # Constructor arguments still win over the environment.
    assert Settings(trace_sample_ratio=0.9).trace_sample_ratio == 0.9


def test_a_child_process_sees_the_parents_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    parent = Settings(trace_sample_ratio=0.75, otel_service_name="svc")
    env = parent.to_env()
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.75"  # the standard name, which wins
    assert env["OTEL_SERVICE_NAME"] == "svc"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings() == parent


def test_an_unknown_sampler_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "jaeger_remote")
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER"):  # the variable it came from
        Settings()


def test_resource_attributes_and_service_name() -> None:
    assert resource_attributes("a=1, b = two%2C%20three ,broken,=x,c=") == {
        "a": "1",
        "b": "two, three",
        "c": "",
    }
    plain = Settings()
    assert service_name(plain, "munjero-render") == "munjero-render"
    from_attributes = Settings(otel_resource_attributes="service.name=from-attrs")
    assert service_name(from_attributes, "munjero-render") == "from-attrs"
    both = Settings(otel_resource_attributes="service.name=from-attrs", otel_service_name="svc")
    assert service_name(both, "munjero-render") == "svc"


@pytest.mark.parametrize(
    ("name", "ratio", "sampled"),
    [
        ("always_on", 0.0, True),
        ("always_off", 1.0, False),
        ("traceidratio", 0.0, False),
        ("traceidratio", 1.0, True),
        ("parentbased_always_off", 1.0, False),
        ("parentbased_traceidratio", 1.0, True),
    ],
)
def test_samplers_by_their_standard_names(name: str, ratio: float, sampled: bool) -> None:
    result = make_sampler(name, ratio).should_sample(None, 0x1234, "root")
    assert (result.decision is Decision.RECORD_AND_SAMPLE) is sampled


def test_resource_carries_the_attributes_under_our_name_and_version() -> None:
    memory = InMemorySpanExporter()
    provider = configure_tracing(
        "munjero-api",
        extra_exporters=[memory],
        service_version="1.2.3",
        resource_attributes={"deployment.environment": "staging", "service.name": "ignored"},
    )
    with provider.get_tracer("t").start_as_current_span("work"):
        pass
    provider.shutdown()
    (span,) = memory.get_finished_spans()
    attributes = span.resource.attributes
    assert attributes["service.name"] == "munjero-api"
    assert attributes["service.version"] == "1.2.3"
    assert attributes["deployment.environment"] == "staging"


class _Collector(ThreadingHTTPServer):
    paths: list[str]
    received: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.paths.append(self.path)
        self.send_response(200)
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


def test_setup_telemetry_exports_to_the_standard_endpoint(
    collector: _Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = collector.server_address[:2]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{host!s}:{port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "factory-blue")
    telemetry = setup_telemetry(Settings(), "munjero-api", stderr=False)
    try:
        assert telemetry.service == "factory-blue"
        provider = tracing.provider()
        assert provider is not None
        assert provider.resource.attributes["service.name"] == "factory-blue"
        with tracing.tracer().start_as_current_span("work"):
            pass
        assert provider.force_flush(5_000)
        assert collector.received.wait(5)
    finally:
        telemetry.shutdown()
    assert collector.paths == ["/v1/traces"]
