"""Incidents: pure helpers to open, summarise and close them (the I/O layer stores them).

An incident is one stretch of one condition for one participant ("mobile data 14:02–14:09").
It remembers its peak severity, whether the meeting was adjourned during it and for how long
(H2, H15), whether a substitute was called (H16), and min/max/mean of the metrics seen during it.
"""

from __future__ import annotations

from collections.abc import Sequence

from collector.engine.records import OpenIncident
from collector.engine.types import Incident
from likavillkor import wire

#: the metrics summarised over an incident
METRICS = ("rtt_ms", "loss_percent", "jitter_ms", "battery_percent")


def incident_id(meeting_id: str, member_id: str, kind: str, started_at: float) -> str:
    return f"{meeting_id}:{member_id}:{kind}:{int(started_at * 1000)}"


def overlap_s(start: float, end: float, intervals: Sequence[Sequence[float | None]]) -> float:
    """Seconds of [start, end] covered by the (adjournment) intervals; an open interval runs to end."""
    total = 0.0
    for a, b in intervals:
        lo = max(start, a if a is not None else start)
        hi = min(end, b if b is not None else end)
        if hi > lo:
            total += hi - lo
    return total


def accumulate(stats: dict[str, list[float]], sample: wire.Sample) -> None:
    """Fold one sample's metrics into running [min, max, sum, count]."""
    for name in METRICS:
        v = getattr(sample, name)
        if v is None:
            continue
        acc = stats.get(name)
        if acc is None:
            stats[name] = [v, v, v, 1.0]
        else:
            if v < acc[0]:
                acc[0] = v
            if v > acc[1]:
                acc[1] = v
            acc[2] += v
            acc[3] += 1.0


def summary(stats: dict[str, list[float]]) -> dict[str, float]:
    """``{"rtt_ms_min": .., "rtt_ms_max": .., "rtt_ms_mean": .., ...}``."""
    out: dict[str, float] = {}
    for name, (lo, hi, total, n) in sorted(stats.items()):
        out[f"{name}_min"] = lo
        out[f"{name}_max"] = hi
        out[f"{name}_mean"] = round(total / n, 3)
    return out


def severity_name(level: int) -> str:
    return "failure" if level >= 2 else "warning"


def refreshed(oi: OpenIncident, now: float, adjournments: Sequence[Sequence[float | None]]) -> Incident:
    """The incident with its adjournment time and metrics brought up to ``now``."""
    inc = oi.incident
    end = inc.ended_at if inc.ended_at is not None else now
    inc.adjourned_s = round(overlap_s(inc.started_at, end, adjournments), 3)
    inc.adjourned = inc.adjourned or inc.adjourned_s > 0
    inc.metrics = summary(oi.stats)
    return inc
