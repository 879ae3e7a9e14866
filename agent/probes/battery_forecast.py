"""Will the battery last the meeting? (H9: "the battery is sufficient, otherwise the device is
plugged in"; issue 3.)

Pure: readings and times are passed in. The drain rate is the least-squares slope of the
percentage over the recent readings; the OS's own estimate (``BatteryInfo.seconds_left``) is used
beside it, and the lower of the two wins, because running out mid-meeting forces an adjournment
(H2, H15) while a false alarm only costs plugging in a cable. A device that is plugged in lasts.
The caller fails the check with advice to plug in when ``lasts_meeting`` is False and the device
is not charging.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from agent.platform import BatteryInfo

#: Readings older than this are not used for the drain rate (seconds).
WINDOW_S: Final = 15 * 60
#: The readings must span at least this long before a trend is trusted (seconds).
MIN_SPAN_S: Final = 120.0
#: Spare time asked for beyond the meeting's end: meetings overrun, batteries sag near empty.
MARGIN_S: Final = 10 * 60


@dataclass(frozen=True, slots=True)
class Forecast:
    minutes_left: float | None  # to empty; None when plugged in or not yet known
    lasts_meeting: bool | None  # None when the meeting end or the drain is unknown


def drain_percent_per_s(
    readings: Sequence[tuple[float, float]], now: float, window_s: float = WINDOW_S, min_span_s: float = MIN_SPAN_S
) -> float | None:
    """Least-squares drain (positive: percent lost per second) over the readings in the window."""
    recent = sorted((t, p) for t, p in readings if now - window_s <= t <= now)
    if len(recent) < 2 or recent[-1][0] - recent[0][0] < min_span_s:
        return None
    n = len(recent)
    mean_t = sum(t for t, _ in recent) / n
    mean_p = sum(p for _, p in recent) / n
    var = sum((t - mean_t) ** 2 for t, _ in recent)
    slope = sum((t - mean_t) * (p - mean_p) for t, p in recent) / var
    return -slope if slope < 0 else None


def forecast(
    readings: Sequence[tuple[float, float]],
    charging: bool | None,
    now: float,
    meeting_end: float | None,
    *,
    seconds_left: float | None = None,
    window_s: float = WINDOW_S,
    min_span_s: float = MIN_SPAN_S,
    margin_s: float = MARGIN_S,
) -> Forecast:
    """Minutes to empty and whether that covers the rest of the meeting plus ``margin_s``.

    ``readings`` are ``(t, percent)`` with ``t`` on the same clock as ``now`` and ``meeting_end``
    (epoch seconds); ``seconds_left`` is the OS's estimate when it gives one.
    """
    if charging is True:
        return Forecast(minutes_left=None, lasts_meeting=True)
    estimates: list[float] = []
    drain = drain_percent_per_s(readings, now, window_s, min_span_s)
    latest = max(readings, key=lambda r: r[0])[1] if readings else None
    if drain is not None and latest is not None:
        estimates.append(max(0.0, latest) / drain)
    if seconds_left is not None and seconds_left > 0:
        estimates.append(seconds_left)
    if not estimates:
        return Forecast(minutes_left=None, lasts_meeting=None)
    left_s = min(estimates)
    lasts = None if meeting_end is None else left_s >= max(0.0, meeting_end - now) + margin_s
    return Forecast(minutes_left=left_s / 60.0, lasts_meeting=lasts)


class BatteryHistory:
    """The recent ``(t, percent)`` readings for :func:`forecast`; forgets them when the device is
    plugged in or out, since the old trend then says nothing about the new one."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._readings: deque[tuple[float, float]] = deque()
        self._charging: bool | None = None

    def add(self, t: float, info: BatteryInfo) -> None:
        if info.charging != self._charging:
            self._readings.clear()
            self._charging = info.charging
        if self._readings and t <= self._readings[-1][0]:
            self._readings.clear()  # the clock went back: start again
        self._readings.append((t, info.percent))
        while self._readings and self._readings[0][0] < t - self.window_s:
            self._readings.popleft()

    def readings(self) -> list[tuple[float, float]]:
        return list(self._readings)
