"""Alert delivery end to end: real /metrics endpoints, a Slack webhook receiver, an SMTP server.

The runner scrapes a Prometheus registry served over HTTP, evaluates the real rules (windows
shrunk by ``alert_window_scale``) and delivers to a local webhook receiver and an aiosmtpd
server. Time is driven explicitly through ``tick(now)``: samples are stamped with that ``now``,
so the scenario is deterministic and takes no wall-clock waiting.

Also: the local Prometheus + Alertmanager pair of ``munjero up --with-monitoring`` started from
the generated configuration.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
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
from observability.alerts.runner import AlertRunner, from_settings
from observability.alerts.scrape import Target
from observability.monitoring import local_monitoring
from streams.settings import Settings
from tests.servers import serve_in_thread

pytestmark = pytest.mark.integration

SCALE = 1 / 64  # 5 min -> ~4.7 s, for: 60 s -> ~0.9 s
STEP = 1.0  # seconds of simulated time between ticks


# -- Test servers -----------------------------------------------------------------------------


@dataclass
class SlackReceiver:
    """A Slack incoming webhook: records each JSON payload; can refuse the next N posts."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            if self.fail_next > 0:
                self.fail_next -= 1
                return PlainTextResponse("internal_error", status_code=500)
            self.messages.append(await request.json())
            return PlainTextResponse("ok")

        async def health(request: Request) -> Response:
            return PlainTextResponse("ok")

        return Starlette(
            routes=[Route("/hook", hook, methods=["POST"]), Route("/", health, methods=["GET"])]
        )

    def texts(self) -> list[str]:
        return [str(m["text"]) for m in self.messages]


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
            "munjero_events_in", "in", ["agent", "topic"], registry=self.registry
        )
        self.events_failed = Counter(
            "munjero_events_failed", "failed", ["agent", "topic", "route"], registry=self.registry
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
        alert_evaluate_every_s=STEP,
        alert_window_scale=SCALE,
    )


async def drive(runner: AlertRunner, start: float, ticks: range) -> float:
    now = start
    for i in ticks:
        now = start + i * STEP
        await runner.tick(now)
    return now


# -- Tests ------------------------------------------------------------------------------------


async def test_failure_spike_sends_one_message_each_then_one_resolved(
    slack: tuple[SlackReceiver, str], smtp: tuple[MailHandler, int], tmp_path: Path
) -> None:
    receiver, slack_url = slack
    mail, smtp_port = smtp
    worker = Worker()
    with serve_in_thread(worker.app(), health_path="/metrics", name="worker") as url:
        targets: list[Target] = [("munjero-worker-render", f"{url}/metrics")]
        runner = from_settings(settings_for(tmp_path, slack_url, smtp_port), lambda: targets)
        start = time.time()

        def healthy_traffic() -> None:
            worker.events_in.labels("render", "scripts").inc(100)
            worker.events_failed.labels("render", "scripts", "retry-1")  # exported as 0

        # Healthy: 100 events per tick, none failing.
        for i in range(8):
            healthy_traffic()
            await runner.tick(start + i * STEP)
        assert receiver.messages == []
        assert mail.messages == []

        # The spike: 30% of the events fail for 10 ticks (twice the scaled 5 min window).
        fired_at = None
        for i in range(8, 18):
            healthy_traffic()
            worker.events_failed.labels("render", "scripts", "retry-1").inc(30)
            await runner.tick(start + i * STEP)
            if fired_at is None and receiver.messages:
                fired_at = i
        assert fired_at is not None, "HighFailureRate never fired"
        assert len(receiver.messages) == 1, receiver.texts()
        assert len(mail.messages) == 1, mail.subjects()
        assert receiver.texts()[0].startswith("[FIRING] HighFailureRate (page): render fails")
        assert mail.subjects()[0].startswith("[FIRING] HighFailureRate")
        assert mail.messages[0]["To"] == "oncall@example.com"
        body = mail.messages[0].get_content()
        assert "docs/runbook.md#highfailurerate" in body

        # Recovered: no failures. Once the window no longer sees them the alert resolves.
        for i in range(18, 30):
            healthy_traffic()
            await runner.tick(start + i * STEP)
        assert receiver.texts()[1:] == [receiver.texts()[1]], "exactly one more Slack message"
        assert receiver.texts()[1].startswith("[RESOLVED] HighFailureRate")
        assert len(mail.messages) == 2, mail.subjects()
        assert mail.subjects()[1].startswith("[RESOLVED] HighFailureRate")
        blocks = receiver.messages[1]["blocks"]
        assert isinstance(blocks, list)
        assert blocks  # rich layout for Slack, ``text`` as the notification fallback


