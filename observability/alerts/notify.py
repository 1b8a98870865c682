"""Alert delivery for the embedded default: a Slack incoming webhook and email over SMTP.

What Alertmanager does in production (``observability.monitoring.alertmanager_config``), reduced
to what one process needs:

* deduplication by fingerprint (alertname + sorted labels), per channel: a firing alert is
  sent once, then again only after ``repeat_s``; one RESOLVED message when it clears;
* a failed delivery is logged and retried at the next cycle, only on the channel that failed,
  so the other channel does not get a duplicate; the loop never dies of it.

The decision of what to send (``plan``) is pure; the channels do the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from observability.alerts.evaluator import AlertInstance, AlertState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    alert: AlertInstance
    resolved: bool

    @property
    def status(self) -> str:
        return "RESOLVED" if self.resolved else "FIRING"

    @property
    def title(self) -> str:
        return f"[{self.status}] {self.alert.alertname} ({self.alert.severity})"

    @property
    def text(self) -> str:
        """One line: what a phone notification shows."""
        summary = self.alert.annotations.get("summary", "")
        return f"{self.title}: {summary}" if summary else self.title

    def details(self) -> str:
        a = self.alert
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in ("alertname", "severity")
        )
        lines = [
            self.text,
            "",
            a.annotations.get("description", ""),
            f"Labels: {labels or '-'}",
            f"Runbook: {a.annotations.get('runbook_url', '-')}",
        ]
        if not self.resolved:
            lines.insert(3, f"Value: {a.value:g}")
        return "\n".join(lines)


class Channel(Protocol):
    """Where notifications go. ``send`` raises on failure; the Notifier retries later."""

    name: str

    async def send(self, notification: Notification) -> None: ...


class SlackChannel:
    """A Slack incoming webhook: ``POST {"text", "blocks"}`` as JSON."""

    name = "slack"

    def __init__(
        self, webhook_url: str, *, timeout_s: float = 10.0, client: httpx.AsyncClient | None = None
    ) -> None:
        self._url = webhook_url
        self._timeout_s = timeout_s
        self._client = client

    @staticmethod
    def payload(notification: Notification) -> dict[str, Any]:
        emoji = ":white_check_mark:" if notification.resolved else ":rotating_light:"
        return {
            # ``text`` is the fallback shown in notifications; blocks are the message body.
            "text": notification.text,
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"{emoji} *{notification.title}*"},
                },
                {
                    "type": "section",
                    "text": {"type": "plain_text", "text": notification.details()},
                },
            ],
        }

    async def send(self, notification: Notification) -> None:
        payload = self.payload(notification)
        if self._client is not None:
            response = await self._client.post(self._url, json=payload, timeout=self._timeout_s)
        else:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.post(self._url, json=payload)
        response.raise_for_status()


class LogChannel:
    """The channel of last resort when none is configured: the alert goes to the log."""

    name = "log"

    async def send(self, notification: Notification) -> None:
        log.warning("ALERT %s", notification.text)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10.0


class EmailChannel:
    """Email over SMTP. smtplib is blocking, so each message is sent in a worker thread."""

    name = "email"

    def __init__(self, config: SmtpConfig) -> None:
        if not config.recipients:
            raise ValueError("an email channel needs at least one recipient")
        self.config = config

    def message(self, notification: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = notification.text
        msg["From"] = self.config.sender
        msg["To"] = ", ".join(self.config.recipients)
        msg.set_content(notification.details())
        return msg

    async def send(self, notification: Notification) -> None:
        await asyncio.to_thread(self._send_blocking, self.message(notification))

    def _send_blocking(self, msg: EmailMessage) -> None:
        c = self.config
        with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
            if c.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if c.user and c.password is not None:
                smtp.login(c.user, c.password)
            smtp.send_message(msg)


# -- Deduplication ----------------------------------------------------------------------------


@dataclass
class _Sent:
    """What one channel was told about one alert."""

    alert: AlertInstance
    last_firing_sent: float | None  # None: the firing message has not got through yet


@dataclass(frozen=True)
class Delivery:
    channel: str
    fingerprint: str
    notification: Notification


def plan(
    firing: Mapping[str, AlertInstance],
    sent: Mapping[tuple[str, str], _Sent],
    channels: Sequence[str],
    now: float,
    repeat_s: float,
) -> list[Delivery]:
    """The messages due at ``now``: pure, so the dedup rules are tested without I/O."""
    due: list[Delivery] = []
    for channel in channels:
        for fp, alert in firing.items():
            state = sent.get((channel, fp))
            last = state.last_firing_sent if state else None
            if last is None or now - last >= repeat_s:
                due.append(Delivery(channel, fp, Notification(alert, resolved=False)))
    for (channel, fp), state in sent.items():
        if fp not in firing and state.last_firing_sent is not None and channel in channels:
            due.append(Delivery(channel, fp, Notification(state.alert, resolved=True)))
    return due


class Notifier:
    def __init__(self, channels: Sequence[Channel], *, repeat_s: float) -> None:
        self.channels = {c.name: c for c in channels}
        self.repeat_s = repeat_s
        self._sent: dict[tuple[str, str], _Sent] = {}

    async def notify(self, alerts: Iterable[AlertInstance], now: float) -> list[Delivery]:
        """Deliver what is due given the alerts of one evaluation; returns what got through.

        Only firing alerts count: an alert that is no longer among them has resolved (or the
        evaluator restarted and it is pending again), and a resolved message is due once.
        """
        firing = {a.fingerprint: a for a in alerts if a.state is AlertState.FIRING}
        for (_, fp), state in list(self._sent.items()):
            if fp in firing:
                state.alert = firing[fp]  # keep the latest value for the resolved message
        # A firing message that never got through has nothing to resolve: forget it.
        unsent = [k for k, s in self._sent.items() if s.last_firing_sent is None]
        for key in unsent:
            if key[1] not in firing:
                del self._sent[key]
        due = plan(firing, self._sent, list(self.channels), now, self.repeat_s)
        outcomes = await asyncio.gather(*(self._deliver(d) for d in due))
        delivered: list[Delivery] = []
        for delivery, ok in zip(due, outcomes, strict=True):
            key = (delivery.channel, delivery.fingerprint)
            if delivery.notification.resolved:
                if ok:
                    del self._sent[key]  # done with this alert on this channel
            else:
                # Recorded even when it failed, so the retry keeps the alert's identity.
                state = self._sent.setdefault(key, _Sent(delivery.notification.alert, None))
                if ok:
                    state.last_firing_sent = now
            if ok:
                delivered.append(delivery)
        return delivered

    async def _deliver(self, delivery: Delivery) -> bool:
        try:
            await self.channels[delivery.channel].send(delivery.notification)
        except Exception as exc:
            # Any failure (network, SMTP refusal, a 500 from Slack) is retried next cycle.
            log.warning(
                "alert %s to %s failed, retrying next cycle: %s",
                delivery.notification.title,
                delivery.channel,
                exc,
            )
            return False
        log.info("alert %s sent to %s", delivery.notification.title, delivery.channel)
        return True
