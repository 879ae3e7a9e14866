"""A voice-quality estimate from RTT, jitter and loss: the simplified ITU-T G.107 E-model.

Formula from the project's thresholds file (quality-thresholds.md, "as used by WebRTC tools")::

    EL  = RTT + 2·jitter + 10                       (ms)
    R   = 93.2 − EL/40            if EL < 160
    R   = 93.2 − (EL − 120)/10    otherwise
    R   = R − 2.5 · loss_percent
    MOS = 1 + 0.035·R + 7e-6 · R · (R − 60) · (100 − R)

Units matter: RTT and jitter in **milliseconds**, loss in **percent** (0-100). Feeding seconds and
fractions gives a MOS that barely moves — the trap one vendor SDK fell into. R is clamped to 0..100
(G.107's range), so MOS is within 1.0..4.5. It covers voice only and forgives heavy loss that the
Teams dashboard already calls poor: use it beside the RTT/jitter/loss limits, never instead (H1, H2).
"""

from __future__ import annotations

import math


def r_factor(rtt_ms: float, jitter_ms: float, loss_percent: float) -> float:
    """The transmission rating R, clamped to 0..100."""
    for name, value in (("rtt_ms", rtt_ms), ("jitter_ms", jitter_ms), ("loss_percent", loss_percent)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if loss_percent > 100:
        raise ValueError(f"loss_percent is a percentage (0..100), got {loss_percent!r}")
    effective_latency_ms = rtt_ms + 2 * jitter_ms + 10
    r = 93.2 - effective_latency_ms / 40 if effective_latency_ms < 160 else 93.2 - (effective_latency_ms - 120) / 10
    r -= 2.5 * loss_percent
    return min(100.0, max(0.0, r))


def mos_from_r(r: float) -> float:
    """Mean opinion score (1.0..4.5) from R."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    # the cubic dips just under 1.0 for R below ~6.5 (R = 5 gives 0.992): clamp, or a sample with
    # ~38 % loss carried a MOS the wire refuses (mos >= 1) and the whole sample was dropped
    return min(4.5, max(1.0, 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)))


def mos(rtt_ms: float, jitter_ms: float, loss_percent: float) -> float:
    """MOS from RTT (ms), jitter (ms) and loss (percent, 0..100)."""
    return mos_from_r(r_factor(rtt_ms, jitter_ms, loss_percent))
