"""The agent's typed configuration (``deploy/agent.example.toml`` documents every key).

Loaded with :func:`load_agent_config` from TOML plus ``LIKAVILLKOR_AGENT__SECTION__KEY``
environment variables; unknown keys are rejected with the file, line and key
(``likavillkor.config``). The sections of the probes and media checks (``path``, ``speedtest``,
``camera``, ``microphone``, ``mediapath``, ``micwatch``, ``camwatch``) are declared in their own
modules and imported here; a module that is not installed gives a permissive placeholder, so that the rest of the agent
still starts and its check reports "check unavailable".

Importing this module must stay light (the monitor's budget is ≤60 MB RSS): those modules must
not import cv2, numpy or aiortc at import time (tests/agent/test_light.py watches this).
"""

from __future__ import annotations

import importlib
import uuid
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from likavillkor import topics
from likavillkor.config import ConfigError, Section, load

ENV_PREFIX = "LIKAVILLKOR_AGENT"


class Unavailable(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """Stands in for the section of a module that is not installed: any keys, all ignored."""


def _section(module: str, name: str) -> Any:
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return Unavailable
    return found if isinstance(found, type) and issubclass(found, msgspec.Struct) else Unavailable


if TYPE_CHECKING:
    from agent.media.camera import CameraConfig
    from agent.media.camwatch import CamWatchConfig
    from agent.media.mediapath import MediaPathConfig
    from agent.media.microphone import MicrophoneConfig
    from agent.media.micwatch import MicWatchConfig
    from agent.probes.bandwidth import SpeedtestConfig
    from agent.probes.path import PathProbeConfig
else:
    PathProbeConfig = _section("agent.probes.path", "PathProbeConfig")
    SpeedtestConfig = _section("agent.probes.bandwidth", "SpeedtestConfig")
    CameraConfig = _section("agent.media.camera", "CameraConfig")
    MicrophoneConfig = _section("agent.media.microphone", "MicrophoneConfig")
    MediaPathConfig = _section("agent.media.mediapath", "MediaPathConfig")
    MicWatchConfig = _section("agent.media.micwatch", "MicWatchConfig")
    CamWatchConfig = _section("agent.media.camwatch", "CamWatchConfig")

Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class MqttConfig(Section):
    """``[mqtt]``: the broker(s). Empty ``url`` and ``brokers``: nothing is published (a self-test still runs).

    ``brokers`` lists several equal brokers (issue 17: no single point of failure); the agent uses
    one at a time and moves to the next when it stops answering (connect timeout, refused, or
    keep-alive loss). ``url`` is the one-broker form and stays valid; set one or the other.
    """

    url: str = ""  # mqtt://host:1883 or mqtts://host:8883
    brokers: list[str] = msgspec.field(default_factory=list)  # ["mqtts://a:8883", "mqtts://b:8883"]
    #: the municipality's topic root (issue 17: several municipalities on one broker cluster)
    topic_root: str = topics.ROOT
    username: str = ""
    password: str = ""
    ca_file: str = ""  # CA bundle for mqtts://; empty: the system's
    cert_file: str = ""  # client certificate (optional)
    key_file: str = ""
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=3600)] = 30
    connect_timeout_s: Seconds = 5.0
    reconnect_min_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 1
    # capped low so that after a broker restart every agent is back within the collector's
    # policy reconnect_grace_s (10 s): a broker restart must never mark members lost (issue 8)
    reconnect_max_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 5
    inflight: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20  # unacknowledged QoS 1 messages at once
    #: with several brokers: no acknowledgement for this long while messages are in flight = the
    #: broker stopped answering; move to the next (0: only paho's keep-alive decides)
    ack_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 2.0

    def __post_init__(self) -> None:
        if self.url and self.brokers:
            raise ValueError("set either url (one broker) or brokers (a list), not both")
        if len(self.brokers) > MAX_BROKERS:
            raise ValueError(f"brokers: at most {MAX_BROKERS} addresses, not {len(self.brokers)}")
        for url in self.broker_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
                raise ValueError(f"url must be mqtt://host[:port] or mqtts://host[:port], not {url!r}")
        if len({urlsplit(u).scheme for u in self.broker_urls}) > 1:
            raise ValueError("brokers: use mqtts:// for all of them or for none (one TLS setting per agent)")
        topics.validate_root(self.topic_root)

    @property
    def broker_urls(self) -> list[str]:
        """Every configured broker, in order of preference (``[url]`` in the one-broker form)."""
        return list(self.brokers) if self.brokers else ([self.url] if self.url else [])

    @property
    def tls(self) -> bool:
        urls = self.broker_urls
        return bool(urls) and urlsplit(urls[0]).scheme == "mqtts"

    @property
    def host(self) -> str:
        """The first broker's host."""
        return broker_address(self.broker_urls[0])[0] if self.broker_urls else ""

    @property
    def port(self) -> int:
        """The first broker's port."""
        return broker_address(self.broker_urls[0])[1] if self.broker_urls else 1883


