"""The network-cut harness of the HA fault suite (tests/ha/netcut.py): which ports it cuts, and
that the kernel's nftables accepts its table (``nft --check``: parsed and validated, not applied)."""

from __future__ import annotations

import subprocess

from tests.ha.netcut import WATCH_ADDR, ports_of_uid, ruleset

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1 1
   1: 0100007F:C350 0100007F:0738 01 00000000:00000000 00:00000000 00000000   999        0 2 1
   2: 0100007F:0738 0100007F:C350 01 00000000:00000000 00:00000000 00000000   108        0 3 1
   3: 0100007F:D431 0100007F:075B 01 00000000:00000000 00:00000000 00000000     0        0 4 1
   broken line
"""


def test_ports_of_a_uid_are_its_sockets_local_ports_only() -> None:
    # its listener (8080) and its connection's own port (50000), not its peer's (1848, PostgreSQL's
    # side is another uid) nor root's
    assert ports_of_uid(PROC_NET_TCP, 999) == {0x1F90, 0xC350}
    assert ports_of_uid(PROC_NET_TCP, 108) == {0x0738}
    assert ports_of_uid(PROC_NET_TCP, 4242) == set()


def test_the_table_is_valid_nftables_and_spares_only_the_watch_address() -> None:
    text = ruleset("lv_cut_check", 999)
    done = subprocess.run(["nft", "--check", "-f", "-"], input=text, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert f"meta skuid 999 ip saddr != {WATCH_ADDR} counter drop" in text
    assert "meta skuid 999 meta nfproto ipv6 counter drop" in text
    assert f"ip daddr != {WATCH_ADDR} tcp dport @ports counter drop" in text
