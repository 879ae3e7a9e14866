"""Takeover time of the real collector pair (issue 17): two `likavillkor-collector run` processes
with `[ha]` on one PostgreSQL and two Mosquittos (tests/ha/test_collector_failover.py's site, no
agents); the leader is SIGKILLed and two times are measured on this machine's monotonic clock:

- *leads*: until the other answers 200 on `GET /health/leader` (what HAProxy checks);
- *serves*: until it also serves `/api/health` (its takeover caught up: actions and incidents read,
  buffered samples written, the StandbyGuard open).

The killed one is started again as the standby and the next kill waits a random part of a renew
period (so the kill falls anywhere in the leader's renew cycle). Results: docs/performance.md.

``--fault cut`` (root): instead of a SIGKILL the leader's whole network is cut with nftables (each
collector runs as a Unix user of its own, tests/ha/netcut.py), and a third time is measured:
*fenced*, until the cut leader itself answers 503 (its own clock; watched on 127.0.0.2, which the
cut spares). Then the cut heals and the next run waits until the healed one stands by.

    .venv/bin/python bench/bench_collector_takeover.py [--runs 20] [--lease-s 6] [--renew-every-s 2]
        [--fault kill|cut]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tests.ha.test_collector_failover as site_mod  # noqa: E402
from tests.ha import netcut  # noqa: E402
from tests.support.collector import device_test_policy  # noqa: E402
from tests.support.databases import running_postgres  # noqa: E402
from tests.support.roster import write_roster  # noqa: E402
from tests.support.services import free_port, running_mosquitto  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--lease-s", type=float, default=6.0)
    ap.add_argument("--renew-every-s", type=float, default=2.0)
    ap.add_argument("--fault", choices=("kill", "cut"), default="kill")
    args = ap.parse_args()
    cut = args.fault == "cut"
    site_mod.LEASE_S, site_mod.RENEW_S = args.lease_s, args.renew_every_s
    leads: list[float] = []
    serves: list[float] = []
    fenced: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as pg, contextlib.ExitStack() as stack:
        work = Path(tmp)
        db = f"bench_{uuid.uuid4().hex[:8]}"
        pg.create_database(db)
        with psycopg.connect(f"host={pg.host} port={pg.port} user=postgres dbname=postgres", autocommit=True) as c:
            for name in ("a", "b"):
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    c.execute(f"CREATE ROLE col_{name} LOGIN SUPERUSER")
        write_roster(work / "roster.toml", ["bench-dev"], meeting_id=site_mod.MEETING)
        (work / "policy.toml").write_text(device_test_policy(6.0), encoding="utf-8")
        brokers = [stack.enter_context(running_mosquitto(work / f"mosquitto-{i}")) for i in range(2)]
        nodes = {}
        users: dict[str, netcut.User] = {}
        if cut:  # each its own user; the shared data dir writable by both (reading: the capability)
            (work / "data").mkdir(mode=0o777)
            (work / "data").chmod(0o777)
        for name in ("a", "b"):
            port = free_port()
            host = "0.0.0.0" if cut else "127.0.0.1"
            cfg = site_mod._node_config(work, name, pg=pg, db=db, brokers=brokers, port=port, host=host)
            nodes[name] = site_mod.Node(name, work / name, cfg, port, work / "data")
            if cut:
                users[name] = stack.enter_context(netcut.system_user())
                nodes[name].wrapper = netcut.run_as(users[name])
                nodes[name].host = netcut.WATCH_ADDR
                (work / name).chmod(0o777)
            stack.callback(nodes[name].stop)
        nodes["a"].boot()
        while nodes["a"].leader_status() != 200:
            time.sleep(0.1)
        nodes["b"].boot()
        for run in range(args.runs):
            leader = next(n for n in nodes.values() if n.leader_status() == 200)
            other = next(n for n in nodes.values() if n is not leader)
            while other.leader_status() != 503:
                time.sleep(0.1)
            time.sleep(random.uniform(0, args.renew_every_s))
            t0 = time.monotonic()
            net = None
            if cut:
                net = netcut.NetCut(users[leader.name].uid).__enter__()
                stack.callback(net.heal)  # (deleted by name; again at the end does nothing)
            else:
                leader.kill()
            t_lead = t_serve = t_fenced = None
            while t_serve is None or (cut and t_fenced is None):
                now = time.monotonic()
                if t_lead is None and other.leader_status() == 200:
                    t_lead = now
                if cut and t_fenced is None and leader.leader_status() == 503:
                    t_fenced = now
                if t_lead is not None:
                    with contextlib.suppress(httpx.HTTPError):
                        r = httpx.get(f"{other.base}/api/health", headers=other.headers, timeout=3)
                        if r.status_code == 200:
                            t_serve = time.monotonic()
                if now - t0 > 120:
                    if net is not None:
                        net.heal()
                    raise SystemExit(f"run {run}: no takeover within 120 s")
                time.sleep(0.05)
            assert t_lead is not None and t_serve is not None
            leads.append(t_lead - t0)
            serves.append(t_serve - t0)
            if net is not None and t_fenced is not None:
                fenced.append(t_fenced - t0)
                net.heal()
                # healed: back on its brokers (a standby answers /metrics) before the next cut
                while "likavillkor_mqtt_connected 1.0" not in leader.metrics():
                    time.sleep(0.2)
            else:
                leader.boot()
            print(f"run {run + 1}: leads {leads[-1]:.2f} s, serves {serves[-1]:.2f} s"
                  + (f", cut one fenced {fenced[-1]:.2f} s" if fenced else ""), flush=True)  # fmt: skip
    series = [("leads (/health/leader 200)", leads), ("serves (takeover caught up)", serves)]
    if fenced:
        series.append(("cut leader fenced (its /health/leader 503)", fenced))
    for what, xs in series:
        print(
            f"{what}: n={len(xs)} p50 {statistics.median(xs):.2f} s, p95 {pct(xs, 95):.2f} s, "
            f"max {max(xs):.2f} s (lease {args.lease_s} s, renew {args.renew_every_s} s)"
        )


if __name__ == "__main__":
    main()
