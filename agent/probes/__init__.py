"""The agent's probes, one concept per module: ``path`` (STAMP to the collector's reflector),
``bandwidth`` (a bounded speed test)."""
