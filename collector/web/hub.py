"""The live meeting view's server-sent events: the change hub that wakes every open stream when the
runtime reports engine changes, and the stream itself.

A stream sends ``view`` events carrying the MeetingView JSON (``runtime.view_json``, byte for byte
what ``GET /api/meetings/{id}`` returns) whenever it changes, and a ``ping`` every HEARTBEAT_S so the
page can tell a live view from a stale one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request

if TYPE_CHECKING:
    from collector.web.context import WebDeps

_ENCODER = msgspec.json.Encoder()
#: how often the event stream looks at the view when the runtime gives no change signal
POLL_S = 0.2
#: a "ping" event at least this often, so the page can tell a live view from a stale one
HEARTBEAT_S = 4.0


class ChangeHub:
    """Wakes every open event stream when the runtime reports engine changes (from any thread)."""

    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def notify(self, _changes: object = None) -> None:
        for loop, event in list(self._waiters):
            with contextlib.suppress(RuntimeError):  # loop closed
                loop.call_soon_threadsafe(event.set)

    async def wait(self, timeout: float) -> None:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        self._waiters.add(entry)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(entry)


async def _always() -> bool:
    return True


async def event_stream(
    request: Request, web: WebDeps, meeting_id: str, allowed: Callable[[], Awaitable[bool]] = _always
) -> AsyncIterator[bytes]:
    """The stream of one live view, counted in ``web.streams`` while it is open. The countdown ticks
    in the page, so a view that differs only in ``at`` / ``substitute_in_s`` is not re-sent."""
    web.streams += 1
    try:
        async for chunk in _stream_views(request, web, meeting_id, allowed):
            yield chunk
    finally:
        web.streams -= 1


async def _stream_views(
    request: Request, web: WebDeps, meeting_id: str, allowed: Callable[[], Awaitable[bool]]
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    last_key: bytes | None = None
    last_sent = 0.0
    while True:
        if await request.is_disconnected():
            return
        if not await allowed():  # re-checked every turn (at most 1 s apart): issue 12
            web.count("event_stream_ended_signed_out")
            yield b"event: signed_out\ndata: {}\n\n"
            return
        payload = web.runtime.view_json(meeting_id)
        if payload is None:
            return
        key = change_key(payload)
        mono = time.monotonic()
        if key != last_key:
            last_key = key
            last_sent = mono
            yield b"event: view\ndata: " + payload + b"\n\n"
        elif mono - last_sent >= HEARTBEAT_S:
            last_sent = mono
            yield b"event: ping\ndata: " + _ENCODER.encode({"at": web.now()}) + b"\n\n"
        await web.hub.wait(POLL_S * 5)


_VOLATILE = re.compile(rb'"substitute_in_s":[-0-9.eE+]+|,"at":[-0-9.eE+]+}$')


def change_key(payload: bytes) -> bytes:
    """The payload without what changes every instant: the view's own ``at`` (last field) and the
    countdowns (the page computes them from ``at`` and ``lost_since``)."""
    return _VOLATILE.sub(b"", payload)
