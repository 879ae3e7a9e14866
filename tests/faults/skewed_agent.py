"""Run the real agent with its wall clock off by ``argv[1]`` seconds (a device whose clock is wrong).

``time.time`` is replaced before the agent is imported, so the samples' ``ts`` and status times carry
the offset; ``time.monotonic`` (pacing, MQTT keepalive) is untouched, as on a real device whose
clock was set wrong. Usage: ``python skewed_agent.py -300 monitor --config agent.toml ...``.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    offset_s = float(sys.argv[1])
    real = time.time
    time.time = lambda: real() + offset_s  # before agent.* is imported: default arguments bind this
    from agent.cli import main as agent_main

    return agent_main(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())
