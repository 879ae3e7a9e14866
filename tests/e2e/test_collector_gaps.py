"""The collector's own gaps are its own (issue 11, item 5), with real processes: Mosquitto, the
collector (``python -m collector run`` with its STAMP reflector) and two real agents
(``likavillkor-agent monitor``) probing that reflector ten times a second.

- Restart the collector (about 4 s away, its reflector too): when it is back, the agents' probe
  windows still hold the probes it never answered. No member may turn lost or failing, and the
  meeting may never say *Ajournera*; it says *monitoring interrupted* until it has fresh figures.
- SIGSTOP the collector for 20 s, then SIGCONT: the same, and the collector notices its own stall.

The tests wait for states and never time anything (timing is bench/'s). On the code before issue 11
both fail: every member turned failing (up to 100 % loss) and the meeting *Ajournera* for ~20 s.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.faults.harness import MEETING, Collector
from tests.support.collector import device_test_policy
from tests.support.services import Mosquitto, free_port, stop_pid
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ["gap-a", "gap-b"]
BAD_STATES = {"lost", "failing", "replaced"}
BAD_VERDICTS = {"adjourn", "substitute_due"}


def make_collector(tmp: Path, mosquitto: Mosquitto, reflector_port: int) -> Collector:
    """The fault suite's collector, its reflector on; the shipped silence limit (5 s)."""
    col = Collector(tmp / "collector", mosquitto.url, DEVICES, silence_s=5.0)
    text = col.config.read_text(encoding="utf-8")
    text = text.replace(
        "[reflector]\nenabled = false", f'[reflector]\nenabled = true\nhost = "127.0.0.1"\nport = {reflector_port}'
    )
    col.config.write_text(text, encoding="utf-8")
    (col.workdir / "policy.toml").write_text(device_test_policy(5.0), encoding="utf-8")
    return col


@contextmanager
def agents(tmp: Path, mosquitto: Mosquitto, api: str, reflector_port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    now = time.time()
    try:
        for d in DEVICES:
            cfg = tmp / f"agent-{d}.toml"
            cfg.write_text(
                f'device_id = "{d}"\ndata_dir = "{tmp / ("agent-" + d)}"\n'
                f'[mqtt]\nurl = "{mosquitto.url}"\nkeepalive_s = 5\n'
                f'[collector]\nurl = "{api}"\n'
                f"[path]\nport = {reflector_port}\n"  # the collector's host: signed probes
                "[monitor]\nsample_period_s = 0.5\npath_probe = true\n",
                encoding="utf-8",
            )
            log = open(tmp / f"{d}.log", "ab")  # noqa: SIM115
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "likavillkor-agent"),
                        "monitor",
                        "--config",
                        str(cfg),
                        "--meeting",
                        MEETING,
                        "--start",
                        str(now - 900),
                        "--end",
                        str(now + 7200),
                    ],
                    cwd=ROOT,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            )
        yield procs
    finally:
        for p in procs:
            stop_pid(p)
        for log in logs:
            log.close()


def all_probed_and_ok(col: Collector) -> bool:
    v = col.view()
    return v["verdict"] == "equal_terms" and all(
        p["state"] == "ok" and p["loss_percent"] is not None and p["loss_percent"] < 1.0 for p in v["participants"]
    )


def watch(col: Collector, seconds: float, seen: list[str]) -> None:
    """Poll the meeting for ``seconds``: record any member lost/failing or an *Ajournera*."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v: Any = col.get(f"/api/meetings/{MEETING}")
        if v is not None:
            if v["verdict"] in BAD_VERDICTS:
                seen.append(f"verdict {v['verdict']}: {[r['en'] for r in v['reasons']]}")
            seen.extend(
                f"{p['member_id']} {p['state']}: {p['reason']}" for p in v["participants"] if p["state"] in BAD_STATES
            )
        time.sleep(0.2)


def test_collector_restart_and_stall_blame_no_member(tmp_path: Path, mosquitto: Mosquitto) -> None:
    reflector_port = free_port(kind=socket.SOCK_DGRAM)
    col = make_collector(tmp_path, mosquitto, reflector_port)
    col.start()
    seen: list[str] = []
    try:
        with agents(tmp_path, mosquitto, col.base, reflector_port):
            wait_until(
                lambda: all_probed_and_ok(col),
                timeout=60,
                what="both agents probed, ok, equal terms",
                log=col.log,
                detail=col.view,
            )
            # a clean link: nothing leaves ok
            watch(col, 3, seen)
            assert not seen, seen

            # 1. restart: the collector and its reflector away ~4 s
            col.stop()
            time.sleep(4)
            col.start()
            watch(col, 25, seen)  # the probe window (15 s) and the debounce, with margin
            assert not seen, seen
            wait_until(
                lambda: all_probed_and_ok(col),
                timeout=30,
                what="ok again after the restart",
                log=col.log,
                detail=col.view,
            )

            # 2. a 20 s stall (SIGSTOP/SIGCONT)
            assert col.proc is not None
            os.kill(col.proc.pid, signal.SIGSTOP)
            try:
                time.sleep(20)
            finally:
                os.kill(col.proc.pid, signal.SIGCONT)
            watch(col, 30, seen)
            assert not seen, seen
            assert col.health()["monitoring"]["own_gaps"] >= 1  # it noticed its own stall
            wait_until(
                lambda: all_probed_and_ok(col),
                timeout=30,
                what="ok again after the stall",
                log=col.log,
                detail=col.view,
            )
    finally:
        col.stop()
