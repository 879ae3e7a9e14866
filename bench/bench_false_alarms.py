"""False alarms over a clean run: real agents on an unimpaired link, nothing should ever fire.

    .venv/bin/python bench/bench_false_alarms.py                    # 30 minutes, 3 agents
    .venv/bin/python bench/bench_false_alarms.py --duration 120 --agents 2

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
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.harness import Agent, Collector, broker_for, default_route, tally, until  # noqa: E402
from tests.support.netns import NetNs, require_root  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--period", type=float, default=1.0)
    ap.add_argument("--silence", type=float, default=5.0)
    args = ap.parse_args()
    require_root()
    tmp = Path(tempfile.mkdtemp(prefix="likavillkor-falsealarms-"))
    devices = [f"dev-{i}" for i in range(args.agents)]
    with NetNs() as ns, broker_for(ns, tmp / "mosquitto") as broker:
        default_route(ns)
        col = Collector(tmp / "collector", broker.url, devices, silence_s=args.silence)
        agents = [Agent(ns, d, broker.port, tmp, period_s=args.period) for d in devices]
        col.start()
        try:
            for a in agents:
                a.start()
            until(lambda: col.view()["verdict"] == "equal_terms"
                  and all(p["state"] == "ok" for p in col.view()["participants"]), 90, "all ok", detail=col.view)
            t0 = time.time()
            while time.time() - t0 < args.duration:
                time.sleep(min(60.0, args.duration - (time.time() - t0)))
                v = col.view()
                print(f"  t={time.time() - t0:6.0f} s  verdict {v['verdict']}  "
                      f"states {[p['state'] for p in v['participants']]}", flush=True)
            t1 = time.time()
            # incidents as the collector has them now, before the agents' shutdown makes them lost
            incidents = [(i["kind"], i["device_id"], i["started_at"]) for i in col.get("/api/incidents") or []
                         if i["started_at"] >= t0]
            for a in agents:
                a.stop()
            col.settled(60)
            tallies = [tally(a, col.db_url) for a in agents]
        finally:
            for a in agents:
                a.stop()
            col.stop()
    engine = sa.create_engine(col.db_url)
    with engine.connect() as conn:
        states = conn.execute(sa.text('SELECT at, device_id, "old", "new" FROM state_changes '
                                      'WHERE at >= :a AND at <= :b ORDER BY id'), {"a": t0, "b": t1}).all()
        verdicts = conn.execute(sa.text('SELECT at, "old", "new" FROM verdicts WHERE at >= :a AND at <= :b '
                                        'ORDER BY id'), {"a": t0, "b": t1}).all()
    engine.dispose()
    bad_states = [r for r in states if r[3] != "ok"]
    bad_verdicts = [r for r in verdicts if r[2] != "equal_terms"]
    print(f"\nbench_false_alarms: {args.agents} real agents, {args.duration:g} s clean run, sample period "
          f"{args.period:g} s, silence limit {args.silence:g} s")
    print(f"  state changes away from ok: {len(bad_states)} {bad_states[:5]}")
    print(f"  verdict changes away from equal_terms: {len(bad_verdicts)} {bad_verdicts[:5]}")
    print(f"  incidents opened: {len(incidents)} {incidents[:5]}")
    print(f"  false alarms: {len(bad_states) + len(bad_verdicts) + len(incidents)} (target 0)")
    for t in tallies:
        print(f"  {t}")


if __name__ == "__main__":
    main()
