"""The collector's typed configuration (TOML + ``LIKAVILLKOR_COLLECTOR__SECTION__KEY`` environment).

Unknown keys are rejected with the file and line (likavillkor.config). Every section has safe
defaults, so ``likavillkor-collector run`` with no file at all starts a private Mosquitto and a
SQLite database under ``data_dir``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from collector.ha.lease import LeaseConfig
from collector.planning.mailer import SmtpSection
from likavillkor import config as cfg
from likavillkor import topics

ENV_PREFIX = "LIKAVILLKOR_COLLECTOR"


_BrokerUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class MqttSection(cfg.Section):
    #: ``mqtt://host:1883`` or ``mqtts://host:8883``; empty (and no ``urls``): spawn a private
    #: Mosquitto on loopback.
    url: str = ""
    #: several brokers (issue 17): the collector subscribes to every one (one client each); an agent
    #: moves to the next when one stops answering. Give ``url`` or ``urls``, not both.
    urls: Annotated[list[_BrokerUrl], msgspec.Meta(max_length=8)] = msgspec.field(default_factory=list)
    #: the topic root (issue 17: one broker cluster for several municipalities, each with its own
    #: root, e.g. ``lv/solna``); the agents' ``[mqtt] topic_root`` must be the same
    topic_root: str = topics.ROOT
    client_id: str = "likavillkor-collector"
    username: str = ""
    password: str = ""
    ca_file: str = ""
    #: persistent session: what devices publish while the collector is down comes back (MQTT v5)
    session_expiry_s: int = 86_400
    keepalive_s: int = 15
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 2.0  # the collector is one client: come back fast (issue 8: verdicts current within 5 s)

    def __post_init__(self) -> None:
        topics.validate_root(self.topic_root)
        if self.url and self.urls:
            raise ValueError("give [mqtt] url (one broker) or urls (several), not both")
        if len(set(self.urls)) != len(self.urls):
            raise ValueError("[mqtt] urls lists a broker twice")
        for url in self.broker_urls:
            if not url.startswith(("mqtt://", "mqtts://")):
                raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")

    @property
    def broker_urls(self) -> list[str]:
        """Every configured broker; empty: the private Mosquitto."""
        return list(self.urls) if self.urls else ([self.url] if self.url else [])


class HttpSection(cfg.Section):
    host: str = "127.0.0.1"
    port: int = 8860
    tls_cert: str = ""
    tls_key: str = ""
    #: the broker's Mosquitto password file (``broker-credentials`` writes DIR/broker/passwords):
    #: agents sign in over HTTP with HTTP Basic device_id:password, their broker credentials
    device_passwords: str = ""
    #: "passwords" (needs device_passwords), "loopback" (device routes answer only this host: a
    #: broker with anonymous access has no device passwords), "none" (open: a closed lab only);
    #: empty: "passwords" when device_passwords is set, else "loopback" (docs/web.md)
    device_auth: Literal["", "passwords", "loopback", "none"] = ""
    #: how long a device's verified credentials are remembered (PBKDF2 is slow on purpose)
    device_auth_cache_s: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 300.0
    #: the address members and devices reach the collector at, e.g. ``https://likavillkor.kommun.se``:
    #: self-test links are built from it, never from a request's Host header. Empty: this listener's
    #: own scheme, host and port (the machine's name when host is 0.0.0.0 or ::)
    public_url: str = ""
    #: addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (e.g.
    #: ["127.0.0.1"] behind a local HAProxy). Empty: forwarded headers are ignored, so no client can
    #: pick the address the sign-in throttle counts (issue 12)
    trusted_proxies: list[str] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.device_auth == "passwords" and not self.device_passwords:
            raise ValueError('device_auth = "passwords" needs device_passwords (the broker\'s password file)')
        if self.public_url and not self.public_url.startswith(("https://", "http://")):
            raise ValueError("public_url must start with https:// (or http://)")

    @property
    def base_url(self) -> str:
        """The collector's public address without a trailing slash (see ``public_url``)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        import socket

        host = socket.getfqdn() if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls_cert else 'http'}://{host}:{self.port}"


