"""Interface byte counters through ``psutil.net_io_counters(pernic=True)`` (Windows, macOS)."""

from __future__ import annotations

from agent.platform._run import note_problem
from agent.platform._types import NetCounters


def psutil_counters(iface: str) -> NetCounters | None:
    try:
        import psutil

        raw = psutil.net_io_counters(pernic=True).get(iface)
    except Exception as exc:
        note_problem("counters.psutil", repr(exc))
        return None
    if raw is None:
        return None
    return NetCounters(rx_bytes=int(raw.bytes_recv), tx_bytes=int(raw.bytes_sent))
