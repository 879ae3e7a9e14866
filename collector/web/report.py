"""The meeting report (pure): for each agenda item and vote, whether equal terms held (H1, H2, H5),
who was affected, adjournments from–to (H2, H15), substitutions (H16), and a timeline picture of
each remote participant's state (drawn by :mod:`collector.web.report_timeline`). Built from the
stored history; no I/O here.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from collector.web import csvsafe, i18n
from collector.web.queries import MeetingHistory
from likavillkor.roster import Meeting

STOCKHOLM = ZoneInfo("Europe/Stockholm")
BREACH_STATES = frozenset({"failing", "lost"})
BREACH_VERDICTS = frozenset({"adjourn", "substitute_due"})
UNKNOWN_VERDICTS = frozenset({"monitoring_interrupted"})
#: issue 11: nobody watched her (no agent, companion page hidden or closed): equal terms not confirmed (H13)
UNWATCHED_STATES = frozenset({"not_monitored"})
UNWATCHED_VERDICTS = frozenset({"not_all_monitored"})


@dataclass(frozen=True, slots=True)
class Interval:
    start: float
    end: float
    value: str


@dataclass(slots=True)
class Segment:
    kind: str  # "whole" | "item" | "vote"
    label: str
    start: float
    end: float
    equal_terms: str = "held"  # "held" | "not_held" | "unknown" | "unconfirmed" (someone not monitored)
    affected: list[str] = field(default_factory=list)  # names


@dataclass(slots=True)
class Report:
    meeting: Meeting
    start: float
    end: float
    segments: list[Segment]
    adjournments: list[Interval]  # value: who recorded it, by name
    substitutions: list[tuple[float, str]]  # (at, "name" or "name → who stepped in"), each member once
    timelines: dict[str, list[Interval]]  # member_id -> state intervals
    names: dict[str, str]
    incidents: list[dict[str, Any]]
    #: H17: (at, name, her words) each time a member told the chair she did not take part on equal terms
    told: list[tuple[float, str, str]] = field(default_factory=list)
    #: H16: (at, name, the chair's reason, who recorded it) each time the chair confirmed that a member who lost
    #: the agent's contact was still present in the meeting program (the action ``present``)
    present: list[tuple[float, str, str, str]] = field(default_factory=list)
    #: the roll call (H13, issue 15): each participant's latest, in the order they were called
    roll_calls: list[RollCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RollCall:
    """One participant's roll call (H13): when, what held ("answered", "seen", "heard"), who recorded it."""

    at: float
    member_id: str
    name: str
    marks: tuple[str, ...]
    by: str


#: the roll call's marks in their fixed order (collector.engine.actions.ROLL_CALL_MARKS)
ROLL_CALL_MARKS = ("answered", "seen", "heard")


def roll_calls(actions: list[dict[str, Any]], names: dict[str, str]) -> list[RollCall]:
    """The latest roll call of each participant (a repeated call replaces the earlier), by time."""
    latest: dict[str, RollCall] = {}
    for a in actions:
        if a["kind"] != "roll_call" or not a.get("member_id"):
            continue
        given = {m.strip() for m in str(a.get("note") or "").split(",")}
        marks = tuple(m for m in ROLL_CALL_MARKS if m in given)
        mid = str(a["member_id"])
        latest[mid] = RollCall(float(a["at"]), mid, names.get(mid, mid), marks, str(a.get("by") or ""))
    return sorted(latest.values(), key=lambda r: r.at)


def roll_call_text(rc: RollCall, lang: str) -> str:
    """ "svarade, syns, hörs" / "svarade inte" in the report's language."""
    if not rc.marks:
        return label("rc.no_answer", lang)
    return ", ".join(label(f"rc.{m}", lang).lower() for m in rc.marks)


def clock_text(t: float) -> str:
    """A time of day in Stockholm, HH:MM:SS."""
    return dt.datetime.fromtimestamp(t, STOCKHOLM).strftime("%H:%M:%S")


def label(key: str, lang: str) -> str:
    return i18n.t(key, lang)


def _intervals(points: list[tuple[float, str]], start: float, end: float, initial: str) -> list[Interval]:
    out: list[Interval] = []
    cur_t, cur_v = start, initial
    for at, value in sorted(points):
        at = min(max(at, start), end)
        if at > cur_t:
            out.append(Interval(cur_t, at, cur_v))
        cur_t, cur_v = max(cur_t, at), value
    if end > cur_t:
        out.append(Interval(cur_t, end, cur_v))
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _active(seg0: float, seg1: float, adjourned: list[Interval]) -> list[tuple[float, float]]:
    """The segment minus adjournments: while adjourned nothing is decided."""
    parts = [(seg0, seg1)]
    for adj in adjourned:
        nxt: list[tuple[float, float]] = []
        for a, b in parts:
            if adj.end <= a or adj.start >= b:
                nxt.append((a, b))
                continue
            if adj.start > a:
                nxt.append((a, adj.start))
            if adj.end < b:
                nxt.append((adj.end, b))
        parts = nxt
    return parts


