"""The runtime's read side for the web port (collector/web/port.py) and the CLI: a meeting's view
(and its one JSON encoding), the chair's actions, a device's meetings and probe key, and the
``/api/health`` document. Functions of the :class:`~collector.runtime.core.Runtime` (it delegates
to them in one line each), each taking the engine lock itself where it reads the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from collector.engine import Action, MeetingView
from collector.runtime import health as hl

if TYPE_CHECKING:
    from collector.runtime.core import Runtime


def meeting_ids(rt: Runtime) -> list[str]:
    with rt.lock:
        return list(rt.engine.meeting_ids())


def view(rt: Runtime, meeting_id: str) -> MeetingView | None:
    with rt.lock:
        # devices on no roster the ingest turned away (H12): named on the meeting's page
        heard = rt.sink.unknown_devices  # bounded (UNKNOWN_DEVICES_MAX)
        unknown = ((d, u.last_seen) for d, u in heard.items()) if heard else None
        return rt.engine.view(meeting_id, rt.clock(), unknown)


def view_json(rt: Runtime, meeting_id: str) -> bytes | None:
    """The meeting view as JSON: the one encoding used by the API and the live (SSE) view."""
    v = view(rt, meeting_id)
    return None if v is None else msgspec.json.encode(v)


def actions(rt: Runtime, meeting_id: str) -> list[Action]:
    with rt.lock:
        return list(rt.engine.actions(meeting_id))


def device_meetings(rt: Runtime, device_id: str) -> list[dict[str, Any]]:
    """For the agent's scheduler: the meetings this device takes part in."""
    out = [
        {"id": m.id, "body": m.body, "start": m.start, "end": m.end, "system": str(m.system), "room": m.room}
        for m in rt.index.device_meetings.get(device_id, [])
    ]
    return sorted(out, key=lambda d: d["start"])


def probe_key(rt: Runtime, device_id: str) -> dict[str, Any] | None:
    """For the agent: its SSID and key for signed probes (issue 11); None when the reflector does
    not run or the device is on no roster."""
    if rt.probe_keys is None or not rt.index.known(device_id):
        return None
    from collector.auth.probekeys import ssid_for

    return {
        "ssid": ssid_for(device_id),
        "key": rt.probe_keys.key_for(device_id).hex(),
        "port": rt._reflector.port,
    }


def health(rt: Runtime) -> dict[str, Any]:
    """The ``/api/health`` document (its parts: collector/runtime/health.py, pure)."""
    with rt.lock:
        engine_unknown = dict(rt.engine.unknown_devices)
        meetings = [(mid, rt.engine.view(mid, rt.clock())) for mid in rt.engine.meeting_ids()]
    broker = hl.broker_doc(rt.mqtt, rt.broker, rt.mqtt_url)
    store = hl.store_doc(rt.store)
    return {
        "status": hl.status_of(broker, store),
        "at": rt.clock(),
        "uptime_s": round(rt.clock() - rt.started_at, 1),
        "broker": broker,
        # the collector's own gaps (restart, stall; issue 11): monitoring interrupted, never a member's
        "monitoring": {"own_gaps": rt.own_gaps, "stall_after_s": rt.config.ingest.stall_after_s},
        "ingest": rt.ingestor.counters.as_dict(),
        "store": store,
        "influx": hl.influx_doc(rt.influx),
        "unknown_devices": hl.unknown_devices_doc(rt.unknown_devices, engine_unknown),
        "meetings": hl.meetings_doc(meetings),
        "modules": dict(rt.optional_modules),
        "ha": rt.ha.doc() if rt.ha is not None else {"enabled": False},
        "roster": {
            "path": str(rt.config.roster_path),
            "meetings": len(rt.index.roster.meetings),
            "error": rt.roster_error,
        },
    }
