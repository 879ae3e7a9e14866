"""Network figures of a media path from aiortc's ``getStats()`` report, in the project's units.

Pure. aiortc reports jitter in RTP clock units (video 90 kHz, Opus 48 kHz), ``fractionLost`` as the
RTCP 0-255 fraction and ``roundTripTime`` in seconds; the project speaks milliseconds and percent
(the thresholds document warns what mixing units does to a MOS).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CLOCK_HZ = {"video": 90_000, "audio": 48_000}


def jitter_ms(jitter_rtp_units: float, kind: str) -> float:
    return 1000.0 * jitter_rtp_units / CLOCK_HZ.get(kind, 90_000)


def fraction_lost_percent(fraction_lost: float) -> float:
    """RTCP's fraction lost is an 8-bit fixed-point fraction: 0..255 -> 0..99.6 %."""
    return 100.0 * max(0.0, min(255.0, fraction_lost)) / 256.0


def loss_percent(lost: int, received: int) -> float | None:
    expected = max(0, lost) + max(0, received)
    return 100.0 * max(0, lost) / expected if expected else None


@dataclass(slots=True)
class KindStats:
    loss_percent: float | None = None
    jitter_ms: float | None = None
    packets_received: int = 0
    packets_lost: int = 0


@dataclass(slots=True)
class NetStats:
    """What one end measured: inbound loss/jitter per kind, and RTT from its outbound streams."""

    inbound: dict[str, KindStats]
    rtt_ms: float | None = None
    remote_loss_percent: float | None = None  # the far end's fractionLost of what we sent

    @property
    def loss_percent(self) -> float | None:
        """Loss over all inbound packets, audio and video together."""
        lost = sum(k.packets_lost for k in self.inbound.values())
        received = sum(k.packets_received for k in self.inbound.values())
        return loss_percent(lost, received)

    @property
    def jitter_ms(self) -> float | None:
        """The worse of the inbound jitters."""
        values = [k.jitter_ms for k in self.inbound.values() if k.jitter_ms is not None]
        return max(values) if values else None


def summarise(stats: Iterable[object]) -> NetStats:
    """Read the ``inbound-rtp`` and ``remote-inbound-rtp`` entries of a stats report's values."""
    inbound: dict[str, KindStats] = {}
    rtts: list[float] = []
    fractions: list[float] = []
    for s in stats:
        kind = str(getattr(s, "kind", "video"))
        typ = getattr(s, "type", "")
        if typ == "inbound-rtp":
            lost = int(getattr(s, "packetsLost", 0) or 0)
            received = int(getattr(s, "packetsReceived", 0) or 0)
            k = inbound.setdefault(kind, KindStats())
            k.packets_lost += lost
            k.packets_received += received
            k.loss_percent = loss_percent(k.packets_lost, k.packets_received)
            jit = getattr(s, "jitter", None)
            if jit is not None:
                k.jitter_ms = max(k.jitter_ms or 0.0, jitter_ms(float(jit), kind))
        elif typ == "remote-inbound-rtp":
            rtt = getattr(s, "roundTripTime", None)
            if rtt is not None:
                rtts.append(1000.0 * float(rtt))
            frac = getattr(s, "fractionLost", None)
            if frac is not None:
                fractions.append(fraction_lost_percent(float(frac)))
    return NetStats(
        inbound=inbound, rtt_ms=max(rtts) if rtts else None, remote_loss_percent=max(fractions) if fractions else None
    )
