-- Best shorts by views at their latest observed window.
-- Parameters: db (Identifier), limit (UInt32)
SELECT short_id, title, url, arm_id, latest_window, views, impressions, impressions_ctr,
       average_view_percentage, published_at, simulated
FROM {db:Identifier}.short_performance
WHERE views IS NOT NULL
ORDER BY views DESC, short_id
LIMIT {limit:UInt32}
