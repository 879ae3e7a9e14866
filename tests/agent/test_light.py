"""Monitor mode stays light: ≤1 % of a core and ≤60 MB RSS, and never loads cv2/numpy/aiortc."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=agent_env(), capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_monitor_process_cpu_and_memory(mosquitto: Mosquitto, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", f'device_id = "dev-light"\ndata_dir = "{tmp_path}"\n'
                       f'[mqtt]\nurl = "{mosquitto.url}"\n[monitor]\nsample_period_s = 1.0\n')
    sub = Subscriber(mosquitto)
    proc = spawn_agent("monitor", "--config", str(cfg))
    try:
        sub.wait_for(lambda _t, m, _r: m.device_id == "dev-light", timeout=15)
        ps = psutil.Process(proc.pid)
        time.sleep(1.0)  # start-up (imports) is not the steady state
        cpu0, t0 = sum(ps.cpu_times()[:2]), time.monotonic()
        time.sleep(4.0)
        cpu_percent = 100 * (sum(ps.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0)
        rss_mb = ps.memory_info().rss / 1e6
    finally:
        stop_pid(proc)  # type: ignore[arg-type]
        sub.close()
    assert cpu_percent <= 1.0, f"monitor used {cpu_percent:.2f} % of a core"
    assert rss_mb <= 60.0, f"monitor RSS {rss_mb:.1f} MB"
