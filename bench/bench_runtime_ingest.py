"""CPU per message of the collector's ingest path without MQTT: ``Runtime.ingestor.handle`` (decode,
checks, engine, the sink's rows and points, ``_record_changes``) on the calling thread.

    .venv/bin/python bench/bench_runtime_ingest.py [--messages 20000] [--devices 50] [--repeat 3]

``time.thread_time`` of the calling thread only, so the store's writer thread and other processes on
a shared machine do not count; the best of ``--repeat`` rounds is printed. Issue 13 (runtime/ split)
ran it on the old ``collector/runtime/`` and the new package on the same loaded machine
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collector import config  # noqa: E402
from collector.runtime import Runtime  # noqa: E402
from likavillkor import wire  # noqa: E402
from tests.collector.helpers import topic, write_config, write_roster  # noqa: E402


def _messages(devices: list[str], n: int, boot: str) -> list[tuple[str, bytes]]:
    now = time.time()
    return [
        (
            topic(devices[i % len(devices)]),
            wire.encode(
                wire.Sample(
                    device_id=devices[i % len(devices)],
                    boot_id=boot,
                    seq=i // len(devices),
                    ts=now,
                    link=wire.LinkType.WIFI,
                    rtt_ms=20.0,
                    meeting_id="ks-test",
                )
            ),
        )
        for i in range(n)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-runtime-"))
    devices = [f"dev-{i}" for i in range(args.devices)]
    write_roster(base / "roster.toml", devices)
    cfg = write_config(
        base / "collector.toml",
        data_dir=base / "data",
        roster=base / "roster.toml",
        extra="[ingest]\nmax_rate_per_device = 1e9\nburst = 1e9",
    )  # measure the path, not the limit
    rt = Runtime(config.load(cfg))
    rt.start(mqtt=False)
    try:
        best = float("inf")
        for r in range(args.repeat):
            msgs = _messages(devices, args.messages, f"boot-{r}")
            t0 = time.thread_time()
            for t, payload in msgs:
                rt.ingestor.handle(t, payload, time.time())
            best = min(best, (time.thread_time() - t0) / args.messages * 1e6)
        outcomes: Any = rt.ingestor.counters.as_dict()["outcomes"]
        accepted = int(outcomes.get("accepted", 0))
    finally:
        rt.stop()
    print(
        f"messages={args.messages} devices={args.devices} accepted={accepted}: "
        f"best of {args.repeat}: {best:.1f} us CPU per message on the ingest thread"
    )
    return 0 if accepted == args.messages * args.repeat else 1


if __name__ == "__main__":
    sys.exit(main())
