"""The one polling helper of the test suite: wait for a state, never for a wall-clock budget.

A loaded 2-core CI machine makes every "within N seconds" flaky; tests poll a predicate with a
generous deadline instead and fail with what they waited for, the last error the predicate raised
and the tail of a log. Timing claims belong in ``bench/`` (docs/performance.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

#: what a predicate may raise while the thing it looks at is not there yet (a server still starting,
#: a participant not yet in the view): "not yet", never a failure by itself
NOT_YET: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    KeyError,
    IndexError,
    StopIteration,
    TypeError,
    ConnectionError,
)


def log_tail(log: Path | None, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log is not None and log.exists() else ""


def wait_until(
    pred: Callable[[], object],
    *,
    timeout: float,
    what: str,
    log: Path | None = None,
    detail: Callable[[], object] | None = None,
    interval: float = 0.05,
    not_yet: tuple[type[BaseException], ...] = NOT_YET,
) -> float:
    """Poll ``pred`` every ``interval`` s until it returns something true; return the monotonic time it
    first did. On timeout fail naming ``what``, with the last "not yet" error, ``detail()`` and the tail
    of ``log``."""
    held, last = _poll(pred, timeout, interval, not_yet)
    if held is None:
        raise AssertionError(_failure(timeout, what, last, detail, log))
    return held


def holds_within(pred: Callable[[], object], timeout: float, *, interval: float = 0.02) -> bool:
    """For retry loops only (publish again until the subscription is in force): whether ``pred`` held
    within ``timeout`` s, never an error. A test waiting for a state uses :func:`wait_until`."""
    return _poll(pred, timeout, interval, NOT_YET)[0] is not None


def _poll(
    pred: Callable[[], object], timeout: float, interval: float, not_yet: tuple[type[BaseException], ...]
) -> tuple[float | None, BaseException | None]:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if pred():
                return time.monotonic(), last
        except not_yet as exc:
            last = exc
        if time.monotonic() >= deadline:
            return None, last
        time.sleep(interval)


def _failure(
    timeout: float, what: str, last: BaseException | None, detail: Callable[[], object] | None, log: Path | None
) -> str:
    lines = [f"timed out after {timeout} s waiting for: {what}"]
    if last is not None:
        lines.append(f"last error: {last!r}")
    if detail is not None:
        try:
            lines.append(f"detail: {detail()!r}")
        except Exception as exc:
            lines.append(f"(detail failed: {exc!r})")
    tail = log_tail(log)
    if tail:
        lines.append(f"--- tail of {log} ---\n{tail}")
    return "\n".join(lines)