def who_name(by: str, names: dict[str, str], people: dict[str, str]) -> str:
    """A person, not a user name: a signed-in user's name from the users file, a member's link
    (``member:<id>``) as her roster name; otherwise as recorded."""
    if by.startswith("member:"):
        return names.get(by[len("member:") :], by)
    return people.get(by) or by


def substitutions(
    history: MeetingHistory, names: dict[str, str], people: dict[str, str] | None = None
) -> list[tuple[float, str]]:
    """Each member replaced (H16) once: when the five minutes ran out the first time, and who
    stepped in when the chair recorded it (a ``substitute`` action), whatever the states did after."""
    first: dict[str, float] = {}
    for st in history.state_changes:
        if st["new"] == "replaced":
            first.setdefault(st["member_id"], st["at"])
    stepped: dict[str, str] = {}
    for a in history.actions:
        mid = a.get("member_id")
        if a["kind"] == "substitute" and mid:
            first.setdefault(mid, a["at"])
            sub = a.get("substitute_id") or ""
            stepped.setdefault(mid, names.get(sub, sub))
    out = []
    for mid, at in first.items():
        name = names.get(mid, mid)
        out.append((at, f"{name} → {stepped[mid]}" if mid in stepped else name))
    return sorted(out)


def build(meeting: Meeting, history: MeetingHistory, *, now: float, people: dict[str, str] | None = None) -> Report:
    """``people``: user name -> the person's name (the users file), so the report names people."""
    people = people or {}
    events = [a["at"] for a in history.actions] + [s["at"] for s in history.state_changes]
    start = meeting.start
    end = meeting.end if now >= meeting.end else max(now, max(events, default=start))
    end = max(end, start + 1)
    names = {p.member_id: p.name for p in meeting.participants}
    first_start = min([start, *events]) if events else start
    timelines = _timelines(meeting, history, first_start, end)
    verdicts = _intervals([(v["at"], v["new"]) for v in history.verdicts], first_start, end, "not_started")
    adjournments = _adjournments(history, end, names, people)
    segments = _segments(history, start, end)
    for seg in segments:
        _judge(seg, _active(seg.start, seg.end, adjournments), verdicts, timelines, names)
    return Report(
        meeting=meeting,
        start=start,
        end=end,
        segments=segments,
        adjournments=adjournments,
        substitutions=substitutions(history, names, people),
        timelines=timelines,
        names=names,
        incidents=history.incidents,
        roll_calls=roll_calls(history.actions, names),
        told=told(history, names),
        present=present(history, names, people),
    )


def _timelines(meeting: Meeting, history: MeetingHistory, first_start: float, end: float) -> dict[str, list[Interval]]:
    """Each participant's states as intervals, member_id -> intervals."""
    timelines: dict[str, list[Interval]] = {}
    for p in meeting.participants:
        points = [(s["at"], s["new"]) for s in history.state_changes if s["member_id"] == p.member_id]
        # a participant the agent does not watch starts "not monitored" (the engine's first state)
        first = "expected" if str(getattr(p, "monitoring", "agent")) == "agent" else "not_monitored"
        timelines[p.member_id] = _intervals(points, first_start, end, first)
    return timelines


def _adjournments(history: MeetingHistory, end: float, names: dict[str, str], people: dict[str, str]) -> list[Interval]:
    """Adjournments from-to (H2, H15), each with who recorded it; one still open lasts to ``end``."""
    adjournments: list[Interval] = []
    opened: dict[str, Any] | None = None
    for a in history.actions:
        if a["kind"] == "adjourn" and opened is None:
            opened = a
        elif a["kind"] == "resume" and opened is not None:
            adjournments.append(Interval(opened["at"], a["at"], who_name(str(opened["by"]), names, people)))
            opened = None
    if opened is not None:
        adjournments.append(Interval(opened["at"], end, who_name(str(opened["by"]), names, people)))
    return adjournments


