"""Monitor mode stays light: ≤60 MB RSS, and never loads cv2/numpy/aiortc. (Its CPU share, ≤1 % of a
core, is a timing figure: bench/bench_monitor_footprint.py measures it, docs/performance.md.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil

from tests.agent.conftest import ROOT, Subscriber, agent_env, spawn_agent, write_config
from tests.support.services import Mosquitto, stop_pid

HEAVY = ("cv2", "numpy", "aiortc", "av")

PROBE = f"""
import asyncio, json, sys
from agent import cli, monitor, mqtt, outbox, scheduler, config
from agent.config import AgentConfig
from agent.identity import Identity
m = monitor.Monitor(AgentConfig(), Identity("x"), lambda s: None)
m.make_sample()
print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
"""


def test_monitor_path_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=agent_env(), capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_monitor_process_memory(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "a.toml",
        f'device_id = "dev-light"\ndata_dir = "{tmp_path}"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\n[monitor]\nsample_period_s = 1.0\n',
    )
    sub = Subscriber(mosquitto)
    proc = spawn_agent("monitor", "--config", str(cfg))
    try:
        sub.wait_for(lambda _t, m, _r: m.device_id == "dev-light", timeout=60)
        # past start-up (the imports): a second sample, so the sampling loop has run
        sub.wait_for(lambda _t, m, _r: m.device_id == "dev-light", timeout=60)
        rss_mb = psutil.Process(proc.pid).memory_info().rss / 1e6
    finally:
        stop_pid(proc)  # type: ignore[arg-type]
        sub.close()
    assert rss_mb <= 60.0, f"monitor RSS {rss_mb:.1f} MB"
