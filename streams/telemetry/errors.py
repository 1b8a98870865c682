"""Error tracking: one grouping key (the fingerprint) shared by Sentry and ClickHouse.

``fingerprint`` and ``exception_attributes`` are pure. The log pipeline puts the attributes
(OpenTelemetry ``exception.*`` semantic conventions plus ``munjero.error.fingerprint``) on every
record logged with an exception, and ``observability.error_groups`` groups those records in
ClickHouse by fingerprint. When a DSN is set, ``init_sentry`` also sends errors to Sentry and
makes Sentry group them by the same fingerprint, so an issue there and a row on the dashboard
name the same group.

Grouping ignores what differs between occurrences of one bug (ids, counts, offsets, quoted
values, line numbers) and keeps what tells bugs apart (exception type, the shape of its
message, where in our code it was raised).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.asyncio import AsyncioIntegration
from sentry_sdk.integrations.logging import LoggingIntegration

log = logging.getLogger(__name__)

FINGERPRINT_ATTRIBUTE = "munjero.error.fingerprint"
# Our top-level packages: frames from these locate a bug; library frames mostly say which
# library call failed, which many unrelated bugs share.
PROJECT_PACKAGES = ("agents", "connectors", "observability", "schemas", "streams")
FRAMES_IN_KEY = 3
MESSAGE_CHARS = 2000
STACKTRACE_CHARS = 8000
_TAG_CHARS = 200  # Sentry truncates tag values longer than this

# Order matters: quoted values first (they may hold digits and hex), uuids before bare hex,
# hex before decimal numbers.
_NORMALISE = (
    (re.compile(r"'[^'\n]*'|\"[^\"\n]*\""), "<str>"),
    (re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<hex>"),
    # Hashes, trace/span ids, object ids: long runs of hex holding at least one digit, so
    # ordinary words ("deadbeef" aside) survive.
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<n>"),
)


def normalise_message(message: str) -> str:
    """``message`` with the parts that vary between occurrences of one error replaced."""
    text = message[:MESSAGE_CHARS]
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def fingerprint(exc_type: str, message: str, frames: Sequence[tuple[str, str]]) -> str:
    """A stable grouping key: 16 hex digits of a SHA-256 digest.

    ``frames`` are (module, function) pairs, outermost first (traceback order). The key uses
    the innermost ``FRAMES_IN_KEY`` frames of our packages, or the innermost frame of all when
    none is ours. Line numbers are left out on purpose: an unrelated edit above the raise
    must not split a group.
    """
    ours = [f for f in frames if f[0].split(".", 1)[0] in PROJECT_PACKAGES]
    chosen = ours[-FRAMES_IN_KEY:] if ours else list(frames[-1:])
    parts = [exc_type, normalise_message(message), *(f"{m}:{fn}" for m, fn in chosen)]
    return hashlib.sha256("\n".join(parts).encode("utf-8", "replace")).hexdigest()[:16]


def exception_type(exc: BaseException) -> str:
    """The fully qualified class name (semconv ``exception.type``); builtins unqualified."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def exception_frames(exc: BaseException) -> list[tuple[str, str]]:
    """(module, qualified function) of each frame of ``exc``'s traceback, outermost first."""
    return [
        (str(frame.f_globals.get("__name__", "?")), frame.f_code.co_qualname)
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    ]


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not hide the error being reported
        return f"<unprintable {type(exc).__name__}>"


def exception_attributes(exc: BaseException) -> dict[str, str]:
    """Log attributes of ``exc``: ``exception.type``/``message``/``stacktrace`` and the
    fingerprint.

    The stacktrace keeps its last ``STACKTRACE_CHARS`` characters: the innermost frames and
    the final exception of a chain are at the end, and a log row must stay small.
    """
    kind, message = exception_type(exc), _message(exc)
    try:
        stack = "".join(traceback.format_exception(exc))
    except Exception:  # formatting calls __str__/__repr__ of arbitrary objects
        stack = f"{kind}: {message}"
    if len(stack) > STACKTRACE_CHARS:
        stack = "...(truncated)\n" + stack[-STACKTRACE_CHARS:]
    return {
        "exception.type": kind,
        "exception.message": message[:MESSAGE_CHARS],
        "exception.stacktrace": stack,
        FINGERPRINT_ATTRIBUTE: fingerprint(kind, message, exception_frames(exc)),
    }


