"""The agent's configuration: the shipped example parses, every documented key is real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import AgentConfig, Unavailable, load_agent_config
from likavillkor.config import ConfigError, loads
from tests.agent.conftest import ROOT

EXAMPLE = ROOT / "deploy" / "agent.example.toml"
SECTIONS = (
    "mqtt",
    "collector",
    "monitor",
    "selftest",
    "outbox",
    "path",
    "speedtest",
    "camera",
    "microphone",
    "mediapath",
)


def test_example_parses_into_agent_config() -> None:
    cfg = load_agent_config(EXAMPLE)
    assert cfg.device_id == "surfplatta-0042"
    assert cfg.mqtt.tls and cfg.mqtt.port == 8883 and cfg.mqtt.host == "mqtt.kommun.example"
    assert cfg.selftest.servicedesk_phone == "08-606 78 00"  # H20
    assert cfg.selftest.run_before_s == 900  # H8
    assert cfg.selftest.timeout_s == 45
    assert cfg.monitor.sample_period_s == 1.0
    text = EXAMPLE.read_text()
    for section in SECTIONS:
        assert f"\n[{section}]\n" in text, f"[{section}] is not documented in the example"


def test_every_commented_key_in_the_example_is_a_real_key() -> None:
    """Uncomment every ``# key = value`` line: the result must still load (no stale or misspelt key)."""
    text = re.sub(r"^# ([a-z_]+ = )", r"\1", EXAMPLE.read_text(), flags=re.MULTILINE)
    cfg = loads(text, AgentConfig, source=str(EXAMPLE))
    for section in ("path", "speedtest", "camera", "microphone", "mediapath"):
        assert not isinstance(getattr(cfg, section), Unavailable), f"[{section}]: its module is not installed"
    assert cfg.path.port == 8862


def test_defaults_without_a_file() -> None:
    cfg = load_agent_config(None)
    assert cfg.lang == "sv" and cfg.mqtt.url == "" and cfg.resolved_device_id


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[mqtt]\nurl = "http://x"\n', "mqtt"),
        ('lang = "de"\n', "lang"),
        ('device_id = "not valid!"\n', "device_id"),
        ("[monitor]\nsample_period_s = 0\n", "monitor.sample_period_s"),
        ("[path]\nportt = 1\n", "path.portt"),
    ],
)
def test_bad_values_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads(text, AgentConfig)
    assert info.value.key == key


def test_environment_overrides(tmp_path: Path) -> None:
    cfg = loads(
        "",
        AgentConfig,
        env_prefix="LIKAVILLKOR_AGENT",
        environ={"LIKAVILLKOR_AGENT__MQTT__PASSWORD": "s3cret", "LIKAVILLKOR_AGENT__LANG": "en"},
    )
    assert cfg.mqtt.password == "s3cret" and cfg.lang == "en"
