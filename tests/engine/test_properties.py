"""Random event sequences through the engine: it never crashes, its incremental state agrees with
the pure view at every tick, nobody replaced comes back (H16), and duplicates change nothing."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.engine import Action, ActionKind, Engine, IngestOutcome, ParticipantState, StateChanged
from likavillkor import wire
from likavillkor.policy import load_policy

from .conftest import START, roster

POLICIES = load_policy()
DEVICES = ["anna-ipad", "bo-ipad", "cecilia-ipad"]
ENC = msgspec.json.Encoder()

sample_fields = st.fixed_dictionaries(
    {},
    optional={
        "link": st.sampled_from(list(wire.LinkType)),
        "rtt_ms": st.floats(0, 2000),
        "loss_percent": st.floats(0, 100),
        "jitter_ms": st.floats(0, 200),
        "mos": st.floats(1, 5),
        "battery_percent": st.floats(0, 100),
        "battery_charging": st.booleans(),
        "battery_lasts_meeting": st.booleans(),
        "camera": st.sampled_from(["ok", "in_use", "black", "frozen", "no_face", "weird"]),
        "microphone": st.sampled_from(["ok", "silent", "dead", "clipping"]),
    },
)

event = st.one_of(
    st.tuples(st.just("sample"), st.sampled_from(DEVICES), sample_fields, st.integers(-3, 2)),
    st.tuples(st.just("offline"), st.sampled_from(DEVICES), st.sampled_from(["will", "shutdown"])),
    st.tuples(st.just("wait"), st.floats(0.1, 120)),
    st.tuples(st.just("act"), st.sampled_from(list(ActionKind)), st.sampled_from(["anna", "bo", "cecilia", None])),
    st.tuples(st.just("broker"), st.booleans()),
    st.tuples(st.just("media"), st.sampled_from(DEVICES), st.sampled_from(["good", "degraded", "poor"])),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, min_size=20, max_size=150), st.floats(-1000, 200))
def test_random_sequences_keep_the_invariants(events: list[tuple[Any, ...]], begin: float) -> None:
    engine = Engine(roster("anna", "bo", "cecilia"), POLICIES, now=START + begin - 1)
    now = START + begin
    seq: dict[str, int] = {}
    replaced: set[str] = set()
    for ev in events:
        changes: list[Any] = []
        if ev[0] == "sample":
            _, device, fields, seq_step = ev
            seq[device] = max(0, seq.get(device, 0) + seq_step)
            msg = wire.Sample(device_id=device, boot_id="b", seq=seq[device], ts=now, **fields)
            outcome, changes = engine.ingest(msg, now)
            if outcome is IngestOutcome.DUPLICATE:
                assert changes == []
        elif ev[0] == "offline":
            seq[ev[1]] = seq.get(ev[1], 0) + 1
            msg2 = wire.Status(
                device_id=ev[1], boot_id="b", seq=seq[ev[1]], ts=now, state=wire.DeviceState.OFFLINE, reason=ev[2]
            )
            _, changes = engine.ingest(msg2, now)
        elif ev[0] == "wait":
            now += ev[1]
            changes = engine.tick(now)
            view = engine.view("ks-1", now)
            assert view is not None
            # the state the engine holds after a tick is the state the pure view computes
            held = {m.member_id: m.state for m in engine._meetings["ks-1"].members.values()}
            if view.verdict.value != "ended":
                assert {p.member_id: p.state for p in view.participants} == held
                assert view.verdict is engine._meetings["ks-1"].verdict
            ENC.encode(view)
        elif ev[0] == "act":
            try:
                changes = engine.act(Action(meeting_id="ks-1", kind=ev[1], at=now, by="x", member_id=ev[2], item="§ 1"))
            except ValueError as exc:
                assert str(exc)
        elif ev[0] == "broker":
            changes = engine.broker(ev[1], now)
        elif ev[0] == "media":
            changes = engine.record_mediapath(ev[1], "ks-1", {"verdict": ev[2]}, now)
        # one verdict (issue 13): the banner, even looked at before the next tick, is the stored one
        ahead = engine.view("ks-1", now + 0.5)
        assert ahead is not None and ahead.verdict is engine._meetings["ks-1"].verdict
        for ch in changes:
            ENC.encode(ch)
            if isinstance(ch, StateChanged):
                if ch.member_id in replaced:
                    assert ch.new is ParticipantState.REPLACED, "H16: a replaced member may not return"
                if ch.new is ParticipantState.REPLACED:
                    replaced.add(ch.member_id)
    blob = engine.snapshot()
    again = Engine(roster("anna", "bo", "cecilia"), POLICIES, now=now)
    again.restore(blob, now)
    assert again.snapshot() == blob
