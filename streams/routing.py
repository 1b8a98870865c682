"""Where a failed event goes: pure decisions, no I/O.

One mechanism for every agent. The exception type decides: ``FatalError`` goes straight to the
dead-letter topic; anything else is retried through the topic's backoff tiers and dead-lettered
when they run out. Retry state travels in record headers, so any worker can pick it up.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from streams.catalogue import TopicSpec
from streams.errors import FatalError

H_ATTEMPT = "x-munjero-attempt"  # processing attempts already made
H_NOT_BEFORE = "x-munjero-not-before"  # epoch ms: do not retry before
H_ERROR = "x-munjero-error"  # last error, for humans reading the retry topic
H_ORIGIN = "x-munjero-origin"  # topic/partition/offset where the event was first consumed
RETRY_HEADERS = (H_ATTEMPT, H_NOT_BEFORE, H_ERROR, H_ORIGIN)

# Kafka Connect's dead-letter headers (errors.deadletterqueue.context.headers.enable, KIP-298),
# the convention generic tools (kcat, Kafka UIs, Connect's own DLQ readers) already show. The
# StepFailed record in the value stays the source of truth; these make a dead letter readable
# without the schema registry. Values are UTF-8 strings, as Connect writes them.
DLQ_PREFIX = "__connect.errors."
H_DLQ_TOPIC = DLQ_PREFIX + "topic"  # the original topic (first delivery, before retry tiers)
H_DLQ_PARTITION = DLQ_PREFIX + "partition"
H_DLQ_OFFSET = DLQ_PREFIX + "offset"
H_DLQ_CONNECTOR = DLQ_PREFIX + "connector.name"  # the agent whose step failed
H_DLQ_EXCEPTION = DLQ_PREFIX + "exception.class.name"  # fully qualified
H_DLQ_MESSAGE = DLQ_PREFIX + "exception.message"
H_DLQ_STACKTRACE = DLQ_PREFIX + "exception.stacktrace"
# Connect has no attempts header; ours is the retry header, so a dead letter says how many
# processing attempts it took, under the name the retry tiers already use.
H_DLQ_ATTEMPTS = H_ATTEMPT
MAX_STACKTRACE_BYTES = 8_000  # Kafka headers share the record's size limit
MAX_MESSAGE_BYTES = 1_000

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Message:
    """A consumed record, independent of the client library that fetched it."""

    topic: str  # physical topic (namespaced)
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=tuple)

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def attempts(self) -> int:
        """Processing attempts made before this delivery (0 on the event topic itself)."""
        raw = self.header(H_ATTEMPT)
        try:
            return max(0, int(raw)) if raw is not None else 0
        except ValueError:
            return 0

    @property
    def not_before_ms(self) -> int:
        raw = self.header(H_NOT_BEFORE)
        try:
            return int(raw) if raw is not None else 0
        except ValueError:
            return 0

    @property
    def origin(self) -> tuple[str, int, int]:
        """(topic, partition, offset) of the first delivery, surviving retry hops."""
        raw = self.header(H_ORIGIN)
        if raw:
            topic, partition, offset = raw.decode().rsplit("/", 2)
            return topic, int(partition), int(offset)
        return self.topic, self.partition, self.offset


class RouteKind(StrEnum):
    RETRY = "retry"
    DLQ = "dlq"


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    topic: str  # catalogue (un-namespaced) name
    attempts: int  # attempts made including the failed one
    not_before_ms: int = 0


def is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, FatalError)


def route_failure(
    spec: TopicSpec,
    attempts_before: int,
    exc: BaseException,
    *,
    now_ms: int,
    delay_factor: float = 1.0,
) -> Route:
    """Decide the route of an event of event topic ``spec`` whose processing just raised."""
    attempts = attempts_before + 1
    if is_fatal(exc) or attempts > len(spec.retry_tiers):
        return Route(RouteKind.DLQ, spec.dlq_topic, attempts)
    delay = spec.retry_tiers[attempts - 1].total_seconds() * delay_factor
    return Route(
        RouteKind.RETRY,
        spec.retry_topics[attempts - 1],
        attempts,
        now_ms + int(delay * 1000),
    )


def retry_headers(msg: Message, route: Route, exc: BaseException) -> list[tuple[str, bytes]]:
    """Original headers (trace context etc.) plus the retry state for the next hop."""
    origin = "/".join(str(part) for part in msg.origin)
    kept = [(k, v) for k, v in msg.headers if k not in RETRY_HEADERS]
    return [
        *kept,
        (H_ATTEMPT, str(route.attempts).encode()),
        (H_NOT_BEFORE, str(route.not_before_ms).encode()),
        (H_ERROR, describe(exc).encode()[:1000]),
        (H_ORIGIN, origin.encode()),
    ]


def clean_headers(headers: Headers) -> list[tuple[str, bytes]]:
    """Headers without retry state: what a replayed dead letter is re-published with."""
    return [(k, v) for k, v in headers if k not in RETRY_HEADERS]


def describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"


def qualified_name(exc: BaseException) -> str:
    """``module.QualName`` of the exception's class (``builtins.ValueError`` for built-ins)."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _bounded(text: str, limit: int, *, keep_end: bool = False) -> bytes:
    """``text`` as UTF-8 in at most ``limit`` bytes, never splitting a character. A stack trace
    keeps its end (the innermost frames and the exception line), a message its start."""
    raw = text.encode()
    if len(raw) <= limit:
        return raw
    marker = "…".encode()
    room = limit - len(marker)
    if keep_end:
        return marker + raw[-room:].decode(errors="ignore").encode()
    return raw[:room].decode(errors="ignore").encode() + marker


def dead_letter_headers(
    msg: Message, exc: BaseException, *, agent: str, attempts: int
) -> list[tuple[str, bytes]]:
    """The Kafka Connect ``__connect.errors.*`` headers of the dead letter of ``msg``."""
    topic, partition, offset = msg.origin
    stack = "".join(traceback.format_exception(exc))
    return [
        (H_DLQ_TOPIC, topic.encode()),
        (H_DLQ_PARTITION, str(partition).encode()),
        (H_DLQ_OFFSET, str(offset).encode()),
        (H_DLQ_CONNECTOR, agent.encode()),
        (H_DLQ_EXCEPTION, qualified_name(exc).encode()),
        (H_DLQ_MESSAGE, _bounded(str(exc) or repr(exc), MAX_MESSAGE_BYTES)),
        (H_DLQ_STACKTRACE, _bounded(stack, MAX_STACKTRACE_BYTES, keep_end=True)),
        (H_DLQ_ATTEMPTS, str(attempts).encode()),
    ]
