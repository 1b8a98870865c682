-- Best shorts by views at their latest observed window.
-- Parameters:
--   db     Identifier = munjero  database of the tables (the runner passes its own)
--   limit  UInt32     = 20       how many shorts
-- Simulated: `simulated` is true for a short published on (and measured by) the channel
--   simulator; its published_at is the wall-clock time it was published.
SELECT short_id, title, url, arm_id, latest_window, views, impressions, impressions_ctr,
       average_view_percentage, published_at, simulated
FROM {db:Identifier}.short_performance
WHERE views IS NOT NULL
ORDER BY views DESC, short_id
LIMIT {limit:UInt32}
