"""The facade: one implementation per OS, the public API others code against, never raising."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
from collections import namedtuple
from pathlib import Path

import pytest

import agent.platform as platform
from agent.platform import BatteryInfo, LinkInfo, NetCounters
from agent.platform._run import PROBLEMS, TtlCache, note_problem, run_command, safely
from agent.platform.battery_psutil import from_psutil
from agent.platform.hotspot import REASONS, classify_hotspot
from likavillkor.wire import LinkType, Sample

Raw = namedtuple("Raw", "percent secsleft power_plugged")


def test_linux_implementation_is_chosen_here() -> None:
    assert sys.platform.startswith("linux")
    assert platform.PLATFORM == "linux"


def test_public_functions_delegate_in_one_line() -> None:
    tree = ast.parse(Path(platform.__file__).read_text())
    bodies = {f.name: f.body for f in tree.body if isinstance(f, ast.FunctionDef)}
    for name in ("link_info", "battery", "net_counters"):
        body = [s for s in bodies[name] if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        assert len(body) == 1 and isinstance(body[0], ast.Return), name


def test_api_shapes() -> None:
    assert [f.name for f in dataclasses.fields(LinkInfo)] == [
        "iface",
        "link",
        "gateway",
        "metered",
        "hotspot_reason",
        "wifi_signal_dbm",
        "wifi_signal_percent",
        "link_rate_mbps",
    ]
    assert [f.name for f in dataclasses.fields(BatteryInfo)] == ["percent", "charging", "seconds_left"]
    assert [f.name for f in dataclasses.fields(NetCounters)] == ["rx_bytes", "tx_bytes"]
    assert str(inspect.signature(platform.net_counters)) == "(iface: 'str | None' = None) -> 'NetCounters | None'"
    with pytest.raises(dataclasses.FrozenInstanceError):
        NetCounters(1, 2).rx_bytes = 3  # type: ignore[misc]


def test_link_info_fields_fit_the_wire_sample() -> None:
    info = platform.link_info()
    assert isinstance(info.link, LinkType)
    wire_fields = set(Sample.__struct_fields__)
    assert {f.name for f in dataclasses.fields(LinkInfo)} - {"gateway"} <= wire_fields
    Sample(
        device_id="d1",
        boot_id="b",
        seq=1,
        ts=1.8e9,
        link=info.link,
        iface=info.iface,
        metered=info.metered,
        hotspot_reason=info.hotspot_reason,
        wifi_signal_dbm=info.wifi_signal_dbm,
        wifi_signal_percent=info.wifi_signal_percent,
        link_rate_mbps=info.link_rate_mbps,
    )


def test_no_battery_here_is_none() -> None:
    # This CI machine has no battery (preamble): None is the normal answer, not an error.
    assert platform.battery() is None


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (None, None),
        (Raw(57.3, 3600, False), BatteryInfo(percent=57.3, charging=False, seconds_left=3600.0)),
        (Raw(100, -2, True), BatteryInfo(percent=100.0, charging=True, seconds_left=None)),  # POWER_TIME_UNLIMITED
        (Raw(12, -1, None), BatteryInfo(percent=12.0, charging=None, seconds_left=None)),  # POWER_TIME_UNKNOWN
        (Raw(100.4, -1, True), BatteryInfo(percent=100.0, charging=True, seconds_left=None)),
    ],
)
def test_from_psutil(raw: Raw | None, want: BatteryInfo | None) -> None:
    assert from_psutil(raw) == want


@pytest.mark.parametrize(
    ("gateway", "metered", "cost", "want"),
    [
        ("172.20.10.1", None, None, "ios_gateway"),
        ("172.20.10.14", None, None, "ios_gateway"),
        ("172.20.10.17", None, None, None),  # outside the /28
        ("192.168.43.1", None, None, "android_gateway"),
        ("192.168.42.129", None, None, "android_gateway"),
        ("192.168.1.1", None, None, None),
        ("192.168.1.1", True, None, "nm_metered"),
        ("192.168.1.1", False, "Variable", "windows_cost"),
        ("172.20.10.1", None, "fixed", "windows_cost"),
        ("192.168.1.1", None, "Unrestricted", None),
        (None, None, None, None),
        ("fe80::1%wlan0", None, None, None),
        ("not-an-ip", None, None, None),
    ],
)
def test_classify_hotspot(gateway: str | None, metered: bool | None, cost: str | None, want: str | None) -> None:
    got = classify_hotspot(gateway, metered, cost)
    assert got == want
    assert got is None or got in REASONS


def test_real_runner_deadline_and_missing_tool() -> None:
    assert run_command(["definitely-not-a-tool-xyz"], 1.0) is None
    assert run_command(["false"], 1.0) is None
    assert run_command(["echo", "hej"], 1.0) == "hej\n"
    before = PROBLEMS["cmd.timeout"]
    assert run_command([sys.executable, "-c", "import time; time.sleep(5)"], 0.2) is None
    assert PROBLEMS["cmd.timeout"] == before + 1


def test_safely_counts_and_falls_back() -> None:
    before = PROBLEMS["test.boom"]

    def boom() -> int:
        raise RuntimeError("odd firmware")

    assert safely(boom, 7, "test.boom") == 7
    assert PROBLEMS["test.boom"] == before + 1
    note_problem("test.boom", "again")
    assert platform.problem_counts()["test.boom"] == before + 2


def test_ttl_cache() -> None:
    now = [0.0]
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    cache: TtlCache[int] = TtlCache(ttl_s=10.0, clock=lambda: now[0])
    assert cache.get("a", compute) == 1
    now[0] = 9.9
    assert cache.get("a", compute) == 1
    now[0] = 10.0
    assert cache.get("a", compute) == 2
    assert cache.get("b", compute) == 3