class StoreSection(cfg.Section):
    #: SQLAlchemy URL; empty: ``sqlite:///{data_dir}/likavillkor.db``.
    #: PostgreSQL: ``postgresql+psycopg://user:pass@host/db``.
    url: str = ""
    queue_max: int = 100_000
    batch: int = 500
    flush_interval_s: float = 0.2
    snapshot_interval_s: float = 2.0
    #: longest wait between retries while the database is down
    retry_max_s: float = 5.0


class InfluxSection(cfg.Section):
    #: empty: InfluxDB output disabled
    url: str = ""
    #: "v2": /api/v2/write through influxdb-client (InfluxDB 2.x, 1.8+ compat, 3.x, VictoriaMetrics);
    #: "v1": the same line protocol to /write?db= (InfluxDB 1.x before 1.8)
    api: str = "v2"
    token: str = ""
    org: str = ""
    bucket: str = "likavillkor"
    #: v1 only
    database: str = "likavillkor"
    #: v1 only: an InfluxDB 1.x user with WRITE (and, for ``forget``, ALL) on ``database``, sent as
    #: HTTP Basic (1.x with ``auth-enabled = true``; deploy/host/influxdb1-setup.sh creates it)
    username: str = ""
    password: str = ""
    batch: int = 1000
    max_buffer: int = 100_000
    flush_interval_s: float = 1.0
    timeout_s: float = 5.0
    #: how often current participant_state / meeting_verdict points are written
    state_interval_s: float = 5.0


class ReflectorSection(cfg.Section):
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 8862


ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
_IceText = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class IceServer(cfg.Section, omit_defaults=True):
    """One STUN/TURN server, as the browser's ``RTCIceServer`` and aiortc's take it. Absent username
    and credential are left out of the page's JSON (``omit_defaults``), not sent as null."""

    #: e.g. ["stun:stun.kommun.se:3478"] or ["turn:turn.kommun.se:3478?transport=udp", "turns:turn.kommun.se:5349"]
    urls: Annotated[list[_IceText], msgspec.Meta(min_length=1, max_length=8)]
    #: TURN only (both needed for turn: and turns: URLs)
    username: _IceText | None = None
    credential: _IceText | None = None

    def __post_init__(self) -> None:
        for url in self.urls:
            if not url.startswith(ICE_SCHEMES):
                raise ValueError(f"ice server url must start with stun:, stuns:, turn: or turns:, got {url!r}")
            if url.startswith(("turn:", "turns:")) and not (self.username and self.credential):
                raise ValueError(f"TURN server {url!r} needs username and credential")


class MediaSection(cfg.Section):
    """The media path (H1, H13 roll call): the member's browser (self-test, companion page) and the
    collector's own media peer (collector/peers/media.py) connect with these ICE servers."""

    #: STUN/TURN servers; empty: host candidates only (a LAN, or a collector the members reach directly).
    #: Never a public default: aiortc and browsers would otherwise ask a third party (docs/media.md)
    ice_servers: Annotated[list[IceServer], msgspec.Meta(max_length=16)] = msgspec.field(default_factory=list)


class RetentionSection(cfg.Section):
    #: samples and incidents are personal data: keep them no longer than needed
    samples_days: float = 90.0
    incidents_days: float = 730.0
    purge_interval_s: float = 3600.0


