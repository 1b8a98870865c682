"""Where a failed event goes: pure decisions, no I/O.

One mechanism for every agent. The exception type decides: ``FatalError`` goes straight to the
dead-letter topic; anything else is retried through the topic's backoff tiers and dead-lettered
when they run out. Retry state travels in record headers, so any worker can pick it up.
"""

from __future__ import annotations

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
