"""Reliability proofs (issue 6 part 7): an independent auditor, a TCP fault proxy, a fault-
injecting worker entry point and scenario runners (``python -m tests.chaos.run``)."""