MAX_BROKERS = 16


def broker_address(url: str) -> tuple[str, int]:
    """``mqtt(s)://host[:port]`` -> ``(host, port)`` (default port 1883, or 8883 for mqtts)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (8883 if parts.scheme == "mqtts" else 1883)


class CollectorConfig(Section):
    """``[collector]``: the collector's HTTP API (meetings, reflector host, media peer).

    The agent signs in with HTTP Basic using its broker credentials (``[mqtt] username/password``,
    filled by the credentials file of ``broker-credentials``) on every call; ``send_credentials =
    false`` turns that off (a collector in loopback mode needs none).
    """

    url: str = ""  # http(s)://collector.example:8860 (with the port)
    #: CA bundle (PEM) that issued the collector's certificate, e.g. the municipality's internal root;
    #: added to the system's trust store for every HTTPS call the agent makes; empty: the system's only
    ca_file: str = ""
    timeout_s: Seconds = 5.0
    meetings_refresh_s: Seconds = 300.0
    send_credentials: bool = True

    def __post_init__(self) -> None:
        if self.url:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"url must be http(s)://host[:port], not {self.url!r}")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""


class MonitorConfig(Section):
    """``[monitor]``: the light sampling loop (≤1 % of a core, ≤60 MB RSS)."""

    sample_period_s: Annotated[float, msgspec.Meta(ge=0.01, le=3600)] = 1.0
    path_probe: bool = True  # STAMP probes to the collector's reflector while monitoring
    #: how often the camera's state is looked up ("in_use" = the meeting program holds it: video
    #: is on, issue 4); 0 = never. Cheap (no device is opened), but it scans open files.
    camera_state_every_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0


class SelftestConfig(Section):
    """``[selftest]`` (H8, H9, H20)."""

    servicedesk_phone: str = "08-606 78 00"  # H20
    run_before_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 900.0  # H8: 15 minutes before start
    timeout_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 45.0
    skip: list[str] = msgspec.field(default_factory=list)  # check groups not to run, e.g. ["bandwidth"]
    cpu_warn_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 85.0
    cpu_fail_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 97.0
    mem_warn_available_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 15.0
    mem_fail_available_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 5.0
    battery_warn_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 30.0


class OutboxConfig(Section):
    """``[outbox]``: the durable queue on disk (issue 8). Oldest messages are dropped first."""

    max_messages: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 50_000
    max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=10**10)] = 64 * 1024 * 1024


class AgentConfig(Section):
    device_id: Annotated[str, msgspec.Meta(max_length=64, pattern=r"^([A-Za-z0-9][A-Za-z0-9_.-]*)?$")] = ""
    lang: Literal["sv", "en"] = "sv"
    data_dir: str = ""  # empty: ~/.local/state/likavillkor-agent (outbox.sqlite lives here)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    collector: CollectorConfig = msgspec.field(default_factory=CollectorConfig)
    monitor: MonitorConfig = msgspec.field(default_factory=MonitorConfig)
    selftest: SelftestConfig = msgspec.field(default_factory=SelftestConfig)
    outbox: OutboxConfig = msgspec.field(default_factory=OutboxConfig)
    path: PathProbeConfig = msgspec.field(default_factory=PathProbeConfig)
    speedtest: SpeedtestConfig = msgspec.field(default_factory=SpeedtestConfig)
    camera: CameraConfig = msgspec.field(default_factory=CameraConfig)
    microphone: MicrophoneConfig = msgspec.field(default_factory=MicrophoneConfig)
    mediapath: MediaPathConfig = msgspec.field(default_factory=MediaPathConfig)
    micwatch: MicWatchConfig = msgspec.field(default_factory=MicWatchConfig)
    camwatch: CamWatchConfig = msgspec.field(default_factory=CamWatchConfig)

    @property
    def resolved_device_id(self) -> str:
        return self.device_id or _hostname_id()

    @property
    def data_path(self) -> Path:
        return (
            Path(self.data_dir).expanduser()
            if self.data_dir
            else Path.home() / ".local" / "state" / "likavillkor-agent"
        )


def collector_credentials(config: Any) -> tuple[str, str] | None:
    """``(username, password)`` for HTTP Basic to the collector: the device's broker credentials
    (``[mqtt] username/password``), None when it has none or ``[collector] send_credentials`` is off.
    Takes any object shaped like :class:`AgentConfig` (the checks get theirs untyped)."""
    collector = getattr(config, "collector", None)
    mqtt = getattr(config, "mqtt", None)
    if mqtt is None or not getattr(collector, "send_credentials", True):
        return None
    username, password = str(getattr(mqtt, "username", "") or ""), str(getattr(mqtt, "password", "") or "")
    return (username, password) if username and password else None


class Gap(StrEnum):
    """What the agent cannot measure with this config: the chair's figures that stay empty."""

    NO_BROKER = "no_broker"
    NO_COLLECTOR = "no_collector"
    NO_PATH_PROBES = "no_path_probes"


