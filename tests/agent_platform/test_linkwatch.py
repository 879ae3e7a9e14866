"""Link changes mid-meeting (H9: Wi-Fi -> mobile data is an event; H15: the route disappears)."""

from __future__ import annotations

from dataclasses import replace

from agent.platform import LinkInfo
from agent.probes.linkwatch import ChangeKind, LinkChange, LinkWatcher
from likavillkor.wire import LinkType

WIFI = LinkInfo(
    iface="wlan0",
    link=LinkType.WIFI,
    gateway="192.168.1.1",
    metered=False,
    hotspot_reason=None,
    wifi_signal_dbm=-60.0,
    wifi_signal_percent=80.0,
    link_rate_mbps=300.0,
)
WWAN = LinkInfo(
    iface="wwan0",
    link=LinkType.WWAN,
    gateway=None,
    metered=True,
    hotspot_reason="wwan",
    wifi_signal_dbm=None,
    wifi_signal_percent=None,
    link_rate_mbps=None,
)
NONE = LinkInfo(
    iface=None,
    link=LinkType.NONE,
    gateway=None,
    metered=None,
    hotspot_reason=None,
    wifi_signal_dbm=None,
    wifi_signal_percent=None,
    link_rate_mbps=None,
)


def test_first_update_is_the_baseline() -> None:
    w = LinkWatcher()
    assert w.update(0.0, WIFI) == []
    assert w.since == 0.0


def test_signal_changes_are_not_link_changes() -> None:
    w = LinkWatcher()
    w.update(0.0, WIFI)
    assert w.update(1.0, replace(WIFI, wifi_signal_dbm=-75.0, link_rate_mbps=54.0)) == []


def test_wifi_to_mobile_data_mid_meeting() -> None:
    w = LinkWatcher()
    w.update(0.0, WIFI)
    changes = w.update(61.0, WWAN)
    assert changes == [
        LinkChange(61.0, ChangeKind.IFACE, "wlan0", "wwan0"),
        LinkChange(61.0, ChangeKind.LINK, "wifi", "wwan"),
    ]
    assert [c.to_mobile_data for c in changes] == [False, True]
    assert w.since == 61.0


def test_same_wifi_iface_now_a_phone_hotspot() -> None:
    w = LinkWatcher()
    w.update(0.0, WIFI)
    hotspot = replace(WIFI, link=LinkType.HOTSPOT, gateway="172.20.10.1", hotspot_reason="ios_gateway")
    changes = w.update(5.0, hotspot)
    assert [c.kind for c in changes] == [ChangeKind.GATEWAY, ChangeKind.LINK]
    assert changes[1].to_mobile_data


def test_hotspot_to_wwan_is_not_a_new_switch_to_mobile() -> None:
    w = LinkWatcher()
    w.update(0.0, replace(WIFI, link=LinkType.HOTSPOT))
    assert not any(c.to_mobile_data for c in w.update(1.0, WWAN))


def test_route_lost_and_back() -> None:
    w = LinkWatcher()
    w.update(0.0, WIFI)
    lost = w.update(10.0, NONE)
    assert any(c.lost for c in lost)
    back = w.update(20.0, WIFI)
    assert [c.kind for c in back] == [ChangeKind.IFACE, ChangeKind.LINK]
    assert not any(c.lost or c.to_mobile_data for c in back)
    assert w.since == 20.0
