"""One open companion socket (collector/web/companion.py): probes out, echoes and visibility in,
a sample a second through the runtime's ingest path, the member's state back to the page."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from collector.companion import CompanionHub, ProbeStats, companion_sample, parse_message
from collector.web import selftest_links
from collector.web.access import LinkCheck
from collector.web.context import WebDeps
from collector.web.port import WebRuntime
from likavillkor.roster import Meeting, Monitoring, Participant

log = logging.getLogger("collector.web.companion")
#: WebSocket close codes: 4403 invalid link, 4410 expired link, 4429 too many sockets, 1009 too big
CLOSE_INVALID, CLOSE_EXPIRED, CLOSE_BUSY, CLOSE_TOO_BIG = 4403, 4410, 4429, 1009


class LogOnce:
    """One log line per reason a minute; the counters have the rest."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __call__(self, reason: str, detail: str = "") -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -1e9) >= 60:
            self._last[reason] = now
            log.warning(
                "companion page: %s %s(further ones counted, not logged for a minute)",
                reason,
                f"({detail}) " if detail else "",
            )


async def refuse(websocket: WebSocket, text: str, code: int) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_json({"t": "error", "message": text})
        await websocket.close(code)


class Session:
    """One open companion socket: probes out, echoes and visibility in, a sample a second."""

    def __init__(
        self,
        websocket: WebSocket,
        hub: CompanionHub,
        runtime: WebRuntime,
        deps: WebDeps,
        meeting: Meeting,
        p: Participant,
        sock: int,
        view_of: Any,
        warn: LogOnce,
        still_valid: Callable[[], LinkCheck],
    ) -> None:
        self.still_valid = still_valid  # the link is checked again every report: expiry, roster changes
        self.ws, self.hub, self.runtime, self.deps = websocket, hub, runtime, deps
        self.meeting, self.p, self.sock, self.view_of, self.warn = meeting, p, sock, view_of, warn
        self.key = (meeting.id, p.member_id)
        self.limits = hub.limits
        self.stats = ProbeStats(self.limits.window, self.limits.answer_deadline_s)
        self.visible = False
        self.vis_seq = 0  # the page's count of visibility changes (messages and beacons), newest wins
        self.close_code: int | None = None
        self.browser = p.monitoring is Monitoring.BROWSER
        self._closer: asyncio.Future[None] | None = None
        self.rtc: Any = None  # collector.web.companion_rtc.RtcPath, when the page has WebRTC
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        sender.add_done_callback(self._sender_done)
        try:
            await self._receive_loop()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    def _sender_done(self, task: "asyncio.Task[None]") -> None:
        """A failing sender must not leave the socket open and silent (silence would read as her loss):
        close it, so the page reconnects at once."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
            return  # the socket is gone; the receive loop sees it
        self.hub.count("server_error")
        log.error("companion page sender failed: %s: %s", type(exc).__name__, exc)
        self._closer = asyncio.ensure_future(self.ws.close(1011))

    async def _receive_loop(self) -> None:
        limits, hub = self.limits, self.hub
        while True:
            try:
                event = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError) as exc:
                self.close_code = getattr(exc, "code", 1006)
                return
            if event["type"] == "websocket.disconnect":
                self.close_code = int(event.get("code") or 1006)
                return
            text, data = event.get("text"), event.get("bytes")
            raw: str | bytes = text if isinstance(text, str) else data if isinstance(data, bytes) else b""
            now = time.monotonic()
            if not hub.allow(self.key, now):
                hub.count("rate_limited")
                self.warn("rate_limited", self.p.member_id)
                continue
            if len(raw) > limits.max_message_bytes:
                hub.count("message_too_big")
                self.warn("message_too_big", self.p.member_id)
                self.close_code = CLOSE_TOO_BIG
                with contextlib.suppress(Exception):
                    await self.ws.close(CLOSE_TOO_BIG)
                return
            msg = parse_message(raw, limits.max_message_bytes)
            if msg is None:
                hub.count("message_bad")
                self.warn("message_bad", self.p.member_id)
                continue
            kind = msg["t"]
            if kind == "e":
                self.stats.echo(msg.get("n"), now)
            elif kind == "v":
                seq = msg.get("seq")
                if isinstance(seq, int) and not isinstance(seq, bool):
                    if seq < self.vis_seq:  # older than a beacon already heard
                        continue
                    self.vis_seq = seq
                await self._visibility(msg.get("visible") is True)
            elif kind == "bye":
                await self._visibility(False)
                self.close_code = 1000
                with contextlib.suppress(Exception):
                    await self.ws.close(1000)
                return
            else:
                hub.count("message_bad")

    async def _visibility(self, visible: bool) -> None:
        self.visible = visible
        self.hub.set_visible(self.key, self.sock, visible)
        if self.browser:  # an agent member is watched by her agent; "none" by nothing
            shown = bool(self.hub.visible.get(self.key))  # any of her sockets (a second window)
            await asyncio.to_thread(self.runtime.companion, self.key[0], self.key[1], shown)

    async def _send_loop(self) -> None:
        limits = self.limits
        next_report = time.monotonic() + limits.report_interval_s
        await self.ws.send_json({**self.view_of(*self.key), "sock": self.sock, "path": "websocket"})
        while True:
            await asyncio.sleep(limits.probe_interval_s)
            now = time.monotonic()
            await self.ws.send_json({"t": "p", "n": self.stats.send(now)})
            rtc = self.rtc
            if rtc is not None:
                rtc.probe(now)
            if now < next_report:
                continue
            next_report = now + limits.report_interval_s
            link = self.still_valid()
            if link.error is not None:  # expired, or she left the roster: refused from now on
                self.hub.count("link_revoked")
                self.close_code = CLOSE_EXPIRED if link.error is selftest_links.LinkError.EXPIRED else CLOSE_INVALID
                await refuse(self.ws, selftest_links.TEXT[link.error]["sv"], self.close_code)
                return
            heard, rtt, jitter, loss = self.stats.report(now)
            path = "websocket"
            if rtc is not None and rtc.open:  # the data channel's figures are the network's own
                r_heard, r_rtt, r_jitter, r_loss = rtc.stats.report(now)
                heard = heard or r_heard
                if r_loss is not None:
                    rtt, jitter, loss, path = r_rtt, r_jitter, r_loss, "webrtc"
            if heard and self.visible and self.browser:  # an echo this second: evidence of contact
                msg = companion_sample(self.p.device_id, self.meeting.id, self.deps.now(), rtt, jitter, loss)
                outcome = await asyncio.to_thread(self.runtime.ingest, "sample", msg)
                self.hub.count(f"sample_{outcome}")
            await self.ws.send_json({**self.view_of(*self.key), "path": path})
