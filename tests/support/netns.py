"""A network namespace joined to the root namespace by a veth pair, for path and bandwidth tests.

Each :class:`NetNs` gets unique names and its own /30 inside ``10.213.0.0/16``, a range that exists
only between this machine's root namespace and its test namespaces. Helpers:

- :meth:`NetNs.shape` — ``tc tbf`` on both ends of the veth (both directions limited);
- :meth:`NetNs.loss` — an nftables rule ``numgen random mod 100 < N drop`` in a table of its own,
  inside the namespace, on packets *leaving* it (so a round trip loses N %, not 1 − (1 − N)²);
- :meth:`NetNs.cut` / :meth:`NetNs.restore` — ``ip link set down`` / ``up`` on both ends;
- :meth:`NetNs.run` / :meth:`NetNs.popen` — a command inside the namespace (``ip netns exec``).

Cleanup is guaranteed: the context manager deletes the namespace (which deletes the veth pair,
its qdiscs and the nftables table) and stops every process it started by PID; an ``atexit`` hook
does the same if the test process dies first. ``tc netem`` does not exist on every kernel (not on
this CI's), hence tbf and nftables. Needs root: without it, it fails with the reason, never skips.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import subprocess
from collections.abc import Sequence

from tests.support.services import require_binary, stop_pid

_NET = ipaddress.ip_network("10.213.0.0/16")
_SLOTS = _NET.num_addresses // 4
_counter = itertools.count()
_live: dict[str, NetNs] = {}


def _sh(argv: Sequence[str], *, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def require_root() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("network-namespace tests need root (ip netns, tc, nft): run them as root, as CI does")
    for tool in ("ip", "tc", "nft"):
        require_binary(tool, f"/usr/sbin/{tool}", f"/sbin/{tool}")


def _used_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = _sh(["ip", "-o", "-4", "addr", "show"]).stdout
    used: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(ipaddress.ip_interface(parts[parts.index("inet") + 1]).ip)
    return used


class NetNs:
    """``with NetNs() as ns:`` — ``ns.host_ip`` (root side) and ``ns.ns_ip`` (inside) talk over the veth."""

    def __init__(self) -> None:
        n = next(_counter)
        tag = f"{os.getpid() % 100_000:05d}{n % 100:02d}"
        self.name = f"lvk{tag}"
        self.host_if = f"lvk{tag}h"
        self.ns_if = f"lvk{tag}n"
        used = _used_addresses()
        start = (os.getpid() * 37 + n) % _SLOTS
        for i in range(_SLOTS):
            base = _NET.network_address + 4 * ((start + i) % _SLOTS)
            if base + 1 not in used and base + 2 not in used:
                break
        else:
            raise RuntimeError("no free /30 in 10.213.0.0/16 for a test namespace")
        self.host_ip = str(base + 1)
        self.ns_ip = str(base + 2)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._created = False

    # lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> NetNs:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    def create(self) -> None:
        require_root()
        _live[self.name] = self
        self._created = True
        try:
            _sh(["ip", "netns", "add", self.name])
            _sh(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if])
            _sh(["ip", "link", "set", self.ns_if, "netns", self.name])
            _sh(["ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if])
            _sh(["ip", "link", "set", self.host_if, "up"])
            self.run(["ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if])
            self.run(["ip", "link", "set", self.ns_if, "up"])
            self.run(["ip", "link", "set", "lo", "up"])
        except Exception:
            self.destroy()
            raise

    def destroy(self) -> None:
        for proc in self._procs:
            stop_pid(proc)
        self._procs.clear()
        if self._created:
            _sh(["ip", "link", "del", self.host_if], check=False)
            _sh(["ip", "netns", "del", self.name], check=False)
            self._created = False
        _live.pop(self.name, None)

    # commands --------------------------------------------------------------------------------
    def run(self, cmd: Sequence[str], *, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside the namespace and wait for it."""
        return _sh(["ip", "netns", "exec", self.name, *cmd], check=check, timeout=timeout)

    def popen(self, cmd: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``cmd`` inside the namespace; it is stopped (by PID) when the namespace goes."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            ["ip", "netns", "exec", self.name, *cmd], start_new_session=True, **kwargs
        )
        self._procs.append(proc)
        return proc

    # impairments -----------------------------------------------------------------------------
    def shape(self, rate_mbit: float) -> None:
        """Limit both directions to ``rate_mbit`` with a token bucket (tc tbf)."""
        rate_bytes = rate_mbit * 1e6 / 8
        burst = max(16_000, int(rate_bytes / 100))  # 10 ms of traffic, at least a few full frames
        args = ["root", "tbf", "rate", f"{int(rate_mbit * 1000)}kbit", "burst", str(burst), "latency", "50ms"]
        _sh(["tc", "qdisc", "replace", "dev", self.host_if, *args])
        self.run(["tc", "qdisc", "replace", "dev", self.ns_if, *args])

    def unshape(self) -> None:
        _sh(["tc", "qdisc", "del", "dev", self.host_if, "root"], check=False)
        self.run(["tc", "qdisc", "del", "dev", self.ns_if, "root"], check=False)

    def loss(self, percent: int) -> None:
        """Drop ``percent`` % of the packets leaving the namespace (nftables, random)."""
        if not 0 <= percent <= 100:
            raise ValueError("percent must be 0..100")
        self.clear_loss()
        table = "lvk_loss"
        self.run(["nft", "add", "table", "inet", table])
        self.run(
            ["nft", "add", "chain", "inet", table, "out", "{ type filter hook output priority 0 ; policy accept ; }"]
        )
        self.run(
            [
                "nft",
                "add",
                "rule",
                "inet",
                table,
                "out",
                "oifname",
                self.ns_if,
                "numgen",
                "random",
                "mod",
                "100",
                "<",
                str(percent),
                "counter",
                "drop",
            ]
        )

    def clear_loss(self) -> None:
        self.run(["nft", "delete", "table", "inet", "lvk_loss"], check=False)

    def cut(self) -> None:
        """Take the link down on both ends."""
        self.run(["ip", "link", "set", self.ns_if, "down"])
        _sh(["ip", "link", "set", self.host_if, "down"])

    def restore(self) -> None:
        _sh(["ip", "link", "set", self.host_if, "up"])
        self.run(["ip", "link", "set", self.ns_if, "up"])
        # the root side's address route comes back with the link; make sure it did
        _sh(["ip", "addr", "replace", f"{self.host_ip}/30", "dev", self.host_if])


@atexit.register
def _cleanup_all() -> None:
    for ns in list(_live.values()):
        with contextlib.suppress(Exception):
            ns.destroy()
