"""Likavillkor: shared, lightweight code used by both the agent and the collector."""

__version__ = "0.1.0"
