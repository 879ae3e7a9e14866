"""The collector's config: defaults, the shipped example loads, unknown keys fail with the line,
environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector import config
from likavillkor.config import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_need_no_file(tmp_path: Path) -> None:
    cfg = config.load(None, environ={"LIKAVILLKOR_COLLECTOR__DATA_DIR": str(tmp_path)})
    assert cfg.mqtt.url == "" and cfg.reflector.port == 8862
    assert cfg.store_url == f"sqlite:///{(tmp_path / 'likavillkor.db').resolve()}"
    assert cfg.roster_path == tmp_path / "roster.toml"


def test_example_file_loads() -> None:
    cfg = config.load(ROOT / "deploy/collector.example.toml", environ={})
    assert cfg.http.port == 8860 and cfg.influx.api == "v2"


def test_unknown_key_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('data_dir = "x"\n\n[mqtt]\nurl = ""\nhots = "typo"\n')
    with pytest.raises(ConfigError) as err:
        config.load(f, environ={})
    assert err.value.line == 5 and "mqtt.hots" in str(err.value)


def test_environment_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text("[influx]\nbatch = 10\n")
    cfg = config.load(
        f, environ={"LIKAVILLKOR_COLLECTOR__INFLUX__TOKEN": "s3cret", "LIKAVILLKOR_COLLECTOR__HTTP__PORT": "9000"}
    )
    assert cfg.influx.token == "s3cret" and cfg.http.port == 9000 and cfg.influx.batch == 10
