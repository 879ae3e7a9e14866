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
from typing import Any

from collector.config import CollectorConfig

log = logging.getLogger(__name__)

#: longest wait for the reflector's socket to open or close
REFLECTOR_DEADLINE_S = 5.0


def start_mqtt(
    config: CollectorConfig, on_message: Callable[[str, bytes], None], on_connection: Callable[[bool], None]
) -> tuple[Any, Any, str]:
    """Connect to ``[mqtt] url`` or, when empty, to a private Mosquitto started here.
    Returns (the private broker or None, the started MqttClient, the broker URL)."""
    from collector.mqtt.client import MqttClient

    url, broker = config.mqtt.url, None
    if not url:
        from collector.mqtt.supervisor import PrivateBroker

        broker = PrivateBroker(config.data_path)
        broker.start()
        url = broker.url
    m = config.mqtt
    client = MqttClient(
        url,
        client_id=m.client_id,
        on_message=on_message,
        on_connection=on_connection,
        username=m.username,
        password=m.password,
        ca_file=m.ca_file,
        session_expiry_s=m.session_expiry_s,
        keepalive_s=m.keepalive_s,
        reconnect_min_s=m.reconnect_min_s,
        reconnect_max_s=m.reconnect_max_s,
    )
    client.start()
    return broker, client, url


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
