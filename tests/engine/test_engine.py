"""The Engine holding state: outcomes, duplicates, late samples, roster changes, per-body policy,
actions, media path, snapshot/restore, and JSON encoding of everything it returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from collector.engine import (
    Action,
    ActionKind,
    Engine,
    IncidentClosed,
    IncidentOpened,
    IngestOutcome,
    ParticipantState,
    StateChanged,
    Verdict,
    VerdictChanged,
)
from likavillkor import wire
from likavillkor.policy import PolicySet, load_policy
from likavillkor.roster import Participant, Role

from .conftest import END, START, Feeder, roster

Make = Callable[..., tuple[Engine, Feeder]]


def test_unknown_device_is_reported_never_accepted_h12(make: Make) -> None:
    engine, feed = make("anna", extra_devices=("spare-ipad",))
    assert feed.sample("stranger", START) == "unknown_device"
    assert engine.unknown_devices == {"stranger": START}
    assert feed.sample("spare-ipad", START) == "no_meeting"  # known device, in no meeting
    assert feed.sample("anna-ipad", START - 4000) == "no_meeting"  # before the window opens
    assert feed.sample("anna-ipad", END + 1) == "no_meeting"  # after the end
    assert feed.sample("anna-ipad", START) == "accepted"


def test_duplicates_and_out_of_order(make: Make) -> None:
    engine, feed = make("anna")
    msgs = [feed.msg("anna-ipad", START + i, link=wire.LinkType.WIFI) for i in range(5)]
    assert [str(engine.ingest(m, START + i)[0]) for i, m in enumerate(msgs[:3])] == ["accepted"] * 3
    assert engine.ingest(msgs[4], START + 4)[0] is IngestOutcome.ACCEPTED
    assert engine.ingest(msgs[3], START + 4.5)[0] is IngestOutcome.LATE  # overtaken
    assert engine.ingest(msgs[3], START + 4.6)[0] is IngestOutcome.DUPLICATE
    assert engine.ingest(msgs[1], START + 4.7)[0] is IngestOutcome.DUPLICATE
    # a new boot starts a new sequence
    reboot = wire.Sample(device_id="anna-ipad", boot_id="b2", seq=0, ts=START + 6)
    assert engine.ingest(reboot, START + 6)[0] is IngestOutcome.ACCEPTED


def test_late_samples_never_flip_a_verdict(make: Make) -> None:
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 1000, START + 30, rtt_ms=20.0)
    before = engine.view("ks-1", START + 30)
    assert before is not None and before.verdict is Verdict.EQUAL_TERMS
    # a replay of old, awful samples from the outbox (device time 20 minutes back)
    for i in range(10):
        msg = feed.msg("anna-ipad", START - 1200 + i, link=wire.LinkType.WWAN, loss_percent=80.0)
        outcome, changes = engine.ingest(msg, START + 30 + i * 0.01)
        assert outcome is IngestOutcome.LATE and changes == []
    after = engine.view("ks-1", START + 31)
    assert after is not None and after.verdict is Verdict.EQUAL_TERMS
    assert after.participants[0].state is ParticipantState.OK


def test_view_and_changes_encode_to_json(make: Make) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 1000, START + 10, rtt_ms=20.0)
    feed.run(["anna-ipad"], START + 10, START + 30, rtt_ms=20.0)
    view = engine.view("ks-1", START + 30)
    assert view is not None
    data = msgspec.json.decode(msgspec.json.encode(view))
    assert data["verdict"] == "adjourn"
    bo = next(p for p in data["participants"] if p["member_id"] == "bo")
    assert bo["state"] == "lost" and bo["reason"]["code"] == "no_contact"
    assert bo["substitute_in_s"] == 279.0  # lost since +9 s: due at 309, now 30
    tags = {msgspec.json.decode(msgspec.json.encode(c)).get("type") for c in feed.changes}
    assert {"state", "verdict", "incident_opened"} <= tags
    assert engine.view("nope", START) is None
    assert engine.meeting_ids() == ["ks-1"]
    assert engine.meetings_for_device("bo-ipad") == ["ks-1"] and engine.meetings_for_device("x") == []


def test_incident_ids_are_deterministic(make: Make) -> None:
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 100, START + 10)
    feed.run([], START + 10, START + 20)
    opened = [c.incident for c in feed.changes if isinstance(c, IncidentOpened)]
    assert [i.id for i in opened] == [f"ks-1:anna:connection_lost:{int((START + 9) * 1000)}"]
    assert engine.open_incidents()[0].id == opened[0].id


def test_per_body_policy(tmp_path: Path) -> None:
    f = tmp_path / "policy.toml"
    f.write_text('[bodies."socialnämnden".limits.rtt_ms]\ndirection = "above"\nwarn = 10.0\nfail = 500.0\n')
    policies = load_policy(f)
    r = roster("anna", body="kommunstyrelsen", meeting_id="ks-1")
    r2 = roster("bo", body="socialnämnden", meeting_id="sn-1")
    r.meetings.update(r2.meetings)
    r.devices.update(r2.devices)
    engine = Engine(r, policies, now=START - 1000)
    feed = Feeder(engine)
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 20, rtt_ms=40.0)
    ks, sn = engine.view("ks-1", START + 20), engine.view("sn-1", START + 20)
    assert ks is not None and sn is not None
    assert ks.verdict is Verdict.EQUAL_TERMS
    assert sn.verdict is Verdict.AT_RISK and sn.participants[0].reason is not None
    assert sn.participants[0].reason.sv == "svarstid 40 ms"


def test_set_roster_keeps_state_and_closes_removed(make: Make) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10, loss_percent=30.0)
    assert {i.member_id for i in engine.open_incidents()} == {"anna", "bo"}
    changes = engine.set_roster(roster("anna"), START + 11)
    closed = [c.incident for c in changes if isinstance(c, IncidentClosed)]
    assert [i.member_id for i in closed] == ["bo"] and closed[0].ended_at == START + 11
    view = engine.view("ks-1", START + 11)
    assert view is not None and [p.state for p in view.participants] == [ParticipantState.FAILING]
    assert engine.ingest(feed.msg("bo-ipad", START + 12), START + 12)[0] is IngestOutcome.UNKNOWN_DEVICE


def test_media_path_result(make: Make) -> None:
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 100, START + 5)
    changes = engine.record_mediapath("anna-ipad", None, {"ok": False, "detail": "no audio"}, START + 5)
    assert any(isinstance(c, StateChanged) and c.new is ParticipantState.FAILING for c in changes)
    view = engine.view("ks-1", START + 5)
    # an older shape is decoded into the one typed result (PathReport) at the edge (docs/wire.md)
    assert view is not None and view.participants[0].mediapath is not None
    shown = view.participants[0].mediapath
    assert (shown["verdict"], shown["direction"], shown["reason"]) == ("poor", "up", "no audio")
    assert engine.record_mediapath("nobody", None, {"ok": False}, START + 6) == []


def test_actions_are_recorded_with_time_and_who(make: Make) -> None:
    engine, _ = make("anna")
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.ITEM_START, at=START + 1, by="sekreterare", item="§ 3"))
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.VOTE_START, at=START + 2, by="ordförande"))
    with pytest.raises(ValueError, match="needs member_id"):
        engine.act(Action(meeting_id="ks-1", kind=ActionKind.EXCUSE, at=START + 3, by="sekreterare"))
    acts = engine.actions("ks-1")
    assert [(a.kind, a.at, a.by) for a in acts] == [
        (ActionKind.ITEM_START, START + 1, "sekreterare"),
        (ActionKind.VOTE_START, START + 2, "ordförande"),
    ]
    view = engine.view("ks-1", START + 3)
    assert view is not None and view.vote_running and view.agenda_item == "§ 3"
    assert engine.actions("nope") == []


def test_snapshot_restore_round_trip(make: Make, policies: Any) -> None:
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 60, loss_percent=5.0)
    feed.run(["bo-ipad"], START + 60, START + 100, loss_percent=5.0)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.ADJOURN, at=START + 70, by="ordförande"))
    blob = engine.snapshot()
    assert len(blob) < 4000
    fresh = Engine(roster("anna", "bo"), policies, now=START + 200)
    fresh.restore(blob, START + 200)
    assert sorted((i.id, i.started_at) for i in fresh.open_incidents()) == sorted(
        (i.id, i.started_at) for i in engine.open_incidents()
    )
    assert fresh.actions("ks-1") == engine.actions("ks-1")
    v = fresh.view("ks-1", START + 201)
    assert v is not None and v.adjourned_since == START + 70
    anna = next(p for p in v.participants if p.member_id == "anna")
    assert anna.state is ParticipantState.LOST and anna.lost_since == START + 59
    assert anna.substitute_in_s == pytest.approx(300 - (201 - 59))
    # the debounce continues: bo's raised alarm survives the restart
    bo = next(p for p in v.participants if p.member_id == "bo")
    assert bo.state is ParticipantState.DEGRADED
    # the duplicate memory survives too
    old = wire.Sample(device_id="bo-ipad", boot_id="b1", seq=5, ts=START - 95)
    assert fresh.ingest(old, START + 202)[0] is IngestOutcome.DUPLICATE
    with pytest.raises(ValueError, match="not an engine snapshot"):
        fresh.restore(b"\x00garbage", START + 300)


def test_meeting_end_closes_incidents(make: Make) -> None:
    engine, feed = make("anna", end=START + 60)
    feed.run(["anna-ipad"], START - 100, START + 30, link=wire.LinkType.WWAN)
    changes = engine.tick(START + 61)
    closed = [c.incident for c in changes if isinstance(c, IncidentClosed)]
    assert closed and all(i.ended_at == START + 60 for i in closed)
    assert any(isinstance(c, VerdictChanged) and c.new is Verdict.ENDED for c in changes)
    assert engine.open_incidents() == []
    assert engine.tick(START + 62) == []


def test_media_path_report_verdicts_per_direction(make: Make) -> None:
    """``likavillkor.media.report.PathReport`` dicts: good/degraded/poor/failed per direction (H1)."""
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 1000, START + 5)

    def state_after(result: dict[str, Any]) -> tuple[ParticipantState, str | None]:
        engine.record_mediapath("anna-ipad", "ks-1", result, START + 6)
        view = engine.view("ks-1", START + 6)
        assert view is not None
        p = view.participants[0]
        return p.state, p.reason.code if p.reason else None

    assert state_after({"direction": "up", "verdict": "degraded"}) == (ParticipantState.DEGRADED, "media_path_degraded")
    assert state_after({"direction": "down", "verdict": "poor", "reason": "no video"}) == (
        ParticipantState.FAILING,
        "media_path_failed",
    )
    assert state_after({"direction": "down", "verdict": "good"}) == (ParticipantState.DEGRADED, "media_path_degraded")
    assert state_after({"direction": "up", "verdict": "good"}) == (ParticipantState.OK, "ok")
    # a result that says nothing is refused with a clear error, and changes nothing
    with pytest.raises(ValueError, match="media path result"):
        engine.record_mediapath("anna-ipad", "ks-1", {"direction": "up", "something": "else"}, START + 6)
    view = engine.view("ks-1", START + 6)
    assert view is not None and view.participants[0].state is ParticipantState.OK


def test_planned_absence_is_not_a_loss_h18(make: Make) -> None:
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 1000, START + 10)
    engine.act(
        Action(meeting_id="ks-1", kind=ActionKind.EXCUSE, at=START + 10, by="sekreterare", member_id="anna", item="§ 4")
    )
    # her tablet disconnects while she is out: the last will is no failure
    outcome, _ = engine.ingest(
        feed.msg("anna-ipad", START + 11, kind=wire.Status, state=wire.DeviceState.OFFLINE, reason="will"), START + 11
    )
    assert outcome is IngestOutcome.ACCEPTED
    feed.run([], START + 11, START + 600)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.RETURN, at=START + 600, by="sekreterare", member_id="anna"))
    view = engine.view("ks-1", START + 604)
    assert view is not None and view.participants[0].state is ParticipantState.OK  # a fresh grace
    view = engine.view("ks-1", START + 606)
    assert view is not None and view.participants[0].state is ParticipantState.LOST
    assert view.participants[0].lost_since == START + 600
    assert view.participants[0].substitute_in_s == 294.0  # not replaced at once


def test_replays_at_one_device_time_stay_late(make: Make) -> None:
    """Several old messages with the same device time (a sample, a self-test, a status) are a
    replay, not a device clock that was reset: they all stay LATE."""
    engine, feed = make("anna")
    feed.run(["anna-ipad"], START - 1000, START + 10)
    outcomes = [
        engine.ingest(feed.msg("anna-ipad", START - 600, loss_percent=90.0), START + 10 + k * 0.01)[0] for k in range(6)
    ]
    assert outcomes == [IngestOutcome.LATE] * 6
    # a clock that really jumped: the device time advances with the collector's, offset steady
    jumped = [engine.ingest(feed.msg("anna-ipad", START - 589 + k), START + 11 + k)[0] for k in range(4)]
    assert jumped == [IngestOutcome.LATE, IngestOutcome.LATE, IngestOutcome.ACCEPTED, IngestOutcome.ACCEPTED]


def test_every_state_has_a_reason_in_both_languages(make: Make) -> None:
    engine, feed = make("anna", "bo", "cecilia", "david", "eva")
    seen: set[ParticipantState] = set()

    def look(now: float) -> None:
        view = engine.view("ks-1", now)
        assert view is not None and view.reasons
        for p in view.participants:
            assert p.reason is not None and p.reason.sv and p.reason.en, (p.member_id, p.state)
            assert p.reason is p.reasons[0]
            seen.add(p.state)

    look(START - 1000)  # expected
    feed.run(["anna-ipad", "bo-ipad", "cecilia-ipad", "david-ipad"], START - 1000, START - 990)
    engine.ingest(
        feed.msg(
            "anna-ipad",
            START - 989,
            kind=wire.SelftestResult,
            overall=wire.CheckStatus.PASS,
            started_at=START - 999,
            duration_s=10,
            checks=[],
        ),
        START - 989,
    )
    look(START - 989)  # connected, ready
    feed.run(["anna-ipad", "cecilia-ipad", "david-ipad"], START - 990, START + 10, rtt_ms=20.0)
    feed.run(["anna-ipad", "cecilia-ipad", "david-ipad"], START + 10, START + 20, rtt_ms=200.0)
    for t in range(20, 30):
        feed.sample("anna-ipad", START + t, loss_percent=25.0)
        feed.sample("cecilia-ipad", START + t)
        feed.sample("david-ipad", START + t, rtt_ms=200.0)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.EXCUSE, at=START + 30, by="s", member_id="cecilia"))
    look(START + 30)  # failing, lost, excused, degraded
    feed.run(["anna-ipad", "david-ipad"], START + 30, START + 400, rtt_ms=20.0)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.LEFT, at=START + 400, by="s", member_id="anna"))
    look(START + 400)  # left, replaced, ok
    assert seen == set(ParticipantState) - {ParticipantState.NOT_MONITORED}  # tests/engine/test_monitoring.py


def test_a_loss_between_ticks_is_still_recorded_h15(make: Make) -> None:
    _, feed = make("anna")
    feed.run(["anna-ipad"], START - 1000, START + 10)
    # no tick for 8 s of silence, then the tablet is back
    feed.changes.clear()
    feed.sample("anna-ipad", START + 18)
    states = [(c.old, c.new) for c in feed.changes if isinstance(c, StateChanged)]
    assert states == [(ParticipantState.OK, ParticipantState.LOST), (ParticipantState.LOST, ParticipantState.OK)]
    closed = [c.incident for c in feed.changes if isinstance(c, IncidentClosed)]
    assert [(i.kind, i.started_at, i.ended_at) for i in closed] == [("connection_lost", START + 9, START + 18)]


def test_unknown_devices_are_bounded(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    import collector.engine.engine as engine_module

    monkeypatch.setattr(engine_module, "_MAX_UNKNOWN", 3)
    engine, feed = make("anna")
    for i in range(5):
        assert feed.sample(f"stranger-{i}", START + i) == "unknown_device"
    feed.sample("stranger-2", START + 10)
    assert list(engine.unknown_devices) == ["stranger-3", "stranger-4", "stranger-2"]


def test_substitute_and_serving_survive_a_restart_and_a_non_serving_ersattare_is_no_vote_risk(
    policies: PolicySet,
) -> None:
    """H16 roles (issue 11): who serves, who stepped in for whom, and a five-minute 'left' survive a
    snapshot; an ersättare who does not serve takes no part in a vote (H5: no vote_risk)."""
    r = roster("anna", "bo")
    ks = r.meetings["ks-1"]
    fatima = Participant("fatima", "Fatima Said", Role.ERSATTARE, "fatima-ipad", serving=False)
    r.meetings["ks-1"] = dataclasses.replace(ks, participants=(*ks.participants, fatima))
    r.devices["fatima-ipad"] = "fatima"
    engine = Engine(r, policies, now=START - 1800)
    feed = Feeder(engine)
    feed.run(["anna-ipad", "bo-ipad", "fatima-ipad"], START - 100, START + 10)
    feed.run(["bo-ipad", "fatima-ipad"], START + 10, START + 320)
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.VOTE_START, at=START + 320, by="ordf"))
    for t in range(320, 330):
        feed.sample("bo-ipad", START + t)
        feed.sample("fatima-ipad", START + t, loss_percent=30.0)  # failing, but she does not vote
    view = engine.view("ks-1", START + 330)
    assert view is not None
    parts = {p.member_id: p for p in view.participants}
    assert parts["fatima"].state is ParticipantState.FAILING and "vote_risk" not in parts["fatima"].flags
    assert parts["anna"].state is ParticipantState.REPLACED and "vote_risk" in parts["anna"].flags
    engine.act(Action(meeting_id="ks-1", kind=ActionKind.VOTE_END, at=START + 331, by="ordf"))
    engine.act(
        Action(
            meeting_id="ks-1",
            kind=ActionKind.SUBSTITUTE,
            at=START + 332,
            by="ordf",
            member_id="anna",
            substitute_id="fatima",
        )
    )
    blob = engine.snapshot()
    again = Engine(r, policies, now=START + 333)
    again.restore(blob, START + 333)
    view = again.view("ks-1", START + 333)
    assert view is not None
    parts = {p.member_id: p for p in view.participants}
    assert parts["fatima"].serving and parts["fatima"].substitute_for == "anna"
    assert not parts["anna"].serving and parts["anna"].substituted_by == "fatima"
    assert any("Fatima Said" in x.sv for x in parts["anna"].reasons)


def test_without_contact_clock_stops_when_the_member_is_back(make: Make) -> None:
    """Issue 11: the chair's *Utan kontakt* clock (the view's lost_since) stops when the device is
    heard again, also for a replaced member who may not return (H16)."""
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10)
    feed.run(["bo-ipad"], START + 10, START + 320)
    view = engine.view("ks-1", START + 320)
    assert view is not None and view.participants[0].state is ParticipantState.REPLACED
    assert view.participants[0].lost_since == START + 9
    feed.sample("anna-ipad", START + 321)
    view = engine.view("ks-1", START + 322)
    assert view is not None and view.participants[0].state is ParticipantState.REPLACED
    assert view.participants[0].lost_since is None and "may_not_return" in view.participants[0].flags


def test_signed_probes_are_evidence_of_life_and_a_cut_is_seen_within_their_silence_limit(make: Make) -> None:
    """Issue 11: a device whose signed probes reach the reflector is lost after
    probe_silence_lost_s (1.2 s) of silence, not silence_lost_s (5 s); one without probes keeps 5 s;
    a probe brings contact back."""
    engine, feed = make("anna", "bo")
    feed.run(["anna-ipad", "bo-ipad"], START - 100, START + 10)
    feed.run(["anna-ipad", "bo-ipad"], START + 10, START + 19)
    for k in range(100):  # ten probes a second for Anna, on top of her samples
        engine.probe_alive("anna-ipad", START + 9 + k / 10)
    # the link is cut at START + 18.9: Anna's probes and samples stop, so do Bo's samples
    states = {}
    for t in (START + 19.9, START + 20.2, START + 22.5, START + 25.0):
        engine.tick(t)
        view = engine.view("ks-1", t)
        assert view is not None
        states[round(t - START, 1)] = {p.member_id: str(p.state) for p in view.participants}
    assert states[19.9] == {"anna": "ok", "bo": "ok"}
    assert states[20.2] == {"anna": "lost", "bo": "ok"}  # 1.3 s after her last probe
    assert states[22.5]["bo"] == "ok" and states[25.0]["bo"] == "lost"  # over 5 s after his last sample
    engine.probe_alive("anna-ipad", START + 25.5)
    view = engine.view("ks-1", START + 25.6)
    assert view is not None and str(view.participants[0].state) == "ok"
    # a device on no roster proves nothing
    assert engine.probe_alive("stranger", START + 26) == []
