"""Time from a link cut to ``lost`` and to "Ajournera" (verdict ``adjourn``), over repetitions (H15).

    .venv/bin/python bench/bench_fault_detection.py                 # 50 cuts, shipped silence limit 5 s
    .venv/bin/python bench/bench_fault_detection.py --reps 10 --silence 2 --period 0.25

The real agent (``likavillkor-agent monitor``, one sample per ``--period`` s) runs in its own network
namespace; Mosquitto and the collector (real processes) in the root namespace. Each repetition waits
until the device is ``ok`` and the meeting ``equal_terms`` with a live sample, takes the veth down on
both ends, and polls ``GET /api/meetings/{id}`` every ``--poll-ms`` until the participant is
``lost`` and the verdict ``adjourn`` (the chair page's "Ajournera"); then restores the link. Prints
p50/p95/max of both against the silence limit. Needs root (ip netns, as the fault suite).

``--kill``: instead of a cut, SIGKILL the agent (a crash, a power loss): Mosquitto publishes the
last will at once, and the time to ``lost`` with the reason ``will`` (*sista vilja*) is measured
(issue 11: at most 1.5 s every time). The agent is restarted for each repetition.
The policy is the shipped one with ``silence_lost_s = --silence`` and the media/host limits opened,
as in tests/faults (the test device runs no meeting program). The agent signs its path probes to
the collector's reflector (issue 11: the shipped agent does, with a collector URL), so the cut is
seen from the probes' silence (``probe_silence_lost_s``, 1.2 s); ``--no-probes`` measures the
samples' silence limit alone, as before issue 11.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.harness import Agent, Collector, broker_for, default_route, restore  # noqa: E402
from tests.support.netns import NetNs, require_root  # noqa: E402
from tests.support.services import free_port  # noqa: E402
from tests.support.waiting import wait_until  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--silence", type=float, default=5.0, help="policy silence_lost_s (shipped: 5 s)")
    ap.add_argument("--period", type=float, default=1.0, help="agent sample_period_s (shipped: 1 s)")
    ap.add_argument("--poll-ms", type=float, default=20.0)
    ap.add_argument("--kill", action="store_true", help="SIGKILL the agent instead of cutting the link")
    ap.add_argument("--no-probes", action="store_true", help="no signed path probes (samples' silence only)")
    args = ap.parse_args()
    require_root()
    if args.kill:
        kills(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="likavillkor-faultdet-"))
    dev = "dev-cut"
    to_lost: list[float] = []
    to_adjourn: list[float] = []
    with NetNs() as ns, broker_for(ns, tmp / "mosquitto") as broker:
        default_route(ns)
        rport = 0 if args.no_probes else free_port(kind=socket.SOCK_DGRAM)
        col = Collector(tmp / "collector", broker.url, [dev], silence_s=args.silence, reflector_port=rport)
        agent = Agent(ns, dev, broker.port, tmp, period_s=args.period, collector_port=col.port, reflector_port=rport)
        col.start()
        try:
            agent.start()
            for rep in range(args.reps):
                wait_until(
                    lambda: (
                        col.state_is(dev, "ok", "equal_terms")
                        and time.time() - col.participant(dev)["last_contact"] < args.period
                        and (args.no_probes or col.participant(dev)["loss_percent"] is not None)
                    ),
                    timeout=60,
                    what=f"rep {rep}: device ok and live",
                    log=agent.log,
                    detail=col.view,
                )
                ns.cut()
                cut = time.monotonic()
                lost = adjourn = None
                while lost is None or adjourn is None:
                    v = col.view()
                    now = time.monotonic()
                    p = v["participants"][0]
                    if lost is None and p["state"] == "lost":
                        lost = now - cut
                    if adjourn is None and v["verdict"] == "adjourn":
                        adjourn = now - cut
                    if now - cut > args.silence + 30:
                        raise SystemExit(f"rep {rep}: no lost/adjourn after {now - cut:.0f} s: {v}")
                    time.sleep(args.poll_ms / 1000)
                to_lost.append(lost)
                to_adjourn.append(adjourn)
                print(f"  rep {rep + 1:3d}: lost after {lost:.2f} s, adjourn after {adjourn:.2f} s", flush=True)
                restore(ns)
        finally:
            agent.stop()
            col.stop()
    print(
        f"\nbench_fault_detection: {args.reps} link cuts, silence_lost_s {args.silence:g} s, "
        f"sample period {args.period:g} s, signed probes {'off' if args.no_probes else 'on'}, "
        f"view polled every {args.poll_ms:g} ms"
    )
    for name, xs in (("cut -> lost", to_lost), ("cut -> Ajournera (adjourn)", to_adjourn)):
        print(
            f"  {name:28s} p50 {pct(xs, 0.5):.2f} s, p95 {pct(xs, 0.95):.2f} s, max {max(xs):.2f} s "
            f"(max - silence limit = {max(xs) - args.silence:+.2f} s)"
        )


def kills(args: argparse.Namespace) -> None:
    """SIGKILL the real agent ``--reps`` times: time to ``lost`` by the last will (reason ``will``)."""
    tmp = Path(tempfile.mkdtemp(prefix="likavillkor-kill-"))
    dev = "dev-kill"
    to_lost: list[float] = []
    reasons: dict[str, int] = {}
    with NetNs() as ns, broker_for(ns, tmp / "mosquitto") as broker:
        default_route(ns)
        col = Collector(tmp / "collector", broker.url, [dev], silence_s=args.silence)
        col.start()
        time.sleep(11)  # past the reconnect grace after the collector reached its broker (no wills trusted in it)
        try:
            for rep in range(args.reps):
                agent = Agent(ns, dev, broker.port, tmp, period_s=args.period)
                agent.start()
                try:
                    wait_until(
                        lambda: (
                            col.state_is(dev, "ok")
                            and time.time() - col.participant(dev)["last_contact"] < args.period + 0.5
                        ),
                        timeout=60,
                        what=f"rep {rep}: device ok and live",
                        log=agent.log,
                        detail=col.view,
                    )
                    assert agent.proc is not None
                    os.kill(agent.proc.pid, signal.SIGKILL)
                    killed = time.monotonic()
                    agent.proc.wait(10)
                    agent.proc = None
                    while True:
                        p = col.participant(dev)
                        now = time.monotonic()
                        if p["state"] == "lost":
                            break
                        if now - killed > args.silence + 30:
                            raise SystemExit(f"rep {rep}: not lost after {now - killed:.0f} s: {p}")
                        time.sleep(args.poll_ms / 1000)
                finally:
                    agent.stop()
                code = p["reason"]["code"]
                reasons[code] = reasons.get(code, 0) + 1
                to_lost.append(now - killed)
                print(f"  rep {rep + 1:3d}: lost after {now - killed:.3f} s ({code})", flush=True)
        finally:
            col.stop()
    print(
        f"\nbench_fault_detection --kill: {args.reps} SIGKILLs, silence_lost_s {args.silence:g} s, "
        f"view polled every {args.poll_ms:g} ms; reasons {reasons}"
    )
    print(f"  kill -> lost  p50 {pct(to_lost, 0.5):.3f} s, p95 {pct(to_lost, 0.95):.3f} s, max {max(to_lost):.3f} s")


if __name__ == "__main__":
    main()
