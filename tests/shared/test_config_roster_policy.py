"""Typed configuration, the secretary's roster (H21-H23) and the policy with sources."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from likavillkor.config import ConfigError, Section, load, loads
from likavillkor.policy import Direction, load_policy
from likavillkor.roster import Role, System, load_body_table, parse_roster


class Mqtt(Section):
    url: str = ""
    keepalive_s: int = 30


class Cfg(Section):
    device_id: str = "x"
    mqtt: Mqtt = msgspec.field(default_factory=Mqtt)


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    f = tmp_path / "agent.toml"
    f.write_text('device_id = "a"\n\n[mqtt]\nurl = "mqtt://h"\nhots = "typo"\n')
    with pytest.raises(ConfigError) as info:
        load(f, Cfg)
    assert info.value.line == 5
    assert info.value.key == "mqtt.hots"
    assert "agent.toml line 5" in str(info.value) and "mqtt.hots" in str(info.value)


def test_wrong_type_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        loads('[mqtt]\nkeepalive_s = "soon"\n', Cfg)
    assert info.value.line == 2 and info.value.key == "mqtt.keepalive_s"


def test_environment_overrides_and_unknown_env_key() -> None:
    env = {"LV__MQTT__URL": "mqtt://broker:1883", "LV__MQTT__KEEPALIVE_S": "10"}
    cfg = loads("", Cfg, env_prefix="LV", environ=env)
    assert cfg.mqtt.url == "mqtt://broker:1883" and cfg.mqtt.keepalive_s == 10
    with pytest.raises(ConfigError) as info:
        loads("", Cfg, env_prefix="LV", environ={"LV__MQTT__NOPE": "1"})
    assert "LV__MQTT__NOPE" in str(info.value)


def test_invalid_toml_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        loads('device_id = "a"\nbroken = \n', Cfg)
    assert info.value.line == 2


ROSTER = """\
[[meeting]]
id = "ks-2026-12-01"
body = "Kommunstyrelsen"
start = 2026-12-01T09:00:00+01:00
end = 2026-12-01T12:00:00+01:00
room = "Sessionssalen"

[[meeting.participant]]
name = "Anna Andersson"
role = "ledamot"
device_id = "anna-ipad"

[[meeting.participant]]
name = "Örjan Östlund"
role = "ersättare"
device_id = "orjan-pc"

