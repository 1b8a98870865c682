-- Dead letters per day against the work attempted that day (drafted scripts are the unit most
-- steps fan out from).
-- Parameters: db (Identifier), since (Date)
SELECT day,
       uniqExactMergeIf(items, step = 'failed') AS failed,
       uniqExactMergeIf(items, step IN ('drafted', 'submitted')) AS attempted,
       if(attempted = 0, 0, failed / attempted) AS failure_rate
FROM {db:Identifier}.daily_funnel
WHERE day >= {since:Date}
GROUP BY day
ORDER BY day
