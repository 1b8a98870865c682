"""Kafka Connect's dead-letter headers, built by a pure function of the failed message."""

from __future__ import annotations

from streams.errors import FatalError
from streams.routing import (
    H_ATTEMPT,
    H_ORIGIN,
    MAX_MESSAGE_BYTES,
    MAX_STACKTRACE_BYTES,
    Message,
    dead_letter_headers,
    qualified_name,
)


class StepBroke(FatalError):
    pass


def raised(exc: BaseException, cause: BaseException | None = None) -> BaseException:
    """``exc`` with a traceback (and ``cause`` chained), as the processor catches it."""
    try:
        raise exc from cause
    except BaseException as caught:
        return caught


def test_headers_name_the_origin_the_fully_qualified_class_and_the_attempts() -> None:
    # A retry-tier delivery: the origin header, not the retry topic, is what failed first.
    msg = Message(
        "ns.scripts.drafted.retry.3", 0, 7, b"k", b"v", ((H_ORIGIN, b"ns.scripts.drafted/2/41"),)
    )
    headers = dict(
        dead_letter_headers(msg, raised(StepBroke("bad, very bad")), agent="render", attempts=4)
    )
    assert headers["__connect.errors.topic"] == b"ns.scripts.drafted"
    assert headers["__connect.errors.partition"] == b"2"
    assert headers["__connect.errors.offset"] == b"41"
    assert headers["__connect.errors.connector.name"] == b"render"
    assert headers["__connect.errors.exception.class.name"] == (
        b"tests.unit.test_dead_letter_headers.StepBroke"
    )
    assert headers["__connect.errors.exception.message"] == b"bad, very bad"
    assert headers[H_ATTEMPT] == b"4"


def test_stack_trace_is_bounded_and_keeps_the_exception_line() -> None:
    msg = Message("t", 0, 1, None, b"")
    # The chained cause makes the formatted trace far longer than the bound.
    exc = raised(ValueError("boom"), cause=RuntimeError("x" * 3 * MAX_STACKTRACE_BYTES))
    headers = dict(dead_letter_headers(msg, exc, agent="a", attempts=1))
    stack = headers["__connect.errors.exception.stacktrace"]
    assert len(stack) <= MAX_STACKTRACE_BYTES
    assert stack.startswith("…".encode())  # cut at the start: the innermost frames stay
    assert stack.decode().rstrip().endswith("ValueError: boom")
    assert headers["__connect.errors.exception.class.name"] == b"builtins.ValueError"


def test_a_long_message_is_cut_on_a_character_boundary() -> None:
    msg = Message("t", 0, 1, None, b"")
    text = "문" * MAX_MESSAGE_BYTES  # three bytes each
    headers = dict(dead_letter_headers(msg, raised(RuntimeError(text)), agent="a", attempts=1))
    message = headers["__connect.errors.exception.message"]
    assert len(message) <= MAX_MESSAGE_BYTES
    assert message.decode().endswith("문…")  # valid UTF-8: no character split


def test_an_empty_message_falls_back_to_the_repr() -> None:
    headers = dict(
        dead_letter_headers(Message("t", 0, 1, None, b""), KeyError(), agent="a", attempts=1)
    )
    assert headers["__connect.errors.exception.message"] == b"KeyError()"
    assert qualified_name(KeyError()) == "builtins.KeyError"
