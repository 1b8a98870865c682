"""The process's tracer, swappable.

OpenTelemetry's global provider can be set once per process; tests (and ``munjero demo``) start
and stop several factories in one process. Code asks ``tracer()`` at call time, so whatever
provider ``install`` put in place is used, and without one every span is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

SCOPE = "munjero"
_NOOP = trace.NoOpTracer()
_provider: TracerProvider | None = None
_tracer: Tracer = _NOOP


def install(provider: TracerProvider | None) -> None:
    """Make ``provider`` the source of ``tracer()`` (``None``: spans become no-ops)."""
    global _provider, _tracer
    _provider = provider
    _tracer = provider.get_tracer(SCOPE) if provider is not None else _NOOP


def provider() -> TracerProvider | None:
    return _provider


def tracer() -> Tracer:
    return _tracer


@contextmanager
def span(name: str, kind: SpanKind = SpanKind.INTERNAL, **attributes: Any) -> Iterator[Span]:
    """An INTERNAL sub-span of the current one (retrieval, TTS, browser, ffmpeg, upload).

    Attribute names use dots in OpenTelemetry; pass them with ``__`` for ``.``
    (``munjero__language="ko"``). An exception marks the span as an error and propagates.
    """
    attrs = {k.replace("__", "."): v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, kind=kind, attributes=attrs) as current:
        yield current


def mark_error(current: Span, exc: BaseException) -> None:
    """Record ``exc`` on ``current`` as the reason the span failed."""
    current.record_exception(exc)
    current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:300]))
