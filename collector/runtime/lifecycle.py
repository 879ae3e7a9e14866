"""Starting and stopping what the runtime runs beside the engine: the MQTT client (and a private
Mosquitto when no broker is configured), the UDP reflector's event loop, and the engine snapshot.

Each piece has a deadline on start and stop; a reflector that fails to start is reported in
``/api/health`` (``modules``), never fatal: monitoring goes on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from collector.config import CollectorConfig

if TYPE_CHECKING:
    from collector.mqtt.ackgate import AckGate
    from collector.store.db import Store

log = logging.getLogger(__name__)

#: longest wait for the reflector's socket to open or close
REFLECTOR_DEADLINE_S = 5.0


class BrokerLinks:
    """One :class:`collector.mqtt.client.MqttClient` per broker (issue 17: ``[mqtt] urls``). The
    collector is connected while any of them is: an agent moves to the next broker when one stops
    answering, so one broker's death interrupts nothing. ``on_connection`` is told when that
    aggregate changes (the engine's Connectivity: monitoring interrupted only with no broker at all)."""

    def __init__(self, on_connection: Callable[[bool], None]) -> None:
        self.clients: list[Any] = []
        self._on_connection = on_connection
        self._lock = threading.Lock()
        self._up: set[int] = set()
        self._reported: bool | None = None
        self.urls: list[str] = []

    def link_changed(self, index: int, connected: bool) -> None:
        """A client's callback (its paho thread): tell the runtime when "any broker" changes."""
        with self._lock:
            (self._up.add if connected else self._up.discard)(index)
            now = bool(self._up)
            if now == self._reported:
                return
            self._reported = now
            self._on_connection(now)

    @property
    def connected(self) -> bool:
        return any(c.connected for c in self.clients)

    @property
    def connects(self) -> int:
        return sum(c.connects for c in self.clients)

    @property
    def malformed(self) -> int:
        return sum(c.malformed for c in self.clients)

    def per_broker(self) -> list[dict[str, Any]]:
        return [
            {"url": url, "connected": c.connected, "connects": c.connects}
            for url, c in zip(self.urls, self.clients, strict=True)
        ]

    def stop(self) -> None:
        for c in self.clients:
            c.stop()


def client_id_of(config: CollectorConfig) -> str:
    """The MQTT client id: with ``[ha]`` two collectors share the brokers, so each needs its own
    persistent session: the node's name is appended (stable across restarts when ``[ha] holder`` is set)."""
    base = config.mqtt.client_id
    if not config.ha.enabled:
        return base
    import socket

    node = config.ha.holder or socket.gethostname()
    return f"{base}-{node}"[:128]


def ack_gate_for(store: Store) -> AckGate:
    """A connection's PUBACKs held until ``store`` has the message (issue 8, H2: nothing lost)."""
    from collector.mqtt.ackgate import AckGate

    w = store.writer
    return AckGate(ticket=lambda: w.enqueued, done=lambda: w.done, store_up=lambda: store.stats.connected, wake=w.wake)


def start_mqtt(
    config: CollectorConfig,
    on_message: Callable[[str, bytes], None],
    on_connection: Callable[[bool], None],
    store: Store | None = None,
) -> tuple[Any, BrokerLinks, str]:
    """Connect to every broker of ``[mqtt] url``/``urls`` or, when none, to a private Mosquitto
    started here. Returns (the private broker or None, the started clients, the broker URLs joined
    by ", "). With ``store`` and inline ingest each connection acknowledges a message only once the
    store has it (:func:`ack_gate_for`); "thread" ingest handles it later, so it acknowledges at once."""
    from collector.mqtt.client import MqttClient
    from likavillkor.topics import device_wildcard

    urls, broker = config.mqtt.broker_urls, None
    if not urls:
        from collector.mqtt.supervisor import PrivateBroker

        broker = PrivateBroker(config.data_path)
        broker.start()
        urls = [broker.url]
    m = config.mqtt
    links = BrokerLinks(on_connection)
    links.urls = list(urls)
    for i, url in enumerate(urls):
        links.clients.append(
            MqttClient(
                url,
                client_id=client_id_of(config),
                on_message=on_message,
                on_connection=lambda up, i=i: links.link_changed(i, up),  # type: ignore[misc]
                username=m.username,
                password=m.password,
                ca_file=m.ca_file,
                session_expiry_s=m.session_expiry_s,
                keepalive_s=m.keepalive_s,
                reconnect_min_s=m.reconnect_min_s,
                reconnect_max_s=m.reconnect_max_s,
                subscription=device_wildcard(m.topic_root),
                ack_gate=ack_gate_for(store) if store is not None and config.ingest.mode == "inline" else None,
            )
        )
        if store is not None and links.clients[-1].ack_gate is not None:
            store.writer.on_done.append(links.clients[-1].release_acks)
    for client in links.clients:
        client.start()
    return broker, links, ", ".join(urls)


class ReflectorRunner:
    """The UDP reflector (STAMP, RFC 8762) on its own asyncio loop in a thread, answering signed
    probes from the roster's devices only (issue 11, issue 12)."""

    def __init__(self) -> None:
        self.reflector: Any = None  # collector.peers.reflector.Reflector while running
        self.probe_keys: Any = None  # collector.auth.probekeys.ProbeKeys, when the reflector runs
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, config: CollectorConfig, devices: Iterable[str], on_alive: Callable[[str, float], None]) -> str:
        """Returns "loaded" or why not (for ``/api/health`` ``modules``)."""
        loop = asyncio.new_event_loop()
        try:
            mod = importlib.import_module("collector.peers.reflector")
            from collector.auth.probekeys import ProbeKeys, load_or_create_secret

            keys = ProbeKeys(load_or_create_secret(config.data_path), devices)
            reflector = mod.Reflector(keys=keys, on_alive=on_alive)
            loop.run_until_complete(
                asyncio.wait_for(reflector.start(config.reflector.host, config.reflector.port), REFLECTOR_DEADLINE_S)
            )
        except Exception as exc:  # a missing or failing reflector must not stop monitoring
            loop.close()
            log.warning("reflector not started: %s", exc)
            return f"not started: {exc}"
        self.reflector, self.probe_keys, self._loop = reflector, keys, loop
        threading.Thread(target=loop.run_forever, name="reflector", daemon=True).start()
        return "loaded"

    @property
    def running(self) -> tuple[Any, asyncio.AbstractEventLoop] | None:
        """(Reflector, its loop) while it runs (collector/metrics.py reads its counters)."""
        return (self.reflector, self._loop) if self.reflector is not None and self._loop is not None else None

    @property
    def port(self) -> int | None:
        return self.reflector.port if self.reflector is not None else None

    def stop(self) -> None:
        reflector, loop = self.reflector, self._loop
        if reflector is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(reflector.stop(), loop).result(REFLECTOR_DEADLINE_S)
        loop.call_soon_threadsafe(loop.stop)
        self.reflector = self._loop = None
