"""What the in-meeting microphone watch costs the member's device (issue 14): CPU and memory added to
the agent (targets: <= 1 % of one core, < 10 MB).

Starts a private PulseAudio (null sink ``room``, its monitor as the microphone, speech playing into
it, ``parecord`` as the meeting program reading beside the agent) and a private Mosquitto, then runs
the real agent (``likavillkor-agent monitor`` in a meeting window) twice — ``[micwatch] enabled =
false`` and ``true`` — and samples the CPU time and RSS of the agent **and its child processes** with psutil after a
warm-up. The difference is the watch's cost (``parec``, the reader thread, the once-a-second
analysis, ``pactl`` every 15 s).

    .venv/bin/python bench/bench_micwatch.py [--seconds 60] [--warmup 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.media.clips import speech_like  # noqa: E402
from tests.support.pulse import running_pulse  # noqa: E402
from tests.support.services import running_mosquitto, stop_pid  # noqa: E402


def tree_cpu(ps: psutil.Process) -> tuple[float, dict[int, float]]:
    """The agent's own CPU seconds plus its ended children's, and each live child's."""
    t = ps.cpu_times()
    live = {}
    for child in ps.children(recursive=True):
        try:
            c = child.cpu_times()
            live[child.pid] = c.user + c.system
        except psutil.Error:
            continue
    return t.user + t.system + t.children_user + t.children_system, live


def tree_rss(ps: psutil.Process) -> int:
    """RSS of the agent and its live children (parec counts as the watch's memory)."""
    total = ps.memory_info().rss
    for child in ps.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_agent(
    tmp: Path, broker_url: str, env: dict[str, str], enabled: bool, seconds: float, warmup: float
) -> tuple[float, float, float]:
    """(CPU % of one core incl. children, median RSS MiB, max RSS MiB) of one agent run."""
    data = tmp / f"agent-{enabled}"
    data.mkdir()
    config = tmp / f"agent-{enabled}.toml"
    config.write_text(
        f'device_id = "bench-mic"\ndata_dir = "{data}"\n[mqtt]\nurl = "{broker_url}"\n'
        "[monitor]\npath_probe = false\ncamera_state_every_s = 0\n"
        f'[micwatch]\nenabled = {"true" if enabled else "false"}\nsource = "room.monitor"\n',
        encoding="utf-8",
    )
    now = time.time()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "likavillkor-agent"),
            "monitor",
            "--config",
            str(config),
            "--meeting",
            "bench",
            "--start",
            str(now - 900),
            "--end",
            str(now + 7200),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ps = psutil.Process(proc.pid)
        time.sleep(warmup)
        t0, live0 = tree_cpu(ps)
        w0 = time.monotonic()
        rss: list[float] = []
        while time.monotonic() - w0 < seconds:
            rss.append(tree_rss(ps) / 2**20)
            time.sleep(1.0)
        t1, live1 = tree_cpu(ps)
        wall = time.monotonic() - w0
        # live children (parec) by their own times; those that ended (pactl) through children_*
        cpu = t1 - t0 + sum(v - live0.get(pid, 0.0) for pid, v in live1.items())
        return 100.0 * cpu / wall, statistics.median(rss), max(rss)
    finally:
        stop_pid(proc, timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mic-") as d:
        tmp = Path(d)
        with (
            running_pulse(tmp / "pa") as pulse,
            running_mosquitto(tmp / "mosquitto") as broker,
            pulse.record(tmp / "meeting-program.wav"),
        ):
            pulse.play(speech_like(2 * (args.seconds + args.warmup) + 60, -25, rate=48000))
            env = {**pulse.env, "PYTHONPATH": str(ROOT)}
            off = run_agent(tmp, broker.url, env, False, args.seconds, args.warmup)
            on = run_agent(tmp, broker.url, env, True, args.seconds, args.warmup)
    print(f"agent, watch off    CPU {off[0]:.2f} % of one core, RSS median {off[1]:.1f} MiB (max {off[2]:.1f})")
    print(f"agent, watch on     CPU {on[0]:.2f} % of one core, RSS median {on[1]:.1f} MiB (max {on[2]:.1f})")
    print(
        f"the watch adds      CPU {on[0] - off[0]:.2f} % of one core (target <= 1 %), "
        f"RSS {on[1] - off[1]:.1f} MiB (target < 10 MB)"
    )


if __name__ == "__main__":
    main()
