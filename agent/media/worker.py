"""Run a blocking capture in a daemon thread and wait for it with a deadline.

A device call (``VideoCapture.open``, ``av.open``) cannot be interrupted. On timeout the caller
gets its answer at the deadline; the thread is told to stop (``stop`` event) and still releases
the device in its own ``finally`` when the blocking call returns. Daemon threads, not the default
executor, so a hung driver never blocks the agent's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_open: dict[str, int] = {}


def mark_open(kind: str) -> None:
    with _lock:
        _open[kind] = _open.get(kind, 0) + 1


def mark_released(kind: str) -> None:
    with _lock:
        _open[kind] = _open.get(kind, 0) - 1


def open_count(kind: str) -> int:
    """How many devices/sources of ``kind`` ("camera", "microphone") are open right now."""
    with _lock:
        return _open.get(kind, 0)


class DeadlineExceeded(Exception):
    pass


async def run_with_deadline(fn: Callable[[threading.Event], T], deadline: float, name: str) -> T:
    """Run ``fn(stop)`` in a daemon thread; raise :class:`DeadlineExceeded` at ``deadline``
    (``time.monotonic()``), after setting ``stop``."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    stop = threading.Event()

    def settle(ok: bool, value: object) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)  # type: ignore[arg-type]
        else:
            future.set_exception(value)  # type: ignore[arg-type]

    def body() -> None:
        try:
            result: object = fn(stop)
            ok = True
        except BaseException as exc:  # handed to the awaiting coroutine
            result, ok = exc, False
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, ok, result)

    threading.Thread(target=body, name=name, daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        raise DeadlineExceeded(name) from None
    finally:
        if not future.done():  # timed out or cancelled: tell the thread to stop and release
            stop.set()
