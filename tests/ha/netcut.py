"""A real network cut of one process on loopback, without a namespace (issue 17's "leader network
cut"): PostgreSQL and Mosquitto listen on loopback only, so the collector to be cut cannot move
into a namespace, and ``ip link set down`` does not apply to ``lo``. Instead:

- the process runs as a Unix user of its own (:func:`system_user`, ``useradd --system``, removed
  afterwards; :func:`run_as`);
- :class:`NetCut` drops, with an nftables table of the test's own (unique name), every packet that
  user's sockets send (``output`` hook, ``meta skuid``), and every packet sent *to* that process's
  TCP ports (``input`` hook: its listener and the ports of the connections it had at the cut,
  read from ``/proc/net/tcp``, whose ``uid`` column names the socket's owner). Without the input
  side the cut process would still receive what its broker pushes on an open connection (the
  kernel accepts the data, only its ACKs would be lost).
- One address is left open for the test's own eyes: ``127.0.0.2`` (all of ``127.0.0.0/8`` is
  local). The cut process listens on ``0.0.0.0``; HAProxy reaches it on ``127.0.0.1`` (cut), the
  test on ``127.0.0.2`` (not cut), so the test can see the cut leader fence itself while the cut
  lasts. Its connections out (PostgreSQL, brokers) take ``127.0.0.1`` as source and are dropped.

The table is deleted by name when the block ends, also when the test fails; the user is deleted
after its processes are stopped.
"""

from __future__ import annotations

import contextlib
import pwd
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: the address the test keeps to look at a cut process
WATCH_ADDR = "127.0.0.2"
NFT = "nft"
TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int


@contextlib.contextmanager
def system_user(prefix: str = "lvcut") -> Iterator[User]:
    """A fresh system user (no home, no login) for the block; deleted afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
        timeout=30,
    )
    try:
        pw = pwd.getpwnam(name)
        yield User(name, pw.pw_uid, pw.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True, timeout=30)


def run_as(user: User) -> list[str]:
    """The command prefix that runs a program as ``user``: ``setpriv``, no supplementary groups, and
    one capability, ``CAP_DAC_READ_SEARCH`` (read any file: the test's Python lives under root's
    0700 home, pytest's temp dirs are 0700), nothing else; its sockets are ``user``'s."""
    return [
        "setpriv",
        f"--reuid={user.uid}",
        f"--regid={user.gid}",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
        "--",
    ]


def ports_of_uid(table: str, uid: int) -> set[int]:
    """The local TCP ports of the sockets ``uid`` owns, from a ``/proc/net/tcp{,6}`` text (pure)."""
    ports: set[int] = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        local, owner = fields[1], fields[7]
        if owner == str(uid):
            ports.add(int(local.rpartition(":")[2], 16))
    return ports


def current_ports(uid: int) -> set[int]:
    ports: set[int] = set()
    for path in TCP_TABLES:
        if path.exists():
            ports |= ports_of_uid(path.read_text(), uid)
    return ports


def ruleset(table: str, uid: int) -> str:
    """The nftables table cutting ``uid`` off, but for :data:`WATCH_ADDR` (pure). Its ``ports`` set
    (the process's TCP ports, for the input side) is filled by :meth:`NetCut.__enter__`."""
    return f"""table inet {table} {{
  set ports {{ type inet_service; }}
  chain output {{
    type filter hook output priority 0; policy accept;
    meta skuid {uid} ip saddr != {WATCH_ADDR} counter drop
    meta skuid {uid} meta nfproto ipv6 counter drop
  }}
  chain input {{
    type filter hook input priority 0; policy accept;
    ip daddr != {WATCH_ADDR} tcp dport @ports counter drop
    meta nfproto ipv6 tcp dport @ports counter drop
  }}
}}
"""


def _nft(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run([NFT, *args], input=stdin, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class NetCut:
    """Cut ``uid``'s network while the ``with`` block runs (see the module's docstring)."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.table = f"lv_cut_{uuid.uuid4().hex[:10]}"
        self.ports: set[int] = set()

    def __enter__(self) -> NetCut:
        # output first: from then on no new connection of the uid can open, so the port snapshot
        # below is complete (a SYN it sends is dropped)
        _nft("-f", "-", stdin=ruleset(self.table, self.uid))
        try:
            self.ports = current_ports(self.uid)
            if self.ports:
                elements = ", ".join(str(p) for p in sorted(self.ports))
                _nft("add", "element", "inet", self.table, "ports", f"{{ {elements} }}")
        except BaseException:
            self.heal()
            raise
        return self

    def dropped(self, chain: str) -> int:
        """Packets the ``output`` or ``input`` rules dropped so far (the cut is real: > 0)."""
        text = _nft("list", "chain", "inet", self.table, chain)
        return sum(int(part.split()[1]) for part in text.split("counter")[1:] if "packets" in part)

    def heal(self) -> None:
        with contextlib.suppress(RuntimeError):
            _nft("delete", "table", "inet", self.table)

    def __exit__(self, *exc: object) -> None:
        self.heal()