def exception_fingerprint(exc: BaseException) -> str:
    """``fingerprint`` of ``exc`` (its type, message and traceback frames)."""
    return fingerprint(exception_type(exc), _message(exc), exception_frames(exc))


# -- Sentry --------------------------------------------------------------------------------


def _tag(value: object) -> str:
    return str(value)[:_TAG_CHARS]


def before_send(service: str) -> Any:
    """The ``before_send`` hook: our fingerprint, the service tag, and the ``munjero`` log
    extras (``extra={"munjero": {...}}``: topic, agent, problem id) as tags."""

    def hook(event: dict[str, Any], hint: Mapping[str, Any]) -> dict[str, Any] | None:
        tags = event.setdefault("tags", {})
        tags.setdefault("service", service)
        exc_info = hint.get("exc_info")
        if exc_info and isinstance(exc_info[1], BaseException):
            event["fingerprint"] = [exception_fingerprint(exc_info[1])]
        record = hint.get("log_record")
        extra = getattr(record, "munjero", None)
        if isinstance(extra, Mapping):
            # The processor logs the dead-lettering with these before it calls
            # capture_step_error, and Sentry's dedupe keeps only the first event of one
            # exception object: the logged event must carry the step's tags itself.
            for key, value in extra.items():
                tags.setdefault(str(key), _tag(value))
        return event

    return hook


def init_sentry(dsn: str | None, *, environment: str, release: str, service: str) -> bool:
    """Send errors to Sentry when ``dsn`` is set; return whether it is enabled.

    Error events only: performance tracing stays off (spans go through OpenTelemetry), log
    records become breadcrumbs from WARNING and events from ERROR, and local variables and
    personal data are not sent (events hold producer content). Called from inside a running
    event loop, it also reports exceptions that kill asyncio tasks. An invalid DSN raises
    ``ValueError`` (``sentry_sdk.utils.BadDsn``): a misconfiguration should stop the start.
    """
    if not dsn:
        return False
    integrations: list[Any] = [
        LoggingIntegration(level=logging.WARNING, event_level=logging.ERROR, sentry_logs_level=None)
    ]
    try:
        asyncio.get_running_loop()
        integrations.append(AsyncioIntegration(task_spans=False))
    except RuntimeError:
        pass  # no loop yet: AsyncioIntegration would only warn
    sentry_sdk.init(
        dsn=dsn,
        release=release,
        environment=environment,
        send_default_pii=False,
        include_local_variables=False,
        traces_sample_rate=None,
        profiles_sample_rate=None,
        enable_logs=False,
        # No sentry-trace/baggage headers on outgoing HTTP: OpenTelemetry propagates the
        # trace, and third-party APIs (YouTube, LLMs) need not see our ids.
        trace_propagation_targets=[],
        integrations=integrations,
        before_send=before_send(service),
    )
    return True


def shutdown_sentry(timeout: float = 2.0) -> None:
    """Flush pending events and stop sending: the client is replaced by a non-recording one,
    so later ``capture_step_error`` calls are no-ops again."""
    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=timeout)
    sentry_sdk.get_global_scope().set_client(None)


def capture_step_error(
    exc: BaseException, *, topic: str, agent: str, problem_id: str | None, fatal: bool
) -> None:
    """Report a step's failure to Sentry with its topic, agent and problem id; a no-op when
    Sentry is off. Never raises: error reporting must not add a failure of its own.

    ``fatal`` is a tag, not the event level: a fatal step error dead-letters one event, the
    process goes on (Sentry's ``fatal`` level means a crash).
    """
    try:
        if not sentry_sdk.get_client().is_active():
            return
        # An isolation scope: the tags must not stick to later events of this task.
        with sentry_sdk.isolation_scope() as scope:
            scope.set_tag("topic", _tag(topic))
            scope.set_tag("agent", _tag(agent))
            if problem_id:
                scope.set_tag("problem_id", _tag(problem_id))
            scope.set_tag("fatal", "true" if fatal else "false")
            sentry_sdk.capture_exception(exc)
    except Exception:  # any failure of the SDK (see the docstring)
        log.debug("sentry capture failed", exc_info=True)
