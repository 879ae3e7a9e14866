"""``/api/health`` (and ``/metrics``, collector/metrics.py): the collector's state as one document.

:func:`health_doc` is pure: :meth:`collector.runtime.Runtime.health` gathers the parts (the
engine's under its lock) and passes them in with the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from collector.engine import MeetingView


@dataclass
class UnknownDevice:
    """A device on no roster that sends anyway (H12): counted, never a member."""

    first_seen: float
    last_seen: float
    count: int = 0


def unknown_devices_doc(
    ingest_seen: Mapping[str, UnknownDevice], engine_seen: Mapping[str, float]
) -> dict[str, dict[str, float | int]]:
    unknown: dict[str, dict[str, float | int]] = {
        d: {"first_seen": u.first_seen, "last_seen": u.last_seen, "count": u.count} for d, u in ingest_seen.items()
    }
    for d, seen in engine_seen.items():
        unknown.setdefault(d, {"first_seen": seen, "last_seen": seen, "count": 0})
    return unknown


def broker_doc(mqtt: Any, broker: Any, url: str) -> dict[str, Any]:
    """``mqtt``: collector.mqtt.MqttClient or None; ``broker``: the private Mosquitto or None."""
    connected = bool(mqtt is not None and mqtt.connected)
    return {
        "connected": connected,
        "url": url,
        "private": broker is not None,
        "restarts": broker.restarts if broker is not None else 0,
        "connects": mqtt.connects if mqtt is not None else 0,
        "malformed": mqtt.malformed if mqtt is not None else 0,
        "monitoring": "active" if connected else "interrupted",
    }


def store_doc(store: Any) -> dict[str, Any]:
    s = store.stats
    return {
        "queued": store.queue_size(),
        "written": s.written,
        "dropped": s.dropped,
        "failures": s.failures,
        "connected": s.connected,
        "last_error": s.last_error,
        "dialect": store.engine.dialect.name,
    }


def influx_doc(influx: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"enabled": influx is not None}
    if influx is not None:
        i = influx.stats
        doc.update(
            buffered=influx.buffered(),
            written=i.written,
            dropped=i.dropped,
            failures=i.failures,
            connected=i.connected,
            last_error=i.last_error,
        )
    return doc


def meetings_doc(meetings: list[tuple[str, MeetingView | None]]) -> list[dict[str, Any]]:
    return [
        {"meeting_id": mid, "verdict": str(v.verdict), "monitoring": v.monitoring}
        for mid, v in meetings
        if v is not None
    ]


def status_of(broker: Mapping[str, Any], store: Mapping[str, Any]) -> str:
    return "ok" if broker["connected"] and store["connected"] else "degraded"
