"""What one chair's view costs (issue 15 added phase, H8 deadline, whom an adjournment waits for,
the five-minute deadline and the devices on no roster, H12): ``Engine.view`` + the JSON encoding
the page, the API and the event stream share, for one meeting of ``--members`` participants, with
no and with ``--unknown`` devices on no roster (the ingest's bounded count). Prints this run's figures.

    .venv/bin/python bench/bench_chair_view.py [--members 100] [--unknown 10000] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import time

import msgspec

from collector.engine import Engine
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import Meeting, Participant, Role, Roster, System

START = 1_796_112_000.0  # 2026-12-01 09:00 Stockholm


def engine_with(members: int) -> Engine:
    roster = Roster()
    parts = tuple(Participant(f"m{i}", f"Ledamot {i}", Role.LEDAMOT, f"dev-{i}") for i in range(members))
    roster.meetings["ks"] = Meeting("ks", "kommunstyrelsen", START, START + 7200, "Sal", System.TEAMS, False, parts)
    for p in parts:
        roster.devices[p.device_id] = p.member_id
    engine = Engine(roster, load_policy(), now=START - 600)
    for t in range(10):
        for i in range(members):
            s = wire.Sample(
                device_id=f"dev-{i}",
                boot_id="b",
                seq=t,
                ts=START + t,
                link=wire.LinkType.WIFI,
                rtt_ms=20.0,
                loss_percent=0.0,
                battery_percent=80.0,
            )
            engine.ingest(s, START + t)
        engine.tick(START + t)
    return engine


def per_view_us(engine: Engine, unknown: list[tuple[str, float]] | None, rounds: int) -> float:
    enc = msgspec.json.Encoder()
    t0 = time.process_time()
    for _ in range(rounds):
        enc.encode(engine.view("ks", START + 11, iter(unknown) if unknown is not None else None))
    return (time.process_time() - t0) / rounds * 1e6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--unknown", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=2000)
    a = p.parse_args()
    engine = engine_with(a.members)
    unknown = [(f"stranger-{i}", START - 86400 + i) for i in range(a.unknown)]
    base = per_view_us(engine, None, a.rounds)
    full = per_view_us(engine, unknown, max(1, a.rounds // 10))
    print(f"members={a.members}: view+JSON {base:.0f} us CPU; with {a.unknown} unknown devices {full:.0f} us CPU")


if __name__ == "__main__":
    main()
