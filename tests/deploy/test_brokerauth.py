"""collector.auth.broker (broker-credentials) without a broker: the hash format against the real mosquitto_passwd, the
ACL text, keeping and rotating passwords, file modes, and clear refusals of bad input."""

from __future__ import annotations

import base64
import grp
import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest

from collector.auth import broker as ba
from collector.auth import broker_files as bf
from collector.auth import broker_passwords as bp
from likavillkor.config import load
from tests.support.services import require_binary

ROSTER = """
[[meeting]]
id = "sn-2026-12-03"
body = "socialnämnden"
secret = true
start = 2026-12-03T13:00:00+01:00
end = 2026-12-03T16:00:00+01:00
[[meeting.participant]]
name = "Cecilia Ek"
device_id = "cecilia-ipad"
[[meeting.participant]]
name = "David Falk"
device_id = "david-ipad"
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(tmp_path: Path, roster_text: str = ROSTER, *extra: str) -> tuple[int, Path]:
    roster = tmp_path / "roster.toml"
    roster.write_text(roster_text)
    out = tmp_path / "out"
    if "--mqtt-url" not in extra:
        extra = ("--mqtt-url", "mqtts://likavillkor.kommun.example:8883", *extra)
    return ba.main(["--roster", str(roster), "--out", str(out), *extra]), out


def test_hash_is_byte_identical_to_mosquitto_passwd(tmp_path: Path) -> None:
    pwfile = tmp_path / "pw"
    binary = require_binary("mosquitto_passwd")
    subprocess.run([binary, "-c", "-b", str(pwfile), "anna-ipad", "hemligt lösenord"], check=True, timeout=10)
    hashes = bp.parse_password_file(pwfile.read_text())
    theirs = hashes["anna-ipad"]
    assert bp.verify_password("hemligt lösenord", theirs)
    assert not bp.verify_password("hemligt lösenord!", theirs)
    _, seven, iterations, salt_b64, _ = theirs.split("$")
    ours = bp.hash_password("hemligt lösenord", salt=base64.b64decode(salt_b64), iterations=int(iterations))
    assert seven == "7" and ours == theirs


@pytest.mark.parametrize("bad", ["", "$6$abc$def", "$7$101$!!!$???", "$7$0$AAAA$AAAA", "plain"])
def test_verify_rejects_malformed_hashes(bad: str) -> None:
    assert bp.verify_password("x", bad) is False


def test_each_hash_has_its_own_salt() -> None:
    a, b = bp.hash_password("same"), bp.hash_password("same")
    assert a != b and bp.verify_password("same", a) and bp.verify_password("same", b)


def test_new_passwords_are_long_random_and_never_parse_as_toml_values() -> None:
    pws = {bp.new_password() for _ in range(200)}
    assert len(pws) == 200
    assert all(len(p) == bp.PASSWORD_LENGTH and p[0].isalpha() and p.isalnum() for p in pws)


def test_acl_gives_each_device_its_own_prefix_and_the_collector_read_only() -> None:
    acl = bf.render_acl(["b", "a"], collector_user="coll")
    blocks = [blk.strip().splitlines() for blk in acl.split("\n\n")]
    rules = {b[-2]: b[-1] for b in blocks if len(b) >= 2 and b[-2].startswith("user ")}
    assert rules == {
        "user coll": "topic read likavillkor/v1/#",
        "user a": "topic write likavillkor/v1/devices/a/#",
        "user b": "topic write likavillkor/v1/devices/b/#",
    }
    assert "pattern" not in acl and "readwrite" not in acl
    # nothing before the first 'user' line: anonymous clients get no rule
    before_first_user = acl.split("\nuser ", 1)[0]
    assert all(line.startswith("#") or not line for line in before_first_user.splitlines())


def test_auth_conf_refuses_anonymous() -> None:
    conf = bf.render_auth_conf("/mosquitto/auth/")
    settings = [line for line in conf.splitlines() if not line.startswith("#")]
    assert settings == [
        "allow_anonymous false",
        "password_file /mosquitto/auth/passwords",
        "acl_file /mosquitto/auth/acl",
    ]


def test_plan_keeps_rotates_and_creates() -> None:
    counter = iter(range(100))

    def make() -> str:
        return f"pw{next(counter)}"

    old = bp.hash_password("old")
    kept = bp.plan_user("u", existing_hash=old, existing_password="old", rotate=False, make_password=make)
    assert (kept.action, kept.hash, kept.password) == (bp.Action.KEPT, old, "old")
    rotated = bp.plan_user("u", existing_hash=old, existing_password="old", rotate=True, make_password=make)
    assert rotated.action is bp.Action.ROTATED and rotated.password == "pw0"
    assert bp.verify_password("pw0", rotated.hash)
    new = bp.plan_user("u", existing_hash=None, existing_password=None, rotate=False, make_password=make)
    assert new.action is bp.Action.NEW and bp.verify_password("pw1", new.hash)
    hash_only = bp.plan_user("u", existing_hash=old, existing_password=None, rotate=False, make_password=make)
    assert (hash_only.action, hash_only.hash, hash_only.password) == (bp.Action.KEPT_HASH_ONLY, old, None)
    # a credentials file whose password no longer matches the hash wins: the hash is redone
    drifted = bp.plan_user("u", existing_hash=old, existing_password="other", rotate=False, make_password=make)
    assert drifted.action is bp.Action.KEPT and bp.verify_password("other", drifted.hash)
    _, revoked = bp.plan_all(["u"], existing_hashes={"u": old, "gone": old}, existing_passwords={}, rotate=False)
    assert revoked == ["gone"]


def test_files_modes_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    rc, out = _run(tmp_path, ROSTER, "--mqtt-url", "mqtts://mqtt.kommun.example:8883", "--ca-file", "")
    assert rc == 0
    files = [
        out / "broker" / "passwords",
        out / "broker" / "acl",
        out / "devices" / "cecilia-ipad.toml",
        out / "devices" / "david-ipad.toml",
        out / "collector-mqtt.toml",
        out / "collector.env",
    ]
    before = {f: f.read_bytes() for f in files}
    assert [_mode(f) for f in files] == [0o640, 0o640, 0o600, 0o600, 0o600, 0o600]
    assert _mode(out / "devices") == 0o700
    device = (out / "devices" / "cecilia-ipad.toml").read_text()
    assert 'device_id = "cecilia-ipad"' in device and 'username = "cecilia-ipad"' in device
    assert 'url = "mqtts://mqtt.kommun.example:8883"' in device
    env = (out / "collector.env").read_text()
    assert f"LIKAVILLKOR_COLLECTOR__MQTT__USERNAME={bp.COLLECTOR_USER}\n" in env
    assert _run(tmp_path, ROSTER, "--mqtt-url", "mqtts://mqtt.kommun.example:8883")[0] == 0
    assert {f: f.read_bytes() for f in files} == before
    assert _run(tmp_path, ROSTER, "--mqtt-url", "mqtts://mqtt.kommun.example:8883", "--rotate")[0] == 0
    assert all(f.read_bytes() != before[f] for f in files if f.name != "acl")


def test_lost_credentials_file_keeps_the_hash_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, out = _run(tmp_path)
    hashes = bp.parse_password_file((out / "broker" / "passwords").read_text())
    (out / "devices" / "david-ipad.toml").unlink()
    with caplog.at_level(logging.WARNING, logger="collector.auth.broker"):
        assert _run(tmp_path)[0] == 0
    assert bp.parse_password_file((out / "broker" / "passwords").read_text())["david-ipad"] == hashes["david-ipad"]
    assert not (out / "devices" / "david-ipad.toml").exists()
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["david-ipad"]
    assert _run(tmp_path, ROSTER, "--rotate-device", "david-ipad")[0] == 0
    assert (out / "devices" / "david-ipad.toml").exists()


@pytest.mark.parametrize(
    ("roster_extra", "args", "message"),
    [
        ('\n[[device]]\nid = "evil/+"\n', (), "cannot be an MQTT user name"),
        ('\n[[device]]\nid = "a:b"\n', (), "cannot be an MQTT user name"),
        (f'\n[[device]]\nid = "{bp.COLLECTOR_USER}"\n', (), "collector's user name"),
        ("", ("--rotate-device", "nobodys-ipad"), "not a device in the roster"),
        ("\n[[meeting]]\nid = 'x'\n", (), "roster.toml"),
        ("", ("--mqtt-url", "https://likavillkor.kommun.example"), "expected mqtts://host:8883"),
        ("", ("--mqtt-url", "mqtts://likavillkor.kommun.example:88830"), "port"),
        ("", ("--group", "no-such-group-here"), "no such group"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], roster_extra: str, args: tuple[str, ...], message: str
) -> None:
    rc, out = _run(tmp_path, ROSTER + roster_extra, *args)
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("broker-credentials: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_missing_roster_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        ba.main(["--roster", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "o"), "--mqtt-url", "mqtts://h:8883"])
        == 2
    )
    assert "cannot read roster" in capsys.readouterr().err


def test_device_file_is_a_valid_agent_config(tmp_path: Path) -> None:
    from agent.config import AgentConfig

    _, out = _run(
        tmp_path,
        ROSTER,
        "--mqtt-url",
        "mqtts://likavillkor.kommun.example:8883",
        "--ca-file",
        "/etc/likavillkor/ca.crt",
    )
    path = out / "devices" / "david-ipad.toml"
    cfg = load(path, AgentConfig)
    assert (cfg.device_id, cfg.mqtt.username, cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.tls, cfg.mqtt.ca_file) == (
        "david-ipad",
        "david-ipad",
        "likavillkor.kommun.example",
        8883,
        True,
        "/etc/likavillkor/ca.crt",
    )
    assert cfg.mqtt.password == bf.read_credentials_password(path.read_text())


def test_collector_files_are_valid_collector_config(tmp_path: Path) -> None:
    from collector.config import CollectorConfig

    _, out = _run(
        tmp_path,
        ROSTER,
        "--mqtt-url",
        "mqtts://likavillkor.kommun.example:8883",
        "--collector-mqtt-url",
        "mqtts://mosquitto.internal:8883",
    )
    from_toml = load(out / "collector-mqtt.toml", CollectorConfig)
    env = dict(line.split("=", 1) for line in (out / "collector.env").read_text().splitlines())
    from_env = load(None, CollectorConfig, env_prefix="LIKAVILLKOR_COLLECTOR", environ=env)
    assert from_toml.mqtt == from_env.mqtt
    assert (from_env.mqtt.url, from_env.mqtt.username) == ("mqtts://mosquitto.internal:8883", bp.COLLECTOR_USER)
    assert len(from_env.mqtt.password) == bp.PASSWORD_LENGTH


def test_reachable_through_the_collector_cli(tmp_path: Path) -> None:
    import argparse

    from collector.cli import cmd_broker_credentials

    roster = tmp_path / "roster.toml"
    roster.write_text(ROSTER)
    out = tmp_path / "out"
    # the collector CLI's `broker-credentials` subcommand hands its remaining arguments over
    rest = ["--roster", str(roster), "--out", str(out), "--mqtt-url", "mqtts://likavillkor.kommun.example:8883"]
    assert cmd_broker_credentials(argparse.Namespace(rest=rest)) == 0
    users = bp.parse_password_file((out / "broker" / "passwords").read_text())
    assert set(users) == {bp.COLLECTOR_USER, "cecilia-ipad", "david-ipad"}


def test_group_makes_the_broker_files_readable_by_the_broker_group(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    _, out = _run(tmp_path, ROSTER, "--group", group)
    for name in ("passwords", "acl", "auth.conf"):
        assert (out / "broker" / name).stat().st_gid == os.getgid()
    assert _mode(out / "broker" / "passwords") == 0o640


def test_usage_errors_return_2_and_help_returns_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert ba.main(["--out", "x"]) == 2
    assert "--roster" in capsys.readouterr().err
    assert ba.main(["--help"]) == 0
    assert "--rotate-device" in capsys.readouterr().out


def test_device_file_is_a_complete_agent_config_that_measures(tmp_path: Path) -> None:
    """Enrolment yields a working agent (issue 16): the device file, installed as the agent's whole
    config, names the collector with its port, the reflector and the CA, so that nothing the chair
    needs goes unmeasured (agent.config.measurement_gaps is empty)."""
    from agent.config import AgentConfig, measurement_gaps

    _, out = _run(
        tmp_path,
        ROSTER,
        "--mqtt-url",
        "mqtts://likavillkor.kommun.example:8883",
        "--ca-file",
        "/etc/likavillkor/ca.crt",
    )
    cfg = load(out / "devices" / "david-ipad.toml", AgentConfig)
    assert cfg.collector.url == "https://likavillkor.kommun.example:8860"
    assert cfg.collector.ca_file == cfg.mqtt.ca_file == "/etc/likavillkor/ca.crt"
    assert (cfg.path.host, cfg.path.port) == ("likavillkor.kommun.example", 8862)
    assert measurement_gaps(cfg) == []
    (tmp_path / "b").mkdir()
    _, out2 = _run(
        tmp_path / "b",
        ROSTER,
        "--collector-url",
        "https://web.kommun.example:9443/",
        "--reflector",
        "stamp.kommun.example:9862",
    )
    cfg2 = load(out2 / "devices" / "david-ipad.toml", AgentConfig)
    assert (cfg2.collector.url, cfg2.path.host, cfg2.path.port) == (
        "https://web.kommun.example:9443",
        "stamp.kommun.example",
        9862,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--collector-url", "https://web.kommun.example"),
        ("--collector-url", "ftp://web:21"),
        ("--reflector", "stamp.kommun.example"),
        ("--reflector", "stamp:99999"),
    ],
)
def test_incomplete_collector_or_reflector_is_refused(
    tmp_path: Path, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(tmp_path, ROSTER, option, value)
    assert code == 2 and option in capsys.readouterr().err
    assert not out.exists()


def test_hint_never_sends_a_host_install_into_the_include_dir_trap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mosquitto follows include_dir only in its main file: on a Debian host the hint must say to
    link auth.conf into conf.d, not to include_dir it from a conf.d file."""
    code, _ = _run(tmp_path)
    printed = capsys.readouterr().out
    assert code == 0 and "conf.d" in printed and "include_dir works only in the main" in printed
    assert "include_dir it from" not in printed


