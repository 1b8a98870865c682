"""Alert delivery end to end by the real tools: Debian's Prometheus scrapes a real /metrics
endpoint and evaluates the generated rules, Debian's Alertmanager delivers to a Slack webhook
receiver and an aiosmtpd server.

This is the configuration ``munjero up`` runs (``observability.monitoring.local_monitoring``),
with every rule duration shrunk by ``alert_window_scale`` (the 5-minute failure window becomes
5 s) and Alertmanager's group timers set to a second, so the whole story takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client import CollectorRegistry, Counter, generate_latest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from observability.alerts.rules import RULES
from observability.monitoring import LocalMonitoring, local_monitoring
from streams.settings import Settings
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

SCALE = 1 / 60  # rule durations: the 5 min failure window -> 5 s
EVERY_S = 1.0  # Prometheus' scrape and evaluation interval
TICK_S = 0.25  # how often the fake worker counts a batch of events


# -- Test servers -----------------------------------------------------------------------------


@dataclass
class SlackReceiver:
    """A Slack incoming webhook: records each JSON payload."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.messages.append(await request.json())
            return PlainTextResponse("ok")

        async def health(request: Request) -> Response:
            return PlainTextResponse("ok")

        return Starlette(
            routes=[Route("/hook", hook, methods=["POST"]), Route("/", health, methods=["GET"])]
        )

    def titles(self) -> list[str]:
        """Alertmanager's Slack payload: one attachment per notification."""
        return [str(m["attachments"][0]["title"]) for m in self.messages]


class MailHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        # The default policy unfolds long headers, as a mail client shows them.
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def text(self, index: int) -> str:
        part = self.messages[index].get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def slack() -> Iterator[tuple[SlackReceiver, str]]:
    receiver = SlackReceiver()
    with serve_in_thread(receiver.app(), name="slack receiver") as url:
        yield receiver, f"{url}/hook"


@pytest.fixture
def smtp() -> Iterator[tuple[MailHandler, int]]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()  # returns once the server answers
    try:
        yield handler, port
    finally:
        controller.stop()


@dataclass
class Worker:
    """A process's /metrics: the real prometheus_client exposition of the agent counters."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.events_in = Counter(
            "munjero_events_in_total", "in", ["agent", "topic"], registry=self.registry
        )
        self.events_failed = Counter(
            "munjero_events_failed_total",
            "failed",
            ["agent", "topic", "route"],
            registry=self.registry,
        )

    def app(self) -> Starlette:
        async def metrics(request: Request) -> Response:
            return Response(generate_latest(self.registry), media_type="text/plain")

        return Starlette(routes=[Route("/metrics", metrics)])


def settings_for(tmp_path: Path, slack_url: str, smtp_port: int) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        alert_slack_webhook_url=SecretStr(slack_url),
        alert_smtp_host="127.0.0.1",
        alert_smtp_port=smtp_port,
        alert_email_to=("oncall@example.com",),
        alert_evaluate_every_s=EVERY_S,
        alert_window_scale=SCALE,
    )


def announce(settings: Settings, job: str, url: str) -> None:
    """What a worker's process server does: a file_sd file under data_dir/targets."""
    targets = settings.data_dir / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    address = url.removeprefix("http://")
    (targets / f"{job}.json").write_text(
        json.dumps([{"targets": [address], "labels": {"job": job}}])
    )


