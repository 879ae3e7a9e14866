"""Drive the pure engine through a scenario folder with an injected clock (Telegraf-style cases).

A case is a folder with ``input.toml`` (or ``input.jsonl``: the first line is the setup, every
other line one event) and ``expected.toml`` (or ``expected.json``). Times ``t`` are seconds
relative to the meeting's start, on the collector's clock. See ``tests/scenarios/README.md``.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from agent.identity import STATUS_SEQ_BASE
from collector.engine import (
    Action,
    ActionKind,
    Change,
    Engine,
    Incident,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    StateChanged,
    VerdictChanged,
)
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import Meeting, Monitoring, Participant, Role, Roster, System

START = 1_796_112_000.0  # 2026-12-01 09:00:00 Europe/Stockholm
MEETING = "ks-test"
_ENC = msgspec.json.Encoder()


@dataclass
class Run:
    """Everything a scenario produced, for the expectations to look at."""

    changes: list[Change] = field(default_factory=list)
    outcomes: list[tuple[float, str, str]] = field(default_factory=list)  # (t, device, outcome)
    failures: list[str] = field(default_factory=list)


def load_case(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    if (folder / "input.toml").exists():
        setup = tomllib.loads((folder / "input.toml").read_text(encoding="utf-8"))
        events = setup.pop("event", [])
    else:
        lines = [json.loads(x) for x in (folder / "input.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
        setup, events = lines[0], lines[1:]
    if (folder / "expected.toml").exists():
        expected = tomllib.loads((folder / "expected.toml").read_text(encoding="utf-8"))
    else:
        expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return setup, events, expected


def build_roster(setup: dict[str, Any]) -> Roster:
    roster = Roster()
    parts = []
    for p in setup.get("participant", []):
        member_id = p.get("member_id", p["device_id"])
        role = Role(p.get("role", "ledamot"))
        parts.append(
            Participant(
                member_id,
                p.get("name", member_id),
                role,
                p["device_id"],
                monitoring=Monitoring(p.get("monitoring", "agent")),
                serving=bool(p.get("serving", role is Role.LEDAMOT)),
            )
        )
        roster.devices[p["device_id"]] = member_id
    for d in setup.get("known_device", []):
        roster.devices[d] = None
    m = setup.get("meeting", {})
    roster.meetings[MEETING] = Meeting(
        MEETING,
        m.get("body", "kommunstyrelsen"),
        START,
        START + 60 * m.get("duration_min", 120),
        m.get("room", "Sessionssalen"),
        System(m.get("system", "teams")),
        bool(m.get("secret", False)),
        tuple(parts),
    )
    return roster


def expand(events: list[dict[str, Any]]) -> list[tuple[float, int, dict[str, Any]]]:
    """Samples with ``repeat`` become one event per ``every`` seconds (device time advancing by
    ``ts_every``), fields cycling through ``cycle``; the order at equal times is kept."""
    out: list[tuple[float, int, dict[str, Any]]] = []
    for ev in events:
        repeat = int(ev.get("repeat", 1))
        every = float(ev.get("every", 1.0))
        ts_every = float(ev.get("ts_every", every))
        cycle = ev.get("cycle")
        for k in range(repeat):
            one = dict(ev)
            one["t"] = float(ev["t"]) + k * every
            if "ts" in ev:
                one["ts"] = float(ev["ts"]) + k * ts_every
            if "seq" in ev:
                one["seq"] = int(ev["seq"]) + k
            if cycle:
                one["fields"] = {**ev.get("fields", {}), **cycle[k % len(cycle)]}
            out.append((one["t"], len(out), one))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


class Driver:
    def __init__(self, setup: dict[str, Any], policy_file: Path) -> None:
        self.roster = build_roster(setup)
        text = setup.get("policy", "")
        policy_file.write_text(text, encoding="utf-8")
        self.policies = load_policy(policy_file)
        self.t0 = float(setup.get("begin", -1800))
        self.engine = Engine(self.roster, self.policies, now=START + self.t0)
        self.seq: dict[tuple[str, str], int] = {}
        self.first_ts: dict[tuple[str, str], float] = {}  # device time of each boot's first message
        self.run = Run()

    def message(self, ev: dict[str, Any], now: float) -> wire.Message:
        device = ev["device"]
        boot = ev.get("boot", "b1")
        kind = ev["kind"]
        # as the real agent numbers them (agent.identity): status messages have their own series
        # from STATUS_SEQ_BASE; the last will is composed at the boot's first connect, so the broker
        # delivers it with that connect's seq (the series' first) and device time, however late
        status = kind == "status"
        key = (device, boot + "/status") if status else (device, boot)
        will = status and ev.get("reason") == "will"
        if "seq" in ev:
            seq = int(ev["seq"])
        elif will:
            seq = STATUS_SEQ_BASE
        else:
            seq = self.seq.get(key, STATUS_SEQ_BASE if status else -1) + 1
        if not will:
            self.seq[key] = max(seq, self.seq.get(key, -1))
        self.first_ts.setdefault((device, boot), now + float(ev.get("clock_offset_s", 0.0)))
        if "ts" in ev:
            ts = START + float(ev["ts"])
        elif will:
            ts = self.first_ts[(device, boot)]
        else:
            ts = now + float(ev.get("clock_offset_s", 0.0))
        head: dict[str, Any] = {"device_id": device, "boot_id": boot, "seq": seq, "ts": ts}
        if kind == "sample":
            return msgspec.convert({**head, **ev.get("fields", {})}, wire.Sample)
        if kind == "status":
            return wire.Status(**head, state=wire.DeviceState(ev.get("state", "online")), reason=ev.get("reason"))
        checks = [wire.CheckResult(id=c, status=wire.CheckStatus.FAIL) for c in ev.get("failed", [])]
        checks.append(wire.CheckResult(id="network.link", status=wire.CheckStatus.PASS))
        return wire.SelftestResult(
            **head,
            overall=wire.CheckStatus(ev.get("overall", "pass")),
            started_at=ts - 20,
            duration_s=20,
            checks=checks,
            source=ev.get("source", "agent"),
        )

    def apply(self, ev: dict[str, Any], now: float, tmp: Path) -> None:
        kind = ev["kind"]
        e = self.engine
        if kind in ("sample", "status", "selftest"):
            # every message goes over the wire encoding, as in production
            msg = wire.decode(wire.encode(self.message(ev, now)))
            outcome, changes = e.ingest(msg, now)
            self.run.outcomes.append((now - START, ev["device"], str(outcome)))
            if "expect" in ev and str(outcome) != ev["expect"]:
                self.run.failures.append(
                    f"t={now - START:g} {ev['device']}: outcome {outcome}, expected {ev['expect']}"
                )
            self.run.changes.extend(changes)
        elif kind == "action":
            action = Action(
                meeting_id=ev.get("meeting", MEETING),
                kind=ActionKind(ev["action"]),
                at=now,
                by=ev.get("by", "ordförande"),
                member_id=ev.get("member"),
                item=ev.get("item"),
                substitute_id=ev.get("substitute"),
            )
            try:
                self.run.changes.extend(e.act(action))
            except ValueError as exc:
                if "expect_error" not in ev or ev["expect_error"] not in str(exc):
                    self.run.failures.append(f"t={now - START:g} action {ev['action']}: ValueError {exc}")
                return
            if "expect_error" in ev:
                self.run.failures.append(
                    f"t={now - START:g} action {ev['action']}: no error, expected {ev['expect_error']!r}"
                )
        elif kind == "mediapath":
            self.run.changes.extend(e.record_mediapath(ev["device"], ev.get("meeting"), ev["result"], now))
        elif kind == "companion":  # the member's companion page: open/shown or hidden/closed (issue 11)
            self.run.changes.extend(e.companion(ev.get("meeting", MEETING), ev["member"], bool(ev["open"]), now))
        elif kind == "broker":
            self.run.changes.extend(e.broker(bool(ev["connected"]), now))
        elif kind == "tick":
            self.run.changes.extend(e.tick(now))
        elif kind == "restart":
            blob = e.snapshot()
            self.engine = Engine(self.roster, self.policies, now=now)
            self.engine.restore(blob, now)
            if ev.get("own_gap", False):  # as collector.runtime does after restoring (issue 11)
                self.run.changes.extend(self.engine.own_gap(None, now))
        elif kind == "gap":  # the collector itself stood still from `since` (issue 11)
            self.run.changes.extend(e.own_gap(START + float(ev["since"]), now))
        else:
            raise ValueError(f"unknown event kind {kind!r}")


def run_case(folder: Path, tmp: Path) -> tuple[Run, dict[str, Any], list[str]]:
    setup, events, expected = load_case(folder)
    drv = Driver(setup, tmp / "policy.toml")
    checks = sorted(expected.get("check", []), key=lambda c: c["t"])
    timeline = expand(events)
    end = max([c["t"] for c in checks] + [t for t, _, _ in timeline] + [drv.t0])
    tick_every = float(setup.get("tick_every", 1.0))
    errors: list[str] = []
    i = j = 0
    now_rel = drv.t0
    while now_rel <= end + 1e-9:
        while i < len(timeline) and timeline[i][0] <= now_rel + 1e-9:
            drv.apply(timeline[i][2], START + timeline[i][0], tmp)
            i += 1
        if tick_every > 0:
            drv.run.changes.extend(drv.engine.tick(START + now_rel))
        while j < len(checks) and checks[j]["t"] <= now_rel + 1e-9:
            errors.extend(check_at(drv.engine, checks[j], START + checks[j]["t"]))
            j += 1
        nxt = [now_rel + tick_every] if tick_every > 0 else []
        if i < len(timeline):
            nxt.append(timeline[i][0])
        if j < len(checks):
            nxt.append(checks[j]["t"])
        if not nxt:
            break
        now_rel = min(nxt) if min(nxt) > now_rel else now_rel + 1e-6
    for ch in drv.run.changes:
        _ENC.encode(ch)  # every change must encode to JSON for the API and the live view
    errors.extend(drv.run.failures)
    errors.extend(check_run(drv.run, expected))
    return drv.run, expected, errors


def _none(value: Any) -> Any:
    """TOML has no null: the string "__none__" stands for None."""
    return None if value == "__none__" else value


def check_at(engine: Engine, c: dict[str, Any], now: float) -> list[str]:
    view = engine.view(MEETING, now)
    assert view is not None
    _ENC.encode(view)
    t = c["t"]
    errs: list[str] = []
    parts = {p.member_id: p for p in view.participants}

    def want(label: str, got: Any, exp: Any) -> None:
        if got != exp:
            errs.append(f"t={t}: {label} is {got!r}, expected {exp!r}")

    if "verdict" in c:
        want("verdict", str(view.verdict), c["verdict"])
    if "monitoring" in c:
        want("monitoring", view.monitoring, c["monitoring"])
    if "vote_running" in c:
        want("vote_running", view.vote_running, c["vote_running"])
    if "adjourned_since" in c:
        want(
            "adjourned_since",
            None if view.adjourned_since is None else view.adjourned_since - START,
            _none(c["adjourned_since"]),
        )
    codes = [r.code for r in view.reasons]
    if "verdict_reason" in c:
        want("main verdict reason", codes[0] if codes else None, c["verdict_reason"])
    for code in c.get("verdict_reasons", []):
        if code not in codes:
            errs.append(f"t={t}: verdict reasons {codes} lack {code!r}")
    for member, state in c.get("state", {}).items():
        want(f"{member}.state", str(parts[member].state), state)
    for member, code in c.get("reason", {}).items():
        r = parts[member].reason
        want(f"{member}.reason", r.code if r else None, code)
    for member, text in c.get("reason_sv", {}).items():
        texts = [r.sv for r in parts[member].reasons]
        if not any(text in x for x in texts):
            errs.append(f"t={t}: {member} reasons {texts} lack {text!r}")
    for member, text in c.get("reason_en", {}).items():
        texts = [r.en for r in parts[member].reasons]
        if not any(text in x for x in texts):
            errs.append(f"t={t}: {member} reasons {texts} lack {text!r}")
    for member, serving in c.get("serving", {}).items():
        want(f"{member}.serving", parts[member].serving, serving)
    for member, who in c.get("substituted_by", {}).items():
        want(f"{member}.substituted_by", parts[member].substituted_by, _none(who))
    for member, flags in c.get("flags", {}).items():
        want(f"{member}.flags", sorted(parts[member].flags), sorted(flags))
    for member, secs in c.get("substitute_in_s", {}).items():
        secs = _none(secs)
        got = parts[member].substitute_in_s
        if secs is None or got is None:
            want(f"{member}.substitute_in_s", got, secs)
        elif abs(got - secs) > 0.01:
            errs.append(f"t={t}: {member}.substitute_in_s is {got}, expected {secs}")
    for member, rel in c.get("lost_since", {}).items():
        got = parts[member].lost_since
        want(f"{member}.lost_since", None if got is None else round(got - START, 3), _none(rel))
    if "open_incidents" in c:
        got_open = sorted(f"{i.member_id}:{i.kind}" for i in engine.open_incidents())
        want("open incidents", got_open, sorted(c["open_incidents"]))
    return errs


def incidents_of(run: Run) -> dict[str, Incident]:
    latest: dict[str, Incident] = {}
    for ch in run.changes:
        if isinstance(ch, IncidentOpened | IncidentUpdated | IncidentClosed):
            latest[ch.incident.id] = ch.incident
    return latest


def check_run(run: Run, expected: dict[str, Any]) -> list[str]:
    errs: list[str] = []
    transitions: dict[str, list[str]] = {}
    for ch in run.changes:
        if isinstance(ch, StateChanged) and ch.old is not ch.new:
            transitions.setdefault(ch.member_id, []).append(str(ch.new))
    for member, seq in expected.get("transitions", {}).items():
        if transitions.get(member, []) != seq:
            errs.append(f"{member} went {transitions.get(member, [])}, expected {seq}")
    if "verdicts" in expected:
        verdicts = [str(ch.new) for ch in run.changes if isinstance(ch, VerdictChanged)]
        if verdicts != expected["verdicts"]:
            errs.append(f"verdicts went {verdicts}, expected {expected['verdicts']}")
    incidents = list(incidents_of(run).values())
    if "incident_kinds" in expected:
        got_kinds = sorted(f"{i.member_id}:{i.kind}" for i in incidents)
        if got_kinds != sorted(expected["incident_kinds"]):
            errs.append(f"incidents {got_kinds}, expected {sorted(expected['incident_kinds'])}")
    for want in expected.get("incident", []):
        matches = [i for i in incidents if i.member_id == want["member"] and i.kind == want["kind"]]
        if not matches:
            errs.append(
                f"no incident {want['member']}:{want['kind']} among {[(i.member_id, i.kind) for i in incidents]}"
            )
            continue
        inc = sorted(matches, key=lambda i: i.started_at)[int(want.get("index", 0))]
        for key, exp in want.items():
            if key in ("member", "kind", "index"):
                continue
            got: Any
            if key in ("started_at", "ended_at"):
                raw = getattr(inc, key)
                got = None if raw is None else round(raw - START, 3)
            elif key.startswith("metrics."):
                got = inc.metrics.get(key.split(".", 1)[1])
            else:
                got = getattr(inc, key)
            if got != _none(exp):
                errs.append(f"incident {want['member']}:{want['kind']}: {key} is {got!r}, expected {exp!r}")
    return errs
