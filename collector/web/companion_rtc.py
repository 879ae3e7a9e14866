"""The companion page's WebRTC data channel (issue 11), beside its WebSocket.

Where the browser has ``RTCPeerConnection`` (Chromium, iPad Safari; not WebKitGTK), the page opens
an unordered data channel without retransmissions to the collector (aiortc). The collector sends
the same probes over it and the page echoes them: a probe lost on the way is really lost, as an
audio packet would be, so the loss figure is the network's, not a TCP retransmission delay. While
the channel is open its round-trip time, jitter and loss replace the WebSocket's in the member's
samples; the WebSocket keeps carrying visibility and her state, and either path's echo is evidence
of contact. ICE servers: none (host candidates), or the collector's configured ones; never a public
default. Every peer is closed with its socket, or after ``connect_timeout_s`` without a channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from collector.companion import Limits, ProbeStats, parse_message

log = logging.getLogger(__name__)
MAX_SDP_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 10.0


class RtcPath:
    """One companion socket's data channel on the collector."""

    def __init__(self, limits: Limits, ice_servers: list[dict[str, Any]] | None = None) -> None:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers or []
        ]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))  # explicit: no public STUN default
        self.limits = limits
        self.stats = ProbeStats(limits.window, limits.answer_deadline_s)
        self.channel: Any = None
        self.bad = 0  # messages refused on the channel
        self.closed = False
        self._wire()

    def _wire(self) -> None:
        pc = self.pc

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if self.channel is not None:  # one channel per peer
                channel.close()
                return
            self.channel = channel

            @channel.on("message")
            def on_message(message: object) -> None:
                msg = (
                    parse_message(message, self.limits.max_message_bytes) if isinstance(message, str | bytes) else None
                )
                if msg is None or msg["t"] != "e":
                    self.bad += 1
                    return
                self.stats.echo(msg.get("n"), time.monotonic())

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                self.channel = None

    @property
    def open(self) -> bool:
        ch = self.channel
        return ch is not None and ch.readyState == "open" and not self.closed

    async def answer(self, sdp: str) -> dict[str, str]:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        local = self.pc.localDescription
        return {"sdp": local.sdp, "type": local.type}

    def probe(self, now: float) -> None:
        if self.open:
            with contextlib.suppress(Exception):  # a channel closing under us: the WebSocket carries on
                self.channel.send(json.dumps({"t": "p", "n": self.stats.send(now)}))

    async def expire(self, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
        """Wait for the channel; False (and closed) when it does not open in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.closed:
            if self.open:
                return True
            await asyncio.sleep(0.05)
        await self.close()
        return False

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5.0)
