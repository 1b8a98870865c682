-- Shorts through each pipeline step per day (distinct items: duplicates never count twice).
-- Parameters: db (Identifier), since (Date)
SELECT day, step, uniqExactMerge(items) AS n
FROM {db:Identifier}.daily_funnel
WHERE day >= {since:Date}
GROUP BY day, step
ORDER BY day, step
