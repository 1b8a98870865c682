"""What the Sentry SDK really sends: a local HTTP endpoint plays Sentry's ingest
(``POST /api/<project>/envelope/``), and the envelopes it receives must carry the release,
environment, step tags and our fingerprint."""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from streams.telemetry import errors
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration
log = logging.getLogger("tests.sentry_capture")


@dataclass
class Ingest:
    """Envelopes received, decoded: (envelope header, [(item header, payload)])."""

    url: str
    envelopes: list[tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]] = field(
        default_factory=list
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                json.loads(payload)
                for _, items in self.envelopes
                for header, payload in items
                if header.get("type") == "event"
            ]


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found,unused-ignore]  # only with the extra

        data: bytes = brotli.decompress(body)
        return data
    return body


def parse_envelope(data: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Sentry's envelope format: a JSON header line, then items of a JSON header line and a
    payload (``length`` bytes when the header says, else up to the next newline)."""
    head, _, rest = data.partition(b"\n")
    items = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] :]
            rest = rest.removeprefix(b"\n")
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header, payload))
    return json.loads(head), items


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    received: list[tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]] = []
    lock = threading.Lock()

    async def envelope(request: Request) -> Response:
        body = _decompress(await request.body(), request.headers.get("content-encoding", ""))
        with lock:
            received.append(parse_envelope(body))
        return JSONResponse({})

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/", health),
            Route("/api/{project}/envelope/", envelope, methods=["POST"]),
        ]
    )
    with serve_in_thread(app, name="sentry ingest") as url:
        yield Ingest(url, received, lock)


@pytest.fixture
def sentry(ingest: Ingest) -> Iterator[Ingest]:
    port = ingest.url.rsplit(":", 1)[1]
    enabled = errors.init_sentry(
        f"http://publickey@127.0.0.1:{port}/1",
        environment="itest",
        release="munjero@1.2.3",
        service="render-worker",
    )
    assert enabled
    try:
        yield ingest
    finally:
        # Other tests in this process must not report to a server that is gone.
        errors.shutdown_sentry()
        assert not sentry_sdk.get_client().is_active()


def _fail(script_id: str) -> None:
    raise RuntimeError(f"encoder crashed on script '{script_id}' at frame 1234")


def _caught(script_id: str) -> RuntimeError:
    try:
        _fail(script_id)
    except RuntimeError as exc:
        return exc
    raise AssertionError("did not raise")


def test_a_step_error_reaches_sentry_with_its_tags_and_fingerprint(sentry: Ingest) -> None:
    exc = _caught("s-1")
    errors.capture_step_error(
        exc, topic="scripts.drafted", agent="render", problem_id="p-42", fatal=True
    )
    sentry_sdk.flush(timeout=10)

    (event,) = sentry.events()
    assert event["release"] == "munjero@1.2.3"
    assert event["environment"] == "itest"
    assert event["tags"] == {
        "topic": "scripts.drafted",
        "agent": "render",
        "problem_id": "p-42",
        "fatal": "true",
        "service": "render-worker",
    }
    (value,) = event["exception"]["values"]
    assert value["type"] == "RuntimeError"
    assert value["value"] == str(exc)
    # Sentry groups exactly as error_groups in ClickHouse does.
    assert event["fingerprint"] == [errors.exception_attributes(exc)[errors.FINGERPRINT_ATTRIBUTE]]
    assert event["level"] == "error"
    assert "user" not in event or not event["user"].get("ip_address")  # no PII


def test_logged_then_captured_is_one_event_with_the_step_tags(sentry: Ingest) -> None:
    """The processor logs the dead-lettering (ERROR, with the exception and step extras) and
    then captures: Sentry must get one event, tagged, not two."""
    exc = _caught("s-2")
    log.info("routine progress, not an event")
    tags = {"topic": "scripts.drafted", "agent": "render", "problem_id": "p-7"}
    log.error("dead-lettering", exc_info=exc, extra={"munjero": tags})
    errors.capture_step_error(
        exc, topic="scripts.drafted", agent="render", problem_id="p-7", fatal=False
    )
    # The step's tags stay in the step: a later, unrelated error has none of them.
    try:
        raise KeyError("unrelated")
    except KeyError as other:
        sentry_sdk.capture_exception(other)
    sentry_sdk.flush(timeout=10)

    first, second = sentry.events()
    assert first["logger"] == "tests.sentry_capture"
    assert {k: first["tags"][k] for k in tags} == tags
    assert first["fingerprint"] == [errors.exception_attributes(exc)[errors.FINGERPRINT_ATTRIBUTE]]
    assert second["exception"]["values"][0]["type"] == "KeyError"
    assert "topic" not in second["tags"]
    assert second["tags"]["service"] == "render-worker"
    # INFO became (at most) a breadcrumb below WARNING: not recorded at all.
    crumbs = first.get("breadcrumbs", {}).get("values", [])
    assert not any(c.get("message") == "routine progress, not an event" for c in crumbs)


def test_capture_never_raises_when_the_endpoint_is_gone() -> None:
    # A DSN nobody listens on: the transport fails in its own thread, the caller goes on.
    assert errors.init_sentry(
        "http://publickey@127.0.0.1:9/1", environment="t", release="r", service="s"
    )
    try:
        errors.capture_step_error(
            _caught("s-3"), topic="t", agent="a", problem_id=None, fatal=False
        )
        sentry_sdk.flush(timeout=2)
    finally:
        errors.shutdown_sentry()
