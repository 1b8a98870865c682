"""Benchmarks: run as modules, e.g. `python -m tests.bench.api_bench`; not collected by pytest."""
