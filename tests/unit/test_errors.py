"""Error fingerprints group occurrences of one bug and separate different bugs; exception
attributes carry what the log pipeline and ClickHouse need; capture is a no-op without Sentry."""

from __future__ import annotations

import uuid

import pytest
import sentry_sdk

from streams.telemetry import errors
from streams.telemetry.errors import (
    FINGERPRINT_ATTRIBUTE,
    STACKTRACE_CHARS,
    exception_attributes,
    fingerprint,
    normalise_message,
)

FRAMES = [
    ("asyncio.events", "Handle._run"),
    ("streams.processor", "Processor._handle"),
    ("agents.render.step", "render_script"),
    ("connectors.render.ffmpeg", "encode"),
    ("subprocess", "run"),
]


class RenderFailed(Exception):
    pass


def _raise_render(script_id: str, attempt: int) -> None:
    raise RenderFailed(f"ffmpeg exited with code {attempt} for script '{script_id}'")


def _raise_elsewhere(script_id: str, attempt: int) -> None:
    raise RenderFailed(f"ffmpeg exited with code {attempt} for script '{script_id}'")


def _caught(fn: object, *args: object) -> BaseException:
    try:
        fn(*args)  # type: ignore[operator]
    except Exception as exc:  # the exception, with its traceback, is the test input
        return exc
    raise AssertionError("did not raise")


@pytest.mark.parametrize(
    ("message", "normalised"),
    [
        ("offset 1234 on partition 3", "offset <n> on partition <n>"),
        ("no short 'sim-AAAA1234'", "no short <str>"),
        # A fixed uuid: the test id must be the same in every pytest-xdist worker.
        ("event a2924307-218f-4376-8489-ff5491cc05eb is late", "event <uuid> is late"),
        ("object at 0x7f3a2b1c", "object at <hex>"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736 lost", "trace <hex> lost"),
        ("took 1.5e3 ms,  then   -2", "took <n> ms, then <n>"),
        ("broker unavailable", "broker unavailable"),
    ],
)
def test_messages_lose_what_varies_between_occurrences(message: str, normalised: str) -> None:
    assert normalise_message(message) == normalised


def test_the_same_bug_with_other_ids_and_numbers_is_one_group() -> None:
    a = fingerprint("RenderError", "script 'abc-1' failed at offset 17", FRAMES)
    b = fingerprint("RenderError", f"script '{uuid.uuid4()}' failed at offset 90210", FRAMES)
    assert a == b
    assert len(a) == 16
    assert int(a, 16) >= 0  # hex


def test_line_numbers_and_library_frames_do_not_split_a_group() -> None:
    # Different outer library frames, same frames of ours: one group.
    other_outer = [("threading", "Thread.run"), *FRAMES[1:]]
    assert fingerprint("E", "m", FRAMES) == fingerprint("E", "m", other_outer)


def test_type_message_shape_and_frames_tell_bugs_apart() -> None:
    base = fingerprint("RenderError", "encoder failed", FRAMES)
    assert fingerprint("TimeoutError", "encoder failed", FRAMES) != base
    assert fingerprint("RenderError", "muxer failed", FRAMES) != base
    moved = [*FRAMES[:3], ("connectors.render.ffmpeg", "probe"), FRAMES[4]]
    assert fingerprint("RenderError", "encoder failed", moved) != base


def test_without_frames_of_ours_the_innermost_frame_counts() -> None:
    frames = [("asyncio.events", "Handle._run"), ("ssl", "SSLSocket.read")]
    assert fingerprint("E", "m", frames) != fingerprint("E", "m", frames[:1])
    assert fingerprint("E", "m", []) == fingerprint("E", "m", [])


def test_exception_attributes_follow_the_semantic_conventions() -> None:
    exc = _caught(_raise_render, "s-1", 3)
    attributes = exception_attributes(exc)
    assert attributes["exception.type"] == f"{__name__}.RenderFailed"
    assert attributes["exception.message"] == "ffmpeg exited with code 3 for script 's-1'"
    assert "_raise_render" in attributes["exception.stacktrace"]
    assert attributes["exception.stacktrace"].rstrip().endswith(attributes["exception.message"])
    assert set(attributes) == {
        "exception.type",
        "exception.message",
        "exception.stacktrace",
        FINGERPRINT_ATTRIBUTE,
    }


def test_attributes_group_by_where_the_error_was_raised() -> None:
    first = exception_attributes(_caught(_raise_render, "s-1", 3))[FINGERPRINT_ATTRIBUTE]
    again = exception_attributes(_caught(_raise_render, "s-999", 1))[FINGERPRINT_ATTRIBUTE]
    elsewhere = exception_attributes(_caught(_raise_elsewhere, "s-1", 3))[FINGERPRINT_ATTRIBUTE]
    assert first == again
    # Test modules are not project packages: the innermost frame decides.
    assert first != elsewhere


def test_builtin_types_are_unqualified_and_big_stacks_truncated() -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("x" * 50_000)
        deep(n - 1)

    attributes = exception_attributes(_caught(deep, 200))
    assert attributes["exception.type"] == "ValueError"
    assert len(attributes["exception.message"]) == errors.MESSAGE_CHARS
    stack = attributes["exception.stacktrace"]
    assert stack.startswith("...(truncated)\n")
    assert len(stack) <= STACKTRACE_CHARS + len("...(truncated)\n")


def test_an_exception_that_cannot_print_itself_still_has_attributes() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    attributes = exception_attributes(Broken())
    assert attributes["exception.message"] == "<unprintable Broken>"
    assert attributes[FINGERPRINT_ATTRIBUTE]


def test_without_a_dsn_sentry_stays_off_and_capture_is_a_no_op() -> None:
    assert errors.init_sentry(None, environment="test", release="r", service="s") is False
    assert errors.init_sentry("", environment="test", release="r", service="s") is False
    assert not sentry_sdk.get_client().is_active()
    errors.capture_step_error(RuntimeError("x"), topic="t", agent="a", problem_id=None, fatal=False)


def test_before_send_sets_our_fingerprint_and_promotes_log_tags() -> None:
    import logging

    exc = _caught(_raise_render, "s-1", 3)
    record = logging.LogRecord("streams.processor", logging.ERROR, __file__, 1, "m", (), None)
    record.munjero = {"topic": "scripts.drafted", "agent": "render", "problem_id": "p" * 300}
    event = errors.before_send("render-worker")(
        {"tags": {"agent": "from-scope"}},
        {"exc_info": (type(exc), exc, None), "log_record": record},
    )
    assert event is not None
    assert event["fingerprint"] == [exception_attributes(exc)[FINGERPRINT_ATTRIBUTE]]
    assert event["tags"]["service"] == "render-worker"
    assert event["tags"]["topic"] == "scripts.drafted"
    assert event["tags"]["agent"] == "from-scope"  # an explicit scope tag wins
    assert len(event["tags"]["problem_id"]) == 200
