"""Munjero Shorts Factory: streams, topic catalogue, Faust app and CLI."""

__version__ = "0.1.0"
PRODUCER = f"munjero@{__version__}"
