"""A scripted meeting through the real engine, turned into InfluxDB points by the collector's own
point functions (collector/store/influx.py), the way collector/runtime/rows.py does it.

Kommunstyrelsen, three remote members on an injected clock (one sample a second each):
- bo's iPad is on mobile data for a while, cecilia's on a phone's hotspot (H9);
- anna's path degrades (packet loss), then her iPad goes silent: lost (H15), the chair adjourns,
  five minutes later a substitute is due (H16), and the chair resumes;
- the meeting ends and the engine closes what is open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collector.engine import (
    Action,
    ActionKind,
    Engine,
    IncidentClosed,
    IncidentOpened,
    MeetingView,
    StateChanged,
    VerdictChanged,
)
from collector.store import influx as fx
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import Meeting, Participant, Role, Roster, System

START = 1_796_112_000.0  # 2026-12-01 09:00 Europe/Stockholm
END = START + 600
BODY = "kommunstyrelsen"
MEETING_ID = "ks-2026-12-01"
MEMBERS = ("anna", "bo", "cecilia")
STATE_INTERVAL_S = 5  # [influx] state_interval_s default
ANNA_SILENT_AT = START + 60
ADJOURN_AT = START + 70
RESUME_AT = START + 390
FIRST = START - 100
LAST = END + 20


def device(member: str) -> str:
    return f"{member}-ipad"


def roster() -> Roster:
    r = Roster()
    parts = tuple(Participant(m, m.title(), Role.LEDAMOT, device(m)) for m in MEMBERS)
    r.meetings[MEETING_ID] = Meeting(MEETING_ID, BODY, START, END, "Sessionssalen", System.TEAMS, False, parts)
    for p in parts:
        r.devices[p.device_id] = p.member_id
    return r


@dataclass
class Script:
    """What was written and what the engine said, for the tests to compare against."""

    lines: list[str] = field(default_factory=list)
    changes: list[Any] = field(default_factory=list)
    views: dict[float, MeetingView] = field(default_factory=dict)  # at every periodic point
    last_sample: dict[str, wire.Sample] = field(default_factory=dict)


def _sample_fields(member: str, t: float) -> dict[str, Any]:
    i = int(t - FIRST)
    link = wire.LinkType.WIFI
    loss = 0.2
    if member == "bo" and START + 20 <= t < START + 50:
        link = wire.LinkType.WWAN
    if member == "cecilia" and START + 100 <= t < START + 115:
        link = wire.LinkType.HOTSPOT
    if member == "anna" and START + 10 <= t < START + 40:
        loss = 12.0
    return {
        "meeting_id": MEETING_ID,
        "link": link,
        "metered": link is not wire.LinkType.WIFI,
        "wifi_signal_dbm": -55.0 - i % 7,
        "wifi_signal_percent": 80.0,
        "link_rate_mbps": 400.0,
        "tx_kbps": 900.0 + i % 11,
        "rx_kbps": 1500.0,
        "battery_percent": 90.0 - i / 60,
        "battery_charging": False,
        "battery_minutes_left": 240.0 - i / 60,
        "cpu_percent": 20.0 + i % 5,
        "mem_available_percent": 50.0,
        "probe_reachable": True,
        "rtt_ms": 18.0 + i % 4,
        "jitter_ms": 2.0 + i % 3,
        "loss_percent": loss,
        "mos": 4.3 if loss < 1 else 3.1,
    }


class Runner:
    def __init__(self) -> None:
        self.engine = Engine(roster(), load_policy(), now=FIRST - 1)
        self.out = Script()
        self.seq: dict[str, int] = {}
        self._apply(self.engine.broker(True, FIRST - 1))

    # the collector's Runtime._record_changes and write_current_state, through collector/store/influx.py
    def _apply(self, changes: list[Any]) -> None:
        put = self.out.lines.append
        for ch in changes:
            self.out.changes.append(ch)
            if isinstance(ch, StateChanged):
                put(
                    fx.participant_state_line(
                        meeting_id=ch.meeting_id,
                        body=BODY,
                        member_id=ch.member_id,
                        device_id=ch.device_id,
                        state=str(ch.new),
                        lost_for_s=None,
                        substitute_in_s=None,
                        at=ch.at,
                    )
                    or ""
                )
            elif isinstance(ch, VerdictChanged):
                put(
                    fx.meeting_verdict_line(
                        meeting_id=ch.meeting_id,
                        body=BODY,
                        verdict=str(ch.new),
                        adjourned=str(ch.new) == "adjourn",
                        at=ch.at,
                    )
                    or ""
                )
            elif isinstance(ch, IncidentOpened):
                put(fx.incident_line(ch.incident, event="opened", at=ch.incident.started_at) or "")
            elif isinstance(ch, IncidentClosed):
                at = ch.incident.ended_at if ch.incident.ended_at is not None else ch.incident.started_at
                put(fx.incident_line(ch.incident, event="closed", at=at) or "")

    def _periodic(self, now: float) -> None:
        view = self.engine.view(MEETING_ID, now)
        assert view is not None
        self.out.views[now] = view
        put = self.out.lines.append
        put(
            fx.meeting_verdict_line(
                meeting_id=MEETING_ID,
                body=view.body,
                verdict=str(view.verdict),
                adjourned=view.adjourned_since is not None,
                at=now,
            )
            or ""
        )
        for p in view.participants:
            lost_for = now - p.lost_since if p.lost_since is not None else None
            put(
                fx.participant_state_line(
                    meeting_id=MEETING_ID,
                    body=view.body,
                    member_id=p.member_id,
                    device_id=p.device_id,
                    state=str(p.state),
                    lost_for_s=lost_for,
                    substitute_in_s=p.substitute_in_s,
                    at=now,
                )
                or ""
            )

    def _sample(self, member: str, t: float) -> None:
        dev = device(member)
        seq = self.seq[dev] = self.seq.get(dev, -1) + 1
        msg = wire.Sample(device_id=dev, boot_id="b1", seq=seq, ts=t - 0.2, **_sample_fields(member, t))
        _, changes = self.engine.ingest(msg, t)
        line = fx.sample_line(msg, member_id=member, body=BODY, at=t)
        assert line is not None
        self.out.lines.append(line)
        self.out.last_sample[member] = msg
        self._apply(changes)

    def run(self, actions: dict[float, Callable[[float], Action]]) -> Script:
        t = FIRST
        while t <= LAST:
            for member in MEMBERS:
                if member == "anna" and t >= ANNA_SILENT_AT:
                    continue
                if t <= END:
                    self._sample(member, t)
            if t in actions:
                self._apply(self.engine.act(actions[t](t)))
            self._apply(self.engine.tick(t))
            if int(t) % STATE_INTERVAL_S == 0:
                self._periodic(t)
            t += 1
        self.out.lines = [ln for ln in self.out.lines if ln]
        return self.out


def scripted_meeting() -> Script:
    return Runner().run(
        {
            ADJOURN_AT: lambda t: Action(meeting_id=MEETING_ID, kind=ActionKind.ADJOURN, at=t, by="ordförande"),
            RESUME_AT: lambda t: Action(meeting_id=MEETING_ID, kind=ActionKind.RESUME, at=t, by="ordförande"),
        }
    )
