"""Battery forecast (H9: the battery lasts the meeting, otherwise plug in; issue 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.platform import BatteryInfo
from agent.probes.battery_forecast import MARGIN_S, BatteryHistory, drain_percent_per_s, forecast

T0 = 1_800_000_000.0


def steady(percent0: float, per_hour: float, minutes: int, step_s: float = 60.0) -> list[tuple[float, float]]:
    """Readings losing ``per_hour`` percent per hour, rounded to whole percent like real batteries."""
    return [(T0 + i * step_s, float(round(percent0 - per_hour * i * step_s / 3600))) for i in range(minutes + 1)]


def test_steady_drain_gives_minutes_left() -> None:
    readings = steady(80, 20, 10)  # 20 %/h: 77 % left at the end -> ~231 min
    now = readings[-1][0]
    got = forecast(readings, charging=False, now=now, meeting_end=now + 2 * 3600)
    assert got.minutes_left == pytest.approx(readings[-1][1] / 20 * 60, rel=0.15)
    assert got.lasts_meeting is True


def test_wont_last_the_meeting() -> None:
    readings = steady(30, 30, 10)  # 25 % left at 30 %/h -> ~50 min
    now = readings[-1][0]
    got = forecast(readings, charging=False, now=now, meeting_end=now + 3 * 3600)
    assert got.minutes_left is not None and got.minutes_left < 60
    assert got.lasts_meeting is False


def test_margin_is_asked_for() -> None:
    readings = [(T0, 50.0), (T0 + 600, 40.0)]  # 1 %/min: 40 min left
    now = T0 + 600
    assert forecast(readings, False, now, now + 40 * 60 - MARGIN_S).lasts_meeting is True
    assert forecast(readings, False, now, now + 40 * 60 - MARGIN_S + 60).lasts_meeting is False


def test_plugged_in_lasts() -> None:
    got = forecast(steady(10, 60, 5), charging=True, now=T0 + 300, meeting_end=T0 + 10 * 3600)
    assert (got.minutes_left, got.lasts_meeting) == (None, True)


def test_too_few_readings_is_unknown() -> None:
    assert forecast([], False, T0, T0 + 3600).lasts_meeting is None
    assert forecast([(T0, 50.0), (T0 + 30, 49.0)], False, T0 + 30, T0 + 3600).minutes_left is None


def test_flat_or_rising_readings_do_not_invent_a_drain() -> None:
    flat = [(T0 + i * 60, 64.0) for i in range(10)]
    assert drain_percent_per_s(flat, T0 + 540) is None
    assert forecast(flat, False, T0 + 540, T0 + 3600) == forecast([], False, T0 + 540, T0 + 3600)


def test_os_estimate_and_trend_the_lower_wins() -> None:
    readings = steady(90, 10, 10)  # trend: ~9 h
    now = readings[-1][0]
    got = forecast(readings, False, now, now + 2 * 3600, seconds_left=1800)
    assert got.minutes_left == 30.0 and got.lasts_meeting is False
    only_os = forecast([], None, now, now + 600, seconds_left=3600)
    assert (only_os.minutes_left, only_os.lasts_meeting) == (60.0, True)


def test_no_meeting_end_gives_minutes_only() -> None:
    got = forecast(steady(80, 20, 10), False, T0 + 600, None)
    assert got.minutes_left is not None and got.lasts_meeting is None


def test_old_readings_fall_out_of_the_window() -> None:
    # Fast drain long ago, slow now: only the recent 15 min count.
    old = [(T0 + i * 60, 100.0 - 2 * i) for i in range(10)]
    recent = [(T0 + 3600 + i * 60, 60.0 - 0.1 * i) for i in range(11)]
    drain = drain_percent_per_s(old + recent, T0 + 4200)
    assert drain == pytest.approx(0.1 / 60)


def test_history_forgets_on_plug_change_and_clock_jump() -> None:
    h = BatteryHistory(window_s=600)
    for i in range(5):
        h.add(T0 + i * 60, BatteryInfo(percent=50 - i, charging=False, seconds_left=None))
    assert len(h.readings()) == 5
    h.add(T0 + 300, BatteryInfo(percent=46, charging=True, seconds_left=None))
    assert h.readings() == [(T0 + 300, 46)]
    h.add(T0 + 200, BatteryInfo(percent=47, charging=True, seconds_left=None))
    assert h.readings() == [(T0 + 200, 47)]
    for i in range(1, 20):
        h.add(T0 + 200 + i * 60, BatteryInfo(percent=47, charging=True, seconds_left=None))
    assert h.readings()[0][0] >= T0 + 200 + 19 * 60 - 600


@given(
    st.lists(st.tuples(st.floats(0, 3600), st.floats(0, 100)), max_size=30),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.floats(0, 1e6)),
)
def test_forecast_never_negative(
    readings: list[tuple[float, float]], charging: bool | None, seconds_left: float | None
) -> None:
    got = forecast([(T0 + t, p) for t, p in readings], charging, T0 + 3600, T0 + 7200, seconds_left=seconds_left)
    assert got.minutes_left is None or got.minutes_left >= 0
    if charging:
        assert got.lasts_meeting is True
