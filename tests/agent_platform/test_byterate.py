"""Byte rates from interface counters (Sample.tx_kbps / rx_kbps)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.platform import NetCounters
from agent.probes.byterate import WRAP_32, ByteRate, Rates


def test_first_feed_is_baseline_then_rates() -> None:
    m = ByteRate()
    assert m.feed(100.0, NetCounters(rx_bytes=0, tx_bytes=0), "wlan0") is None
    got = m.feed(102.0, NetCounters(rx_bytes=1_000_000, tx_bytes=250_000), "wlan0")
    assert got == Rates(tx_kbps=1000.0, rx_kbps=4000.0)


def test_32bit_wrap() -> None:
    m = ByteRate()
    m.feed(0.0, NetCounters(rx_bytes=WRAP_32 - 1000, tx_bytes=10), "Wi-Fi")
    got = m.feed(1.0, NetCounters(rx_bytes=24, tx_bytes=135), "Wi-Fi")
    assert got is not None and got.tx_kbps == 1.0
    assert got.rx_kbps == pytest.approx(8.192)
    assert m.wraps == 1 and m.resets == 0


def test_reset_of_64bit_counter_gives_no_rate_then_recovers() -> None:
    m = ByteRate()
    m.feed(0.0, NetCounters(rx_bytes=10 * WRAP_32, tx_bytes=10 * WRAP_32), "eth0")
    assert m.feed(1.0, NetCounters(rx_bytes=500, tx_bytes=100), "eth0") is None
    assert m.resets == 1
    assert m.feed(2.0, NetCounters(rx_bytes=625, tx_bytes=225), "eth0") == Rates(tx_kbps=1.0, rx_kbps=1.0)


def test_iface_change_rebaselines() -> None:
    m = ByteRate()
    m.feed(0.0, NetCounters(rx_bytes=9_000_000, tx_bytes=9_000_000), "wlan0")
    assert m.feed(1.0, NetCounters(rx_bytes=100, tx_bytes=100), "wwan0") is None
    assert m.iface_changes == 1
    assert m.feed(2.0, NetCounters(rx_bytes=225, tx_bytes=100), "wwan0") == Rates(tx_kbps=0.0, rx_kbps=1.0)


def test_missing_counters_and_clock_going_back() -> None:
    m = ByteRate()
    m.feed(0.0, NetCounters(1, 1))
    assert m.feed(1.0, None) is None
    assert m.feed(2.0, NetCounters(2, 2)) is None  # new baseline after the gap
    assert m.feed(2.0, NetCounters(3, 3)) is None  # no time passed
    assert m.resets == 1


def test_implausible_jump_is_a_glitch() -> None:
    m = ByteRate(max_kbps=1000)
    m.feed(0.0, NetCounters(0, 0))
    assert m.feed(1.0, NetCounters(rx_bytes=10**9, tx_bytes=0)) is None


@given(
    st.lists(
        st.tuples(st.floats(0.01, 10), st.integers(0, 2**64), st.integers(0, 2**64), st.sampled_from(["a", "b"])),
        max_size=40,
    )
)
def test_rates_never_negative_nor_huge(steps: list[tuple[float, int, int, str]]) -> None:
    m = ByteRate()
    t = 0.0
    for dt, rx, tx, iface in steps:
        t += dt
        got = m.feed(t, NetCounters(rx_bytes=rx, tx_bytes=tx), iface)
        if got is not None:
            assert 0 <= got.tx_kbps <= m.max_kbps and 0 <= got.rx_kbps <= m.max_kbps
