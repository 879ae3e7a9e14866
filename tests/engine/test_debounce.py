"""Debounce (Twilio/Jitsi: raise at >= 3 of the last 10, clear when none): the pure rule, and the
engine's bitmask judge agreeing with it sample by sample."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.engine.debounce import Judge, debounce, incident_kind, level_of
from likavillkor import wire
from likavillkor.policy import load_policy

POLICY = load_policy().for_meeting("teams", "kommunstyrelsen")


def run_rule(crossings: list[bool]) -> list[bool]:
    h, raised, out = 0, False, []
    for c in crossings:
        h, raised = debounce(h, c, raised, window=10, raise_at=3, clear_at=0)
        out.append(raised)
    return out


def test_two_of_ten_never_raise() -> None:
    pattern = [True, False, False, False, False] * 10
    assert not any(run_rule(pattern))


def test_three_of_ten_raise_on_the_third() -> None:
    assert run_rule([True, False, True, False, False, True]) == [False, False, False, False, False, True]


def test_clears_only_after_a_full_clean_window() -> None:
    out = run_rule([True] * 3 + [False] * 10)
    assert out[2] is True
    assert out[3:11] == [True] * 8  # the crossings are still in the window
    assert out[11] is True  # window: 1 crossing left (sample #2)
    assert out[12] is False  # ten clean samples


def sample(**fields: object) -> wire.Sample:
    return wire.Sample(device_id="d", boot_id="b", seq=1, ts=1_796_112_000.0, **fields)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=30)), min_size=1, max_size=80))
def test_judge_agrees_with_the_pure_rule(values: list[float | None]) -> None:
    judge = Judge(POLICY)
    i = judge.names.index("loss_percent")
    limit = POLICY.limits["loss_percent"]
    assert limit.warn is not None and limit.fail is not None
    hist, warn_up, fail_up = judge.fresh(), 0, 0
    hw = hf = 0
    rw = rf = False
    for v in values:
        warn_up, fail_up = judge.update(hist, warn_up, fail_up, sample(loss_percent=v))
        if v is not None:  # an unmeasured value is no evidence either way
            hw, rw = debounce(hw, v > limit.warn, rw, window=10, raise_at=3, clear_at=0)
            hf, rf = debounce(hf, v > limit.fail, rf, window=10, raise_at=3, clear_at=0)
        assert bool(warn_up >> i & 1) == rw
        assert bool(fail_up >> i & 1) == rf
        assert hist[2 * i] == hw and hist[2 * i + 1] == hf


def test_below_limits_and_discrete_channels() -> None:
    judge = Judge(POLICY)
    hist, w, f = judge.fresh(), 0, 0
    bad: dict[int, float] = {}
    for _ in range(3):
        w, f = judge.update(hist, w, f, sample(mos=2.5, camera="black", microphone="silent"), bad)
    names = {judge.names[i] for i in range(len(judge.names)) if w >> i & 1}
    fails = {judge.names[i] for i in range(len(judge.names)) if f >> i & 1}
    assert names == {"mos", "camera:black"}  # a silent microphone is normal: a listening member (issue 14)
    assert fails == {"mos", "camera:black"}
    for _ in range(3):
        w, f = judge.update(hist, w, f, sample(mos=2.5, camera="black", microphone="dead"), bad)
    assert "microphone:dead" in {judge.names[i] for i in range(len(judge.names)) if f >> i & 1}
    assert bad[judge.names.index("mos")] == 2.5
    assert level_of(w, f) == 2


def test_charging_battery_never_alarms_h9() -> None:
    judge = Judge(POLICY)
    hist, w, f = judge.fresh(), 0, 0
    for _ in range(10):
        w, f = judge.update(hist, w, f, sample(battery_percent=5.0, battery_charging=True, battery_lasts_meeting=False))
    assert w == 0 and f == 0
    for _ in range(3):
        w, f = judge.update(
            hist, w, f, sample(battery_percent=5.0, battery_charging=False, battery_lasts_meeting=False)
        )
    raised = {judge.names[i] for i in range(len(judge.names)) if f >> i & 1}
    assert raised == {"battery_percent", "battery_short"}


def test_bad_policy_is_refused() -> None:
    bad = msgspec.structs.replace(POLICY, limits={**POLICY.limits, "speed_of_light": POLICY.limits["rtt_ms"]})
    with pytest.raises(ValueError, match="names no field"):
        Judge(bad)
    bad = msgspec.structs.replace(POLICY, debounce_raise=0)
    with pytest.raises(ValueError, match="clear < raise"):
        Judge(bad)


@pytest.mark.parametrize(
    ("channel", "kind"),
    [
        ("loss_percent", "network_degraded"),
        ("battery_short", "low_battery"),
        ("camera:black", "camera_black"),
        ("camera:no_face", "no_face"),
        ("microphone:dead", "mic_silent"),
        ("cpu_percent", "device_load"),
    ],
)
def test_incident_kinds(channel: str, kind: str) -> None:
    assert incident_kind(channel) == kind
