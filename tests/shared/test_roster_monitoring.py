"""How each participant is watched (issue 11): ``monitoring`` on the roster and its default per device."""

from __future__ import annotations

import pytest

from likavillkor.config import ConfigError
from likavillkor.roster import DeviceKind, Monitoring, default_monitoring, parse_roster

ROSTER = """\
[[meeting]]
id = "ks-1"
body = "kommunstyrelsen"
start = 2026-12-01T09:00:00+01:00
end = 2026-12-01T12:00:00+01:00

[[meeting.participant]]
name = "Anna Andersson"
device_id = "ks-ipad-07"

[[meeting.participant]]
name = "Örjan Östlund"
device_id = "orjan-pc"

[[meeting.participant]]
name = "Cecilia Carlsson"
device_id = "cecilia-pc"
monitoring = "none"

[[meeting.participant]]
name = "David Dahl"
device_id = "david-laptop"

[[device]]
id = "ks-ipad-07"
kind = "ipad"

[[device]]
id = "orjan-pc"
kind = "pc"
"""


def test_default_by_device_kind_and_the_secretarys_choice() -> None:
    roster = parse_roster(ROSTER)
    by = {p.member_id: p.monitoring for p in roster.meetings["ks-1"].participants}
    assert by == {
        "anna.andersson": Monitoring.BROWSER,  # an iPad runs no agent (H9, H10)
        "orjan.ostlund": Monitoring.AGENT,  # a managed PC runs it
        "cecilia.carlsson": Monitoring.NONE,  # the secretary said so
        "david.dahl": Monitoring.AGENT,
    }  # not listed: the id the agent publishes under
    assert roster.device_kinds == {"ks-ipad-07": DeviceKind.IPAD, "orjan-pc": DeviceKind.PC}
    assert default_monitoring(DeviceKind.PHONE) is Monitoring.BROWSER
    assert default_monitoring(DeviceKind.MAC) is Monitoring.AGENT
    assert default_monitoring(None) is Monitoring.AGENT


def test_the_secretary_may_watch_an_ipad_by_nothing_or_a_pc_by_the_browser() -> None:
    text = ROSTER.replace('device_id = "ks-ipad-07"\n', 'device_id = "ks-ipad-07"\nmonitoring = "none"\n', 1)
    text = text.replace('device_id = "orjan-pc"\n', 'device_id = "orjan-pc"\nmonitoring = "browser"\n', 1)
    by = {p.member_id: p.monitoring for p in parse_roster(text).meetings["ks-1"].participants}
    assert by["anna.andersson"] is Monitoring.NONE and by["orjan.ostlund"] is Monitoring.BROWSER


def test_agent_on_an_ipad_is_refused_at_its_line() -> None:
    text = ROSTER.replace('device_id = "ks-ipad-07"\n', 'device_id = "ks-ipad-07"\nmonitoring = "agent"\n', 1)
    with pytest.raises(ConfigError) as exc:
        parse_roster(text, source="roster.toml")
    assert exc.value.line == 10 and "cannot run the agent" in str(exc.value)
    assert "roster.toml" in str(exc.value) and "line 10" in str(exc.value)


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ('device_id = "cecilia-pc"\nmonitoring = "none"', 'device_id = "cecilia-pc"\nmonitoring = "webb"', 18),
        ('id = "orjan-pc"\nkind = "pc"', 'id = "orjan-pc"\nkind = "laptop"', 30),
    ],
)
def test_unknown_monitoring_or_kind_names_the_line(old: str, new: str, line: int) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_roster(ROSTER.replace(old, new), source="roster.toml")
    assert exc.value.line == line, str(exc.value)


def test_example_roster_shows_every_mode() -> None:
    from pathlib import Path

    from likavillkor.roster import load_roster

    roster = load_roster(Path(__file__).resolve().parents[2] / "deploy" / "roster.example.toml")
    modes = {p.member_id: p.monitoring for p in roster.meetings["ks-2026-12-01"].participants}
    assert modes == {
        "anna.andersson": Monitoring.BROWSER,
        "bjorn.oberg": Monitoring.AGENT,
        "fatima.said": Monitoring.NONE,
    }
