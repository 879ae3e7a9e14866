"""The engine's durable state as msgpack: what must survive a collector restart.

Timers (lost_since, replaced_at), excuses, open incidents with their running metrics, the chair's
actions and the meeting phase (adjourned, vote, item), the debounce bitmasks and each device's
duplicate memory. Live measurements (the last sample) are not kept: the devices resend them.
"""

from __future__ import annotations

import msgspec

from collector.engine.records import DeviceTrack, MeetingRt, Member, OpenIncident
from collector.engine.types import Action, Incident, ParticipantState, SelftestSummary, Verdict

SNAPSHOT_VERSION = 1


class _Open(msgspec.Struct, array_like=True):
    incident: Incident
    stats: dict[str, list[float]]


class _Member(msgspec.Struct, kw_only=True, omit_defaults=True):
    member_id: str
    state: ParticipantState
    since: float
    first_contact: float | None = None
    last_contact: float | None = None
    lost_since: float | None = None
    lost_cause: str = ""
    lost_cause_at: float | None = None
    replaced_at: float | None = None
    handled_at: float | None = None
    reconnected_at: float | None = None
    may_not_return: bool = False
    excused_at: float | None = None
    excused_item: str | None = None
    returned_at: float | None = None
    left_at: float | None = None
    left_cause: str = ""
    serving: bool | None = None  # None: as the roster says (snapshots from before issue 11)
    substitute_for: str | None = None
    substituted_by: str | None = None
    peer_name: str | None = None
    present_at: float | None = None
    present_until: float | None = None
    present_reason: str | None = None
    roll_call_at: float | None = None
    roll_call: list[str] | None = None
    unequal_at: float | None = None  # H17
    hist: list[int] = []
    bad: dict[int, float] = {}
    warn_up: int = 0
    fail_up: int = 0
    link: str | None = None
    media_levels: dict[str, int] | None = None
    selftest: SelftestSummary | None = None
    incidents: list[_Open] = []


class _Meeting(msgspec.Struct, kw_only=True):
    meeting_id: str
    verdict: Verdict
    verdict_since: float
    adjourned_since: float | None
    adjournments: list[list[float | None]]
    vote_running: bool
    vote_since: float | None
    agenda_item: str | None
    actions: list[Action]
    members: list[_Member]


class _Device(msgspec.Struct, array_like=True):
    # boot_id -> (highest seq, seen-seq bitmask in hex): the mask holds at most ``dedupe_window`` bits
    # (more than msgpack's 64-bit integers, hence hex); the engine keeps it bounded for any seq jump
    boots: dict[str, tuple[int, str]]
    lag_base: float | None


class _Snapshot(msgspec.Struct, kw_only=True):
    v: int = SNAPSHOT_VERSION
    meetings: list[_Meeting]
    devices: dict[str, _Device]
    unknown_devices: dict[str, float]


_MEMBER_FIELDS = tuple(f for f in _Member.__struct_fields__ if f not in ("member_id", "incidents"))
_MEETING_FIELDS = (
    "verdict",
    "verdict_since",
    "adjourned_since",
    "adjournments",
    "vote_running",
    "vote_since",
    "agenda_item",
    "actions",
)
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Snapshot)


def _member(m: Member) -> _Member:
    fields = {f: getattr(m, f) for f in _MEMBER_FIELDS}
    if not any(m.hist):
        fields["hist"] = []  # all quiet: restored as fresh histories
    opened = [_Open(oi.incident, oi.stats) for oi in (m.incidents or {}).values()]
    return _Member(member_id=m.member_id, incidents=opened, **fields)


def take(meetings: dict[str, MeetingRt], devices: dict[str, DeviceTrack], unknown: dict[str, float]) -> bytes:
    snap = _Snapshot(
        meetings=[
            _Meeting(
                meeting_id=mid,
                members=[_member(m) for m in mt.members.values()],
                **{f: getattr(mt, f) for f in _MEETING_FIELDS},
            )
            for mid, mt in meetings.items()
        ],
        devices={
            d: _Device({b: (r[0], format(r[1], "x")) for b, r in dev.boots.items()}, dev.lag_base)
            for d, dev in devices.items()
            if dev.boots
        },
        unknown_devices=dict(unknown),
    )
    return _encoder.encode(snap)


def _boots(boots: dict[str, tuple[int, str]], window: int) -> dict[str, list[int]]:
    """The duplicate memory from a snapshot, cut to ``window`` bits; a damaged mask is forgotten
    (fewer duplicates recognised, never a failed restore)."""
    out: dict[str, list[int]] = {}
    for boot_id, (seq, mask) in boots.items():
        try:
            bits = int(mask[-((window + 3) // 4) :], 16) & ((1 << window) - 1)  # the low digits
        except ValueError:
            bits = 1
        out[boot_id] = [seq, bits | 1]
    return out


def apply(
    blob: bytes,
    meetings: dict[str, MeetingRt],
    devices: dict[str, DeviceTrack],
    unknown: dict[str, float],
    *,
    window: int = 256,
) -> None:
    """Load a snapshot onto the engine's records (meetings/members no longer on the roster are dropped)."""
    try:
        snap = _decoder.decode(blob)
    except msgspec.DecodeError as exc:
        raise ValueError(f"not an engine snapshot: {exc}") from None
    if snap.v != SNAPSHOT_VERSION:
        raise ValueError(f"engine snapshot version {snap.v} is not {SNAPSHOT_VERSION}")
    for sm in snap.meetings:
        mt = meetings.get(sm.meeting_id)
        if mt is None:
            continue
        for f in _MEETING_FIELDS:
            setattr(mt, f, getattr(sm, f))
        for smem in sm.members:
            m = mt.members.get(smem.member_id)
            if m is None:
                continue
            for f in _MEMBER_FIELDS:
                value = getattr(smem, f)
                if f == "serving" and value is None:
                    continue
                if f == "hist" and len(value) != len(m.hist):
                    continue  # all quiet, or the policy's channels changed: start the debounce afresh
                setattr(m, f, value)
            if smem.incidents:
                m.incidents = {}
                for op in smem.incidents:
                    oi = OpenIncident(op.incident)
                    oi.stats = op.stats
                    m.incidents[op.incident.kind] = oi
    for device_id, sd in snap.devices.items():
        dev = devices.get(device_id)
        if dev is not None:
            dev.boots = _boots(sd.boots, window)
            dev.lag_base = sd.lag_base
    unknown.update(snap.unknown_devices)
