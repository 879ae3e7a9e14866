"""The collector's runtime: wiring the engine to MQTT, the store, InfluxDB and the web.

- ``core``: :class:`Runtime` (threads, the engine lock, ingest callbacks, queries and commands)
- ``lifecycle``: MQTT client / private broker and the reflector's loop, started and stopped
- ``rows``: pure mapping of engine changes and messages to typed store rows and InfluxDB points
- ``housekeeping``: periodic jobs (snapshot, current state, retention purge, roster watch)
- ``roster_watch``: the roster in force (lookups, loading, reloading on change)
- ``health``: the ``/api/health`` document
"""

from collector.runtime.core import Runtime

__all__ = ["Runtime"]
