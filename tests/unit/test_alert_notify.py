"""Notification deduplication and retry, with fake channels (no network)."""

from __future__ import annotations

from dataclasses import dataclass, field

from observability.alerts.evaluator import AlertInstance, AlertState
from observability.alerts.notify import Notification, Notifier, SlackChannel


@dataclass
class FakeChannel:
    name: str
    sent: list[str] = field(default_factory=list)
    failures: int = 0  # how many of the next sends raise

    async def send(self, notification: Notification) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("refused")
        self.sent.append(notification.title)


def alert(agent: str = "render", state: AlertState = AlertState.FIRING) -> AlertInstance:
    labels = {"alertname": "HighFailureRate", "severity": "page", "agent": agent}
    return AlertInstance(
        "HighFailureRate", "page", labels, 0.3, state, 0.0, annotations={"summary": agent}
    )


async def test_firing_once_then_repeat_after_repeat_s_then_resolved_once() -> None:
    channel = FakeChannel("slack")
    notifier = Notifier([channel], repeat_s=100)
    for now in (0.0, 10.0, 99.0):
        await notifier.notify([alert()], now)
    assert channel.sent == ["[FIRING] HighFailureRate (page)"]
    await notifier.notify([alert()], 100.0)  # reminder
    assert len(channel.sent) == 2
    await notifier.notify([], 110.0)
    await notifier.notify([], 120.0)
    assert channel.sent[2:] == ["[RESOLVED] HighFailureRate (page)"]


async def test_pending_alerts_are_not_sent() -> None:
    channel = FakeChannel("slack")
    await Notifier([channel], repeat_s=100).notify([alert(state=AlertState.PENDING)], 0.0)
    assert channel.sent == []


async def test_failed_channel_is_retried_alone() -> None:
    slack, email = FakeChannel("slack", failures=2), FakeChannel("email")
    notifier = Notifier([slack, email], repeat_s=1000)
    delivered = await notifier.notify([alert()], 0.0)
    assert [d.channel for d in delivered] == ["email"]
    await notifier.notify([alert()], 1.0)  # slack fails again
    await notifier.notify([alert()], 2.0)
    assert slack.sent == ["[FIRING] HighFailureRate (page)"]
    assert email.sent == ["[FIRING] HighFailureRate (page)"]
    # A failed resolved message is retried too.
    slack.failures = 1
    await notifier.notify([], 3.0)
    await notifier.notify([], 4.0)
    assert slack.sent[1:] == ["[RESOLVED] HighFailureRate (page)"]
    assert email.sent[1:] == ["[RESOLVED] HighFailureRate (page)"]


async def test_an_alert_never_delivered_is_not_resolved() -> None:
    slack = FakeChannel("slack", failures=1)
    notifier = Notifier([slack], repeat_s=1000)
    await notifier.notify([alert()], 0.0)
    await notifier.notify([], 1.0)
    assert slack.sent == []


async def test_alerts_are_deduplicated_by_labels() -> None:
    slack = FakeChannel("slack")
    notifier = Notifier([slack], repeat_s=1000)
    await notifier.notify([alert("render"), alert("draft")], 0.0)
    await notifier.notify([alert("draft"), alert("render")], 1.0)
    assert len(slack.sent) == 2


def test_slack_payload_has_text_fallback_and_blocks() -> None:
    payload = SlackChannel.payload(Notification(alert(), resolved=False))
    assert payload["text"] == "[FIRING] HighFailureRate (page): render"
    assert payload["blocks"][0]["type"] == "section"
