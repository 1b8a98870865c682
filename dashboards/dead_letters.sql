-- Dead letters by where they failed and why, with first and last occurrence.
-- Parameters:
--   db  Identifier = munjero  database of the tables (the runner passes its own)
-- Simulated: nothing; a dead letter is a real failure of a factory step (one of the
--   simulator's own failures included).
SELECT original_topic, agent, error_class,
       uniqExact(event_id) AS letters,
       min(occurred_at) AS first_seen,
       max(occurred_at) AS last_seen,
       any(error_message) AS example
FROM {db:Identifier}.dead_letters
GROUP BY original_topic, agent, error_class
ORDER BY letters DESC, last_seen DESC
