"""False alarms over a clean run: real agents on an unimpaired link, nothing should ever fire.

    .venv/bin/python bench/bench_false_alarms.py                    # 30 minutes, 3 agents
    .venv/bin/python bench/bench_false_alarms.py --duration 120 --agents 2
    .venv/bin/python bench/bench_false_alarms.py --faults           # issue 11: 30 min with faults
    .venv/bin/python bench/bench_false_alarms.py --faults --duration 240   # its short form

``--faults`` (issue 11): the agents sign their path probes to the collector's reflector; 5 %
random loss (nftables, ``--loss``) on everything the agents' namespace sends; a CPU-heavy process
runs all along; at 30 % of the run Mosquitto restarts, at 50 % the collector restarts (about 4 s
away), at 70 % the collector stands still for 20 s (SIGSTOP/SIGCONT). 5 % loss is real and may
show as degraded and *at risk*; a false alarm is then any ``lost``/``failing``/``replaced``, any
*Ajournera*/``substitute_due`` and any incident of failure severity or of lost contact
(*monitoring interrupted* during the collector's own gaps is right, not an alarm).

Real agents (``likavillkor-agent monitor``, the shipped 1 s sample period) run in a network
namespace joined by a veth pair to Mosquitto and the collector (real processes, shipped silence
limit 5 s). Once every participant is ``ok`` and the meeting ``equal_terms``, the run lasts
``--duration`` s; then the store is read: every state change away from ``ok``, every verdict change
away from ``equal_terms`` and every incident is a false alarm (target: zero). The run also proves
samples published = samples stored per agent. Media and host limits are opened as in tests/faults
(the agents run no meeting program, on a shared busy machine); contact, link and battery are judged.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.harness import Agent, Collector, broker_for, default_route, tally  # noqa: E402
from tests.support.netns import NetNs, require_root  # noqa: E402
from tests.support.services import free_port  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402

BAD_STATES = {"lost", "failing", "replaced"}
BAD_VERDICTS = {"adjourn", "substitute_due"}


def inject(col: Collector, broker: object, t0: float, duration: float, done: set[str]) -> None:
    """The faults of ``--faults``, each once, at its share of the run."""
    elapsed = (time.time() - t0) / duration
    if elapsed >= 0.3 and "broker" not in done:
        done.add("broker")
        print("  fault: Mosquitto restarts", flush=True)
        broker.restart()  # type: ignore[attr-defined]
    if elapsed >= 0.5 and "restart" not in done:
        done.add("restart")
        print("  fault: the collector restarts (about 4 s away)", flush=True)
        col.stop()
        time.sleep(4)
        col.start()
    if elapsed >= 0.7 and "stall" not in done:
        done.add("stall")
        print("  fault: the collector stands still for 20 s (SIGSTOP/SIGCONT)", flush=True)
        assert col.proc is not None
        os.kill(col.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(20)
        finally:
            os.kill(col.proc.pid, signal.SIGCONT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--period", type=float, default=1.0)
    ap.add_argument("--silence", type=float, default=5.0)
    ap.add_argument("--faults", action="store_true", help="issue 11: loss, CPU hog, broker/collector restart, stall")
    ap.add_argument("--loss", type=int, default=5, help="with --faults: random loss in percent (nftables)")
    args = ap.parse_args()
    require_root()
    tmp = Path(tempfile.mkdtemp(prefix="likavillkor-falsealarms-"))
    devices = [f"dev-{i}" for i in range(args.agents)]
    with NetNs() as ns, broker_for(ns, tmp / "mosquitto") as broker:
        default_route(ns)
        rport = free_port(kind=socket.SOCK_DGRAM) if args.faults else 0
        col = Collector(tmp / "collector", broker.url, devices, silence_s=args.silence, reflector_port=rport)
        agents = [
            Agent(ns, d, broker.port, tmp, period_s=args.period, collector_port=col.port, reflector_port=rport)
            for d in devices
        ]
        col.start()
        hog = None
        done: set[str] = set()
        try:
            for a in agents:
                a.start()
            wait_until(
                lambda: (
                    col.view()["verdict"] == "equal_terms"
                    and all(p["state"] == "ok" for p in col.view()["participants"])
                ),
                timeout=90,
                what="all ok",
                detail=col.view,
            )
            if args.faults:
                ns.loss(args.loss)
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # another CPU-heavy process
            t0 = time.time()
            seen: list[str] = []
            last_print = t0
            while time.time() - t0 < args.duration:
                time.sleep(0.5)
                if args.faults:
                    inject(col, broker, t0, args.duration, done)
                    v = col.get("/api/meetings/ks-test")
                    if v is not None:
                        if v["verdict"] in BAD_VERDICTS:
                            seen.append(f"{time.time() - t0:.0f} s verdict {v['verdict']}")
                        seen.extend(
                            f"{time.time() - t0:.0f} s {p['device_id']} {p['state']}"
                            for p in v["participants"]
                            if p["state"] in BAD_STATES
                        )
                if time.time() - last_print >= 60:
                    last_print = time.time()
                    v = col.get("/api/meetings/ks-test") or {"verdict": "?", "participants": []}
                    print(
                        f"  t={time.time() - t0:6.0f} s  verdict {v['verdict']}  "
                        f"states {[p['state'] for p in v['participants']]}",
                        flush=True,
                    )
            t1 = time.time()
            if hog is not None:
                hog.kill()
                hog.wait(5)
            ns.clear_loss()
            # incidents as the collector has them now, before the agents' shutdown makes them lost
            incidents = [
                (i["kind"], i["device_id"], i["started_at"], i["peak_severity"])
                for i in col.get("/api/incidents") or []
                if i["started_at"] >= t0
            ]
            for a in agents:
                a.stop()
            col.settled(60)
            tallies = [tally(a, col.db_url) for a in agents]
        finally:
            if hog is not None and hog.poll() is None:
                hog.kill()
            for a in agents:
                a.stop()
            col.stop()
    engine = sa.create_engine(col.db_url)
    with engine.connect() as conn:
        states = conn.execute(
            sa.text('SELECT at, device_id, "old", "new" FROM state_changes WHERE at >= :a AND at <= :b ORDER BY id'),
            {"a": t0, "b": t1},
        ).all()
        verdicts = conn.execute(
            sa.text('SELECT at, "old", "new" FROM verdicts WHERE at >= :a AND at <= :b ORDER BY id'), {"a": t0, "b": t1}
        ).all()
    engine.dispose()
    if args.faults:
        bad_states = [r for r in states if r[3] in BAD_STATES]
        bad_verdicts = [r for r in verdicts if r[2] in BAD_VERDICTS]
        incidents = [i for i in incidents if i[0] == "connection_lost" or i[3] == "failure"]
        degraded = sum(1 for r in states if r[3] == "degraded")
    else:
        bad_states = [r for r in states if r[3] != "ok"]
        bad_verdicts = [r for r in verdicts if r[2] != "equal_terms"]
    what = f"{args.loss} % loss, signed probes, CPU hog, faults {sorted(done)}" if args.faults else "clean run"
    print(
        f"\nbench_false_alarms: {args.agents} real agents, {args.duration:g} s {what}, sample period "
        f"{args.period:g} s, silence limit {args.silence:g} s"
    )
    if args.faults:
        print(f"  polled every 0.5 s: {len(seen)} bad states/verdicts seen {seen[:5]}")
        print(f"  state changes to degraded (allowed at {args.loss} % loss): {degraded}")
    print(f"  state changes away from ok: {len(bad_states)} {bad_states[:5]}")
    print(f"  verdict changes away from equal_terms: {len(bad_verdicts)} {bad_verdicts[:5]}")
    print(f"  incidents opened: {len(incidents)} {incidents[:5]}")
    extra = len(seen) if args.faults else 0
    print(f"  false alarms: {len(bad_states) + len(bad_verdicts) + len(incidents) + extra} (target 0)")
    for t in tallies:
        print(f"  {t}")


if __name__ == "__main__":
    main()
