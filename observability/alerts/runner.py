"""The embedded alerting loop: scrape → evaluate → notify, every ``alert_evaluate_every_s``.

Runs inside the supervisor of ``munjero up`` when no external Prometheus/Alertmanager is used.
``tick(now)`` is one cycle with an explicit clock, so tests drive time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from observability.alerts.evaluator import LOOKBACK_S, AlertInstance, Evaluator, max_window_s
from observability.alerts.notify import (
    Channel,
    Delivery,
    EmailChannel,
    LogChannel,
    Notifier,
    SlackChannel,
    SmtpConfig,
)
from observability.alerts.scrape import Scraper, TargetSource
from observability.alerts.store import SeriesStore
from streams.settings import Settings

log = logging.getLogger(__name__)


class AlertRunner:
    def __init__(
        self,
        scraper: Scraper,
        evaluator: Evaluator,
        notifier: Notifier,
        *,
        evaluate_every_s: float,
    ) -> None:
        self.scraper = scraper
        self.evaluator = evaluator
        self.notifier = notifier
        self.evaluate_every_s = evaluate_every_s
        self.last_alerts: list[AlertInstance] = []

    @property
    def store(self) -> SeriesStore:
        return self.scraper.store

    async def tick(self, now: float) -> list[Delivery]:
        """One cycle at time ``now``; returns the notifications that got through."""
        await self.scraper.scrape(now)
        self.last_alerts = self.evaluator.evaluate(self.store, now)
        return await self.notifier.notify(self.last_alerts, now)

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until ``stop`` is set. A failing cycle is logged and the next one runs."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.tick(time.time())
            except Exception:
                log.exception("alert evaluation cycle failed")
            remaining = self.evaluate_every_s - (time.monotonic() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(remaining, 0.0))


def channels_from_settings(settings: Settings) -> list[Channel]:
    """Slack when a webhook URL is set; email when an SMTP host and recipients are set."""
    channels: list[Channel] = []
    if settings.alert_slack_webhook_url is not None:
        channels.append(SlackChannel(settings.alert_slack_webhook_url.get_secret_value()))
    if settings.alert_smtp_host and settings.alert_email_to:
        password = settings.alert_smtp_password
        channels.append(
            EmailChannel(
                SmtpConfig(
                    host=settings.alert_smtp_host,
                    port=settings.alert_smtp_port,
                    sender=settings.alert_email_from,
                    recipients=tuple(settings.alert_email_to),
                    user=settings.alert_smtp_user,
                    password=password.get_secret_value() if password is not None else None,
                    starttls=settings.alert_smtp_starttls,
                )
            )
        )
    return channels


def from_settings(settings: Settings, targets: TargetSource) -> AlertRunner:
    """The runner of one process. With no channel configured alerts are only logged."""
    scale = settings.alert_window_scale
    every = settings.alert_evaluate_every_s
    # Lookback must span at least a couple of cycles, or a scaled-down window would see no
    # sample between two scrapes.
    lookback = max(LOOKBACK_S * scale, 2.5 * every)
    # Twice the longest look back any rule takes (a window, or an ``offset`` plus lookback).
    store = SeriesStore(retention_s=2 * (max_window_s(scale=scale) + lookback))
    channels = channels_from_settings(settings)
    if not channels:
        log.warning("no alert channel configured (Slack webhook or SMTP): alerts are only logged")
        channels = [LogChannel()]
    return AlertRunner(
        Scraper(store, targets, timeout_s=min(5.0, max(every / 2, 0.5))),
        Evaluator(window_scale=scale, lookback_s=lookback),
        Notifier(channels, repeat_s=settings.alert_repeat_s),
        evaluate_every_s=every,
    )
