-- Errors grouped by fingerprint (the same key Sentry groups by), most recently seen first.
-- Occurrences count distinct log records, so a redelivered record counts once; the other
-- columns are those of the latest occurrence. Times are cut to microseconds: nanosecond
-- timestamps have no Python datetime (the port answers datetimes).
-- Parameters:
--   db     Identifier = munjero  database of the tables (the runner passes its own)
--   limit  UInt32     = 50       how many groups
-- Simulated: nothing; these are the factory's own error logs.
SELECT fingerprint,
       uniqExactMerge(occurrences) AS occurrences,
       toDateTime64(minMerge(first_seen), 6, 'UTC') AS first_seen,
       toDateTime64(maxMerge(last_seen), 6, 'UTC') AS last_seen,
       argMaxMerge(exception_type) AS exception_type,
       argMaxMerge(message) AS message,
       argMaxMerge(service) AS service,
       argMaxMerge(agent) AS agent,
       argMaxMerge(topic) AS topic,
       argMaxMerge(problem_id) AS problem_id
FROM {db:Identifier}.error_groups
GROUP BY fingerprint
ORDER BY last_seen DESC, fingerprint
LIMIT {limit:UInt32}