class IngestSection(cfg.Section):
    #: token bucket per device: sustained messages per second and burst
    max_rate_per_device: float = 20.0
    burst: float = 60.0
    tick_interval_s: float = 0.25
    #: a pause of the collector's own process longer than this (SIGSTOP, a frozen VM) is its own
    #: gap: monitoring interrupted, never a member's loss (issue 11); several tick intervals, and
    #: below probe_silence_lost_s (1.2 s), or a pause of its own would read as every member's silence
    stall_after_s: float = 1.0
    #: at most one log line per (reason, device) in this many seconds
    log_every_s: float = 60.0
    #: "inline": checks and engine run in the MQTT callback; "thread": the callback only queues
    #: (topic, payload, received_at) and one engine thread drains the queue in batches
    mode: str = "inline"


class HelpSection(cfg.Section):
    """Where a member gets help (H20), shown on her self-test and companion pages."""

    #: the Servicedesk's telephone number, as the member dials it
    servicedesk: Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[0-9 +()-]*$")] = "08-606 78 00"
    #: opening hours or a note beside the number, e.g. "dygnet runt under sammanträden"; may be empty
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class CollectorConfig(cfg.Section):
    data_dir: str = "data"
    #: the roster TOML (meetings and remote participants); empty: ``{data_dir}/roster.toml``
    roster: str = ""
    #: a municipality's policy file; empty: the shipped defaults
    policy: str = ""
    #: a body table replacing the shipped one (H22); empty: shipped
    bodies: str = ""
    mqtt: MqttSection = msgspec.field(default_factory=MqttSection)
    http: HttpSection = msgspec.field(default_factory=HttpSection)
    store: StoreSection = msgspec.field(default_factory=StoreSection)
    influx: InfluxSection = msgspec.field(default_factory=InfluxSection)
    reflector: ReflectorSection = msgspec.field(default_factory=ReflectorSection)
    retention: RetentionSection = msgspec.field(default_factory=RetentionSection)
    ingest: IngestSection = msgspec.field(default_factory=IngestSection)
    media: MediaSection = msgspec.field(default_factory=MediaSection)
    #: the municipality's mail server for the invitations (H7): collector/planning/mailer.py
    smtp: SmtpSection = msgspec.field(default_factory=SmtpSection)
    help: HelpSection = msgspec.field(default_factory=HelpSection)
    #: two collectors on one PostgreSQL, one leading (issue 17; collector/ha/lease.py). ``holder`` is
    #: this node's name in the lease (empty: host name and process id)
    ha: LeaseConfig = msgspec.field(default_factory=LeaseConfig)

    def __post_init__(self) -> None:
        if self.ha.enabled and not self.store.url.startswith("postgresql"):
            raise ValueError(
                "[ha] enabled needs [store] url on PostgreSQL (postgresql+psycopg://...): the lease and "
                "the data both collectors share live there"
            )
        if self.ha.enabled and not self.mqtt.broker_urls:
            raise ValueError("[ha] enabled needs [mqtt] url or urls: two collectors cannot share a private Mosquitto")

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def roster_path(self) -> Path:
        return Path(self.roster) if self.roster else self.data_path / "roster.toml"

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.data_path / 'likavillkor.db').resolve()}"


#: the whole-config checks (``CollectorConfig.__post_init__``) by the key whose line a refusal names
_WHOLE_CONFIG_KEYS = {"[ha] enabled needs": ["ha", "enabled"]}


def load(path: str | Path | None, environ: dict[str, str] | None = None) -> CollectorConfig:
    """Load the config; raises :class:`likavillkor.config.ConfigError` naming the line at fault."""
    try:
        return cfg.load(path, CollectorConfig, env_prefix=ENV_PREFIX, environ=environ)
    except cfg.ConfigError as exc:
        keys = next((k for prefix, k in _WHOLE_CONFIG_KEYS.items() if prefix in str(exc)), None)
        if exc.line is not None or keys is None or path is None:
            raise
        line = cfg.locate_line(Path(path).read_text(encoding="utf-8"), list(keys))
        message = str(exc).split(": ", 1)[-1] if exc.source else str(exc)
        raise cfg.ConfigError(message, source=exc.source, line=line, key=".".join(keys)) from None