def test_group_lets_the_group_enter_the_output_directories(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    _, out = _run(tmp_path, ROSTER, "--group", group)
    for d in (out, out / "broker"):
        assert (_mode(d), d.stat().st_gid) == (0o750, os.getgid())
    assert _mode(out / "devices") == 0o700  # device files stay root's


def test_two_brokers_and_a_topic_root_in_every_file(tmp_path: Path) -> None:
    """Issue 17: the same password file and ACL serve both brokers; devices get ``brokers``, the
    collector ``urls``, both the municipality's topic root, and the ACL is written for that root."""
    from agent.config import AgentConfig
    from collector.config import CollectorConfig

    a, b = "mqtts://mqtt-a.kommun.example:8883", "mqtts://mqtt-b.kommun.example:8883"
    code, out = _run(
        tmp_path,
        ROSTER,
        "--mqtt-url",
        a,
        "--other-mqtt-url",
        b,
        "--topic-root",
        "lv/solna",
        "--other-collector-user",
        "likavillkor-collector-b",
    )
    assert code == 0
    agent = load(out / "devices" / "david-ipad.toml", AgentConfig)
    assert (agent.mqtt.brokers, agent.mqtt.url, agent.mqtt.topic_root) == ([a, b], "", "lv/solna")
    collector = load(out / "collector-mqtt.toml", CollectorConfig)
    assert (collector.mqtt.broker_urls, collector.mqtt.topic_root) == ([a, b], "lv/solna")
    env = dict(line.split("=", 1) for line in (out / "collector.env").read_text().splitlines())
    from_env = load(None, CollectorConfig, env_prefix="LIKAVILLKOR_COLLECTOR", environ=env)
    assert from_env.mqtt == collector.mqtt
    acl = (out / "broker" / "acl").read_text()
    assert "topic read lv/solna/#" in acl and "topic write lv/solna/devices/david-ipad/#" in acl
    assert "likavillkor/v1" not in acl
    # the second collector: a user of its own (the broker makes the user the client id), read-only
    second = load(out / "collector-mqtt-likavillkor-collector-b.toml", CollectorConfig)
    assert (second.mqtt.username, second.mqtt.client_id, second.mqtt.broker_urls) == (
        "likavillkor-collector-b",
        "likavillkor-collector-b",
        [a, b],
    )
    assert second.mqtt.password and second.mqtt.password != collector.mqtt.password
    assert "user likavillkor-collector-b\ntopic read lv/solna/#" in acl
    hashes = bp.parse_password_file((out / "broker" / "passwords").read_text(), source="passwords")
    assert bp.verify_password(second.mqtt.password, hashes["likavillkor-collector-b"])


def test_windows_bundles_name_every_broker_and_the_topic_root(tmp_path: Path) -> None:
    """Issue 17: a Windows device's bundle (deploy/windows/install-agent.ps1) gets the broker list
    and the topic root like the Linux device file, with its Windows paths kept."""
    from agent.config import AgentConfig

    a, b = "mqtts://mqtt-a.kommun.example:8883", "mqtts://mqtt-b.kommun.example:8883"
    win = tmp_path / "win"
    code, out = _run(
        tmp_path,
        ROSTER,
        "--mqtt-url",
        a,
        "--other-mqtt-url",
        b,
        "--topic-root",
        "lv/solna",
        "--collector-url",
        "https://mqtt-a.kommun.example:8860",
        "--windows-bundles",
        str(win),
    )
    assert code == 0
    bundle = win / "david-ipad" / "agent.toml"
    agent = load(bundle, AgentConfig)
    assert (agent.mqtt.brokers, agent.mqtt.url, agent.mqtt.topic_root) == ([a, b], "", "lv/solna")
    linux = load(out / "devices" / "david-ipad.toml", AgentConfig)
    assert (agent.device_id, agent.mqtt.username, agent.mqtt.password) == (
        linux.device_id,
        linux.mqtt.username,
        linux.mqtt.password,
    )
    assert str(agent.data_dir).startswith(bf.WINDOWS_DATA) and _mode(bundle) == 0o600


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("--other-mqtt-url", "http://b:1"), "--other-mqtt-url"),
        (("--other-mqtt-url", "mqtts://a.example:8883"), "twice"),
        (("--topic-root", "lv/#"), "--topic-root"),
    ],
)
def test_bad_brokers_or_root_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, str], says: str
) -> None:
    code, out = _run(tmp_path, ROSTER, "--mqtt-url", "mqtts://a.example:8883", *extra)
    assert code == 2 and says in capsys.readouterr().err
    assert not (out / "broker" / "acl").exists()
