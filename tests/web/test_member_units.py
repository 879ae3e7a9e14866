"""Pure parts of the web layer (collector/web/member.py, hub.py): the browser result the server
records, and what counts as a change
for the live view."""

from __future__ import annotations

from collector.web import hub, member
from collector.web.models import BrowserSelftestIn, CheckIn
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import parse_roster
from tests.support.roster import fixed_roster

ROSTER = parse_roster(fixed_roster())


def check(cid: str, status: str) -> CheckIn:
    return CheckIn(id=cid, status=wire.CheckStatus(status))


def test_the_server_decides_overall_and_says_what_a_browser_cannot_see() -> None:
    meeting = ROSTER.meetings["ks-1"]
    body = BrowserSelftestIn(
        started_at=meeting.start - 600,
        duration_s=30,
        checks=[check("camera.capture", "pass"), check("network.rtt", "warn")],
    )
    msg = member.browser_result(body, meeting, "anna-ipad", now=meeting.start - 570, lang="sv")
    assert (msg.source, msg.device_id, msg.meeting_id, msg.overall) == ("browser", "anna-ipad", "ks-1", "warn")
    blind = {c.id: c for c in msg.checks if c.status is wire.CheckStatus.SKIPPED}
    assert set(blind) == {"network.link", "battery.level"} and "mobildata" in (blind["network.link"].summary or "")
    assert wire.decode(wire.encode(msg)) == msg  # a valid wire message
    assert member.overall_of([wire.CheckResult(id="x", status=wire.CheckStatus.ERROR)]) is wire.CheckStatus.FAIL
    assert member.overall_of([wire.CheckResult(id="x", status=wire.CheckStatus.SKIPPED)]) is wire.CheckStatus.PASS
    assert member.overall_of([]) is wire.CheckStatus.FAIL  # nothing measured is not a pass


def test_change_key_ignores_only_the_ticking_fields() -> None:
    a = b'{"verdict":"adjourn","participants":[{"substitute_in_s":281.5,"selftest":{"at":1.0}}],"at":1700000000.5}'
    b = b'{"verdict":"adjourn","participants":[{"substitute_in_s":280.25,"selftest":{"at":1.0}}],"at":1700000001.75}'
    c = b'{"verdict":"adjourn","participants":[{"substitute_in_s":280.25,"selftest":{"at":2.0}}],"at":1700000001.75}'
    assert hub.change_key(a) == hub.change_key(b)
    assert hub.change_key(b) != hub.change_key(c)  # a new self-test is a change


def test_selftest_limits_follow_the_meetings_policy() -> None:
    limits = member.selftest_limits(load_policy(), ROSTER.meetings["ks-1"])
    assert (limits["rtt_warn_ms"], limits["rtt_fail_ms"]) == (100.0, 500.0)
    assert limits["down_warn_kbps"] == 4000.0 and limits["up_fail_kbps"] == 1500.0


def test_ice_servers_come_from_the_media_section() -> None:
    """``[media] ice_servers`` (collector/config.py) reaches the browser as RTCPeerConnection's
    iceServers; empty optional fields are left out; no section, no servers (a LAN)."""
    from types import SimpleNamespace

    from collector.web.context import ice_servers_of

    turn = {"urls": ["turn:turn.kommun.se:3478"], "username": "lv", "credential": "s3cret"}
    stun = {"urls": "stun:stun.kommun.se:3478", "username": None, "credential": ""}
    config = SimpleNamespace(media=SimpleNamespace(ice_servers=[turn, stun]))
    assert ice_servers_of(config) == [turn, {"urls": "stun:stun.kommun.se:3478"}]
    assert ice_servers_of(SimpleNamespace(media=SimpleNamespace(ice_servers=[]))) == []
    assert ice_servers_of(SimpleNamespace(http=None)) == []


def test_links_are_https_or_a_plain_http_base_is_named_issue_15() -> None:
    from collector.web.selftest_links import link_base_problem

    assert link_base_problem("https://likavillkor.kommun.se") is None
    assert link_base_problem("http://127.0.0.1:8860") is None  # a browser on this machine: secure context
    assert link_base_problem("http://localhost:8860") is None
    problem = link_base_problem("http://collector.kommun.local:8860")
    assert problem is not None and "public_url" in problem and "camera" in problem
    assert link_base_problem("http://10.0.0.5:8860") is not None


def test_the_h17_report_has_its_own_small_body_bound() -> None:
    from collector.web import bodylimit

    assert bodylimit.limit_for("POST", "/selftest/abc.def/unequal") == bodylimit.UNEQUAL_LIMIT == 4096
    assert bodylimit.limit_for("POST", "/selftest/abc.def/result") == bodylimit.SELFTEST_RESULT_LIMIT


def test_member_record_from_the_actions_h17_h18() -> None:
    from collector.engine import Action, ActionKind
    from collector.web import member_notice

    def act(kind: ActionKind, at: float, member: str | None = "anna", item: str | None = None) -> Action:
        return Action(meeting_id="m", kind=kind, at=at, by="x", member_id=member, item=item)

    t = 1_796_112_000.0  # 09:00 Stockholm
    K = ActionKind
    rec = member_notice.record_of([act(K.UNEQUAL_TERMS, t), act(K.UNEQUAL_TERMS, t + 60)], "anna")
    assert rec.unequal_at == t and rec.unequal_reports == 2
    assert member_notice.told(rec, "sv") == "Ordföranden fick ditt meddelande kl. 09:00. Vänta på ordförandens besked."
    assert member_notice.record_of([act(K.UNEQUAL_TERMS, t), act(K.RESUME, t + 1, None)], "anna").unequal_at is None
    assert member_notice.record_of([act(K.UNEQUAL_TERMS, t, "bo")], "anna").unequal_at is None  # another's
    excused = member_notice.record_of([act(K.UNEQUAL_TERMS, t), act(K.EXCUSE, t + 600, item="§ 7")], "anna")
    assert excused.unequal_at is None and excused.excused_item == "§ 7"
    assert "§ 7" in member_notice.notice(excused, "sv") and "09:10" in member_notice.notice(excused, "sv")
    back = member_notice.record_of([act(K.EXCUSE, t, item="§ 7"), act(K.RETURN, t + 900)], "anna")
    assert back.excused_at is None and member_notice.notice(back, "en").startswith("The chair announced at 09:15")
    assert member_notice.notice(member_notice.MemberRecord(), "sv") == ""
