-- Shorts through each pipeline step per day (distinct items: duplicates never count twice).
-- Parameters:
--   db     Identifier = munjero  database of the tables (the runner passes its own)
--   since  Date       = -30d     first day counted (YYYY-MM-DD, today, or -Nd: N days ago)
-- Simulated: `simulated` counts the day's published shorts that went to the channel
--   simulator (0 on the steps before publishing, which are real work).
SELECT f.day AS day, f.step AS step, f.n AS n,
       if(f.step = 'published', s.shorts, 0) AS simulated
FROM (
    SELECT day, step, uniqExactMerge(items) AS n
    FROM {db:Identifier}.daily_funnel
    WHERE day >= {since:Date}
    GROUP BY day, step
) AS f
LEFT JOIN (
    SELECT toDate(occurred_at) AS day, uniqExact(short_id) AS shorts
    FROM {db:Identifier}.shorts_published
    WHERE simulated AND occurred_at >= {since:Date}
    GROUP BY day
) AS s ON s.day = f.day
ORDER BY day, step