def _segments(history: MeetingHistory, start: float, end: float) -> list[Segment]:
    """The whole meeting, each agenda item (to the next one) and each vote, to be judged."""
    segments = [Segment("whole", "", start, end)]
    items = [a for a in history.actions if a["kind"] == "item_start"]
    for i, a in enumerate(items):
        stop = items[i + 1]["at"] if i + 1 < len(items) else end
        segments.append(Segment("item", str(a.get("item") or "?"), a["at"], stop))
    vote_open: dict[str, Any] | None = None
    for a in history.actions:
        if a["kind"] == "vote_start":
            vote_open = a
        elif a["kind"] == "vote_end" and vote_open is not None:
            segments.append(
                Segment("vote", str(vote_open.get("item") or vote_open.get("note") or ""), vote_open["at"], a["at"])
            )
            vote_open = None
    if vote_open is not None:
        segments.append(Segment("vote", str(vote_open.get("item") or ""), vote_open["at"], end))
    return segments


def told(history: MeetingHistory, names: dict[str, str]) -> list[tuple[float, str, str]]:
    """H17: (at, name, her words) each time a member told the chair she did not take part on equal terms."""
    return [
        (a["at"], names.get(str(a.get("member_id")), str(a.get("member_id"))), str(a.get("note") or ""))
        for a in history.actions
        if a["kind"] == "unequal_terms"
    ]


def present(
    history: MeetingHistory, names: dict[str, str], people: dict[str, str]
) -> list[tuple[float, str, str, str]]:
    """H16: (at, name, reason, by whom) each time the chair confirmed a member still present in the meeting
    program."""
    return [
        (
            a["at"],
            names.get(str(a.get("member_id")), str(a.get("member_id"))),
            str(a.get("note") or ""),
            who_name(str(a["by"]), names, people),
        )
        for a in history.actions
        if a["kind"] == "present"
    ]


def _judge(
    seg: Segment,
    active: list[tuple[float, float]],
    verdicts: list[Interval],
    timelines: dict[str, list[Interval]],
    names: dict[str, str],
) -> None:
    def touches(iv: Interval) -> bool:
        return any(_overlap(a, b, iv.start, iv.end) > 0 for a, b in active)

    affected = sorted(
        {names.get(m, m) for m, ivs in timelines.items() for iv in ivs if iv.value in BREACH_STATES and touches(iv)}
    )
    if affected or any(iv.value in BREACH_VERDICTS and touches(iv) for iv in verdicts):
        seg.equal_terms = "not_held"
    elif any(iv.value in UNKNOWN_VERDICTS and touches(iv) for iv in verdicts):
        seg.equal_terms = "unknown"
    elif any(iv.value in UNWATCHED_VERDICTS and touches(iv) for iv in verdicts) or any(
        iv.value in UNWATCHED_STATES and touches(iv) for ivs in timelines.values() for iv in ivs
    ):
        seg.equal_terms = "unconfirmed"
    seg.affected = affected


def segment_title(seg: Segment, lang: str) -> str:
    if seg.kind == "whole":
        return label("rep.whole", lang)
    if seg.kind == "item":
        return f"§ {seg.label}"
    return label("rep.vote", lang) + (f" ({seg.label})" if seg.label else "")


def verdict_text(seg: Segment, lang: str) -> str:
    return label(
        {"held": "rep.held", "not_held": "rep.not_held", "unknown": "rep.unknown", "unconfirmed": "rep.unconfirmed"}[
            seg.equal_terms
        ],
        lang,
    )


def to_csv(rep: Report, lang: str) -> str:
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(["meeting_id", "section", "label", "from", "to", "equal_terms", "affected"])
    mid = rep.meeting.id
    for seg in rep.segments:
        w.writerow(
            [
                mid,
                seg.kind,
                segment_title(seg, lang),
                clock_text(seg.start),
                clock_text(seg.end),
                seg.equal_terms,
                "; ".join(seg.affected),
            ]
        )
    for adj in rep.adjournments:
        w.writerow([mid, "adjournment", adj.value, clock_text(adj.start), clock_text(adj.end), "", ""])
    for at, name in rep.substitutions:
        w.writerow([mid, "substitution", name, clock_text(at), "", "", name])
    for rc in rep.roll_calls:
        w.writerow([mid, "roll_call", rc.name, clock_text(rc.at), "", roll_call_text(rc, lang), ""])
    for at, name, words in rep.told:
        w.writerow([mid, "unequal_terms", words, clock_text(at), "", "", name])
    for at, name, reason, by in rep.present:
        w.writerow([mid, "present", reason, clock_text(at), "", by, name])
    for member_id, ivs in rep.timelines.items():
        for iv in ivs:
            w.writerow(
                [
                    mid,
                    "state",
                    rep.names.get(member_id, member_id),
                    clock_text(iv.start),
                    clock_text(iv.end),
                    iv.value,
                    "",
                ]
            )
    return buf.getvalue()
