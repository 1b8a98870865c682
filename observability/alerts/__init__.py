"""Alert rules: one definition for the local Prometheus and the cluster's PrometheusRule."""
