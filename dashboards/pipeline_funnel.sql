-- The funnel over a period: how many problems, scripts, renders and shorts, and the share of
-- each step that made it to the next.
-- Parameters:
--   db     Identifier = munjero  database of the tables (the runner passes its own)
--   since  Date       = -30d     first day counted (YYYY-MM-DD, today, or -Nd: N days ago)
-- Simulated: `simulated` counts the published shorts that went to the channel simulator.
WITH totals AS (
    SELECT step, uniqExactMerge(items) AS n
    FROM {db:Identifier}.daily_funnel
    WHERE day >= {since:Date}
    GROUP BY step
)
SELECT
    sumIf(n, step = 'submitted') AS submitted,
    sumIf(n, step = 'drafted') AS drafted,
    sumIf(n, step = 'rendered') AS rendered,
    sumIf(n, step = 'published') AS published,
    sumIf(n, step = 'failed') AS failed,
    if(drafted = 0, 0, rendered / drafted) AS render_rate,
    if(rendered = 0, 0, published / rendered) AS publish_rate,
    (
        SELECT uniqExact(short_id) FROM {db:Identifier}.shorts_published
        WHERE simulated AND occurred_at >= {since:Date}
    ) AS simulated
FROM totals
