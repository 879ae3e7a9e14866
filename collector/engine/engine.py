"""The Engine: holds the state of every meeting and participant and applies the pure decisions.

It does no I/O and never reads the clock: every call gets the collector's time (``received_at``,
``now``, ``at``). It returns the changes (:data:`Change`) for the I/O layer to persist, write to
InfluxDB and push to the live view. See ``docs/engine.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from collector.engine import actions as actions_
from collector.engine import adoption, media, members
from collector.engine import incidents as inc_
from collector.engine.debounce import Judge
from collector.engine.decide import Assessment, Connectivity, Phase, lost_since, participant_reasons, participant_state
from collector.engine.freshness import FreshnessRules, freshness
from collector.engine.records import DeviceTrack, MeetingRt, Member
from collector.engine.types import (
    Action,
    ActionKind,
    ActionRecorded,
    Change,
    Incident,
    IngestOutcome,
    MeetingView,
    ParticipantState,
    SelftestSummary,
    StateChanged,
    Verdict,
    VerdictChanged,
)
from collector.engine.verdict import QUIET, decide_verdict, phase_of
from collector.engine.view import meeting_view, since
from likavillkor import wire
from likavillkor.media.report import PathReport
from likavillkor.policy import Policy, PolicySet
from likavillkor.roster import Roster

PS = ParticipantState
_MAX_UNKNOWN = 10_000  # unknown devices remembered (H12), most recently seen kept


class Engine:
    """Equal-terms engine (issue 5). One instance per collector; not thread-safe."""

    def __init__(self, roster: Roster, policies: PolicySet, *, now: float, several_brokers: bool = False) -> None:
        self._policies = policies
        self._judges: dict[int, Judge] = {}
        self._meetings: dict[str, MeetingRt] = {}
        self._devices: dict[str, DeviceTrack] = {}
        self._known: dict[str, str | None] = {}
        self._conn = Connectivity()
        d = policies.defaults
        self._rules = FreshnessRules(d.dedupe_window, d.late_after_s, d.reconnect_grace_s, several_brokers)
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
                members.carry_over(prev, mt, now, out)
            self._meetings[mid] = mt
        for prev in old.values():
            for pm in prev.members.values():
                inc_.close_all(prev, pm, now, out)
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
        fresh = freshness(dev, msg, received_at, self._rules, self._conn)
        if fresh is None:
            return IngestOutcome.DUPLICATE, []
        members = [m for m in dev.members if m.open_from <= received_at < m.open_until]
        if not members:
            return IngestOutcome.NO_MEETING, []
        out: list[Change] = []
        outcome = IngestOutcome.ACCEPTED if fresh else IngestOutcome.LATE
        for m in members:
            self._apply_message(self._meetings[m.meeting_id], m, msg, received_at, fresh, out)
        return outcome, out

    @staticmethod
    def _window_open(m: Member, t: float) -> bool:
        return m.open_from <= t < m.open_until

    def _apply_message(
        self, mt: MeetingRt, m: Member, msg: wire.Message, t: float, fresh: bool, out: list[Change]
    ) -> None:
        changed = False
        is_status = type(msg) is wire.Status
        offline = is_status and msg.state is wire.DeviceState.OFFLINE  # type: ignore[union-attr]
        # a browser self-test is a self-test, not contact in the meeting (issue 11): the member's
        # iPad runs no agent, so nothing would be heard from it afterwards
        browser_test = type(msg) is wire.SelftestResult and msg.source == "browser"
        if not offline and not browser_test:
            last = m.last_contact
            if (
                last is not None
                and t - last > mt.policy.silence_lost_s
                and m.lost_since is None
                and fresh
                and lost_since(m, mt.policy, self._conn, t) is not None
            ):
                # the silence was longer than allowed but no tick saw it: record the loss first (H15)
                self._refresh(mt, m, t, out, verdict=True)
            changed = members.contact(m, t)
        if not fresh:
            if changed:
                self._refresh(mt, m, t, out, verdict=True)
            return
        if type(msg) is wire.Sample:
            changed = members.record_sample(mt, m, msg, self._conn, t) or changed
        elif offline:
            changed = members.record_offline(mt.policy, m, msg, t) or changed  # type: ignore[arg-type]
        elif type(msg) is wire.SelftestResult:
            failed = [c.id for c in msg.checks if c.status in (wire.CheckStatus.FAIL, wire.CheckStatus.ERROR)]
            m.selftest = SelftestSummary(overall=str(msg.overall), at=t, source=msg.source, failed=failed)
            changed = True
        if changed or m.state not in QUIET:
            self._refresh(mt, m, t, out, verdict=True)

    # ------------------------------------------------------------------ other inputs
    def record_mediapath(
        self, device_id: str, meeting_id: str | None, result: PathReport | Mapping[str, Any], at: float
    ) -> list[Change]:
        """A media path check (H13 roll-call helper): a failed one makes the member failing. ``result``
        is the typed :class:`PathReport`; an older dict shape is decoded first (``media.decode``:
        ``ValueError`` when unreadable)."""
        report = media.decode(result)
        dev = self._devices.get(device_id)
        if dev is None:
            return []
        out: list[Change] = []
        for m in dev.members:
            if meeting_id is not None and m.meeting_id != meeting_id:
                continue
            if meeting_id is None and not self._window_open(m, at):
                continue
            m.mediapath = report
            m.media_levels = {**(m.media_levels or {}), str(report.direction): media.level(report)}
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
        changed = members.contact(m, at)
        if open_ != m.companion_open:
            m.companion_open = open_
            m.unwatched_since = None if open_ else at
            changed = True
        if changed or m.state not in QUIET:
            self._refresh(mt, m, at, out, verdict=True)
        return out

    def broker(self, connected: bool, at: float) -> list[Change]:
        """The collector lost (False) or regained (True) its broker. While lost, nobody turns lost
        and the verdict is ``monitoring_interrupted``; after it, devices get ``reconnect_grace_s`` +
        ``silence_lost_s``."""
        if connected:
            self._conn = self._conn._replace(connected=True, down_since=None, grace_from=at)
        elif self._conn.connected:
            self._conn = self._conn._replace(connected=False, down_since=at)
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
            if (
                last is not None
                and m.lost_since is None
                and at - last > mt.policy.probe_silence_lost_s
                and lost_since(m, mt.policy, self._conn, at) is not None
            ):
                self._refresh(mt, m, at, out, verdict=True)  # the loss no tick saw (H15)
            if m.last_probe is None or at > m.last_probe:
                m.last_probe = at
            if members.contact(m, at):
                self._refresh(mt, m, at, out, verdict=True)
        return out

    def own_gap(self, since: float | None, until: float) -> list[Change]:
        """The collector itself was away from ``since`` (None: unknown, a restart) to ``until``: a
        restart, or a stall (SIGSTOP, a frozen VM). Its members' silence and the probe loss measured
        while its reflector was away are its own (issue 11): devices get ``reconnect_grace_s`` +
        ``silence_lost_s`` from ``until``; the verdict is ``monitoring_interrupted`` until each member
        heard before the gap is heard again (or her grace runs out); samples received within
        ``probe_window_s`` of ``until`` do not judge the path."""
        self._conn = self._conn._replace(grace_from=until, gap_since=since, gap_until=until)
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

    @staticmethod
    def _has_open(mt: MeetingRt) -> bool:
        return any(m.incidents for m in mt.members.values())

    # ------------------------------------------------------------------ actions
    def act(self, action: Action) -> list[Change]:
        """Record a chair/secretary action (H5, H18). Raises ValueError for an invalid one."""
        mt = self._meetings.get(action.meeting_id)
        if mt is None:
            raise ValueError(f"unknown meeting {action.meeting_id!r}")
        m = actions_.validate(mt, action)
        actions_.record(mt, m, action)
        t = action.at
        out: list[Change] = [ActionRecorded(action=action)]
        if action.kind in (ActionKind.ADJOURN, ActionKind.RESUME):
            inc_.mark_adjourned(mt, t, out)
        self._refresh_meeting(mt, t, out)
        return out

    # ------------------------------------------------------------------ the state machine
    def _assess(self, mt: MeetingRt, m: Member, now: float, phase: Phase) -> Assessment:
        return participant_state(m, phase, mt.meeting.start, mt.policy, mt.judge, self._conn, now)

    def _refresh(self, mt: MeetingRt, m: Member, now: float, out: list[Change], *, verdict: bool) -> None:
        """Re-decide one member; emit its state change and incidents; then the verdict if asked."""
        phase = phase_of(mt, now)
        if phase is Phase.ENDED:
            inc_.close_all(mt, m, mt.meeting.end, out)
            if verdict:
                self._reverdict(mt, now, out)
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
        inc_.sync(mt, m, a, now, phase, out)
        if a.state is not m.state or (a.state is PS.REPLACED and m.may_not_return and m.reconnected_at == now):
            reasons = participant_reasons(m, a, phase, mt.meeting.start, mt.policy, mt.judge, now, mt.vote_running)
            out.append(
                StateChanged(
                    at=now,
                    meeting_id=mt.meeting.id,
                    member_id=m.member_id,
                    device_id=m.device_id,
                    old=m.state,
                    new=a.state,
                    reason=reasons[0] if reasons else None,
                )
            )
            if a.state is not m.state:
                m.state = a.state
                m.since = since(a, now)
            if verdict:
                self._reverdict(mt, now, out)
        elif verdict and mt.verdict is Verdict.NOT_STARTED and phase is Phase.RUNNING:
            self._reverdict(mt, now, out)

    def _refresh_meeting(self, mt: MeetingRt, now: float, out: list[Change]) -> None:
        for m in mt.members.values():
            if m.will_at is not None:
                members.confirm_will(mt.policy, m, self._conn.connected, now)
            self._refresh(mt, m, now, out, verdict=False)
        self._reverdict(mt, now, out)

    def _reverdict(self, mt: MeetingRt, now: float, out: list[Change]) -> None:
        """Decide the verdict (the one function, also behind the banner) and store a change."""
        verdict, reasons = decide_verdict(mt, self._conn, now, explain=True)
        mt.verdict_reasons = reasons
        if verdict is not mt.verdict:
            out.append(
                VerdictChanged(at=now, meeting_id=mt.meeting.id, old=mt.verdict, new=verdict, reasons=list(reasons))
            )
            mt.verdict = verdict
            mt.verdict_since = now

    # ------------------------------------------------------------------ queries
    def view(
        self, meeting_id: str, now: float, unknown: Iterable[tuple[str, float]] | None = None
    ) -> MeetingView | None:
        """The meeting as the chair sees it at ``now`` (computed, no state changes). ``unknown``:
        (device id, last heard) of devices on no roster besides the engine's own (H12)."""
        mt = self._meetings.get(meeting_id)
        if mt is None:
            return None
        heard = self.unknown_devices.items()
        return meeting_view(mt, self._conn, now, heard if unknown is None else chain(heard, unknown))

    def meeting_ids(self) -> list[str]:
        return list(self._meetings)

    def meetings_for_device(self, device_id: str) -> list[str]:
        dev = self._devices.get(device_id)
        return [] if dev is None else [m.meeting_id for m in dev.members]

    def open_incidents(self) -> list[Incident]:
        return adoption.open_incidents(self._meetings)

    def open_incident_ids(self) -> dict[tuple[str, str, str], str]:
        """(meeting, member, kind) -> id of every open incident (issue 17, :mod:`collector.engine.adoption`)."""
        return adoption.open_incident_ids(self._meetings)

    def adopt_incident(self, meeting_id: str, member_id: str, kind: str, incident_id: str, started_at: float) -> bool:
        """Take the leader's id and start of the same open incident (issue 17). False when none is open here."""
        return adoption.adopt_incident(self._meetings, meeting_id, member_id, kind, incident_id, started_at)

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

        apply(blob, self._meetings, self._devices, self.unknown_devices, window=self._rules.window)
        for mt in self._meetings.values():
            mt.verdict_reasons = None  # the restored verdict's reasons are decided again (view, tick)
        self._conn = self._conn._replace(grace_from=now)
