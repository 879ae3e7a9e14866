"""Memory of 10,000 participants held by one engine (target: < 300 MB in one process).

Builds the engine for 10,000 participants in 200 meetings, feeds every device 20 samples (so
each holds its last sample, debounce bitmasks and duplicate memory) and prints the memory the
engine holds (tracemalloc, Python allocations) and the process' resident set size.

    .venv/bin/python bench/bench_participants_memory.py [--participants 10000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import tracemalloc

from bench_engine import START, big_roster, sample

from collector.engine import Engine
from likavillkor.policy import load_policy


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(participants: int, samples_each: int = 20) -> dict[str, float]:
    policies = load_policy()
    roster = big_roster(participants)
    gc.collect()
    rss0 = _rss_mb()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    engine = Engine(roster, policies, now=START - 1800)
    for k in range(samples_each):
        t = START + 60 + k
        for n in range(participants):
            engine.ingest(sample(n, k, t, loss=4.0 if n % 50 == 0 else 0.2), t)
    engine.tick(START + 60 + samples_each)
    gc.collect()
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gc.collect()
    rss1 = _rss_mb()
    return {
        "engine_mb": (held - base) / 2**20,
        "per_participant_kb": (held - base) / participants / 1024,
        "rss_mb": rss1,
        "rss_growth_mb": rss1 - rss0,
        "snapshot_kb": len(engine.snapshot()) / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--participants", type=int, default=10_000)
    args = ap.parse_args()
    r = measure(args.participants)
    print(
        f"participants={args.participants} engine={r['engine_mb']:.1f} MB "
        f"({r['per_participant_kb']:.2f} KB each) process_rss={r['rss_mb']:.1f} MB "
        f"(growth {r['rss_growth_mb']:.1f} MB) snapshot={r['snapshot_kb']:.0f} KB (target < 300 MB)"
    )


if __name__ == "__main__":
    main()
