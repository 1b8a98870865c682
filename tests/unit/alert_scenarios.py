"""Synthetic alert scenarios: input series and the alerts expected from them, run through
``promtool test rules`` (``test_alert_promtool.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

STALE = math.nan  # promtool's ``stale``: the series ended (its target stopped exporting it)
MIN = 60
HOUR = 3600


@dataclass(frozen=True)
class Input:
    metric: str
    labels: dict[str, str]
    # One per interval from t=0; None: no sample; STALE: a staleness marker (the target
    # stopped exporting the series), promtool's ``stale``.
    values: list[float | None]


@dataclass(frozen=True)
class Scenario:
    alertname: str
    interval_s: int  # between input samples
    series: list[Input]
    # eval time (s) -> label sets (without alertname/severity) of the alerts firing then.
    expected: dict[int, list[dict[str, str]]]
    evaluation_interval_s: int = MIN

    @property
    def end_s(self) -> int:
        return max(self.expected)


def ramp(start: float, step: float, count: int) -> list[float | None]:
    return [start + step * i for i in range(count)]


def flat(value: float, count: int) -> list[float | None]:
    return [value] * count


RENDER = {"agent": "render"}
DRAFT = {"agent": "draft"}

SCENARIOS = [
    Scenario(
        "ServiceDown",
        MIN,
        [
            Input(
                "up",
                {"job": "munjero-worker-render", "instance": "127.0.0.1:9100"},
                [1, 1, 1, 0, 0, 0, 0, 1, 1, 1],
            ),
            # Not a munjero job: the regex matcher is anchored, so this never alerts.
            Input("up", {"job": "node", "instance": "127.0.0.1:9200"}, flat(0, 10)),
        ],
        {
            2 * MIN: [],
            3 * MIN: [],  # down, pending (for: 60s)
            4 * MIN: [{"job": "munjero-worker-render", "instance": "127.0.0.1:9100"}],
            6 * MIN: [{"job": "munjero-worker-render", "instance": "127.0.0.1:9100"}],
            7 * MIN: [],  # answering again: resolved
        },
    ),
    Scenario(
        "HighFailureRate",
        MIN,
        [
            Input("munjero_events_in_total", {**RENDER, "topic": "scripts"}, ramp(0, 100, 21)),
            Input(
                "munjero_events_failed_total",
                {**RENDER, "topic": "scripts", "route": "retry-1"},
                [0, 0, 0, 0, 0, 0, 20, 40, 60, 80, *flat(100, 11)],
            ),
            Input("munjero_events_in_total", {**DRAFT, "topic": "problems"}, ramp(0, 100, 21)),
            # The draft worker restarted at 3 min: its counter reset from 70 to 5. Without
            # reset handling the increase would be negative and the spike missed.
            Input(
                "munjero_events_failed_total",
                {**DRAFT, "topic": "problems", "route": "dead-letter"},
                [50, 60, 70, 5, 15, 25, 35, 45, 55, 65, *flat(75, 11)],
            ),
        ],
        {
            0: [],  # one sample: no rate yet
            1 * MIN: [DRAFT],  # extrapolated: 15 / 100 events
            3 * MIN: [DRAFT],  # across the counter reset
            6 * MIN: [DRAFT],  # render at exactly 4%: not above 5%
            7 * MIN: [DRAFT, RENDER],
            12 * MIN: [DRAFT, RENDER],
            13 * MIN: [RENDER],  # draft at 4%
            14 * MIN: [],
            20 * MIN: [],
        },
    ),
    Scenario(
        "ConsumerLagGrowing",
        MIN,
        [
            Input(
                "munjero_consumer_lag_records",
                {"group": "render", "topic": "scripts", "partition": "0"},
                [*ramp(0, 20, 31), *flat(600, 15)],
            ),
            Input(
                "munjero_consumer_lag_records",
                {"group": "render", "topic": "scripts", "partition": "1"},
                flat(50, 46),
            ),
            # Growing but small: under the 100-record floor, never alerts.
            Input(
                "munjero_consumer_lag_records",
                {"group": "draft", "topic": "problems", "partition": "0"},
                ramp(0, 1, 46),
            ),
        ],
        {
            9 * MIN: [],  # no sample 10 minutes back yet
            10 * MIN: [],  # pending (for: 10m)
            19 * MIN: [],
            20 * MIN: [{"group": "render", "topic": "scripts"}],
            39 * MIN: [{"group": "render", "topic": "scripts"}],
            40 * MIN: [],  # flat for 10 minutes
        },
    ),
    Scenario(
        "DeadLettersGrowing",
        MIN,
        [
            Input(
                "munjero_dead_letter_records", {"topic": "dlq.render"}, [0, 0, 0, 0, *flat(3, 20)]
            ),
            # Replayed from the DLQ: the depth falls, which is not an alert.
            Input("munjero_dead_letter_records", {"topic": "dlq.draft"}, [5, 5, 5, *flat(2, 21)]),
        ],
        {
            3 * MIN: [],
            4 * MIN: [{"topic": "dlq.render"}],
            18 * MIN: [{"topic": "dlq.render"}],
            19 * MIN: [],  # the 15-minute window no longer sees the increase
        },
    ),
    Scenario(
        "NoShortPublished",
        HOUR,
        [
            Input(
                "munjero_last_short_published_timestamp_seconds",
                {"job": "munjero-api", "instance": "127.0.0.1:8080"},
                [*flat(0, 26), *flat(26 * HOUR, 4)],
            )
        ],
        {24 * HOUR: [], 25 * HOUR: [{}], 26 * HOUR: [], 28 * HOUR: []},
        evaluation_interval_s=HOUR,
    ),
    Scenario(
        "YouTubeQuotaExhausted",
        MIN,
        [
            Input(
                "munjero_youtube_quota_remaining_units",
                {"job": "munjero-worker-publish", "instance": "127.0.0.1:9101"},
                [5000, 3000, 1600, 1599, 800, 10000, 10000],
            ),
            # A target that stopped exporting the gauge (stale at 1 min) must not hold the
            # minimum for the rest of the lookback window.
            Input(
                "munjero_youtube_quota_remaining_units",
                {"job": "munjero-worker-old", "instance": "127.0.0.1:9102"},
                [900, STALE, None, None, None, None, None],
            ),
        ],
        {0: [{}], 1 * MIN: [], 2 * MIN: [], 3 * MIN: [{}], 4 * MIN: [{}], 5 * MIN: [], 6 * MIN: []},
    ),
]