GAP_TEXT: dict[Gap, str] = {
    Gap.NO_BROKER: "no [mqtt] url or brokers: nothing is published, the chair sees this member as never connected",
    Gap.NO_COLLECTOR: "no [collector] url: no meeting ids, no scheduled self-test 15 minutes before the "
    "start (H8), no speed test or media path check",
    Gap.NO_PATH_PROBES: "path probes are off ([monitor] path_probe = false or no reflector host): the chair's "
    "network figures (round trip, jitter, loss, MOS) stay empty",
}


def measurement_gaps(config: AgentConfig) -> list[Gap]:
    """Pure: what this config leaves unmeasured (empty for a complete device config)."""
    gaps: list[Gap] = []
    if not config.mqtt.broker_urls:
        gaps.append(Gap.NO_BROKER)
    if not config.collector.url:
        gaps.append(Gap.NO_COLLECTOR)
    if not config.monitor.path_probe or not (getattr(config.path, "host", "") or config.collector.host):
        gaps.append(Gap.NO_PATH_PROBES)
    return gaps


def trust_bundle(ca_file: Path, out: Path, system_bundle: str | None = None) -> Path:
    """Write ``out``: the system's CA bundle followed by ``ca_file`` (PEM), so that ``SSL_CERT_FILE``
    can point at it and every HTTPS client of the agent (urllib, httpx, speedtest, the self-test
    subprocess) trusts both. Raises OSError/ValueError with the path when ``ca_file`` is unusable."""
    import ssl

    extra = ca_file.read_text(encoding="ascii", errors="replace")
    if "-----BEGIN CERTIFICATE-----" not in extra:
        raise ValueError(f"{ca_file}: no PEM certificate in it")
    if len(extra) > 1_000_000:
        raise ValueError(f"{ca_file}: larger than 1 MB, not a CA bundle")
    base = ""
    system = system_bundle or ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    if system and Path(system).is_file():
        base = Path(system).read_text(encoding="ascii", errors="replace")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(base.rstrip("\n") + "\n" + extra, encoding="ascii")
    tmp.replace(out)
    return out


def _hostname_id() -> str:
    import re
    import socket

    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).strip("-.") or "device"
    return name[:64] if name[0].isalnum() else f"d{name}"[:64]


def new_boot_id() -> str:
    return uuid.uuid4().hex[:16]


def load_agent_config(path: str | Path | None) -> AgentConfig:
    """Load and validate; raises :class:`likavillkor.config.ConfigError` naming the key and line."""
    return load(path, AgentConfig, env_prefix=ENV_PREFIX)


__all__ = [
    "AgentConfig",
    "CollectorConfig",
    "ConfigError",
    "Gap",
    "MonitorConfig",
    "MqttConfig",
    "OutboxConfig",
    "SelftestConfig",
    "Unavailable",
    "collector_credentials",
    "load_agent_config",
    "measurement_gaps",
    "new_boot_id",
    "trust_bundle",
]
