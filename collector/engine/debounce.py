"""Debounced alarms per limit, kept as bitmasks (Twilio / Jitsi style, see policy.debounce_*).

Each channel (a policy limit such as ``loss_percent``, or a discrete condition such as
``camera:black``) keeps two integers per participant: the last ``window`` samples as bits, one
for "crossed the warn limit", one for "crossed the fail limit". An alarm is raised when at least
``raise_at`` of the last ``window`` samples cross, and cleared only when at most ``clear_at`` do,
so a value hovering around a limit does not make the alarm flap.

:func:`debounce` is the rule as a pure function; :class:`Judge` applies it to every channel of a
sample in one tight loop (the engine's hot path, ≥ 100,000 samples/s on one core) and is tested to
agree with :func:`debounce` sample by sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import attrgetter
from typing import Final

from likavillkor import wire
from likavillkor.policy import PRECONDITION_OF_CHANNEL, Direction, Policy

#: channels that say whether the member can be seen and heard over the network
NETWORK: Final = frozenset(
    {
        "rtt_ms",
        "jitter_ms",
        "loss_percent",
        "mos",
        "wifi_signal_dbm",
        "wifi_signal_percent",
        "rx_kbps",
        "tx_kbps",
        "link_rate_mbps",
    }
)
#: channels judged already before the start (the member's checklist, H9)
PRESTART: Final = frozenset({"battery_percent", "battery_short", "wifi_signal_dbm", "wifi_signal_percent"})

_SAMPLE_FIELDS: Final = frozenset(wire.Sample.__struct_fields__)


def debounce(
    history: int, crossed: bool, raised: bool, *, window: int, raise_at: int, clear_at: int
) -> tuple[int, bool]:
    """One step: shift ``crossed`` into ``history`` (``window`` bits) and decide the alarm."""
    history = ((history << 1) | int(crossed)) & ((1 << window) - 1)
    n = history.bit_count()
    if raised:
        return history, n > clear_at
    return history, n >= raise_at


def incident_kind(channel: str) -> str:
    """Which incident a channel's alarm belongs to."""
    if channel in NETWORK:
        return "network_degraded"
    if channel in ("battery_percent", "battery_short"):
        return "low_battery"
    if channel.startswith("camera:"):
        value = channel.split(":", 1)[1]
        return "no_face" if value == "no_face" else f"camera_{value}"
    if channel.startswith("microphone:"):
        value = channel.split(":", 1)[1]
        return "mic_silent" if value in ("silent", "dead", "no_samples") else f"mic_{value}"
    return "device_load"


def reason_code(channel: str) -> str:
    """The Reason code of a channel: the metric name, or the condition (``camera_black``)."""
    if channel.startswith("camera:"):
        value = channel.split(":", 1)[1]
        return "no_face" if value == "no_face" else f"camera_{value}"
    if channel.startswith("microphone:"):
        return "mic_" + channel.split(":", 1)[1]
    return channel


