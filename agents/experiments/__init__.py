"""A/B experiment statistics for Shorts: tests, Bayesian summaries, stopping rule, bandit."""
