-- The funnel over a period: how many problems, scripts, renders and shorts, and the share of
-- each step that made it to the next.
-- Parameters: db (Identifier), since (Date)
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
    if(rendered = 0, 0, published / rendered) AS publish_rate
FROM totals
