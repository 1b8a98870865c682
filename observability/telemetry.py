"""One call per process to switch on its telemetry: JSON logs, traces, Sentry.

``setup_telemetry`` at start, ``Telemetry.shutdown`` at exit (flushes queued spans and logs).
Spans and log records go to Kafka (then ClickHouse) when a broker is known, spans also over
OTLP when ``otlp_endpoint`` is set. Everything is best effort: telemetry never blocks or fails
the work it observes.

The standard variables configure it as they configure any OpenTelemetry SDK, through the
settings model (streams/settings.py): ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_SERVICE_NAME``
(else the process's own name), ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER`` and
``OTEL_TRACES_SAMPLER_ARG``, and Sentry's ``SENTRY_DSN``.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from urllib.parse import unquote

from opentelemetry.sdk.trace import TracerProvider

from observability.kafka_exporter import KafkaSpanSink, configure_tracing
from observability.logs import JsonFormatter, ShippingHandler
from streams import __version__
from streams.kafka_auth import client_config
from streams.settings import Settings
from streams.telemetry import errors, tracing

# Chatty third-party loggers: their INFO lines are connection noise, not events.
_QUIET = ("aiokafka", "faust", "mode", "httpx", "uvicorn.access", "urllib3", "botocore")


@dataclass
class Telemetry:
    service: str
    provider: TracerProvider | None = None
    log_sink: KafkaSpanSink | None = None
    sentry: bool = False
    handlers: list[logging.Handler] = field(default_factory=list)

    def shutdown(self) -> None:
        """Flush and detach: spans first (their export may log), then the log shipper."""
        if self.provider is not None:
            if tracing.provider() is self.provider:
                tracing.install(None)
            self.provider.shutdown()
        root = logging.getLogger()
        for handler in self.handlers:
            root.removeHandler(handler)
        if self.log_sink is not None:
            self.log_sink.shutdown(5.0)
        if self.sentry:
            errors.shutdown_sentry()


def configure_logging(settings: Settings, service: str) -> logging.Handler:
    """JSON lines on stderr for every record at ``log_level``; returns the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_munjero", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service, errors.exception_attributes))
    handler._munjero = True  # type: ignore[attr-defined]  # marks ours for a re-configure
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def resource_attributes(text: str) -> dict[str, str]:
    """``OTEL_RESOURCE_ATTRIBUTES``: ``key=value`` pairs joined by commas, values
    percent-decoded (W3C Baggage octets). A malformed pair is skipped, as the SDK does."""
    attributes: dict[str, str] = {}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = unquote(value.strip())
    return attributes


def service_name(settings: Settings, default: str) -> str:
    """``OTEL_SERVICE_NAME``, else ``service.name`` of the resource attributes, else the
    process's own name (``munjero-api``, ``munjero-render``, ...)."""
    attributes = resource_attributes(settings.otel_resource_attributes)
    return settings.otel_service_name or attributes.get("service.name") or default


def setup_telemetry(settings: Settings, service: str, *, stderr: bool = True) -> Telemetry:
    service = service_name(settings, service)
    telemetry = Telemetry(service)
    if stderr:
        telemetry.handlers.append(configure_logging(settings, service))
    kafka = client_config(settings) if settings.kafka_bootstrap_servers else None
    if kafka is not None or settings.otlp_endpoint:
        telemetry.provider = configure_tracing(
            service,
            kafka=kafka,
            topic=settings.topic("otel.spans") if kafka is not None else None,
            otlp_endpoint=settings.otlp_endpoint,
            sample_ratio=settings.trace_sample_ratio,
            sampler=settings.trace_sampler,
            resource_attributes=resource_attributes(settings.otel_resource_attributes),
        )
        tracing.install(telemetry.provider)
    if kafka is not None:
        telemetry.log_sink = KafkaSpanSink(kafka, settings.topic("otel.logs"))
        shipper = ShippingHandler(
            telemetry.log_sink,
            service,
            level=logging.getLevelName(settings.log_level.upper()),
            exception_attributes=errors.exception_attributes,
        )
        logging.getLogger().addHandler(shipper)
        telemetry.handlers.append(shipper)
    dsn = settings.sentry_dsn
    telemetry.sentry = errors.init_sentry(
        dsn.get_secret_value() if dsn else None,
        environment=settings.environment,
        release=f"munjero-factory@{__version__}",
        service=service,
    )
    return telemetry
