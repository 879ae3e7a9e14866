from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from collector import config
from collector.runtime import Runtime
from tests.support.collector import write_config
from tests.support.roster import write_roster
from tests.support.services import Mosquitto

RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[RuntimeFactory]:
    """Build and start a Runtime (stopped at teardown). ``mqtt_url`` empty: no MQTT at all."""
    started: list[Runtime] = []

    def make(
        devices: list[str] | None = None,
        *,
        mqtt_url: str | None = None,
        store_url: str = "",
        influx: str = "",
        extra: str = "",
        silence_lost_s: float | None = None,
        name: str = "rt",
    ) -> Runtime:
        base = tmp_path / name
        base.mkdir(exist_ok=True)
        roster = base / "roster.toml"
        if not roster.exists():  # a second runtime of the same name sees the same roster (restarts)
            write_roster(roster, devices if devices is not None else ["dev-a", "dev-b"])
        cfg_path = write_config(
            base / "collector.toml",
            data_dir=base / "data",
            roster=roster,
            mqtt_url=mqtt_url or "",
            store_url=store_url,
            influx=influx,
            extra=extra,
            silence_lost_s=silence_lost_s,
        )
        rt = Runtime(config.load(cfg_path))
        rt.start(mqtt=mqtt_url is not None)
        started.append(rt)
        return rt

    yield make
    for rt in started:
        rt.stop()


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[paho.Client]:
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-publisher", protocol=paho.MQTTv5)
    c.connect(mosquitto.host, mosquitto.port, keepalive=10)
    c.loop_start()
    yield c
    c.disconnect()
    c.loop_stop()
