"""The simplified E-model from quality-thresholds.md, with known values and the units trap."""

from __future__ import annotations

import pytest

from likavillkor import emodel


def test_known_values() -> None:
    # EL = 20 + 2*5 + 10 = 40 -> R = 93.2 - 1 = 92.2
    assert emodel.r_factor(20, 5, 0) == pytest.approx(92.2)
    r = 92.2
    assert emodel.mos(20, 5, 0) == pytest.approx(1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r))
    assert emodel.mos(20, 5, 0) == pytest.approx(4.389, abs=1e-3)
    # EL = 200 + 60 + 10 = 270 >= 160 -> R = 93.2 - 15 = 78.2; loss 2 % -> 73.2
    assert emodel.r_factor(200, 30, 2) == pytest.approx(73.2)
    assert emodel.mos(200, 30, 2) == pytest.approx(3.743, abs=1e-3)


def test_branch_boundary_is_continuous_enough() -> None:
    below = emodel.r_factor(149.99, 0, 0)  # EL just under 160
    at = emodel.r_factor(150, 0, 0)  # EL = 160
    assert below == pytest.approx(89.2, abs=1e-3)
    assert at == pytest.approx(89.2, abs=1e-3)


def test_units_trap_seconds_and_fractions_barely_move_the_mos() -> None:
    # 300 ms RTT, 40 ms jitter, 5 % loss, fed correctly and as one vendor SDK did (s and fraction)
    right = emodel.mos(300, 40, 5)
    wrong = emodel.mos(0.3, 0.04, 0.05)
    assert right < 3.3
    assert wrong > 4.3
    assert wrong - right > 1.0


def test_clamps_and_rejects() -> None:
    assert emodel.mos(5000, 500, 100) == 1.0
    assert emodel.mos_from_r(120) == 4.5
    with pytest.raises(ValueError):
        emodel.mos(-1, 0, 0)
    with pytest.raises(ValueError):
        emodel.mos(10, 0, 150)  # loss is a percentage
    with pytest.raises(ValueError):
        emodel.mos(float("nan"), 0, 0)


def test_mos_never_below_one_for_any_r() -> None:
    """Regression (found by bench_false_alarms --faults, issue 11): for R in (0, 6.5) the cubic gave
    a MOS just under 1.0 (R = 5: 0.992), which the wire refuses, so the agent's whole sample with
    ~38 % loss was dropped by the collector as invalid."""
    from likavillkor import wire
    from likavillkor.emodel import mos, mos_from_r

    assert all(1.0 <= mos_from_r(r / 10) <= 4.5 for r in range(0, 1001))
    for loss in range(0, 101):
        value = mos(20.0, 2.0, float(loss))
        wire.decode(wire.encode(wire.Sample(device_id="d", boot_id="b", seq=1, ts=1.8e9, mos=value)))
