"""When to observe a published short, and the ``MetricsObserved`` record of one observation.

Pure: no clock, no I/O. The caller passes ``now`` and the set of windows already observed.

Windows are ages of the short on its channel. ``time_scale`` is how many channel seconds pass
per wall-clock second: 1 on YouTube; ``MUNJERO_SIM_SPEED`` on the channel simulator, whose
audience ages a short faster than real time. Every time in a record is wall-clock time (nothing
lands in the future); a simulated snapshot carries the simulated age it describes in
``simulated_age_seconds``.

A snapshot for window ``w`` is taken at ``published_at + w``, or later when the poller is late
(a restart, a backlog). Its event id is derived from the ``ShortPublished`` event, the step and
the window only, so every snapshot of one (short, window) shares one event id. The ClickHouse
table ``metrics_observed`` is a ``ReplacingMergeTree(_ingested_at)`` ordered by
``(short_id, event_id)``: rows of the same (short, window) collapse to the one ingested last,
i.e. a later snapshot of a window supersedes an earlier one. That is what lets a poller re-take
a window whose first snapshot was premature (YouTube's daily, ~48 h late data) without
double-counting it. Readers that must not see a not-yet-merged duplicate use ``FINAL`` or
``argMax(..., _ingested_at)``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.records import MetricsObserved, ShortPublished
from streams.errors import ValidationError
from streams.events import derived_meta
from streams.ports.analytics import VideoMetrics

#: Polling windows after publication, in order. The names are the ``window`` field's values.
WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("1h", timedelta(hours=1)),
    ("6h", timedelta(hours=6)),
    ("24h", timedelta(hours=24)),
    ("72h", timedelta(hours=72)),
    ("7d", timedelta(days=7)),
)
WINDOW_NAMES: tuple[str, ...] = tuple(name for name, _ in WINDOWS)
_OFFSETS: dict[str, timedelta] = dict(WINDOWS)

#: The step name in derived event ids; changing it would change every snapshot's id.
STEP = "metrics"


def _require_aware(moment: datetime, name: str) -> None:
    # A naive datetime would be compared as local time by some callers and UTC by others.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")


def window_offset(window: str) -> timedelta:
    """How long after publication ``window`` is due; ``KeyError`` for an unknown window."""
    return _OFFSETS[window]


def due_at(published_at: datetime, window: str, time_scale: float = 1.0) -> datetime:
    """The earliest (wall-clock) moment a snapshot of ``window`` may be taken: when the short
    is ``window`` old on its channel."""
    return published_at + window_offset(window) / time_scale


def due_windows(
    published_at: datetime, now: datetime, done: set[str], time_scale: float = 1.0
) -> list[str]:
    """Windows whose time has come (``now >= due_at(window)``) and that are not in ``done``, in
    window order. A poller that was down for days gets every missed window at once; each is
    observed as of ``now``, so they may carry equal totals."""
    _require_aware(published_at, "published_at")
    _require_aware(now, "now")
    return [
        name
        for name, offset in WINDOWS
        if name not in done and now >= published_at + offset / time_scale
    ]


def next_due(published_at: datetime, done: set[str], time_scale: float = 1.0) -> datetime | None:
    """When the earliest window not in ``done`` is due (possibly in the past), or ``None``
    when every window has been observed."""
    _require_aware(published_at, "published_at")
    for name, offset in WINDOWS:
        if name not in done:
            return published_at + offset / time_scale
    return None


def metrics_record(
    short: ShortPublished, window: str, metrics: VideoMetrics, observed_at: datetime
) -> MetricsObserved:
    """A ``MetricsObserved`` record of ``short`` (a ``ShortPublished`` record) for ``window``,
    observed at ``observed_at`` (wall-clock time). A simulated snapshot describes the short at
    the simulated age ``window``, which it carries in ``simulated_age_seconds``.

    ``ValidationError`` (fatal) when the metrics belong to another video or the window is
    unknown: the same input would be refused on every retry.
    """
    if window not in _OFFSETS:
        raise ValidationError(f"unknown window {window!r}; expected one of {WINDOW_NAMES}")
    if metrics.video_id != short["video_id"]:
        raise ValidationError(
            f"metrics of video {metrics.video_id!r} cannot describe short {short['short_id']!r} "
            f"(video {short['video_id']!r})"
        )
    _require_aware(observed_at, "observed_at")
    # A simulated short is measured by the simulator; either flag marks the row as not real.
    simulated = metrics.simulated or bool(short.get("simulated", False))
    return {
        "meta": derived_meta(short, STEP, window),
        "short_id": short["short_id"],
        "video_id": short["video_id"],
        "experiment_id": short["experiment_id"],
        "arm_id": short["arm_id"],
        "window": window,
        "observed_at": observed_at,
        "impressions": metrics.impressions,
        "views": metrics.views,
        "impressions_ctr": metrics.impressions_ctr,
        "average_view_percentage": metrics.average_view_percentage,
        "average_view_duration_seconds": metrics.average_view_duration_seconds,
        "estimated_minutes_watched": metrics.estimated_minutes_watched,
        "likes": metrics.likes,
        "comments": metrics.comments,
        "subscribers_gained": metrics.subscribers_gained,
        "simulated": simulated,
        "simulated_age_seconds": int(_OFFSETS[window].total_seconds()) if simulated else None,
    }
