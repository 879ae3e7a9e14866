"""Byte rates from interface counters: the cheap sign that video flows (Sample.tx_kbps/rx_kbps).

Pure: time is passed in. A counter that goes backwards is either a 32-bit wrap (some Windows
drivers, old kernels) -- counted as a wrap when the wrapped delta gives a plausible rate -- or a
reset (driver reload, interface recreated): then the meter starts again and gives no rate
for that step rather than a huge or negative one. A change of interface (Wi-Fi -> cable) also
starts again: counters of different interfaces cannot be subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from agent.platform import NetCounters

WRAP_32: Final = 2**32
#: Above this a rate is taken for a counter glitch, not traffic (10 Gbit/s).
MAX_KBPS: Final = 10_000_000.0


@dataclass(frozen=True, slots=True)
class Rates:
    tx_kbps: float
    rx_kbps: float


class ByteRate:
    """Feed ``(t, counters, iface)`` once a sample; get kbit/s since the previous feed."""

    def __init__(self, max_kbps: float = MAX_KBPS) -> None:
        self.max_kbps = max_kbps
        self._last: tuple[float, NetCounters, str | None] | None = None
        self.resets = 0
        self.wraps = 0
        self.iface_changes = 0

    def _delta(self, old: int, new: int, dt: float) -> int | None:
        if new >= old:
            return new - old
        if old < WRAP_32 and new < WRAP_32:
            wrapped = new + WRAP_32 - old
            if wrapped * 8 / 1000 / dt <= self.max_kbps:
                self.wraps += 1
                return wrapped
        return None

    def feed(self, t: float, counters: NetCounters | None, iface: str | None = None) -> Rates | None:
        last, self._last = self._last, (None if counters is None else (t, counters, iface))
        if counters is None or last is None:
            return None
        t0, old, iface0 = last
        if iface != iface0:
            self.iface_changes += 1
            return None
        dt = t - t0
        if dt <= 0:
            self.resets += 1
            return None
        tx = self._delta(old.tx_bytes, counters.tx_bytes, dt)
        rx = self._delta(old.rx_bytes, counters.rx_bytes, dt)
        if tx is None or rx is None:
            self.resets += 1
            return None
        rates = Rates(tx_kbps=tx * 8 / 1000 / dt, rx_kbps=rx * 8 / 1000 / dt)
        if rates.tx_kbps > self.max_kbps or rates.rx_kbps > self.max_kbps:
            self.resets += 1
            return None
        return rates
