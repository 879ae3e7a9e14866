"""The wire format: versioned messages between a member's device and the collector.

This module is the contract of the whole system. It imports nothing but msgspec and the
standard library, so a device, the collector, a test or a browser page (through the JSON
Schema exported to ``docs/wire-schema.json``) can speak it.

Why msgspec: decoding *and validating* a JSON sample into a typed struct is one C call, several
times faster than pydantic and far faster than json + hand checks; it imports in a few ms; it
exports JSON Schema; and its structs are small (``__slots__``), which matters for a collector
holding 10,000 participants.

Every message carries ``v`` (the wire version). A message whose ``v`` this code does not know is
rejected with :class:`WireError` (reason ``unknown_version``), never guessed at.

Units are in the field names (``rtt_ms``, ``loss_percent``), as Telegraf names them.
A field that a device cannot measure is ``None`` (absent), never 0: no battery is not an empty one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

import msgspec

WIRE_VERSION: Final = 1
SUPPORTED_VERSIONS: Final = frozenset({1})
#: Payloads larger than this are rejected before decoding (reason ``oversized``).
MAX_PAYLOAD_BYTES: Final = 64 * 1024

# Bounded scalar types: a hostile or broken device cannot send 1e308 or NaN into the engine.
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=2000)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Millis = Annotated[float, msgspec.Meta(ge=0, le=600_000)]
Kbps = Annotated[float, msgspec.Meta(ge=0, le=100_000_000)]
Dbm = Annotated[float, msgspec.Meta(ge=-150, le=30)]
Dbfs = Annotated[float, msgspec.Meta(ge=-120, le=0)]
# Epoch seconds between 2000-01-01 and 2100-01-01.
Epoch = Annotated[float, msgspec.Meta(ge=946_684_800, le=4_102_444_800)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class LinkType(StrEnum):
    """What carries the device's default route (H9: only Wi-Fi or wired is allowed)."""

    WIFI = "wifi"
    ETHERNET = "ethernet"
    WWAN = "wwan"  # mobile data: not allowed (H9)
    HOTSPOT = "hotspot"  # Wi-Fi to a phone sharing its mobile data: counts as mobile data (H9)
    NONE = "none"  # no default route at all
    UNKNOWN = "unknown"


class CheckStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"  # the check could not run
    SKIPPED = "skipped"


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class _Msg(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False, tag_field="type"):
    """Common header. ``msg_id`` is ``{boot_id}:{seq}``: unique per device, used to drop replays."""

    v: int = WIRE_VERSION
    device_id: DeviceId
    boot_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Seq
    ts: Epoch  # the device's clock: informative only, liveness uses the collector's clock

    @property
    def msg_id(self) -> str:
        return f"{self.boot_id}:{self.seq}"


class Sample(_Msg, kw_only=True, tag="sample"):
    """One monitoring sample, published every ``sample_period_s`` (default 1 s) during a meeting."""

    meeting_id: ShortText | None = None
    # link (H9)
    link: LinkType | None = None
    iface: ShortText | None = None
    metered: bool | None = None
    hotspot_reason: ShortText | None = None
    wifi_signal_dbm: Dbm | None = None
    wifi_signal_percent: Percent | None = None
    link_rate_mbps: Kbps | None = None
    # byte rates from the interface counters: the cheap sign that video flows
    tx_kbps: Kbps | None = None
    rx_kbps: Kbps | None = None
    # battery (H9)
    battery_percent: Percent | None = None
    battery_charging: bool | None = None
    battery_minutes_left: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None
    battery_lasts_meeting: bool | None = None
    # host
    cpu_percent: Percent | None = None
    mem_available_percent: Percent | None = None
    # path quality to the collector's reflector (STAMP, RFC 8762)
    probe_reachable: bool | None = None
    rtt_ms: Millis | None = None
    jitter_ms: Millis | None = None
    loss_percent: Percent | None = None
    mos: Annotated[float, msgspec.Meta(ge=1, le=5)] | None = None
    # the agent's sequential loss test (issue 11): True when its probes show the loss clearly poor
    # (CUSUM, 5 % against 20 %), False when it clearly is not; absent where no such test runs
    loss_alarm: bool | None = None
    # camera and microphone while the meeting runs
    camera: ShortText | None = None  # "ok", "in_use", "black", "frozen", "absent", ...
    # the in-meeting camera check where the OS shares the camera (issue 14): numbers of a frame
    # sampled every few seconds, never the picture
    camera_luma: Annotated[float, msgspec.Meta(ge=0, le=255)] | None = None  # mean luma of the frame
    camera_motion: Annotated[float, msgspec.Meta(ge=0, le=255)] | None = None  # largest block change
    # the in-meeting microphone watch (issue 14): "ok", "silent", "muted", "clipping", "dead",
    # "absent", "no_samples" — numbers only, no sound leaves the device
    microphone: ShortText | None = None
    mic_dbfs: Dbfs | None = None  # RMS level of the last second
    mic_peak_dbfs: Dbfs | None = None
    mic_clipping: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None  # clipping runs in the last second
    mic_muted: bool | None = None  # the OS's mute switch of the input, where the OS reports it
    headphones: bool | None = None  # H19: the output is headphones or a headset, where the OS tells
    # how many samples the device dropped from its outbox since boot (oldest first)
    outbox_dropped: Annotated[int, msgspec.Meta(ge=0)] | None = None


class CheckResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of a self-test. ``id`` is stable (``network.link``, ``battery.level``, ...)."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    status: CheckStatus
    value: float | int | bool | ShortText | None = None
    unit: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    summary: LongText | None = None  # in the language the member chose
    rule: Annotated[str, msgspec.Meta(max_length=16)] | None = None  # e.g. "H9"


class SelftestResult(_Msg, kw_only=True, tag="selftest"):
    """The result of a self-test (H8, H9), by the agent or by the browser self-test."""

    meeting_id: ShortText | None = None
    source: Literal["agent", "browser"] = "agent"
    overall: CheckStatus
    started_at: Epoch
    duration_s: Annotated[float, msgspec.Meta(ge=0, le=3600)]
    checks: Annotated[list[CheckResult], msgspec.Meta(max_length=64)]


class Status(_Msg, kw_only=True, tag="status"):
    """Retained online/offline status. The broker publishes ``offline`` as the last will."""

    state: DeviceState
    reason: ShortText | None = None  # "will" for the last will, "shutdown" for a clean stop
    agent_version: ShortText | None = None


Message = Sample | SelftestResult | Status

_decoder: Final = msgspec.json.Decoder(Message)
_encoder: Final = msgspec.json.Encoder()


class WireError(ValueError):
    """A message that was rejected. ``reason`` is a short counter name."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(payload: bytes) -> Message:
    """Decode and validate one message. Raises :class:`WireError` with a counter-friendly reason."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        msg = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise WireError("invalid", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise WireError("malformed", str(exc)) from None
    except RecursionError:  # msgspec's own depth guard on deeply nested objects
        raise WireError("malformed", "nested too deeply") from None
    if msg.v not in SUPPORTED_VERSIONS:
        raise WireError("unknown_version", f"v={msg.v}")
    return msg


def encode(msg: Message) -> bytes:
    return _encoder.encode(msg)


def json_schema() -> dict[str, object]:
    """The JSON Schema of every message, for ``docs/wire-schema.json``."""
    return msgspec.json.schema(Message)
