"""Alert rules (one definition for Prometheus and the embedded evaluator) and their delivery."""
