"""Scraping ``/metrics`` for the embedded alert evaluator: the part of Prometheus it needs.

Each evaluation cycle fetches every target's Prometheus text exposition (short timeout, all
targets concurrently), records ``up`` 1/0 per target with ``job``/``instance`` labels like
Prometheus does, and appends the samples to a ``SeriesStore``. Targets come from a callable so
the caller decides how they are discovered: ``file_sd_targets`` reads the ``file_sd`` JSON that
workers write into ``data_dir/targets``; the API process adds itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from observability.alerts.store import SeriesStore

log = logging.getLogger(__name__)

Target = tuple[str, str]  # (job, URL of the /metrics endpoint)
TargetSource = Callable[[], Sequence[Target]]


def file_sd_targets(directory: Path) -> list[Target]:
    """``(job, http://host:port/metrics)`` for every target in Prometheus ``file_sd`` files
    (``[{"targets": ["host:port"], "labels": {"job": ...}}]``) under ``directory``.

    Unreadable or half-written files are skipped: a worker replaces its file atomically, and
    the next cycle reads it again.
    """
    found: list[Target] = []
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            groups = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(groups, list):
            continue
        for group in groups:
            if not isinstance(group, dict):
                continue
            labels = group.get("labels") or {}
            job = str(labels.get("job", "munjero"))
            path_label = str(labels.get("__metrics_path__", "/metrics"))
            for address in group.get("targets") or []:
                found.append((job, f"http://{address}{path_label}"))
    return found


def instance_of(url: str) -> str:
    """``host:port`` of a scrape URL: Prometheus' ``instance`` label."""
    return urlsplit(url).netloc


def parse_exposition(
    text: str, target_labels: Mapping[str, str]
) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a text exposition, with the target's labels attached.

    A scraped label that clashes with a target label is kept as ``exported_<name>`` (Prometheus'
    default ``honor_labels: false``). ``*_created`` samples are skipped: they are creation
    timestamps no rule reads, and they would double the store.
    """
    samples: list[tuple[str, dict[str, str], float]] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels: dict[str, str] = {}
            for key, value in sample.labels.items():
                labels[f"exported_{key}" if key in target_labels else key] = value
            labels.update(target_labels)
            samples.append((sample.name, labels, float(sample.value)))
    return samples


class Scraper:
    """Scrapes every target into ``store``; one failing target never stops the others."""

    def __init__(
        self,
        store: SeriesStore,
        targets: TargetSource,
        *,
        timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.store = store
        self._targets = targets
        self._timeout_s = timeout_s
        self._client = client
        self._known: set[str] = set()

    async def scrape(self, now: float) -> dict[str, bool]:
        """Scrape all targets, timestamp the samples ``now``; returns ``{url: up}``."""
        try:
            targets = list(dict.fromkeys(self._targets()))
        except Exception:
            # Discovery failing must not stop evaluation; keep the last known targets' state.
            log.exception("alert target discovery failed")
            return {}
        client = self._client or httpx.AsyncClient(timeout=self._timeout_s)
        try:
            results = await asyncio.gather(*(self._scrape_one(client, t, now) for t in targets))
        finally:
            if self._client is None:
                await client.aclose()
        urls = {url for _, url in targets}
        for gone in self._known - urls:
            # A target that left discovery (a worker that stopped cleanly): its series end,
            # including ``up``, so ServiceDown does not fire for it, as in Prometheus.
            self.store.drop_target(gone, now)
        self._known = urls
        self.store.prune(now)
        return dict(zip([url for _, url in targets], results, strict=True))

    async def _scrape_one(self, client: httpx.AsyncClient, target: Target, now: float) -> bool:
        job, url = target
        target_labels = {"job": job, "instance": instance_of(url)}
        samples: list[tuple[str, dict[str, str], float]] = []
        up = False
        try:
            response = await client.get(url, timeout=self._timeout_s)
            response.raise_for_status()
            samples = parse_exposition(response.text, target_labels)
            up = True
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("scrape of %s (%s) failed: %s", url, job, exc)
            samples = []
        # On failure only ``up 0`` is ingested, so every other series of the target goes stale.
        self.store.ingest_target(url, [("up", target_labels, 1.0 if up else 0.0), *samples], now)
        return up


def static_targets(targets: Iterable[Target]) -> TargetSource:
    fixed = list(targets)
    return lambda: fixed
