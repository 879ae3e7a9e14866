"""The agent's MQTT link: paho-mqtt 2.x (callback API v2), MQTT v5, TLS and user/password.

- On every connect it publishes a retained ``status`` ``online``; the broker holds a retained
  ``offline`` last will (``reason="will"``) that it publishes if the agent vanishes (crash, power,
  network). A clean stop publishes ``offline`` with ``reason="shutdown"`` before disconnecting.
- paho reconnects by itself with back-off (``reconnect_delay_set``) from its network thread.
- Several brokers (``[mqtt] brokers``, issue 17): before every connection attempt the client picks
  the broker (:func:`next_broker`: the first at start, the next in the list after every failed
  attempt or lost connection, so a broker that stops answering - refused, connect timeout, or no
  PINGRESP within the keep-alive - is left at once) and sets a fresh last will for that
  connection (a new status ``seq``, so a late will from a broker left behind is older than the
  ``online`` sent on the next one). paho re-sends its unacknowledged messages on the new
  connection and the outbox keeps the rest; payloads are encoded once with their ``seq``, so a
  switch loses nothing and renumbers nothing (duplicates are possible; the store's unique key on
  device, boot and seq drops them).
- A broker that hangs (or a path to it that breaks silently) shows as acknowledgements that stop
  coming: with several brokers, when nothing in flight has been acknowledged for
  ``ack_timeout_s`` (:func:`broker_stalled`), the courier drops the connection so the next broker
  is tried at once, instead of after paho's keep-alive (up to twice ``keepalive_s``).
- Samples and self-test results never go to paho directly: they go into the durable
  :class:`agent.outbox.Outbox` and a courier task moves them to paho in order, at most
  ``inflight`` unacknowledged at a time, deleting each row only when its PUBACK arrives
  (``on_publish`` mid). paho resends its in-flight messages itself after a reconnect; rows not yet
  handed to paho wait on disk, so a broker outage loses nothing and costs no memory.

Threading: paho calls ``on_publish`` while holding its own message lock, so the callbacks only
queue the event and wake the courier (an asyncio task); all bookkeeping happens in that task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from agent.config import MqttConfig, broker_address
from agent.identity import Identity
from agent.outbox import Outbox
from agent.tasks import cancel_and_wait
from likavillkor import __version__, topics, wire

log = logging.getLogger(__name__)

DataMessage = wire.Sample | wire.SelftestResult


def next_broker(previous: int | None, count: int) -> int:
    """Pure: the index of the broker for the next connection attempt. The first attempt takes the
    first broker; every later one (the previous attempt failed, or its connection was lost) the
    next in the list, wrapping round. With one broker it is always that one."""
    if count < 1:
        raise ValueError("no broker configured")
    return 0 if previous is None else (previous + 1) % count


def broker_stalled(inflight: int, progress_at: float, now: float, timeout_s: float) -> bool:
    """Pure: the broker stopped answering - messages are in flight and no acknowledgement (or
    connect) has come for ``timeout_s`` since ``progress_at``. ``timeout_s`` 0: never."""
    return timeout_s > 0 and inflight > 0 and now - progress_at >= timeout_s


class _FailoverClient(paho.Client):
    """paho's client with a hook run before every connection attempt (first and reconnects, in
    paho's network thread) that returns the broker to use."""

    def __init__(self, *args: Any, choose: Callable[[], tuple[str, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choose = choose

    def reconnect(self) -> MQTTErrorCode:
        # the connection is closed here (paho calls reconnect only between connections), so the
        # address and will may change; paho reads both when it opens the socket below
        self._host, self._port = self._choose()
        return super().reconnect()


class AgentMqtt:
    """Connects, keeps the retained status, and drains the outbox. ``start``/``stop`` are async."""

    COURIER_IDLE_S = 0.5

    def __init__(
        self,
        cfg: MqttConfig,
        identity: Identity,
        outbox: Outbox,
        *,
        clock: Callable[[], float] = time.time,
        announce: bool = True,
    ) -> None:
        """``announce=False`` (a one-shot self-test beside a running agent): no status, no will,
        and a client id of its own so it does not take over the agent's session."""
        if not cfg.broker_urls:
            raise ValueError("mqtt: no broker url configured")
        self.cfg = cfg
        self.urls = cfg.broker_urls
        self._broker: int | None = None  # index into urls of the current (or last tried) broker
        self.identity = identity
        self.outbox = outbox
        self._clock = clock
        self.announce = announce
        self.counters: dict[str, int] = {
            "connects": 0,
            "disconnects": 0,
            "published": 0,
            "acked": 0,
            "publish_errors": 0,
            "broker_switches": 0,
        }
        self._events: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row id
        self._progress_at = 0.0  # monotonic: last ack, connect, or publish into an empty window
        #: only with several brokers: with one there is nowhere else to go (paho's keep-alive decides)
        self._ack_timeout_s = cfg.ack_timeout_s if len(self.urls) > 1 else 0.0
        self._connected = False
        self._switch_logged = False
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._client = self._make_client()

    # -- set-up ----------------------------------------------------------------------------
    def _status(self, state: wire.DeviceState, reason: str | None) -> bytes:
        msg = wire.Status(
            device_id=self.identity.device_id,
            boot_id=self.identity.boot_id,
            seq=self.identity.next_status_seq(),
            ts=self._clock(),
            state=state,
            reason=reason,
            agent_version=__version__,
        )
        return wire.encode(msg)

    @property
    def status_topic(self) -> str:
        return topics.device_topic(self.identity.device_id, "status", self.cfg.topic_root)

    @property
    def broker_url(self) -> str:
        """The broker in use (or being tried)."""
        return self.urls[self._broker or 0]

    def _make_client(self) -> paho.Client:
        suffix = "" if self.announce else f"-selftest-{self.identity.boot_id[:8]}"
        client_id = f"lv-agent-{self.identity.device_id}"[: 64 - len(suffix)] + suffix
        client = _FailoverClient(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, choose=self._before_connect
        )
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password or None)
        if self.cfg.tls:
            client.tls_set(
                ca_certs=self.cfg.ca_file or None,
                certfile=self.cfg.cert_file or None,
                keyfile=self.cfg.key_file or None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.connect_timeout = self.cfg.connect_timeout_s
        client.reconnect_delay_set(self.cfg.reconnect_min_s, self.cfg.reconnect_max_s)
        client.max_inflight_messages_set(self.cfg.inflight)
        client.on_connect_fail = self._on_connect_fail
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    # -- paho callbacks (network thread): queue and wake only -------------------------------
    def _before_connect(self) -> tuple[str, int]:
        """Before each connection attempt: pick the broker and set this connection's last will."""
        previous = self._broker
        self._broker = next_broker(previous, len(self.urls))
        if previous is not None and self._broker != previous:
            self._events.put(("switch", self._broker))
            self._signal()
        if self.announce:
            self._client.will_set(self.status_topic, self._status(wire.DeviceState.OFFLINE, "will"), qos=1, retain=True)
        return broker_address(self.urls[self._broker])

    def _on_connect_fail(self, _c: paho.Client, _u: Any) -> None:
        self._events.put(("connect_fail", 0))
        self._signal()

    def _on_connect(self, client: paho.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if getattr(reason, "is_failure", False):
            self.counters["refused"] = self.counters.get("refused", 0) + 1
            if self.counters["refused"] % 100 == 1:  # once, then every 100th retry
                log.warning(
                    "mqtt: broker %s refused the connection (%d times): %s",
                    self.broker_url,
                    self.counters["refused"],
                    reason,
                )
            return
        if self.announce:
            client.publish(self.status_topic, self._status(wire.DeviceState.ONLINE, None), qos=1, retain=True)
        self._events.put(("connect", 0))
        self._signal()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._events.put(("disconnect", 0))
        self._signal()

    def _on_publish(self, _c: paho.Client, _u: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._events.put(("ack", mid))
        self._signal()

    def _signal(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(wake.set)

    # -- public ------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # the address is only a placeholder: _FailoverClient.reconnect picks the broker
        self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=self.cfg.keepalive_s)
        self._client.loop_start()
        self._task = asyncio.create_task(self._courier(), name="mqtt-courier")

    def publish(self, msg: DataMessage) -> None:
        """Store ``msg`` in the outbox (QoS 1); the courier sends it when the broker is reachable."""
        kind: topics.Kind = "sample" if isinstance(msg, wire.Sample) else "selftest"
        self.outbox.put(
            topics.device_topic(self.identity.device_id, kind, self.cfg.topic_root), wire.encode(msg), qos=1
        )
        if self._wake is not None:
            self._wake.set()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (every message acknowledged); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox) > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return len(self.outbox) == 0

    async def stop(self, timeout_s: float = 3.0) -> None:
        """Publish ``offline`` (reason ``shutdown``), disconnect cleanly (no will), stop the thread."""
        self._closing = True
        await cancel_and_wait(self._task)
        self._task = None
        if self._connected and self.announce:
            info = self._client.publish(
                self.status_topic, self._status(wire.DeviceState.OFFLINE, "shutdown"), qos=1, retain=True
            )
            with contextlib.suppress(Exception):
                await asyncio.to_thread(info.wait_for_publish, timeout_s)
        # acknowledgements that arrived while stopping (the broker acks in order, so all before the
        # offline status's): off the outbox now, not re-sent as duplicates at the next start
        self._drain_events()
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        self._connected = False
        self._loop = None
        self._wake = None

    # -- courier -----------------------------------------------------------------------------
    async def _courier(self) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation when the
        # inner wait completes at the same moment (gh-86296), which left stop() waiting forever.
        assert self._wake is not None
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.COURIER_IDLE_S):
                    await self._wake.wait()
            self._wake.clear()
            self._drain_events()
            self._check_stalled(time.monotonic())
            self._send_more()

    def _drain_events(self) -> None:
        while True:
            try:
                kind, mid = self._events.get_nowait()
            except queue.Empty:
                return
            if kind == "ack":
                row = self._inflight.pop(mid, None)
                self._progress_at = time.monotonic()
                if row is not None:  # None: a status message, not an outbox row
                    self.outbox.ack(row)
                    self.counters["acked"] += 1
            elif kind == "connect":
                self._connected = True
                self._switch_logged = False
                self._progress_at = time.monotonic()
                self.counters["connects"] += 1
                log.info("mqtt: connected to %s", self.broker_url)
            elif kind == "switch":
                self.counters["broker_switches"] += 1
                if not self._switch_logged:  # once per outage, not at every attempt
                    self._switch_logged = True
                    log.warning("mqtt: moving to broker %s (%d of %d)", self.urls[mid], mid + 1, len(self.urls))
            elif kind == "connect_fail":
                self.counters["connect_failures"] = self.counters.get("connect_failures", 0) + 1
            else:
                if self._connected:
                    log.warning("mqtt: lost the broker %s; reconnecting, messages wait in the outbox", self.broker_url)
                self._connected = False
                self.counters["disconnects"] += 1

    def _send_more(self) -> None:
        if not self._connected:
            return
        if not self._inflight:
            self._progress_at = time.monotonic()
        for row in self.outbox.next_batch(self.cfg.inflight - len(self._inflight)):
            try:
                info = self._client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            except (ValueError, TypeError) as exc:
                self.counters["publish_errors"] += 1
                log.warning("mqtt: dropping a message paho refused: %s", exc)
                self.outbox.ack(row.id)
                continue
            self._inflight[info.mid] = row.id
            self.counters["published"] += 1

    def _check_stalled(self, now: float) -> None:
        if not self._connected or not broker_stalled(len(self._inflight), self._progress_at, now, self._ack_timeout_s):
            return
        self.counters["ack_timeouts"] = self.counters.get("ack_timeouts", 0) + 1
        log.warning(
            "mqtt: broker %s acknowledged nothing for %.0f s; trying the next one",
            self.broker_url,
            now - self._progress_at,
        )
        self._progress_at = now
        sock = self._client.socket()
        if sock is not None:
            # the base class's shutdown on the descriptor (an SSLSocket's own would drop its TLS state
            # under paho's thread): paho's thread then reads EOF, reports the connection lost and
            # reconnects - to the next broker
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # type: ignore[arg-type]
