"""Structured logs: one JSON object per record, carrying trace_id, span_id and correlation_id.

Two outputs, same fields: stderr (what ``kubectl logs`` and the worker log files show) and,
through a never-blocking Kafka sink, ClickHouse's ``otel_logs`` (collector layout, retention
TTL) where a log line joins its spans on ``TraceId``. ``log_doc`` is the JSON document and
``log_row`` its ClickHouse row; both are pure.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from opentelemetry import trace

from observability.clickhouse_traces import string_map
from observability.kafka_exporter import SpanSink
from streams.telemetry.context import correlation_id

LOG_COLUMNS = (
    "Timestamp",
    "TraceId",
    "SpanId",
    "TraceFlags",
    "SeverityText",
    "SeverityNumber",
    "ServiceName",
    "Body",
    "ResourceAttributes",
    "ScopeName",
    "ScopeVersion",
    "LogAttributes",
)

# OpenTelemetry log data model severity numbers for Python's levels.
_SEVERITY = {
    logging.DEBUG: ("DEBUG", 5),
    logging.INFO: ("INFO", 9),
    logging.WARNING: ("WARN", 13),
    logging.ERROR: ("ERROR", 17),
    logging.CRITICAL: ("FATAL", 21),
}
# Loggers whose records never go to Kafka: the log shipper's own client would otherwise log
# about failing to ship logs, feeding itself while the broker is down.
_NOT_SHIPPED = ("aiokafka", "kafka", "observability.kafka_exporter")

ExceptionAttributes = Callable[[BaseException], Mapping[str, str]]


def severity(levelno: int) -> tuple[str, int]:
    for level in sorted(_SEVERITY, reverse=True):
        if levelno >= level:
            return _SEVERITY[level]
    return ("TRACE", 1)


def _default_exception_attributes(exc: BaseException) -> dict[str, str]:
    return {
        "exception.type": type(exc).__name__,
        "exception.message": str(exc)[:2000],
        "exception.stacktrace": "".join(traceback.format_exception(exc))[-8000:],
    }


def log_doc(
    record: logging.LogRecord,
    service: str,
    *,
    exception_attributes: ExceptionAttributes = _default_exception_attributes,
) -> dict[str, Any]:
    """``record`` as a JSON-able document (the current span and correlation id included)."""
    ctx = trace.get_current_span().get_span_context()
    text, number = severity(record.levelno)
    attributes: dict[str, Any] = {
        "code.function": record.funcName,
        "code.lineno": record.lineno,
        "code.filepath": record.pathname,
        "thread.name": record.threadName or "",
    }
    if cid := correlation_id.get():
        attributes["munjero.correlation_id"] = cid
    extra = getattr(record, "munjero", None)
    if isinstance(extra, Mapping):  # logger.info(..., extra={"munjero": {...}})
        attributes.update({f"munjero.{k}": v for k, v in extra.items()})
    if record.exc_info and record.exc_info[1] is not None:
        attributes.update(exception_attributes(record.exc_info[1]))
    return {
        "t": int(record.created * 1e9),
        "trace_id": format(ctx.trace_id, "032x") if ctx.is_valid else "",
        "span_id": format(ctx.span_id, "016x") if ctx.is_valid else "",
        "flags": int(ctx.trace_flags) if ctx.is_valid else 0,
        "level": text,
        "severity": number,
        "service": service,
        "logger": record.name,
        "body": record.getMessage(),
        "attributes": attributes,
    }


def log_row(doc: Mapping[str, Any], resource: Mapping[str, Any]) -> list[Any]:
    """The ``otel_logs`` row (``LOG_COLUMNS`` order) of a ``log_doc`` document."""
    return [
        int(doc["t"]),
        str(doc["trace_id"]),
        str(doc["span_id"]),
        int(doc["flags"]),
        str(doc["level"]),
        int(doc["severity"]),
        str(doc["service"]),
        str(doc["body"]),
        string_map(resource),
        str(doc["logger"]),
        "",
        string_map(doc["attributes"]),
    ]


class JsonFormatter(logging.Formatter):
    """One line of JSON per record, for stderr: the document's fields, flattened for grep."""

    def __init__(self, service: str, exception_attributes: ExceptionAttributes | None = None):
        super().__init__()
        self._service = service
        self._exc = exception_attributes or _default_exception_attributes

    def format(self, record: logging.LogRecord) -> str:
        doc = log_doc(record, self._service, exception_attributes=self._exc)
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": doc["level"],
            "service": doc["service"],
            "logger": doc["logger"],
            "msg": doc["body"],
            "trace_id": doc["trace_id"],
            "span_id": doc["span_id"],
            "correlation_id": doc["attributes"].get("munjero.correlation_id", ""),
        }
        for key in ("exception.type", "exception.message", "munjero.error.fingerprint"):
            if key in doc["attributes"]:
                line[key] = doc["attributes"][key]
        # An error's stack trace, for whoever reads the worker's log file rather than
        # ClickHouse (escaped: still one line). Not on warnings: a clean stop's log may warn
        # with a cause attached, and a traceback there would read as a failure.
        if record.levelno >= logging.ERROR and "exception.stacktrace" in doc["attributes"]:
            line["exception.stacktrace"] = doc["attributes"]["exception.stacktrace"]
        return orjson.dumps(line).decode()


class ShippingHandler(logging.Handler):
    """Hands each record's document to a sink without blocking (full queue: dropped, counted
    by the sink)."""

    def __init__(
        self,
        sink: SpanSink,
        service: str,
        *,
        level: int = logging.INFO,
        exception_attributes: ExceptionAttributes | None = None,
    ) -> None:
        super().__init__(level)
        self._sink = sink
        self._service = service
        self._exc = exception_attributes or _default_exception_attributes

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_NOT_SHIPPED):
            return
        try:
            doc = log_doc(record, self._service, exception_attributes=self._exc)
            self._sink.offer([(self._service.encode(), orjson.dumps(doc, default=str))])
        except Exception:  # a log call must never fail the caller
            self.handleError(record)
