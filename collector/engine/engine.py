"""The Engine: holds the state of every meeting and participant and applies the pure decisions.

It does no I/O and never reads the clock: every call gets the collector's time (``received_at``,
``now``, ``at``). It returns the changes (:data:`Change`) for the I/O layer to persist, write to
InfluxDB and push to the live view. See ``docs/engine.md``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from collector.engine import incidents as inc_
from collector.engine.debounce import Judge
from collector.engine.decide import (
    Assessment,
    Monitor,
    Phase,
    Standing,
    at_vote_risk,
    awaiting_fresh,
    lost_since,
    meeting_phase,
    meeting_verdict,
    participant_flags,
    participant_reasons,
    participant_state,
    tainted,
)
from collector.engine.state import DeviceTrack, MeetingRt, Member, OpenIncident
from collector.engine.types import (
    Action,
    ActionKind,
    ActionRecorded,
    Change,
    Incident,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    IngestOutcome,
    MeetingView,
    ParticipantState,
    ParticipantView,
    Reason,
    SelftestSummary,
    StateChanged,
    Verdict,
    VerdictChanged,
)
from likavillkor import wire
from likavillkor.policy import Policy, PolicySet
from likavillkor.roster import Roster

PS = ParticipantState
_MAX_BOOTS = 4  # boots per device remembered for duplicates
_MAX_UNKNOWN = 10_000  # unknown devices remembered (H12), most recently seen kept
_STABLE_LAGS = 3  # consecutive "late" messages with a steady clock offset = the device clock was reset
_QUIET = frozenset({PS.OK, PS.READY, PS.CONNECTED})


def _copy(incident: Incident) -> Incident:
    return msgspec.structs.replace(incident, metrics=dict(incident.metrics))


_MEDIA_LEVELS = {"good": 0, "pass": 0, "ok": 0, "passed": 0, "degraded": 1, "warn": 1, "poor": 2, "fail": 2,
                 "failed": 2, "error": 2}


def media_level(result: dict[str, Any]) -> int | None:
    """Read a media path check result (``likavillkor.media.report.PathReport`` as a dict: ``verdict``
    good/degraded/poor/failed; or ``{"ok": bool}``, ``{"status": "pass"|"fail"}``): 0 fine, 1 warning,
    2 failure, None when it says nothing."""
    ok = result.get("ok")
    if isinstance(ok, bool):
        return 0 if ok else 2
    for key in ("verdict", "status", "overall"):
        level = _MEDIA_LEVELS.get(str(result.get(key, "")).lower())
        if level is not None:
            return level
    return None


class Engine:
    """Equal-terms engine (issue 5). One instance per collector; not thread-safe."""

    def __init__(self, roster: Roster, policies: PolicySet, *, now: float) -> None:
        self._policies = policies
        self._judges: dict[int, Judge] = {}
        self._meetings: dict[str, MeetingRt] = {}
        self._devices: dict[str, DeviceTrack] = {}
        self._known: dict[str, str | None] = {}
        self._monitor = Monitor()
        self._dedupe_window = policies.defaults.dedupe_window
        self._dedupe_mask = (1 << self._dedupe_window) - 1
        self._late_after_s = policies.defaults.late_after_s
        self.unknown_devices: dict[str, float] = {}
        self.set_roster(roster, now)

    # ------------------------------------------------------------------ roster
    def _judge(self, policy: Policy) -> Judge:
        j = self._judges.get(id(policy))
        if j is None:
            j = self._judges[id(policy)] = Judge(policy)
        return j

    def set_roster(self, roster: Roster, now: float) -> list[Change]:
        """Replace the roster. Members on both keep their state; removed ones close their incidents."""
        out: list[Change] = []
        old = self._meetings
        self._meetings = {}
        for mid, meeting in roster.meetings.items():
            policy = self._policies.for_meeting(str(meeting.system), meeting.body)
            judge = self._judge(policy)
            prev = old.pop(mid, None)
            mt = MeetingRt(meeting, policy, judge, now)
            if prev is not None:
                for attr in ("verdict", "verdict_since", "adjourned_since", "adjournments",
                             "vote_running", "vote_since", "agenda_item", "actions"):
                    setattr(mt, attr, getattr(prev, attr))
                for member_id, m in mt.members.items():
                    pm = prev.members.pop(member_id, None)
                    if pm is not None:
                        pm.name, pm.role, pm.device_id = m.name, m.role, m.device_id
                        if pm.monitoring != m.monitoring:  # watched another way from now: a fresh grace
                            pm.monitoring, pm.companion_open = m.monitoring, False
                            if pm.first_contact is not None and pm.lost_since is None:
                                pm.returned_at = now
                        # serving from the roster, or since stepping in (H16); a replaced one no more
                        pm.serving = (m.serving or pm.substitute_for is not None) and pm.handled_at is None
                        if prev.judge is not judge:  # another policy: other channels, debounce afresh
                            pm.hist, pm.warn_up, pm.fail_up, pm.bad = judge.fresh(), 0, 0, {}
                        mt.members[member_id] = pm
                for pm in prev.members.values():
                    self._close_all(prev, pm, now, out)
            self._meetings[mid] = mt
        for prev in old.values():
            for pm in prev.members.values():
                self._close_all(prev, pm, now, out)
        self._known = dict(roster.devices)
        for mt in self._meetings.values():
            for m in mt.members.values():
                self._known.setdefault(m.device_id, m.member_id)
        for dev in self._devices.values():
            dev.members = []
        for mt in self._meetings.values():
            for m in mt.members.values():
                m.open_from = mt.meeting.start - mt.policy.watch_before_s
                m.open_until = mt.meeting.end
                self._track(m.device_id).members.append(m)
        for mt in self._meetings.values():
            self._refresh_meeting(mt, now, out)
        return out

    def _track(self, device_id: str) -> DeviceTrack:
        dev = self._devices.get(device_id)
        if dev is None:
            dev = self._devices[device_id] = DeviceTrack()
        return dev

    # ------------------------------------------------------------------ ingest
    def ingest(self, msg: wire.Message, received_at: float) -> tuple[IngestOutcome, list[Change]]:
        """Apply one validated message. Liveness uses ``received_at`` (the collector's clock) only."""
        dev = self._devices.get(msg.device_id)
        if dev is None or not dev.members:
            if msg.device_id not in self._known:
                unknown = self.unknown_devices
                unknown.pop(msg.device_id, None)
                unknown[msg.device_id] = received_at
                if len(unknown) > _MAX_UNKNOWN:
                    del unknown[next(iter(unknown))]  # bounded: the longest unseen goes first
                return IngestOutcome.UNKNOWN_DEVICE, []
            dev = self._track(msg.device_id)
        fresh = self._fresh(dev, msg, received_at)
        if fresh is None:
            return IngestOutcome.DUPLICATE, []
        members = [m for m in dev.members if m.open_from <= received_at < m.open_until]
        if not members:
            return IngestOutcome.NO_MEETING, []
        out: list[Change] = []
        outcome = IngestOutcome.ACCEPTED if fresh else IngestOutcome.LATE
        for m in members:
            self._apply(self._meetings[m.meeting_id], m, msg, received_at, fresh, out)
        return outcome, out

    @staticmethod
    def _window_open(m: Member, t: float) -> bool:
        return m.open_from <= t < m.open_until

    def _fresh(self, dev: DeviceTrack, msg: wire.Message, received_at: float) -> bool | None:
        """True: live; False: late (out of order or an outbox replay); None: a duplicate."""
        if type(msg) is wire.Status and msg.state is wire.DeviceState.OFFLINE and msg.reason == "will":
            return self._will_fresh(dev, msg, received_at)
        seq = msg.seq
        # status messages number their own series (from 2**52, agent.identity): kept apart, or the
        # first status would put every later sample of the boot "out of order", hence late
        key = msg.boot_id + "/status" if type(msg) is wire.Status else msg.boot_id
        rec = dev.boots.get(key)
        in_order = True
        if rec is None:
            dev.boots[key] = [seq, 1]
            if len(dev.boots) > _MAX_BOOTS:
                del dev.boots[next(iter(dev.boots))]
        elif seq > rec[0]:
            # bounded whatever the jump: a seq far ahead (up to 2**53) starts a fresh window
            jump = seq - rec[0]
            rec[1] = ((rec[1] << jump) | 1) & self._dedupe_mask if jump < self._dedupe_window else 1
            rec[0] = seq
        else:
            d = rec[0] - seq
            if d < self._dedupe_window:
                bit = 1 << d
                if rec[1] & bit:
                    return None
                rec[1] |= bit
            in_order = False
        # An outbox replay is in order by seq but old: its device time lags the device's usual offset.
        lag = received_at - msg.ts
        base = dev.lag_base
        if base is None or lag <= base:
            dev.lag_base = lag
            dev.last_lag = None
            return in_order
        if lag - base <= self._late_after_s:
            dev.lag_base = base + 0.05 * (lag - base)
            dev.last_lag = None
            return in_order
        # Late by the clock. A steady new offset over a few messages whose device time advances is a
        # reset device clock, not a replay (a replay arrives faster than its device time advances).
        last = dev.last_lag
        if last is not None and abs(lag - last[0]) < 0.5 and msg.ts > last[2]:
            count = last[1] + 1
            if count >= _STABLE_LAGS:
                dev.lag_base = lag
                dev.last_lag = None
                return in_order
            dev.last_lag = (lag, count, msg.ts)
        elif last is None or msg.ts > last[2]:
            dev.last_lag = (lag, 1, msg.ts)
        return False

    def _will_fresh(self, dev: DeviceTrack, msg: wire.Message, received_at: float) -> bool:
        """A last will is composed when the agent connects and published by the broker when the
        connection drops (H15): its ``seq`` and ``ts`` are those of the connect, so neither the seq
        series nor the device-clock lag can date it, and every session of a boot carries the same
        will (the same ``msg_id``). The broker sends it the moment it notices the loss, so it is
        live on arrival, unless a newer boot of the device has been heard since (an agent restart
        whose old session's will the broker publishes late), or it comes within the reconnect grace
        after the collector regained its broker or its own gap: a restarted broker publishes the
        wills of the sessions it restored, and a (re)subscription delivers retained ones, none of
        them a loss seen now (silence after the grace still is; bench_false_alarms --faults)."""
        grace = self._monitor.grace_from
        if grace is not None and received_at < grace + self._policies.defaults.reconnect_grace_s:
            return False
        keys = list(dev.boots)
        own = [i for i, k in enumerate(keys) if k.split("/", 1)[0] == msg.boot_id]
        return not own or all(k.split("/", 1)[0] == msg.boot_id for k in keys[own[-1] + 1:])

    def _apply(self, mt: MeetingRt, m: Member, msg: wire.Message, t: float, fresh: bool,
               out: list[Change]) -> None:
        changed = False
        is_status = type(msg) is wire.Status
        offline = is_status and msg.state is wire.DeviceState.OFFLINE  # type: ignore[union-attr]
        # a browser self-test is a self-test, not contact in the meeting (issue 11): the member's
        # iPad runs no agent, so nothing would be heard from it afterwards
        browser_test = type(msg) is wire.SelftestResult and msg.source == "browser"
        if not offline and not browser_test:
            last = m.last_contact
            if last is not None and t - last > mt.policy.silence_lost_s and m.lost_since is None and fresh \
                    and lost_since(m, mt.policy, self._monitor, t) is not None:
                # the silence was longer than allowed but no tick saw it: record the loss first (H15)
                self._refresh(mt, m, t, out, verdict=True)
            changed = self._contact(m, t)
        if not fresh:
            if changed:
                self._refresh(mt, m, t, out, verdict=True)
            return
        if type(msg) is wire.Sample:
            if self._monitor.gap_until is not None and tainted(mt.policy, self._monitor, t):
                msg = msgspec.structs.replace(msg, rtt_ms=None, jitter_ms=None, loss_percent=None, mos=None,
                                              loss_alarm=None, probe_reachable=None)
            m.sample = msg
            link = msg.link
            if link is not None and link != m.link:
                m.link = link
                changed = True
            w, f = mt.judge.update(m.hist, m.warn_up, m.fail_up, msg, m.bad)
            if w != m.warn_up or f != m.fail_up:
                m.warn_up, m.fail_up = w, f
                changed = True
            if m.incidents:
                for oi in m.incidents.values():
                    inc_.accumulate(oi.stats, msg)
        elif offline:
            planned = m.excused_at is not None or m.left_at is not None
            if m.lost_since is None and m.replaced_at is None and m.last_contact is not None and not planned:
                if msg.reason == "will" and mt.policy.will_confirm_s > 0:  # type: ignore[union-attr]
                    # a stopping Mosquitto sends every client's will as it goes: the loss holds only if
                    # the collector keeps its broker and hears nothing newer (tick: _confirm_will)
                    m.will_at = t
                else:
                    m.lost_since = m.last_contact
                    m.lost_cause = msg.reason or "will"  # type: ignore[union-attr]
                    m.lost_cause_at = t
                    changed = True
        elif type(msg) is wire.SelftestResult:
            failed = [c.id for c in msg.checks if c.status in (wire.CheckStatus.FAIL, wire.CheckStatus.ERROR)]
            m.selftest = SelftestSummary(overall=str(msg.overall), at=t, source=msg.source, failed=failed)
            changed = True
        if changed or m.state not in _QUIET:
            self._refresh(mt, m, t, out, verdict=True)

    @staticmethod
    def _contact(m: Member, t: float) -> bool:
        """Record contact at ``t``; True when it changes something (first contact, contact back)."""
        changed = False
        if m.last_contact is None or t > m.last_contact:
            m.last_contact = t
        if m.first_contact is None:
            m.first_contact = t
            changed = True
        if m.replaced_at is not None:
            if not m.may_not_return and t > m.replaced_at:
                m.may_not_return = True  # H16: they may not come back to this meeting
                m.reconnected_at = t
                changed = True
        elif m.lost_since is not None:
            m.lost_since = None
            m.lost_cause = ""
            m.lost_cause_at = None
            changed = True
        return changed

    # ------------------------------------------------------------------ other inputs
    def record_mediapath(self, device_id: str, meeting_id: str | None, result: dict[str, Any],
                         at: float) -> list[Change]:
        """A media path check (H13 roll-call helper): a failed one makes the member failing."""
        dev = self._devices.get(device_id)
        if dev is None:
            return []
        out: list[Change] = []
        for m in dev.members:
            if meeting_id is not None and m.meeting_id != meeting_id:
                continue
            if meeting_id is None and not self._window_open(m, at):
                continue
            m.mediapath = dict(result)
            level = media_level(result)
            direction = str(result.get("direction", ""))
            if level is not None:
                m.media_levels = {**(m.media_levels or {}), direction: level}
            self._refresh(self._meetings[m.meeting_id], m, at, out, verdict=True)
        return out

    def companion(self, meeting_id: str, member_id: str, open_: bool, at: float) -> list[Change]:
        """The member's companion page (issue 11) reported in: open and visible (``open_``), or hidden
        or closed. Either proves contact at ``at``. Hidden or closed makes a ``browser`` member not
        monitored, never lost; open makes her watched like an agent member. Other modes: no effect."""
        mt = self._meetings.get(meeting_id)
        m = mt.members.get(member_id) if mt is not None else None
        if mt is None or m is None or m.monitoring != "browser" or not self._window_open(m, at):
            return []
        out: list[Change] = []
        changed = self._contact(m, at)
        if open_ != m.companion_open:
            m.companion_open = open_
            m.unwatched_since = None if open_ else at
            changed = True
        if changed or m.state not in _QUIET:
            self._refresh(mt, m, at, out, verdict=True)
        return out

    def broker(self, connected: bool, at: float) -> list[Change]:
        """The collector lost (False) or regained (True) its broker. While lost, nobody turns lost
        and the verdict is ``monitoring_interrupted``; after it, devices get ``reconnect_grace_s`` +
        ``silence_lost_s``."""
        if connected:
            self._monitor = self._monitor._replace(connected=True, down_since=None, grace_from=at)
        elif self._monitor.connected:
            self._monitor = self._monitor._replace(connected=False, down_since=at)
            self._drop_pending_wills()  # a stopping broker sends every client's will before it goes
        out: list[Change] = []
        for mt in self._meetings.values():
            self._refresh_meeting(mt, at, out)
        return out

    def probe_alive(self, device_id: str, at: float) -> list[Change]:
        """A signed path probe of ``device_id`` reached the reflector at ``at`` (issue 11): evidence of
        life, cheaper and ten times as frequent as a sample. Contact, never a measurement."""
        dev = self._devices.get(device_id)
        if dev is None:
            return []
        out: list[Change] = []
        for m in dev.members:
            if not m.open_from <= at < m.open_until:
                continue
            mt = self._meetings[m.meeting_id]
            last = m.last_contact
            if last is not None and m.lost_since is None and at - last > mt.policy.probe_silence_lost_s \
                    and lost_since(m, mt.policy, self._monitor, at) is not None:
                self._refresh(mt, m, at, out, verdict=True)  # the loss no tick saw (H15)
            if m.last_probe is None or at > m.last_probe:
                m.last_probe = at
            if self._contact(m, at):
                self._refresh(mt, m, at, out, verdict=True)
        return out

    def own_gap(self, since: float | None, until: float) -> list[Change]:
        """The collector itself was away from ``since`` (None: unknown, a restart) to ``until``: a
        restart, or a stall (SIGSTOP, a frozen VM). Its members' silence and the probe loss measured
        while its reflector was away are its own (issue 11): devices get ``reconnect_grace_s`` +
        ``silence_lost_s`` from ``until``; the verdict is ``monitoring_interrupted`` until each member
        heard before the gap is heard again (or her grace runs out); samples received within
        ``probe_window_s`` of ``until`` do not judge the path."""
        self._monitor = self._monitor._replace(grace_from=until, gap_since=since, gap_until=until)
        self._drop_pending_wills()
        out: list[Change] = []
        for mt in self._meetings.values():
            self._refresh_meeting(mt, until, out)
        return out

    def _drop_pending_wills(self) -> None:
        for mt in self._meetings.values():
            for m in mt.members.values():
                m.will_at = None

    def tick(self, now: float) -> list[Change]:
        """Time passes: silence -> lost, five minutes -> replaced, meeting windows open and close."""
        out: list[Change] = []
        for mt in self._meetings.values():
            meeting = mt.meeting
            if now < meeting.start - mt.policy.watch_before_s and mt.verdict is Verdict.NOT_STARTED:
                continue
            if now >= meeting.end and mt.verdict is Verdict.ENDED and not self._has_open(mt):
                continue
            self._refresh_meeting(mt, now, out)
        return out

    def _confirm_will(self, mt: MeetingRt, m: Member, now: float) -> None:
        """A pending last will becomes the loss (H15, reason ``will``, dated from the last contact)
        once ``will_confirm_s`` passed with the broker kept and nothing newer heard from the device."""
        will_at = m.will_at
        assert will_at is not None
        if not self._monitor.connected or (m.last_contact is not None and m.last_contact > will_at):
            m.will_at = None  # the broker went (it sent everyone's will) or the device is alive
            return
        if now - will_at < mt.policy.will_confirm_s:
            return
        m.will_at = None
        if m.lost_since is None and m.replaced_at is None and m.last_contact is not None:
            m.lost_since = m.last_contact
            m.lost_cause = "will"
            m.lost_cause_at = will_at

    def _awaiting(self, mt: MeetingRt, now: float) -> bool:
        """After the collector's own gap: someone not heard since (issue 11)."""
        if self._monitor.gap_until is None:
            return False
        return any(awaiting_fresh(m, mt.policy, self._monitor, now) for m in mt.members.values())

    @staticmethod
    def _has_open(mt: MeetingRt) -> bool:
        return any(m.incidents for m in mt.members.values())

    # ------------------------------------------------------------------ actions
    def act(self, action: Action) -> list[Change]:
        """Record a chair/secretary action (H5, H18). Raises ValueError for an invalid one."""
        mt = self._meetings.get(action.meeting_id)
        if mt is None:
            raise ValueError(f"unknown meeting {action.meeting_id!r}")
        m = self._validate(mt, action)
        t = action.at
        out: list[Change] = []
        kind = action.kind
        if kind is ActionKind.ADJOURN:
            mt.adjourned_since = t
            mt.adjournments.append([t, None])
        elif kind is ActionKind.RESUME:
            mt.adjournments[-1][1] = t
            mt.adjourned_since = None
        elif kind is ActionKind.VOTE_START:
            mt.vote_running, mt.vote_since = True, t
        elif kind is ActionKind.VOTE_END:
            mt.vote_running, mt.vote_since = False, None
        elif kind is ActionKind.ITEM_START:
            mt.agenda_item = action.item
        elif m is not None and kind is ActionKind.EXCUSE:
            m.excused_at, m.excused_item = t, action.item or mt.agenda_item
            m.lost_since, m.lost_cause = None, ""
        elif m is not None and kind is ActionKind.RETURN:
            m.excused_at, m.excused_item, m.returned_at = None, None, t
            m.lost_since, m.lost_cause = None, ""  # back from a planned absence: a fresh grace from now
        elif m is not None and kind is ActionKind.LEFT:
            if m.replaced_at is not None:
                m.handled_at = t  # the substitute is in (H16): the verdict no longer waits for it
                m.serving = False
            else:
                m.left_at = t
        elif m is not None and kind is ActionKind.SUBSTITUTE:
            sub = mt.members[action.substitute_id or ""]
            m.handled_at = t  # H16: the substitute is in; the replaced one may not return
            m.serving = False
            m.substituted_by, m.peer_name = sub.member_id, sub.name
            sub.serving = True  # from now on she takes part in the decisions (and the five-minute rule)
            sub.substitute_for, sub.peer_name = m.member_id, m.name
        mt.actions.append(action)
        out.append(ActionRecorded(action=action))
        if kind in (ActionKind.ADJOURN, ActionKind.RESUME):
            self._update_adjourned(mt, t, out)
        self._refresh_meeting(mt, t, out)
        return out

    def _validate(self, mt: MeetingRt, a: Action) -> Member | None:
        kind = a.kind
        if kind is ActionKind.ADJOURN and mt.adjourned_since is not None:
            raise ValueError(f"meeting {a.meeting_id!r} is already adjourned")
        if kind is ActionKind.RESUME and mt.adjourned_since is None:
            raise ValueError(f"meeting {a.meeting_id!r} is not adjourned: nothing to resume")
        if kind is ActionKind.VOTE_START and mt.vote_running:
            raise ValueError(f"a vote is already running in meeting {a.meeting_id!r}")
        if kind is ActionKind.VOTE_END and not mt.vote_running:
            raise ValueError(f"no vote is running in meeting {a.meeting_id!r}")
        if kind is ActionKind.ITEM_START and not a.item:
            raise ValueError("item_start needs the item (e.g. '§ 12')")
        if kind not in (ActionKind.EXCUSE, ActionKind.RETURN, ActionKind.LEFT, ActionKind.SUBSTITUTE):
            return None
        if not a.member_id:
            raise ValueError(f"{kind} needs member_id")
        m = mt.members.get(a.member_id)
        if m is None:
            raise ValueError(f"{a.member_id!r} is not a remote participant of meeting {a.meeting_id!r}")
        if kind is ActionKind.EXCUSE and (m.excused_at is not None or m.left_at is not None
                                          or m.replaced_at is not None):
            raise ValueError(f"{a.member_id!r} cannot be excused: already {m.state}")
        if kind is ActionKind.RETURN and m.excused_at is None:
            raise ValueError(f"{a.member_id!r} is not excused: nothing to return from")
        if kind is ActionKind.LEFT and (m.left_at is not None or m.handled_at is not None):
            raise ValueError(f"{a.member_id!r} has already left meeting {a.meeting_id!r}")
        if kind is ActionKind.SUBSTITUTE:
            self._validate_substitute(mt, m, a)
        return m

    @staticmethod
    def _validate_substitute(mt: MeetingRt, m: Member, a: Action) -> None:
        """H16: a substitute steps in for a replaced ledamot or serving ersättare, once; the one who
        steps in is an ersättare on this meeting's roster, not serving yet, and present."""
        if m.handled_at is not None:
            raise ValueError(f"a substitute is already recorded for {a.member_id!r}")
        if m.replaced_at is None:
            raise ValueError(f"{a.member_id!r} is not replaced: a substitute steps in when the five minutes "
                             "without contact have run out (H16)")
        if not a.substitute_id:
            raise ValueError("substitute needs substitute_id: the ersättare who steps in")
        sub = mt.members.get(a.substitute_id)
        if sub is None:
            raise ValueError(f"{a.substitute_id!r} is not on the roster of meeting {a.meeting_id!r}: the ersättare "
                             "who steps in must be a participant of this meeting")
        if sub.role != "ersättare":
            raise ValueError(f"{a.substitute_id!r} is a {sub.role}, not an ersättare")
        if sub.serving:
            raise ValueError(f"{a.substitute_id!r} already serves in meeting {a.meeting_id!r}")
        if sub.left_at is not None or sub.excused_at is not None or sub.replaced_at is not None:
            raise ValueError(f"{a.substitute_id!r} cannot step in: {sub.state}")
        if sub.first_contact is None or sub.lost_since is not None:
            raise ValueError(f"{a.substitute_id!r} cannot step in: no contact with her device")

    def _update_adjourned(self, mt: MeetingRt, t: float, out: list[Change]) -> None:
        for m in mt.members.values():
            for oi in (m.incidents or {}).values():
                inc_.refreshed(oi, t, mt.adjournments)
                oi.incident.adjourned = True
                out.append(IncidentUpdated(incident=_copy(oi.incident)))

    # ------------------------------------------------------------------ the state machine
    def _phase(self, mt: MeetingRt, now: float) -> Phase:
        meeting = mt.meeting
        return meeting_phase(meeting.start, meeting.end, mt.policy.watch_before_s, now)

    def _assess(self, mt: MeetingRt, m: Member, now: float, phase: Phase) -> Assessment:
        return participant_state(m, phase, mt.meeting.start, mt.policy, mt.judge, self._monitor, now)

    def _refresh(self, mt: MeetingRt, m: Member, now: float, out: list[Change], *, verdict: bool) -> None:
        """Re-decide one member; emit its state change and incidents; then the verdict if asked."""
        phase = self._phase(mt, now)
        if phase is Phase.ENDED:
            self._close_all(mt, m, mt.meeting.end, out)
            if verdict:
                self._reverdict(mt, now, phase, out)
            return
        a = self._assess(mt, m, now, phase)
        if a.state in (PS.LOST, PS.REPLACED) and m.lost_since is None:
            m.lost_since = a.lost_since
            m.lost_cause = m.lost_cause or "silence"
        if a.state is PS.REPLACED and m.replaced_at is None:
            m.replaced_at = a.replaced_at
        if a.state is PS.LEFT and m.left_at is None:
            # H16: the five minutes ran out for an ersättare who does not serve: recorded as left
            m.left_at = a.substitute_due_at if a.substitute_due_at is not None else now
            m.left_cause = "five_minutes"
        self._sync_incidents(mt, m, a, now, phase, out)
        if a.state is not m.state or (a.state is PS.REPLACED and m.may_not_return and m.reconnected_at == now):
            reasons = participant_reasons(m, a, phase, mt.meeting.start, mt.policy, mt.judge, now,
                                          mt.vote_running)
            out.append(StateChanged(at=now, meeting_id=mt.meeting.id, member_id=m.member_id, device_id=m.device_id,
                                    old=m.state, new=a.state, reason=reasons[0] if reasons else None))
            if a.state is not m.state:
                m.state = a.state
                m.since = _since(a, now)
            if verdict:
                self._reverdict(mt, now, phase, out)
        elif verdict and mt.verdict is Verdict.NOT_STARTED and phase is Phase.RUNNING:
            self._reverdict(mt, now, phase, out)

    def _refresh_meeting(self, mt: MeetingRt, now: float, out: list[Change]) -> None:
        for m in mt.members.values():
            if m.will_at is not None:
                self._confirm_will(mt, m, now)
            self._refresh(mt, m, now, out, verdict=False)
        self._reverdict(mt, now, self._phase(mt, now), out)

    def _standings(self, mt: MeetingRt, now: float, phase: Phase, *, explain: bool) -> list[Standing]:
        """The members as the verdict sees them; reasons only when ``explain`` (they cost)."""
        if phase is not Phase.RUNNING or not self._monitor.connected:
            return []  # the verdict does not look at members then
        out: list[Standing] = []
        for m in mt.members.values():
            st = m.state
            risk = mt.vote_running and at_vote_risk(m, st)
            quiet = st in _QUIET or st in (PS.EXCUSED, PS.LEFT)
            if not explain or (quiet and not risk):
                out.append(Standing(m.member_id, m.name, st, None, handled=m.handled_at is not None,
                                    vote_risk=risk))
                continue
            a = self._assess(mt, m, now, phase)
            reasons = participant_reasons(m, a, phase, mt.meeting.start, mt.policy, mt.judge, now,
                                          mt.vote_running)
            out.append(Standing(m.member_id, m.name, st, reasons[0] if reasons else None,
                                handled=m.handled_at is not None, vote_risk=risk))
        return out

    def _reverdict(self, mt: MeetingRt, now: float, phase: Phase, out: list[Change]) -> None:
        meeting = mt.meeting

        waiting = self._awaiting(mt, now)

        def decide(explain: bool) -> tuple[Verdict, list[Reason]]:
            return meeting_verdict(phase, self._monitor, self._standings(mt, now, phase, explain=explain),
                                   start=meeting.start, end=meeting.end, adjourned_since=mt.adjourned_since,
                                   vote_running=mt.vote_running, explain=explain, awaiting_fresh=waiting)

        verdict, _ = decide(False)
        if verdict is not mt.verdict:
            verdict, reasons = decide(True)
            out.append(VerdictChanged(at=now, meeting_id=meeting.id, old=mt.verdict, new=verdict, reasons=reasons))
            mt.verdict = verdict
            mt.verdict_since = now

    # ------------------------------------------------------------------ incidents
    def _sync_incidents(self, mt: MeetingRt, m: Member, a: Assessment, now: float, phase: Phase,
                        out: list[Change]) -> None:
        conds = a.conditions if phase in (Phase.PRE, Phase.RUNNING) else {}
        if not conds and not m.incidents:
            return
        if m.incidents is None:
            m.incidents = {}
        for kind, level in conds.items():
            oi = m.incidents.get(kind)
            if oi is None:
                started = a.lost_since if kind == "connection_lost" and a.lost_since is not None else now
                incident = Incident(id=inc_.incident_id(mt.meeting.id, m.member_id, kind, started),
                                    meeting_id=mt.meeting.id, body=mt.meeting.body, member_id=m.member_id,
                                    device_id=m.device_id, kind=kind, started_at=started, ended_at=None,
                                    peak_severity=inc_.severity_name(level),
                                    adjourned=mt.adjourned_since is not None, adjourned_s=0.0,
                                    substitute_called=a.state is PS.REPLACED, metrics={})
                oi = m.incidents[kind] = OpenIncident(incident)
                if m.sample is not None:
                    inc_.accumulate(oi.stats, m.sample)
                inc_.refreshed(oi, now, mt.adjournments)
                out.append(IncidentOpened(incident=_copy(incident)))
                continue
            incident = oi.incident
            worse = level >= 2 and incident.peak_severity != "failure"
            called = a.state is PS.REPLACED and not incident.substitute_called
            if worse or called:
                if worse:
                    incident.peak_severity = "failure"
                if called:
                    incident.substitute_called = True
                inc_.refreshed(oi, now, mt.adjournments)
                out.append(IncidentUpdated(incident=_copy(incident)))
        for kind in [k for k in m.incidents if k not in conds]:
            self._close(mt, m, kind, now, out)
        if not m.incidents:
            m.incidents = None

    def _close(self, mt: MeetingRt, m: Member, kind: str, now: float, out: list[Change]) -> None:
        assert m.incidents is not None
        oi = m.incidents.pop(kind)
        oi.incident.ended_at = max(now, oi.incident.started_at)
        inc_.refreshed(oi, now, mt.adjournments)
        out.append(IncidentClosed(incident=_copy(oi.incident)))

    def _close_all(self, mt: MeetingRt, m: Member, now: float, out: list[Change]) -> None:
        if m.incidents:
            for kind in list(m.incidents):
                self._close(mt, m, kind, now, out)
        m.incidents = None

    # ------------------------------------------------------------------ queries
    def view(self, meeting_id: str, now: float) -> MeetingView | None:
        """The meeting as the chair sees it at ``now`` (computed, no state changes)."""
        mt = self._meetings.get(meeting_id)
        if mt is None:
            return None
        meeting = mt.meeting
        phase = self._phase(mt, now)
        parts: list[ParticipantView] = []
        standings: list[Standing] = []
        for m in mt.members.values():
            a = self._assess(mt, m, now, phase) if phase is not Phase.ENDED else _frozen(m)
            reasons = participant_reasons(m, a, phase, meeting.start, mt.policy, mt.judge, now, mt.vote_running)
            flags = participant_flags(m, a.state, meeting.start, mt.policy, now, mt.vote_running)
            parts.append(_participant_view(m, a, reasons, flags, now))
            standings.append(Standing(m.member_id, m.name, a.state, reasons[0] if reasons else None,
                                      handled=m.handled_at is not None, vote_risk="vote_risk" in flags))
        waiting = self._awaiting(mt, now)
        verdict, vreasons = meeting_verdict(phase, self._monitor, standings, start=meeting.start, end=meeting.end,
                                            adjourned_since=mt.adjourned_since, vote_running=mt.vote_running,
                                            awaiting_fresh=waiting)
        return MeetingView(meeting_id=meeting.id, body=meeting.body, system=str(meeting.system), room=meeting.room,
                           start=meeting.start, end=meeting.end, secret=meeting.secret, verdict=verdict,
                           reasons=vreasons,
                           monitoring="active" if self._monitor.connected and not waiting else "interrupted",
                           adjourned_since=mt.adjourned_since, vote_running=mt.vote_running,
                           agenda_item=mt.agenda_item, participants=parts, at=now)

    def meeting_ids(self) -> list[str]:
        return list(self._meetings)

    def meetings_for_device(self, device_id: str) -> list[str]:
        dev = self._devices.get(device_id)
        return [] if dev is None else [m.meeting_id for m in dev.members]

    def open_incidents(self) -> list[Incident]:
        return [_copy(oi.incident) for mt in self._meetings.values() for m in mt.members.values()
                for oi in (m.incidents or {}).values()]

    def actions(self, meeting_id: str) -> list[Action]:
        mt = self._meetings.get(meeting_id)
        return [] if mt is None else list(mt.actions)

    # ------------------------------------------------------------------ durability
    def snapshot(self) -> bytes:
        """The durable state (timers, losses, replacements, excuses, open incidents, actions,
        debounce bitmasks, duplicate memory) as msgpack. Small: a few hundred bytes per member."""
        from collector.engine.snapshot import take

        return take(self._meetings, self._devices, self.unknown_devices)

    def restore(self, blob: bytes, now: float) -> None:
        """Continue from a snapshot after a restart: incidents, five-minute timers and actions keep
        their persisted times. Devices get ``reconnect_grace_s`` + ``silence_lost_s`` from ``now``."""
        from collector.engine.snapshot import apply

        apply(blob, self._meetings, self._devices, self.unknown_devices, window=self._dedupe_window)
        self._monitor = self._monitor._replace(grace_from=now)


def _frozen(m: Member) -> Assessment:
    """After the end the states stay as they were."""
    return Assessment(m.state, m.lost_since, m.replaced_at)


def _since(a: Assessment, now: float) -> float:
    if a.state is PS.REPLACED and a.replaced_at is not None:
        return a.replaced_at
    if a.state is PS.LOST and a.lost_since is not None:
        return a.lost_since
    return now


def _participant_view(m: Member, a: Assessment, reasons: list[Reason], flags: list[str],
                      now: float) -> ParticipantView:
    s = m.sample
    due = a.substitute_due_at if a.state is PS.LOST else None
    return ParticipantView(
        member_id=m.member_id, name=m.name, role=m.role, device_id=m.device_id, state=a.state,
        since=m.since if a.state is m.state else _since(a, now),
        reason=reasons[0] if reasons else None, reasons=reasons, last_contact=m.last_contact,
        # the "without contact" clock stops when the device is heard again (a replaced member back)
        lost_since=a.lost_since if a.state is PS.LOST or (a.state is PS.REPLACED and m.reconnected_at is None)
        else None,
        substitute_in_s=max(0.0, due - now) if due is not None else None, flags=flags,
        link=str(m.link) if m.link is not None else None,
        battery_percent=s.battery_percent if s else None, battery_charging=s.battery_charging if s else None,
        rtt_ms=s.rtt_ms if s else None, jitter_ms=s.jitter_ms if s else None,
        loss_percent=s.loss_percent if s else None, mos=s.mos if s else None,
        selftest=m.selftest, mediapath=m.mediapath, monitoring=m.monitoring, companion_open=m.companion_open,
        serving=m.serving, substitute_for=m.substitute_for, substituted_by=m.substituted_by)
