"""Running platform commands with a deadline, and counting what could not be read.

Every command runs with a timeout. A command that is missing, times out or fails gives ``None``:
missing tools are normal on a member's device and never raise. Tests inject their own
:data:`Runner` that answers from recorded outputs.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

#: ``run(argv, timeout_s) -> stdout text, or None when the command is missing, fails or times out``
Runner = Callable[[Sequence[str], float], "str | None"]

DEFAULT_TIMEOUT_S = 3.0

#: Why a value could not be read, counted by reason (``"parse.netsh_wlan"``, ``"cmd.timeout"``, ...).
PROBLEMS: Counter[str] = Counter()


def note_problem(reason: str, detail: str) -> None:
    """Count a problem; log the first occurrence of each reason at WARNING, later ones at DEBUG."""
    PROBLEMS[reason] += 1
    level = logging.WARNING if PROBLEMS[reason] == 1 else logging.DEBUG
    log.log(level, "platform: %s: %s", reason, detail[:300])


def _encoding() -> str:
    # Windows console tools (netsh, route) write in the OEM code page (cp850 on Swedish Windows).
    return "oem" if sys.platform == "win32" else "utf-8"


def run_command(argv: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """The real runner: stdout of ``argv`` or ``None``. Never raises."""
    # On Windows, no console window flashes up each time the agent asks netsh or PowerShell.
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if sys.platform == "win32" else 0
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
            creationflags=flags,
        )
    except FileNotFoundError:
        return None  # the tool is not installed: normal, not a problem
    except subprocess.TimeoutExpired:
        note_problem("cmd.timeout", f"{argv[0]} took more than {timeout_s} s")
        return None
    except OSError as exc:
        note_problem("cmd.oserror", f"{argv[0]}: {exc}")
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode(_encoding(), errors="replace")


T = TypeVar("T")


@dataclass
class TtlCache(Generic[T]):
    """Remembers slow answers (PowerShell, system_profiler, nmcli) for ``ttl_s`` per key."""

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, T]] = field(default_factory=dict)

    def get(self, key: str, compute: Callable[[], T]) -> T:
        now = self.clock()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value = compute()
        self._entries[key] = (now, value)
        return value


def safely(compute: Callable[[], T], fallback: T, reason: str) -> T:
    """The last guard of every public platform function: an unexpected error is counted and
    logged, and the caller gets ``fallback`` (the facade never raises for odd hardware)."""
    try:
        return compute()
    except Exception as exc:
        note_problem(reason, repr(exc))
        return fallback