async def until(what: str, check: Callable[[], Any], timeout: float = 45.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
            if last:
                return last
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        await asyncio.sleep(0.1)  # polling interval of a bounded wait
    raise AssertionError(f"{what}: not within {timeout}s (last: {last})")


async def get_json(url: str) -> Any:
    async with httpx.AsyncClient(timeout=2) as client:
        return (await client.get(url)).json()


@contextlib.asynccontextmanager
async def traffic(worker: Worker, failing: dict[str, bool]) -> Any:
    """The render agent consumes 100 events per tick; 30 of them fail while ``failing``."""

    async def run() -> None:
        while True:
            worker.events_in.labels("render", "scripts").inc(100)
            failed = worker.events_failed.labels("render", "scripts", "retry-1")
            if failing["on"]:
                failed.inc(30)
            await asyncio.sleep(TICK_S)  # the pace of the simulated traffic

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- Tests ------------------------------------------------------------------------------------


async def test_failure_spike_is_sent_once_by_slack_and_email_then_resolved_once(
    slack: tuple[SlackReceiver, str], smtp: tuple[MailHandler, int], tmp_path: Path
) -> None:
    receiver, slack_url = slack
    mail, smtp_port = smtp
    settings = settings_for(tmp_path, slack_url, smtp_port)
    worker, api = Worker(), Worker()
    failing = {"on": False}
    with (
        serve_in_thread(worker.app(), health_path="/metrics", name="worker") as worker_url,
        serve_in_thread(api.app(), health_path="/metrics", name="api") as api_url,
    ):
        announce(settings, "munjero-worker-render", worker_url)
        monitoring: LocalMonitoring
        with local_monitoring(
            settings,
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            api_target=api_url.removeprefix("http://"),
            group_wait_s=1,
            group_interval_s=1,
        ) as monitoring:
            prometheus = monitoring.prometheus_url
            async with traffic(worker, failing):
                # Prometheus loaded exactly the generated rules, found both targets and its
                # Alertmanager, and Alertmanager runs the generated configuration.
                rules = await until(
                    "rules loaded",
                    lambda: get_json(f"{prometheus}/api/v1/rules"),
                )
                loaded = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
                assert loaded == {r.name for r in RULES}

                async def both_up() -> bool:
                    active = (await get_json(f"{prometheus}/api/v1/targets"))["data"]
                    return {(t["labels"]["job"], t["health"]) for t in active["activeTargets"]} == {
                        ("munjero-worker-render", "up"),
                        ("munjero-api", "up"),
                    }

                await until("both targets up", both_up)
                await until(
                    "Prometheus found its Alertmanager",
                    lambda: get_json(f"{prometheus}/api/v1/alertmanagers"),
                )
                status = await get_json(f"{monitoring.alertmanager_url}/api/v2/status")
                assert yaml.safe_load(status["config"]["original"])["route"]["group_by"] == [
                    "alertname"
                ]

                # Healthy: the rule's own expression sees the traffic and a zero failure rate.
                ratio = next(r for r in RULES if r.name == "HighFailureRate").promql(SCALE)
                ratio = ratio.rsplit(" > ", 1)[0]

                async def rate_is_zero() -> bool:
                    body = await get_json(f"{prometheus}/api/v1/query?query={ratio}")
                    return [s["value"][1] for s in body["data"]["result"]] == ["0"]

                await until("a measured zero failure rate", rate_is_zero)
                assert receiver.messages == []
                assert mail.messages == []

                # The spike: 30% of the events fail until the alert has been delivered.
                failing["on"] = True
                await until("one Slack message", lambda: receiver.messages)
                await until("one e-mail", lambda: mail.messages)
                failing["on"] = False

                # The alert keeps firing until the 5 s window no longer sees a failure (several
                # Alertmanager group intervals); then it resolves and each channel gets exactly
                # one more message.
                await until("the resolved Slack message", lambda: len(receiver.messages) >= 2)
                await until("the resolved e-mail", lambda: len(mail.messages) >= 2)

            assert receiver.titles() == [
                "[FIRING] HighFailureRate (page)",
                "[RESOLVED] HighFailureRate (page)",
            ]
            assert mail.subjects() == receiver.titles()
            firing = receiver.messages[0]["attachments"][0]["text"]
            assert firing.startswith("render fails ")
            assert "Runbook: docs/runbook.md#highfailurerate" in firing
            assert mail.messages[0]["To"] == "oncall@example.com"
            assert "docs/runbook.md#highfailurerate" in mail.text(0)
        # Both stopped on exit.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{monitoring.prometheus_url}/-/ready", timeout=1)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{monitoring.alertmanager_url}/-/ready", timeout=1)
