"""The collector's STAMP session-reflector (RFC 8762, unauthenticated, stateless).

Each member's agent sends about ten 44-octet packets a second (a few kbit/s); the reflector
answers each one at once with the same length, so the agent can measure round-trip time, jitter
and loss to the collector (H1: stable transmission; H2: adjourn when it degrades). It keeps no
per-sender state: its sequence number copies the sender's (RFC 8762 §4.3, stateless mode).

A datagram that is not a STAMP packet is counted (``counters["malformed"]``), logged once in a
while, and dropped — never a crash. The sender's TTL is reported as 0 (unknown): asyncio's
datagram transport does not hand over the IP header's TTL.

Run standalone (for tests and for a reflector on a separate host)::

    python -m collector.reflector --host 0.0.0.0 --port 8862
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from typing import Final, cast

from likavillkor import stamp

log = logging.getLogger(__name__)

DEFAULT_PORT: Final = 8862
_LOG_EVERY_S: Final = 60.0


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Reflector) -> None:
        self._owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # selector transports do not subclass it

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self._owner.answer(data, time.time())
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        self._owner.count("send_errors")


class Reflector:
    """``await start(host, port)``, ``await stop()``; ``counters`` and ``port`` for observers."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {"reflected": 0, "malformed": 0, "send_errors": 0}
        self.port: int | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._last_log = float("-inf")

    async def start(self, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(host, port))
        self._transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        log.info("STAMP reflector listening on %s:%d/udp", host, self.port)

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def answer(self, data: bytes, now_epoch_s: float) -> bytes | None:
        """The reply to one datagram, or None (counted) when it is not a STAMP sender packet."""
        try:
            sender = stamp.decode_sender(data)
        except stamp.StampError as exc:
            self.count("malformed")
            if now_epoch_s - self._last_log >= _LOG_EVERY_S:
                self._last_log = now_epoch_s
                log.warning("dropped a datagram that is not STAMP (%s); %d so far", exc, self.counters["malformed"])
            return None
        received = stamp.to_ntp(now_epoch_s)
        reply = stamp.reflect(sender, receive_timestamp=received, transmit_timestamp=stamp.to_ntp(time.time()))
        self.count("reflected")
        return stamp.encode_reflector(reply)


async def _serve(host: str, port: int) -> None:
    reflector = Reflector()
    await reflector.start(host, port)
    print(f"listening {reflector.port}", flush=True)  # the test harness waits for this line
    try:
        await asyncio.Event().wait()
    finally:
        await reflector.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="STAMP session-reflector (RFC 8762)")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port))


if __name__ == "__main__":
    main()
