"""Personal self-test links (H7): one member, one meeting, signed, expiring after the meeting."""

from __future__ import annotations

import pytest

from collector.web import selftest_links as links
from likavillkor.roster import parse_roster

SECRET = b"x" * 32


def test_links_resolve_to_their_member_and_meeting_until_after_the_meeting(roster_text: str) -> None:
    roster = parse_roster(roster_text)
    meeting = roster.meetings["ks-1"]
    (link,) = links.links_for_meeting(SECRET, meeting, grace_s=600)
    token = link.path.removeprefix("/selftest/")
    assert link.expires_at == meeting.end + 600
    m, p = links.resolve(SECRET, token, roster, now=meeting.start - 86400)
    assert (m.id, p.member_id, p.device_id) == ("ks-1", "anna.andersson", "anna-ipad")
    with pytest.raises(links.InvalidLink) as err:
        links.resolve(SECRET, token, roster, now=meeting.end + 601)
    assert err.value.reason is links.LinkError.EXPIRED


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"), links.LinkError.BAD_SIGNATURE),
        (lambda t: t.split(".")[0], links.LinkError.MALFORMED),
        (lambda t: "", links.LinkError.MALFORMED),
    ],
)
def test_forged_links_are_refused(mutate: object, reason: links.LinkError) -> None:
    token = links.make_token(SECRET, "ks-1", "anna.andersson", 4_000_000_000)
    with pytest.raises(links.InvalidLink) as err:
        links.read_token(SECRET, mutate(token), now=1_800_000_000)  # type: ignore[operator]
    assert err.value.reason is reason
    with pytest.raises(links.InvalidLink):
        links.read_token(b"y" * 32, token, now=1_800_000_000)  # another collector's secret


def test_links_for_a_removed_member_or_meeting_stop_working(roster_text: str) -> None:
    roster = parse_roster(roster_text)
    for meeting_id, member_id, reason in (
        ("ks-2", "anna.andersson", links.LinkError.UNKNOWN_MEETING),
        ("ks-1", "bo.berg", links.LinkError.NOT_A_PARTICIPANT),
    ):
        token = links.make_token(SECRET, meeting_id, member_id, 4_000_000_000)
        with pytest.raises(links.InvalidLink) as err:
            links.resolve(SECRET, token, roster, now=1_800_000_000)
        assert err.value.reason is reason
        assert links.TEXT[reason]["sv"] and links.TEXT[reason]["en"]
