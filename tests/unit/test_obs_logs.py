"""Structured logs: trace ids, correlation ids and exceptions in every record, and rows in the
collector's ``otel_logs`` layout."""

from __future__ import annotations

import logging
import sys

import orjson
from opentelemetry.sdk.trace import TracerProvider

from observability.logs import (
    LOG_COLUMNS,
    JsonFormatter,
    ShippingHandler,
    correlation_id,
    log_doc,
    log_row,
    severity,
)


def _record(msg: str, level: int = logging.INFO, name: str = "agents.draft") -> logging.LogRecord:
    return logging.LogRecord(name, level, "/src/agents/draft.py", 42, msg, (), None, "step")


def test_a_record_inside_a_span_carries_its_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    token = correlation_id.set("corr-1")
    try:
        with tracer.start_as_current_span("process x") as span:
            doc = log_doc(_record("drafted"), "munjero-content")
            ctx = span.get_span_context()
    finally:
        correlation_id.reset(token)
    assert doc["trace_id"] == format(ctx.trace_id, "032x")
    assert doc["span_id"] == format(ctx.span_id, "016x")
    assert doc["flags"] & 1  # sampled
    assert doc["attributes"]["munjero.correlation_id"] == "corr-1"
    assert doc["attributes"]["code.lineno"] == 42
    assert (doc["level"], doc["severity"], doc["body"]) == ("INFO", 9, "drafted")


def test_outside_a_span_ids_are_empty_not_invented() -> None:
    doc = log_doc(_record("idle"), "svc")
    assert (doc["trace_id"], doc["span_id"], doc["flags"]) == ("", "", 0)
    assert "munjero.correlation_id" not in doc["attributes"]


def test_exceptions_become_semconv_attributes() -> None:
    try:
        raise ValueError("bad answer_index 7")
    except ValueError:
        import sys

        record = _record("dead-lettering", logging.ERROR)
        record.exc_info = sys.exc_info()
    doc = log_doc(record, "svc")
    assert doc["attributes"]["exception.type"] == "ValueError"
    assert doc["attributes"]["exception.message"] == "bad answer_index 7"
    assert "Traceback" in doc["attributes"]["exception.stacktrace"]
    assert doc["severity"] == 17


def test_row_matches_the_otel_logs_columns_and_stringifies_attributes() -> None:
    record = _record("x", logging.WARNING)
    record.munjero = {"topic": "problems.submitted", "attempt": 2}
    row = log_row(log_doc(record, "svc"), {"service.name": "svc"})
    as_dict = dict(zip(LOG_COLUMNS, row, strict=True))
    assert as_dict["SeverityText"] == "WARN"
    assert as_dict["ServiceName"] == "svc"
    assert as_dict["LogAttributes"]["munjero.topic"] == "problems.submitted"
    assert as_dict["LogAttributes"]["munjero.attempt"] == "2"
    assert isinstance(as_dict["Timestamp"], int)
    assert as_dict["Timestamp"] > 10**18


def test_severity_maps_custom_levels_down() -> None:
    assert severity(logging.ERROR + 5) == ("ERROR", 17)
    assert severity(logging.CRITICAL) == ("FATAL", 21)
    assert severity(1) == ("TRACE", 1)


def test_json_formatter_writes_one_parseable_line_with_ids() -> None:
    line = JsonFormatter("svc").format(_record('quote " and 한국어'))
    doc = orjson.loads(line)
    assert doc["msg"] == 'quote " and 한국어'
    assert set(doc) >= {"ts", "level", "service", "trace_id", "span_id", "correlation_id"}
    assert "\n" not in line


def _failing() -> None:
    raise ValueError("the innermost frame")


def _with_exception(level: int) -> logging.LogRecord:
    try:
        _failing()
    except ValueError:
        record = _record("polling failed", level)
        record.exc_info = sys.exc_info()
    return record


def test_an_error_line_carries_its_stack_trace_a_warning_line_does_not() -> None:
    error = orjson.loads(JsonFormatter("svc").format(_with_exception(logging.ERROR)))
    assert error["exception.type"] == "ValueError"
    assert "in _failing" in error["exception.stacktrace"]
    assert "the innermost frame" in error["exception.stacktrace"]
    warning = orjson.loads(JsonFormatter("svc").format(_with_exception(logging.WARNING)))
    assert warning["exception.type"] == "ValueError"
    assert "exception.stacktrace" not in warning
    line = JsonFormatter("svc").format(_with_exception(logging.ERROR))
    assert "\n" not in line


class _Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []

    def offer(self, messages: list[tuple[bytes, bytes]]) -> int:
        self.messages.extend(messages)
        return len(messages)

    def flush(self, timeout: float) -> bool:
        return True

    def shutdown(self, timeout: float) -> None:
        return None


def test_shipping_handler_ships_documents_but_never_its_own_client_logs() -> None:
    sink = _Sink()
    handler = ShippingHandler(sink, "svc", level=logging.INFO)
    handler.handle(_record("kept"))
    handler.handle(_record("loop", name="aiokafka.producer"))
    handler.handle(_record("loop", name="observability.kafka_exporter"))
    logger = logging.getLogger("test.shipping")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("below the handler's level")
        logger.info("through a logger")
    finally:
        logger.removeHandler(handler)
    assert [orjson.loads(v)["body"] for _, v in sink.messages] == ["kept", "through a logger"]
