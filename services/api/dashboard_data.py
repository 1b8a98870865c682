"""The dashboard's numbers: the analysts' queries (``dashboards/*.sql``) plus per-arm CTR
intervals and chance-to-win, gathered into one JSON-ready snapshot.

The page and ``/dashboard/data`` both render this snapshot, so the HTML can never show a
number the JSON does not have.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import Any

from agents.experiments.stats import ArmCounts, beta_binomial
from observability.error_groups import ERROR_GROUPS, ERROR_GROUPS_DASHBOARD
from streams.ports.warehouse import Warehouse
from warehouse import dashboards
from warehouse.analytics import ARM_WINDOW_STATS

log = logging.getLogger(__name__)

LagRow = tuple[str, str, int, int]  # (consumer group, topic, partition, lag)
LagSource = Callable[[], Awaitable[Sequence[LagRow]]]

# Observation windows in age order (as ``warehouse.analytics.WINDOW_ORDER``): the largest
# window with data is the most settled view of an experiment.
WINDOWS = ("1h", "6h", "24h", "72h", "7d")
Z95 = 1.959963984540054  # two-sided 95% normal quantile
TOP_SHORTS = 10
ERROR_GROUPS_SHOWN = 20
_TABLE_EXISTS = (
    "SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = {table:String}"
)
_EXPERIMENT_WINDOWS = (
    "SELECT DISTINCT experiment_id, window FROM {db:Identifier}.{view:Identifier} "
    "WHERE shorts > 0 ORDER BY experiment_id"
)


def wald_interval(successes: float, trials: float) -> tuple[float, float]:
    """95% Wald interval of a pooled proportion, clipped to [0, 1]; (0, 0) with no trials.

    Pooled impressions treat every impression as independent, so this interval is narrower
    than the between-short truth; the page says so next to it.
    """
    if trials <= 0:
        return 0.0, 0.0
    p = successes / trials
    half = Z95 * math.sqrt(p * (1 - p) / trials)
    return max(0.0, p - half), min(1.0, p + half)


def largest_windows(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Experiment id -> its largest window present in ``rows`` (unknown windows ignored)."""
    best: dict[str, str] = {}
    for row in rows:
        window = str(row["window"])
        if window not in WINDOWS:
            continue
        current = best.get(row["experiment_id"])
        if current is None or WINDOWS.index(window) > WINDOWS.index(current):
            best[str(row["experiment_id"])] = window
    return best


def arm_summaries(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``experiment_arms.sql`` rows plus CTR, its interval and the Beta-binomial chance to
    win (clicks out of impressions, uniform prior)."""
    counts = [
        ArmCounts(str(r["arm_id"]), int(r["shorts"]), float(r["clicks"]), float(r["impressions"]))
        for r in rows
    ]
    posterior = beta_binomial(counts)
    out = []
    for row, arm in zip(rows, counts, strict=True):
        low, high = wald_interval(arm.successes, arm.trials)
        chance, loss = posterior[arm.arm_id]
        out.append(
            {
                "arm_id": arm.arm_id,
                "shorts": arm.shorts,
                "impressions": row["impressions"],
                "clicks": row["clicks"],
                "ctr": float(row["pooled_ctr"]),
                "ctr_low": low,
                "ctr_high": high,
                "chance_to_win": chance,
                "expected_loss": loss,
            }
        )
    return out


async def experiments(warehouse: Warehouse, database: str) -> list[dict[str, Any]]:
    """Every experiment in ``arm_window_stats`` at its largest window with data."""
    found = await warehouse.query(_EXPERIMENT_WINDOWS, {"db": database, "view": ARM_WINDOW_STATS})
    out = []
    for experiment, window in sorted(largest_windows(found).items()):
        rows = await dashboards.run(
            warehouse, "experiment_arms", database, experiment=experiment, window=window
        )
        out.append({"experiment_id": experiment, "window": window, "arms": arm_summaries(rows)})
    return out


async def consumer_lag(source: LagSource | None) -> list[dict[str, Any]] | None:
    """Lag rows, or None when no source is wired or it fails (the rest of the page still
    renders: lag comes from the broker, everything else from the warehouse)."""
    if source is None:
        return None
    try:
        rows = await source()
    except Exception:  # any broker failure: show "unavailable", keep the page
        log.warning("consumer lag unavailable", exc_info=True)
        return None
    return [
        {"group": g, "topic": t, "partition": int(p), "lag": int(lag)}
        for g, t, p, lag in sorted(rows)
    ]


async def error_groups(warehouse: Warehouse, database: str) -> list[dict[str, Any]]:
    """The most recently seen error groups, or none when ``error_groups`` does not exist yet:
    a data directory from before error tracking, or the telemetry sink has not run. Checked
    rather than caught, so a warehouse that is down still answers 503, not an empty panel."""
    found = await warehouse.query(_TABLE_EXISTS, {"db": database, "table": ERROR_GROUPS})
    if not found or not found[0]["n"]:
        return []
    return await dashboards.run(
        warehouse, ERROR_GROUPS_DASHBOARD, database, limit=ERROR_GROUPS_SHOWN
    )


async def snapshot(
    warehouse: Warehouse, database: str, since: date, lag: LagSource | None
) -> dict[str, Any]:
    """Every number of the dashboard since ``since`` (a day, inclusive)."""

    async def run(name: str, **params: Any) -> list[dict[str, Any]]:
        return await dashboards.run(warehouse, name, database, **params)

    # Sequential on purpose: the embedded warehouse serialises queries anyway, and a server
    # should not get a burst of nine from one page view.
    day = since.isoformat()
    funnel = await run("pipeline_funnel", since=day)
    return {
        "since": since,
        "daily_output": await run("daily_output", since=day),
        "funnel": funnel[0] if funnel else {},
        "failure_rate": await run("failure_rate", since=day),
        "dead_letters": await run("dead_letters"),
        "errors": await error_groups(warehouse, database),
        "consumer_lag": await consumer_lag(lag),
        "top_shorts": await run("top_shorts", limit=TOP_SHORTS),
        "experiments": await experiments(warehouse, database),
    }
