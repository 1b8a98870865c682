"""Analytics layer over the raw tables (pure SQL text): the daily funnel as materialized views,
the latest metrics snapshot per short and window, per-short performance, and per-arm sufficient
statistics for the A/B evaluator.

Exactness. Raw tables can hold a duplicate row until ``ReplacingMergeTree`` merges it (a
redelivery or a replay repeats an ``event_id``). Materialized views see every inserted block,
duplicates included, so the funnel aggregates ``uniqExactState`` of each step's business id:
a duplicate adds nothing. Metrics snapshots are read with ``argMax(..., observed_at)`` per
(short, window): the latest observation wins whatever the merge state, which is what
"a later snapshot supersedes an earlier one" means for analysts.
"""

from __future__ import annotations

from collections.abc import Iterator

from warehouse.tables import DATABASE, DEAD_LETTERS, ident, table_for_topic

DAILY_FUNNEL = "daily_funnel"
METRICS_LATEST = "metrics_latest"
SHORT_PERFORMANCE = "short_performance"
ARM_WINDOW_STATS = "arm_window_stats"

# (step, source table, business id column): one materialized view each.
FUNNEL_STEPS = (
    ("submitted", table_for_topic("problems.submitted").name, "problem_id"),
    ("drafted", table_for_topic("scripts.drafted").name, "script_id"),
    ("rendered", table_for_topic("renders.completed").name, "render_id"),
    ("published", table_for_topic("shorts.published").name, "short_id"),
    ("failed", DEAD_LETTERS, "event_id"),
)
# Identifiers below come from the catalogue and pass through ``ident``: no outside value ever
# reaches this text (S608 silenced line by line).


def _q(database: str, name: str) -> str:
    return f"{ident(database)}.{ident(name)}"


def daily_funnel_table(database: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {_q(database, DAILY_FUNNEL)}\n(\n"
        "    `day` Date,\n"
        "    `step` LowCardinality(String),\n"
        "    `items` AggregateFunction(uniqExact, String)\n"
        ")\nENGINE = AggregatingMergeTree\nORDER BY (`day`, `step`)\n"
        "COMMENT 'Distinct items per pipeline step and day (fed by the *_funnel_mv views)'"
    )


def funnel_views(database: str) -> Iterator[str]:
    for step, table, id_column in FUNNEL_STEPS:
        yield (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {_q(database, f'{step}_funnel_mv')}\n"
            f"TO {_q(database, DAILY_FUNNEL)} AS\n"
            f"SELECT toDate(`occurred_at`) AS `day`, '{step}' AS `step`,\n"
            f"       uniqExactState(toString({ident(id_column)})) AS `items`\n"
            f"FROM {_q(database, table)}\nGROUP BY `day`"
        )


def metrics_latest(database: str) -> str:
    metrics = table_for_topic("metrics.observed").name
    latest = ",\n    ".join(
        f"argMax({ident(c)}, `observed_at`) AS {ident(c)}"
        for c in (
            "video_id", "experiment_id", "arm_id", "impressions", "views", "impressions_ctr",
            "average_view_percentage", "average_view_duration_seconds",
            "estimated_minutes_watched", "likes", "comments", "subscribers_gained", "simulated",
        )
    )  # fmt: skip
    return (
        f"CREATE OR REPLACE VIEW {_q(database, METRICS_LATEST)} AS\n"
        f"SELECT `short_id`, `window`, max(`observed_at`) AS `last_observed_at`,\n    {latest}\n"
        f"FROM {_q(database, metrics)}\nGROUP BY `short_id`, `window`"
    )


# Windows in age order; a short's "current" numbers are those of its oldest observed window.
WINDOW_ORDER = "['1h', '6h', '24h', '72h', '7d']"


def short_performance(database: str) -> str:
    published = table_for_topic("shorts.published").name
    return f"""CREATE OR REPLACE VIEW {_q(database, SHORT_PERFORMANCE)} AS
SELECT p.short_id AS short_id, p.video_id AS video_id, p.url AS url, p.title AS title,
       p.problem_id AS problem_id, p.experiment_id AS experiment_id, p.arm_id AS arm_id,
       p.platform AS platform, p.published_at AS published_at, p.simulated AS simulated,
       m.latest_window AS latest_window, m.impressions AS impressions, m.views AS views,
       m.impressions_ctr AS impressions_ctr, m.average_view_percentage AS average_view_percentage,
       m.estimated_minutes_watched AS estimated_minutes_watched, m.likes AS likes
FROM (
    SELECT short_id, any(video_id) AS video_id, any(url) AS url, any(title) AS title,
           any(problem_id) AS problem_id, any(experiment_id) AS experiment_id,
           any(arm_id) AS arm_id, any(platform) AS platform, min(published_at) AS published_at,
           any(simulated) AS simulated
    FROM {_q(database, published)} GROUP BY short_id
) AS p
LEFT JOIN (
    SELECT short_id, argMax(window, w_rank) AS latest_window,
           argMax(impressions, w_rank) AS impressions, argMax(views, w_rank) AS views,
           argMax(impressions_ctr, w_rank) AS impressions_ctr,
           argMax(average_view_percentage, w_rank) AS average_view_percentage,
           argMax(estimated_minutes_watched, w_rank) AS estimated_minutes_watched,
           argMax(likes, w_rank) AS likes
    FROM (SELECT *, indexOf({WINDOW_ORDER}, window) AS w_rank FROM {_q(database, METRICS_LATEST)})
    GROUP BY short_id
) AS m ON m.short_id = p.short_id"""  # noqa: S608


def arm_window_stats(database: str) -> str:
    """Sufficient statistics per experiment, arm and window: the evaluator's whole input.

    The short is the unit (each variant is its own video): per-short CTR and retention give
    n, sum and sum of squares; impressions and clicks give the pooled binomial counts.
    ``simulated_shorts`` says how many of them the channel simulator measured.
    """
    return f"""CREATE OR REPLACE VIEW {_q(database, ARM_WINDOW_STATS)} AS
SELECT experiment_id, arm_id, window,
       count() AS shorts,
       sum(m.impressions) AS impressions_total,
       sum(round(m.impressions * m.impressions_ctr)) AS clicks_total,
       sum(m.views) AS views_total,
       sum(m.impressions_ctr) AS ctr_sum,
       sum(m.impressions_ctr * m.impressions_ctr) AS ctr_sq,
       sum(m.average_view_percentage) AS retention_sum,
       sum(m.average_view_percentage * m.average_view_percentage) AS retention_sq,
       sum(m.estimated_minutes_watched) AS minutes_watched,
       countIf(m.simulated) AS simulated_shorts
FROM {_q(database, METRICS_LATEST)} AS m
GROUP BY experiment_id, arm_id, window"""  # noqa: S608


def analytics_statements(database: str = DATABASE) -> Iterator[str]:
    yield daily_funnel_table(database)
    yield from funnel_views(database)
    yield metrics_latest(database)
    yield short_performance(database)
    yield arm_window_stats(database)
