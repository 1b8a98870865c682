"""Drafting step logic: the hook/CTA experiment arms and the deterministic template writer.

Pure code, no I/O: ``agents/draft.py`` wires it to Kafka.
"""
