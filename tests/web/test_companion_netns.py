"""The companion page over a real network (issue 11): Debian's Chromium runs inside a network
namespace (tests/support/netns.py) and reaches the collector process over a veth. Real packet loss
(nftables ``numgen random``, on what leaves the namespace) reaches the member's state through the
data channel's probes with the agent's debounce; a real cut (the veth down) is `lost` (H15), never
"not monitored". Needs root, like the other namespace tests (never skipped)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.support.netns import NetNs
from tests.support.roster import write_companion_roster
from tests.support.services import running_mosquitto, stop_pid
from tests.support.waiting import wait_until
from tests.web.conftest import CHROMIUM_ARGS, Collector, make_collector


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NetNs, Collector, Any]]:
    workdir = tmp_path_factory.mktemp("companion-netns")
    with NetNs() as ns, running_mosquitto(workdir / "mosquitto") as broker:
        c = make_collector(workdir, broker, http_extra=f'host = "{ns.host_ip}"')
        c.host = ns.host_ip
        write_companion_roster(workdir / "roster.toml", time.time())
        wrapper = workdir / "chromium-in-ns"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns.name} /usr/bin/chromium "$@"\n', encoding="utf-8")
        wrapper.chmod(0o755)
        c.start()
        c.start_device("dev-b")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(wrapper), args=CHROMIUM_ARGS, timeout=30_000)
                try:
                    yield ns, c, browser
                finally:
                    host_loss(ns, 0)
                    browser.close()
        finally:
            for proc in c.devices.values():
                stop_pid(proc)
            c.stop()


def host_loss(ns: NetNs, percent: int) -> None:
    """Drop ``percent`` % of the packets arriving from the namespace, on the host side of its veth.

    Not ``NetNs.loss`` (nftables on the namespace's output hook): a packet dropped there makes the
    sender's ``sendto()`` fail with EPERM, and Chromium's WebRTC simply sends again, so the loss never
    reaches the wire. Dropped on arrival, the sender cannot know, as on a real network."""
    table = f"lvk_in_{ns.host_if}"
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, timeout=10)
    if percent <= 0:
        return
    for cmd in (
        ["add", "table", "inet", table],
        ["add", "chain", "inet", table, "in", "{ type filter hook prerouting priority 0 ; policy accept ; }"],
        [
            "add",
            "rule",
            "inet",
            table,
            "in",
            "iifname",
            ns.host_if,
            "numgen",
            "random",
            "mod",
            "100",
            "<",
            str(percent),
            "counter",
            "drop",
        ],
    ):
        subprocess.run(["nft", *cmd], check=True, capture_output=True, timeout=10)


def anna(c: Collector) -> dict[str, Any]:
    return c.participant("ks-test", "anna")


def test_real_loss_and_a_real_cut_reach_the_chair(net: tuple[NetNs, Collector, Any], tmp_path: Path) -> None:
    ns, c, browser = net
    url = next(x["url"] for x in c.api("/api/meetings/ks-test/selftest-links") if x["member_id"] == "anna")
    page = browser.new_context(viewport={"width": 507, "height": 1180}, bypass_csp=True).new_page()
    page.goto(url.replace("/selftest/", "/companion/"))
    page.wait_for_selector('#companion[data-path="webrtc"]', timeout=30_000)
    wait_until(
        lambda: anna(c)["state"] == "ok" and anna(c)["loss_percent"] == 0.0,
        timeout=20,
        what="Anna ok over the veth",
        log=c.workdir / "collector.log",
    )

    # 20 % of what her iPad sends is lost on the way: the loss shows, and breaks equal terms (H1, H2)
    host_loss(ns, 20)
    wait_until(
        lambda: anna(c)["state"] == "failing",
        timeout=30,
        what="Anna failing at 20 % loss",
        log=c.workdir / "collector.log",
    )
    p = anna(c)
    assert p["reason"]["code"] == "loss_percent" and p["loss_percent"] >= 10, p
    assert c.api("/api/meetings/ks-test")["verdict"] == "adjourn"
    host_loss(ns, 0)
    wait_until(lambda: anna(c)["state"] == "ok", timeout=60, what="Anna ok after the loss ends")

    # the veth goes down: no goodbye can come, silence is lost contact (H15) — never "not monitored"
    ns.cut()
    try:
        wait_until(lambda: anna(c)["state"] == "lost", timeout=30, what="Anna lost after the cut")
        assert anna(c)["reason"]["code"] == "no_contact"
        assert c.api("/api/meetings/ks-test")["verdict"] == "adjourn"
    finally:
        ns.restore()
    # back: the page reconnects by itself and she is monitored again
    wait_until(lambda: anna(c)["state"] == "ok", timeout=60, what="Anna back after the cut")
    page.context.close()
