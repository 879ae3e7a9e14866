"""The Linux facade on real kernel interfaces: a private network namespace with veth pairs.

`ip netns exec` remounts /sys for the namespace, so the facade reads the namespace's own
/proc/net/route and /sys/class/net, exactly as on a member's laptop. Needs root (this CI runs as
root); without it the test fails with the reason, it is not skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json
from agent.platform import _linux
i = _linux.link_info()
c = _linux.net_counters()
print(json.dumps({"iface": i.iface, "link": i.link.value, "gateway": i.gateway,
                  "reason": i.hotspot_reason, "tx": c.tx_bytes if c else None}))
"""


def sh(ns: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, timeout=10, capture_output=True)


@pytest.fixture
def netns() -> Iterator[str]:
    assert os.geteuid() == 0, "needs root for network namespaces"
    assert shutil.which("ip"), "needs iproute2 (apt-get install -y iproute2)"
    name = f"lvplat-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        sh(name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)


def probe(ns: str) -> dict[str, object]:
    out = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", PROBE],
        check=True,
        timeout=20,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def add_veth(ns: str, name: str, cidr: str, gateway: str) -> None:
    sh(ns, "ip", "link", "add", name, "type", "veth", "peer", "name", f"{name[:10]}p")
    sh(ns, "ip", "link", "set", name, "up")
    sh(ns, "ip", "link", "set", f"{name[:10]}p", "up")
    sh(ns, "ip", "addr", "add", cidr, "dev", name)
    sh(ns, "ip", "route", "add", "default", "via", gateway, "dev", name)


def test_no_route_then_veth_ethernet_then_wwan_name(netns: str) -> None:
    assert probe(netns) == {"iface": None, "link": "none", "gateway": None, "reason": None, "tx": None}

    add_veth(netns, "eth7", "10.77.0.2/24", "10.77.0.1")
    first = probe(netns)
    assert {k: first[k] for k in ("iface", "link", "gateway", "reason")} == {
        "iface": "eth7",
        "link": "ethernet",
        "gateway": "10.77.0.1",
        "reason": None,
    }
    # A datagram to the internet makes the kernel ARP for the gateway on eth7: tx bytes move.
    send = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('192.0.2.9', 9))"
    sh(netns, sys.executable, "-c", send)
    second = probe(netns)
    assert isinstance(first["tx"], int) and isinstance(second["tx"], int) and second["tx"] > first["tx"]

    sh(netns, "ip", "route", "del", "default")
    add_veth(netns, "wwan0", "192.168.43.20/24", "192.168.43.1")
    assert probe(netns)["link"] == "wwan"  # the kernel's wwan naming (H9)


def test_android_gateway_on_a_wired_looking_interface(netns: str) -> None:
    add_veth(netns, "usb0", "192.168.42.100/24", "192.168.42.129")
    got = probe(netns)
    assert (got["link"], got["reason"]) == ("hotspot", "android_gateway")
