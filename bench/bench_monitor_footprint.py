"""What the agent's monitor mode costs the member's device: CPU share of one core and resident memory.

Starts a real Mosquitto (free loopback port) and the real agent (``python -m agent monitor``, one
sample a second, as tests/agent/test_light.py ran it), waits for its first sample, lets it settle for ``--warmup`` s and
then measures the process's CPU time (user + system) over ``--seconds`` s of wall time, ``--reps``
times. Prints each repetition and the maximum against the limits (≤ 1 % of a core, ≤ 60 MB RSS).
This used to be a test (tests/agent/test_light.py) with a 4 s window: a CPU share over wall time
is a timing claim that a loaded CI machine makes flaky, so it lives here (docs/performance.md).

    .venv/bin/python bench/bench_monitor_footprint.py [--seconds 20] [--reps 3] [--warmup 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from tests.agent.conftest import ROOT, Subscriber, agent_env
from tests.support.services import running_mosquitto, stop_pid

CPU_LIMIT_PERCENT = 1.0
RSS_LIMIT_MB = 60.0


def measure(proc: psutil.Process, seconds: float) -> tuple[float, float]:
    """(CPU % of one core over ``seconds`` of wall time, RSS in MB at the end)."""
    cpu0, t0 = sum(proc.cpu_times()[:2]), time.monotonic()
    time.sleep(seconds)
    cpu = 100 * (sum(proc.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0)
    return cpu, proc.memory_info().rss / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=3.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp) / "mosquitto") as broker:
        cfg = Path(tmp) / "agent.toml"
        cfg.write_text(
            f'device_id = "dev-light"\ndata_dir = "{tmp}"\n[mqtt]\nurl = "{broker.url}"\n'
            "[monitor]\nsample_period_s = 1.0\n",
            encoding="utf-8",
        )
        sub = Subscriber(broker)
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "monitor", "--config", str(cfg)],
            cwd=ROOT,
            env=agent_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            sub.wait_for(lambda _t, m, _r: m.device_id == "dev-light", timeout=60)
            time.sleep(args.warmup)  # start-up (imports) is not the steady state
            ps = psutil.Process(proc.pid)
            results = [measure(ps, args.seconds) for _ in range(args.reps)]
        finally:
            stop_pid(proc)
            sub.close()
    for i, (cpu, rss) in enumerate(results, 1):
        print(f"rep {i}: CPU {cpu:.2f} % of one core over {args.seconds:.0f} s, RSS {rss:.1f} MB")
    cpu_max, rss_max = max(c for c, _ in results), max(r for _, r in results)
    print(f"max: CPU {cpu_max:.2f} % (limit {CPU_LIMIT_PERCENT} %), RSS {rss_max:.1f} MB (limit {RSS_LIMIT_MB} MB)")
    return 0 if cpu_max <= CPU_LIMIT_PERCENT and rss_max <= RSS_LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