class Judge:
    """The debounce of every channel of one policy, compiled once per policy."""

    __slots__ = (
        "_battery",
        "_camera",
        "_get",
        "_loss",
        "_mic",
        "_numeric",
        "battery_short_fail",
        "clear_at",
        "link_levels",
        "mask",
        "names",
        "prestart_mask",
        "raise_at",
        "risk_only_mask",
        "window",
    )

    def __init__(self, policy: Policy) -> None:
        self.window = policy.debounce_window
        self.raise_at = policy.debounce_raise
        self.clear_at = policy.debounce_clear
        if not 1 <= self.window <= 64:
            raise ValueError(f"debounce_window must be 1..64, not {self.window}")
        if not self.clear_at < self.raise_at <= self.window:
            raise ValueError(
                "debounce needs clear < raise <= window "
                f"(clear={self.clear_at}, raise={self.raise_at}, window={self.window})"
            )
        self.mask = (1 << self.window) - 1
        names: list[str] = []
        numeric: list[tuple[int, bool, float, float]] = []
        attrs: list[str] = []
        for key, limit in policy.limits.items():
            if key not in _SAMPLE_FIELDS:
                raise ValueError(f"policy limit {key!r} names no field of a sample")
            above = limit.direction is Direction.ABOVE
            far = math.inf if above else -math.inf
            warn = far if limit.warn is None else limit.warn
            fail = far if limit.fail is None else limit.fail
            numeric.append((len(names), above, warn, fail))
            names.append(key)
            attrs.append(key)
        self._numeric = tuple(numeric)
        self._battery = names.index("battery_percent") if "battery_percent" in names else -1
        #: the loss channel: its fail alarm follows the agent's sequential test where one runs (issue 11)
        self._loss = names.index("loss_percent") if "loss_percent" in names else -1
        self._get = attrgetter(
            *attrs, "camera", "microphone", "battery_lasts_meeting", "loss_alarm", "battery_charging"
        )
        self._camera = self._discrete("camera", policy.camera_levels, names)
        self._mic = self._discrete("microphone", policy.microphone_levels, names)
        self.battery_short_fail = policy.battery_short_level == "fail"
        names.append("battery_short")
        self.names: tuple[str, ...] = tuple(names)
        self.prestart_mask = sum(1 << i for i, n in enumerate(names) if n in PRESTART)
        #: channels whose failure is an unmet precondition the policy keeps at "at risk": their fail
        #: alarm counts as a warning (the participant degraded, the meeting at risk), not a failure
        self.risk_only_mask = sum(
            1 << i
            for i, n in enumerate(names)
            if n in PRECONDITION_OF_CHANNEL and not policy.escalates(PRECONDITION_OF_CHANNEL[n])
        )
        #: mobile data / hotspot (H9): 1 at risk, 2 failing (escalated); no link at all: failing
        self.link_levels = {
            "mobile_data": 2 if policy.escalates("mobile_data") else 1,
            "hotspot": 2 if policy.escalates("hotspot") else 1,
            "no_link": 2,
        }

    @staticmethod
    def _discrete(prefix: str, levels: Mapping[str, str], names: list[str]) -> dict[str, tuple[int, bool]]:
        out: dict[str, tuple[int, bool]] = {}
        for value, level in levels.items():
            out[value] = (len(names), level == "fail")
            names.append(f"{prefix}:{value}")
        return out

    def fresh(self) -> list[int]:
        """Empty histories: two ints (warn bits, fail bits) per channel."""
        return [0] * (2 * len(self.names))

    def update(
        self, hist: list[int], warn_up: int, fail_up: int, s: wire.Sample, bad: dict[int, float] | None = None
    ) -> tuple[int, int]:
        """Shift one sample into every channel; return the new raised masks (bit i = channel i).
        ``bad`` receives the last value that crossed a numeric channel's limit (for the reason)."""
        values = self._get(s)
        charging = values[-1]
        mask = self.mask
        crossings: list[tuple[int, bool, bool]] = []
        for (i, above, warn, fail), v in zip(self._numeric, values, strict=False):
            if v is None:
                continue
            if above:
                lf = v > fail
                lw = lf or v > warn
            else:
                lf = v < fail
                lw = lf or v < warn
            if i == self._loss:
                alarm = values[-2]
                if alarm is not None:
                    # the agent's test (CUSUM over every probe, 5 % vs 20 %) judges the fail limit,
                    # not one window's share: conclusive at once, so the fail bits fill the window;
                    # clearing follows the policy's rule (issue 11)
                    lf = lf and alarm
                    if lf:
                        hist[2 * i] = hist[2 * i + 1] = mask
            if lw:
                if i == self._battery and charging is True:
                    lw = lf = False  # a charging battery is fine whatever its level (H9)
                    if not hist[2 * i]:
                        continue
                elif bad is not None:
                    bad[i] = v
                crossings.append((i, lw, lf))
            elif hist[2 * i]:
                crossings.append((i, False, False))
        n = len(self._numeric)
        camera, mic, lasts = values[n], values[n + 1], values[n + 2]
        self._discrete_crossings(self._camera, camera, hist, crossings)
        self._discrete_crossings(self._mic, mic, hist, crossings)
        bs = len(self.names) - 1
        if lasts is False and charging is not True:
            crossings.append((bs, True, self.battery_short_fail))
        elif hist[2 * bs]:
            crossings.append((bs, False, False))
        return self._shift(hist, crossings, warn_up, fail_up)

    def _shift(
        self, hist: list[int], crossings: list[tuple[int, bool, bool]], warn_up: int, fail_up: int
    ) -> tuple[int, int]:
        """Shift each crossing into its channel's warn/fail history; raise or clear (the rule)."""
        mask, raise_at, clear_at = self.mask, self.raise_at, self.clear_at
        for i, lw, lf in crossings:
            j = 2 * i
            bit = 1 << i
            h = ((hist[j] << 1) | lw) & mask
            hist[j] = h
            if warn_up & bit:
                if h.bit_count() <= clear_at:
                    warn_up &= ~bit
            elif h.bit_count() >= raise_at:
                warn_up |= bit
            h = ((hist[j + 1] << 1) | lf) & mask
            hist[j + 1] = h
            if fail_up & bit:
                if h.bit_count() <= clear_at:
                    fail_up &= ~bit
            elif h.bit_count() >= raise_at:
                fail_up |= bit
        return warn_up, fail_up

    @staticmethod
    def _discrete_crossings(
        table: dict[str, tuple[int, bool]], value: str | None, hist: list[int], out: list[tuple[int, bool, bool]]
    ) -> None:
        if value is None:
            return  # not measured in this sample: no evidence either way
        hit = table.get(value)
        for i, is_fail in table.values():
            if hit is not None and hit[0] == i:
                out.append((i, True, is_fail))
            elif hist[2 * i]:
                out.append((i, False, False))


def level_of(warn_up: int, fail_up: int, only: int = -1) -> int:
    """0 fine, 1 warn, 2 fail, over the channels selected by the ``only`` mask."""
    if fail_up & only:
        return 2
    return 1 if warn_up & only else 0
