-- Per-arm sufficient statistics of one experiment at one window: the A/B evaluator's input
-- (n, sums and sums of squares; the statistics themselves run in Python).
-- Parameters:
--   db          Identifier = munjero      database of the tables (the runner passes its own)
--   experiment  String     = hook-cta-v1  experiment id (the drafting agent's experiment)
--   window      String     = 24h          metrics window: 1h, 6h, 24h, 72h or 7d
-- Simulated: `simulated` counts the arm's shorts measured by the channel simulator.
SELECT arm_id, shorts, impressions_total AS impressions, clicks_total AS clicks,
       views_total AS views, ctr_sum, ctr_sq, retention_sum, retention_sq, minutes_watched,
       if(impressions_total = 0, 0, clicks_total / impressions_total) AS pooled_ctr,
       retention_sum / shorts AS mean_retention,
       simulated_shorts AS simulated
FROM {db:Identifier}.arm_window_stats
WHERE experiment_id = {experiment:String} AND window = {window:String}
ORDER BY arm_id
