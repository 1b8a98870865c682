"""Logging, metrics, tracing and health checks."""
