"""Pure parts of collector.pages: the browser result the server records, and what counts as a change
for the live view."""

from __future__ import annotations

from collector import pages
from likavillkor import wire
from likavillkor.policy import load_policy
from likavillkor.roster import parse_roster
from tests.support.roster import fixed_roster

ROSTER = parse_roster(fixed_roster())


def check(cid: str, status: str) -> pages.CheckIn:
    return pages.CheckIn(id=cid, status=wire.CheckStatus(status))


def test_the_server_decides_overall_and_says_what_a_browser_cannot_see() -> None:
    meeting = ROSTER.meetings["ks-1"]
    body = pages.BrowserSelftestIn(started_at=meeting.start - 600, duration_s=30,
                                   checks=[check("camera.capture", "pass"), check("network.rtt", "warn")])
    msg = pages.browser_result(body, meeting, "anna-ipad", now=meeting.start - 570, lang="sv")
    assert (msg.source, msg.device_id, msg.meeting_id, msg.overall) == ("browser", "anna-ipad", "ks-1", "warn")
    blind = {c.id: c for c in msg.checks if c.status is wire.CheckStatus.SKIPPED}
    assert set(blind) == {"network.link", "battery.level"} and "mobildata" in (blind["network.link"].summary or "")
    assert wire.decode(wire.encode(msg)) == msg  # a valid wire message
    assert pages.overall_of([wire.CheckResult(id="x", status=wire.CheckStatus.ERROR)]) is wire.CheckStatus.FAIL
    assert pages.overall_of([wire.CheckResult(id="x", status=wire.CheckStatus.SKIPPED)]) is wire.CheckStatus.PASS
    assert pages.overall_of([]) is wire.CheckStatus.FAIL  # nothing measured is not a pass


def test_change_key_ignores_only_the_ticking_fields() -> None:
    a = b'{"verdict":"adjourn","participants":[{"substitute_in_s":281.5,"selftest":{"at":1.0}}],"at":1700000000.5}'
    b = b'{"verdict":"adjourn","participants":[{"substitute_in_s":280.25,"selftest":{"at":1.0}}],"at":1700000001.75}'
    c = b'{"verdict":"adjourn","participants":[{"substitute_in_s":280.25,"selftest":{"at":2.0}}],"at":1700000001.75}'
    assert pages._change_key(a) == pages._change_key(b)
    assert pages._change_key(b) != pages._change_key(c)  # a new self-test is a change


def test_selftest_limits_follow_the_meetings_policy() -> None:
    limits = pages.selftest_limits(load_policy(), ROSTER.meetings["ks-1"])
    assert (limits["rtt_warn_ms"], limits["rtt_fail_ms"]) == (100.0, 500.0)
    assert limits["down_warn_kbps"] == 4000.0 and limits["up_fail_kbps"] == 1500.0