[[meeting]]
id = "sn-2026-12-02"
body = "socialnämnden"
start = 2026-12-02T13:00:00
end = 2026-12-02T15:00:00
secret = true
"""


def test_roster_parses_with_body_table_defaults() -> None:
    roster = parse_roster(ROSTER)
    ks = roster.meetings["ks-2026-12-01"]
    assert ks.system is System.TEAMS  # H22 table
    assert [p.member_id for p in ks.participants] == ["anna.andersson", "orjan.ostlund"]
    assert ks.participants[1].role is Role.ERSATTARE
    assert ks.end - ks.start == 3 * 3600
    sn = roster.meetings["sn-2026-12-02"]
    assert sn.system is System.COMPODIUM and sn.secret
    assert roster.devices == {"anna-ipad": "anna.andersson", "orjan-pc": "orjan.ostlund"}
    assert roster.current_meeting_for_device("anna-ipad", ks.start + 60) is ks
    assert roster.current_meeting_for_device("anna-ipad", ks.end + 60) is None


def test_secret_meeting_outside_compodium_is_refused_at_its_line() -> None:
    bad = ROSTER.replace("secret = true", 'secret = true\nsystem = "teams"')
    with pytest.raises(ConfigError) as info:
        parse_roster(bad)
    assert info.value.line == 23 and "H21" in str(info.value)


def test_remote_participant_in_physical_only_body_is_refused() -> None:
    bad = ROSTER.replace('body = "socialnämnden"', 'body = "Socialnämndens individutskott"') + (
        '\n[[meeting.participant]]\nname = "B"\ndevice_id = "b-ipad"\n'
    )
    with pytest.raises(ConfigError) as info:
        parse_roster(bad)
    assert info.value.line == 25 and "H23" in str(info.value)


def test_same_device_twice_and_unknown_key_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_roster(ROSTER.replace('device_id = "orjan-pc"', 'device_id = "anna-ipad"'))
    assert info.value.line == 16
    with pytest.raises(ConfigError) as info:
        parse_roster(ROSTER.replace('role = "ledamot"', 'rolle = "ledamot"'))
    assert info.value.line == 10


def test_body_table_covers_the_handbook() -> None:
    table = load_body_table()
    assert table.lookup("Kommunfullmäktige").system is System.TEAMS  # type: ignore[union-attr]
    assert table.lookup("Krisledningsnämnden").system is System.COMPODIUM  # type: ignore[union-attr]
    assert table.lookup("socialnämndens individutskott").physical_only  # type: ignore[union-attr]
    assert len(table.bodies) == 15


def test_every_shipped_limit_has_a_source_and_overrides_apply(tmp_path: Path) -> None:
    policies = load_policy()
    base = policies.for_meeting("teams", "kommunstyrelsen")
    assert base.limits and all(limit.source for limit in base.limits.values())
    assert base.silence_lost_source and base.substitute_after_s == 300.0  # H16
    assert base.limits["mos"].direction is Direction.BELOW
    assert base.limits["rtt_ms"].level(50) == 0
    assert base.limits["rtt_ms"].level(150) == 1
    assert base.limits["rtt_ms"].level(600) == 2
    local = tmp_path / "policy.toml"
    local.write_text('[profiles.compodium.limits.rtt_ms]\nwarn = 80.0\n\n[bodies."valnämnden"]\nsilence_lost_s = 8.0\n')
    policies = load_policy(local)
    assert policies.for_meeting("compodium", "x").limits["rtt_ms"].warn == 80.0
    assert policies.for_meeting("compodium", "x").limits["rtt_ms"].fail == 500.0
    assert policies.for_meeting("teams", "Valnämnden").silence_lost_s == 8.0
    assert policies.for_meeting("teams", "kommunstyrelsen").silence_lost_s == base.silence_lost_s


def test_policy_rejects_unknown_keys(tmp_path: Path) -> None:
    local = tmp_path / "policy.toml"
    local.write_text("[defaults]\nsilence_lost = 3\n")
    with pytest.raises(ConfigError) as info:
        load_policy(local)
    assert "silence_lost" in str(info.value)


def test_preconditions_are_a_risk_unless_a_body_escalates_them(tmp_path: Path) -> None:
    """Issue 11 / rules.md "Reading the rules together": shipped, every unmet precondition is
    ``at_risk``; a body may escalate one to ``adjourn``; a misspelt item or value is refused."""
    base = load_policy().for_meeting("teams", "kommunstyrelsen")
    assert base.preconditions.source
    assert not any(base.escalates(k) for k in ("mobile_data", "hotspot", "battery", "wifi_signal", "cpu", "memory"))
    local = tmp_path / "policy.toml"
    local.write_text('[bodies."kommunfullmäktige".preconditions]\nmobile_data = "adjourn"\n')
    policies = load_policy(local)
    assert policies.for_meeting("teams", "Kommunfullmäktige").escalates("mobile_data")
    assert not policies.for_meeting("teams", "Kommunfullmäktige").escalates("hotspot")
    assert not policies.for_meeting("teams", "kommunstyrelsen").escalates("mobile_data")
    for bad in ('mobil_data = "adjourn"', 'mobile_data = "ajournera"'):
        local.write_text(f'[bodies."kommunfullmäktige".preconditions]\n{bad}\n')
        with pytest.raises(ConfigError) as info:
            load_policy(local)
        assert "preconditions" in str(info.value) or "mobil" in str(info.value), str(info.value)


def test_roster_roles_and_serving() -> None:
    """H16: a ledamot always serves; an ersättare serves only when the roster says so."""
    text = ROSTER.replace('role = "ersättare"', 'role = "ersättare"\nserving = true')
    ks = parse_roster(text).meetings["ks-2026-12-01"]
    assert [p.serving for p in ks.participants] == [True, True]
    ks = parse_roster(ROSTER).meetings["ks-2026-12-01"]
    assert [p.serving for p in ks.participants] == [True, False]
    with pytest.raises(ConfigError) as info:
        parse_roster(ROSTER.replace('role = "ledamot"', 'role = "ledamot"\nserving = false'))
    assert info.value.line == 11 and "ledamot" in str(info.value)


def test_member_id_twice_in_a_meeting_is_refused_at_its_line() -> None:
    bad = ROSTER.replace('name = "Örjan Östlund"', 'name = "Örjan Östlund"\nmember_id = "anna.andersson"')
    with pytest.raises(ConfigError) as info:
        parse_roster(bad)
    assert info.value.line == 15 and "anna.andersson" in str(info.value)
    # the same person in two different meetings is fine
    two = ROSTER + '\n[[meeting.participant]]\nname = "Anna Andersson"\ndevice_id = "anna-2"\n'
    assert parse_roster(two).meetings["sn-2026-12-02"].participants[0].member_id == "anna.andersson"


def test_unknown_body_is_refused_with_the_nearest_name() -> None:
    with pytest.raises(ConfigError) as info:
        parse_roster(ROSTER.replace('body = "Kommunstyrelsen"', 'body = "Kommunstyrelse"'))
    assert info.value.line == 3 and "'kommunstyrelsen'" in str(info.value) and "H22" in str(info.value)
    # naming a system no longer lets an unknown body through
    with pytest.raises(ConfigError) as info:
        parse_roster(ROSTER.replace('body = "Kommunstyrelsen"', 'body = "Fritidsklubben"\nsystem = "teams"'))
    assert info.value.line == 3 and "did you mean" not in str(info.value)


def test_system_against_the_body_table_needs_the_reason_h22() -> None:
    bad = ROSTER.replace('room = "Sessionssalen"', 'room = "Sessionssalen"\nsystem = "compodium"')
    with pytest.raises(ConfigError) as info:
        parse_roster(bad)
    assert info.value.line == 7 and "H22" in str(info.value) and "system_exception" in str(info.value)
    reason = 'system_exception = "Teams-störning hos leverantören"'
    ok = bad.replace('system = "compodium"', 'system = "compodium"\n' + reason)
    assert parse_roster(ok).meetings["ks-2026-12-01"].system is System.COMPODIUM
    # saying the body's own system is no exception
    same = ROSTER.replace('room = "Sessionssalen"', 'room = "Sessionssalen"\nsystem = "teams"')
    assert parse_roster(same).meetings["ks-2026-12-01"].system is System.TEAMS