async def test_a_failed_slack_delivery_is_retried_without_duplicating_email(
    slack: tuple[SlackReceiver, str], smtp: tuple[MailHandler, int], tmp_path: Path
) -> None:
    receiver, slack_url = slack
    mail, smtp_port = smtp
    worker = Worker()
    receiver.fail_next = 1  # Slack answers 500 to the first post
    with serve_in_thread(worker.app(), health_path="/metrics", name="worker") as url:
        targets: list[Target] = [("munjero-worker-draft", f"{url}/metrics")]
        runner = from_settings(settings_for(tmp_path, slack_url, smtp_port), lambda: targets)
        start = time.time()
        worker.events_in.labels("draft", "problems").inc(100)
        worker.events_failed.labels("draft", "problems", "dead-letter")
        await runner.tick(start)
        worker.events_in.labels("draft", "problems").inc(100)
        worker.events_failed.labels("draft", "problems", "dead-letter").inc(50)
        delivered = await runner.tick(start + STEP)
        assert [d.channel for d in delivered] == ["email"]
        assert receiver.messages == []
        assert len(mail.messages) == 1
        for i in range(2, 4):
            worker.events_in.labels("draft", "problems").inc(100)
            worker.events_failed.labels("draft", "problems", "dead-letter").inc(50)
            await runner.tick(start + i * STEP)
        assert len(receiver.messages) == 1  # retried once, then deduplicated
        assert len(mail.messages) == 1


async def test_service_down_when_a_target_stops_answering(
    slack: tuple[SlackReceiver, str], smtp: tuple[MailHandler, int], tmp_path: Path
) -> None:
    receiver, slack_url = slack
    mail, smtp_port = smtp
    stays, goes = Worker(), Worker()
    with serve_in_thread(stays.app(), health_path="/metrics", name="stays") as stays_url:
        targets: list[Target] = [("munjero-api", f"{stays_url}/metrics")]
        runner = from_settings(settings_for(tmp_path, slack_url, smtp_port), lambda: targets)
        start = time.time()
        with serve_in_thread(goes.app(), health_path="/metrics", name="goes") as goes_url:
            targets.append(("munjero-worker-render", f"{goes_url}/metrics"))
            await drive(runner, start, range(3))
            assert receiver.messages == []
        # The render worker died without removing its target: scrapes are refused.
        instance = goes_url.removeprefix("http://")
        now = await drive(runner, start, range(3, 6))
        assert len(receiver.messages) == 1, receiver.texts()
        assert receiver.texts()[0] == (
            f"[FIRING] ServiceDown (page): munjero-worker-render on {instance}"
            " is not answering scrapes"
        )
        assert mail.subjects() == [receiver.texts()[0]]
        up = [a for a in runner.last_alerts if a.alertname == "ServiceDown"]
        assert [a.labels["instance"] for a in up] == [instance]

        # Removed from discovery (the supervisor cleaned up its file): the alert resolves.
        targets.pop()
        await runner.tick(now + STEP)
        await runner.tick(now + 2 * STEP)
        assert [t.split(":")[0] for t in receiver.texts()] == [
            "[FIRING] ServiceDown (page)",
            "[RESOLVED] ServiceDown (page)",
        ]
        assert len(mail.messages) == 2


async def _poll_json(url: str, ok: Any, deadline: float) -> Any:
    """GET ``url`` until ``ok(json)`` holds or the deadline passes."""
    last: Any = None
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                last = (await client.get(url)).json()
                if ok(last):
                    return last
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.2)  # polling interval of a bounded wait
        raise AssertionError(f"{url} never satisfied the condition; last answer: {last}")


@pytest.mark.slow
async def test_local_prometheus_and_alertmanager_load_our_rules_and_targets(
    tmp_path: Path,
) -> None:
    worker, api = Worker(), Worker()
    settings = Settings(data_dir=tmp_path / "data")
    with (
        serve_in_thread(worker.app(), health_path="/metrics", name="worker") as worker_url,
        serve_in_thread(api.app(), health_path="/metrics", name="api") as api_url,
    ):
        worker_address = worker_url.removeprefix("http://")
        targets_dir = settings.data_dir / "targets"
        targets_dir.mkdir(parents=True)
        (targets_dir / "render.json").write_text(
            json.dumps([{"targets": [worker_address], "labels": {"job": "munjero-worker-render"}}])
        )
        with local_monitoring(
            settings,
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            api_target=api_url.removeprefix("http://"),
            scrape_interval_s=1,
            evaluation_interval_s=1,
        ) as monitoring:
            deadline = time.monotonic() + 60
            rules = await _poll_json(
                f"{monitoring.prometheus_url}/api/v1/rules",
                lambda body: bool(body["data"]["groups"]),
                deadline,
            )
            loaded = {r["name"] for g in rules["data"]["groups"] for r in g["rules"]}
            assert loaded == {r.name for r in RULES}

            def both_up(body: Any) -> bool:
                active = body["data"]["activeTargets"]
                return {(t["labels"]["job"], t["health"]) for t in active} == {
                    ("munjero-worker-render", "up"),
                    ("munjero-api", "up"),
                }

            await _poll_json(f"{monitoring.prometheus_url}/api/v1/targets", both_up, deadline)
            # Prometheus found its Alertmanager.
            await _poll_json(
                f"{monitoring.prometheus_url}/api/v1/alertmanagers",
                lambda body: bool(body["data"]["activeAlertmanagers"]),
                deadline,
            )
            status = httpx.get(f"{monitoring.alertmanager_url}/api/v2/status", timeout=5).json()
            loaded_config = yaml.safe_load(status["config"]["original"])
            assert loaded_config["route"]["group_by"] == ["alertname"]
        # Stopped on exit.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{monitoring.prometheus_url}/-/ready", timeout=1)
