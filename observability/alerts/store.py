"""A bounded in-memory time-series store: what the embedded alert evaluator reads.

Pure data structure, no I/O: ``observability.alerts.scrape`` fills it from ``/metrics``
endpoints, tests fill it directly. It follows the two Prometheus behaviours the rules depend on:

* every sample carries the scrape time, and samples older than ``retention_s`` are dropped, so
  memory stays bounded however long the factory runs;
* a series that disappears (its target stopped answering or stopped exporting it) gets a
  staleness marker, so an instant query stops returning its last value at once instead of for
  the whole lookback window (Prometheus does the same since 2.0).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# Prometheus marks staleness with a special NaN; any NaN here means "the series ended".
STALE = math.nan

Labels = tuple[tuple[str, str], ...]
SeriesKey = tuple[str, Labels]
Sample = tuple[float, float]  # (unix seconds, value)


def label_key(labels: Mapping[str, str]) -> Labels:
    """Labels in a canonical, hashable form. Empty values are dropped, as in Prometheus."""
    return tuple(sorted((k, v) for k, v in labels.items() if v != ""))


def is_stale(value: float) -> bool:
    return math.isnan(value)


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    samples: tuple[Sample, ...]  # oldest first


class SeriesStore:
    """Samples per series, oldest first, pruned to ``retention_s`` behind the newest time."""

    def __init__(self, retention_s: float) -> None:
        if retention_s <= 0:
            raise ValueError("retention_s must be positive")
        self.retention_s = retention_s
        self._series: dict[SeriesKey, deque[Sample]] = {}
        # Which series each scrape target exported last time, to stale-mark the ones it drops.
        self._by_target: dict[str, set[SeriesKey]] = {}

    def add(self, name: str, labels: Mapping[str, str], t: float, value: float) -> None:
        samples = self._series.setdefault((name, label_key(labels)), deque())
        if samples and t < samples[-1][0]:
            return  # out of order: Prometheus rejects it too, and the range maths assumes order
        samples.append((t, value))

    def mark_stale(self, key: SeriesKey, t: float) -> None:
        samples = self._series.get(key)
        if samples and not is_stale(samples[-1][1]):
            samples.append((t, STALE))

    def ingest_target(
        self, target: str, samples: Iterable[tuple[str, Mapping[str, str], float]], t: float
    ) -> None:
        """Record one successful scrape of ``target``; series it no longer exports go stale."""
        seen: set[SeriesKey] = set()
        for name, labels, value in samples:
            self.add(name, labels, t, value)
            seen.add((name, label_key(labels)))
        for key in self._by_target.get(target, set()) - seen:
            self.mark_stale(key, t)
        self._by_target[target] = seen

    def drop_target(self, target: str, t: float) -> None:
        """The target failed or was removed: everything it exported ends now."""
        for key in self._by_target.pop(target, set()):
            self.mark_stale(key, t)

    def prune(self, now: float) -> None:
        horizon = now - self.retention_s
        for key in list(self._series):
            samples = self._series[key]
            while samples and samples[0][0] < horizon:
                samples.popleft()
            if not samples:
                del self._series[key]

    def select(self, name: str) -> list[Series]:
        """Every series of metric ``name`` (a snapshot: later writes do not change it)."""
        return [
            Series(name, dict(labels), tuple(samples))
            for (metric, labels), samples in self._series.items()
            if metric == name
        ]

    def __len__(self) -> int:
        return sum(len(samples) for samples in self._series.values())
