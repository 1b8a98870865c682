-- Dead letters per day against the work attempted that day (drafted scripts are the unit most
-- steps fan out from).
-- Parameters:
--   db     Identifier = munjero  database of the tables (the runner passes its own)
--   since  Date       = -30d     first day counted (YYYY-MM-DD, today, or -Nd: N days ago)
-- Simulated: nothing; submissions, drafts and failures are real work of the factory.
SELECT day,
       uniqExactMergeIf(items, step = 'failed') AS failed,
       uniqExactMergeIf(items, step IN ('drafted', 'submitted')) AS attempted,
       if(attempted = 0, 0, failed / attempted) AS failure_rate
FROM {db:Identifier}.daily_funnel
WHERE day >= {since:Date}
GROUP BY day
ORDER BY day
