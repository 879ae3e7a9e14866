"""The CLI: --version, incidents (CSV/JSON from the database), forget --member."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.cli import main
from collector.store import Store
from tests.support.collector import write_config
from tests.support.roster import write_roster

ROOT = Path(__file__).resolve().parents[2]


def _seed(tmp_path: Path) -> Path:
    roster = write_roster(tmp_path / "roster.toml", ["dev-a", "dev-b"])
    cfg = write_config(tmp_path / "c.toml", data_dir=tmp_path / "data", roster=roster)
    st = Store(f"sqlite:///{(tmp_path / 'data' / 'likavillkor.db').resolve()}")
    st.start()
    for member, device, kind in (("member-0", "dev-a", "connection_lost"), ("member-1", "dev-b", "mobile_data")):
        st.put(
            "incident",
            {
                "id": f"ks-test:{member}:{kind}:1",
                "meeting_id": "ks-test",
                "body": "kommunstyrelsen",
                "member_id": member,
                "device_id": device,
                "kind": kind,
                "started_at": 1000.0,
                "ended_at": 1060.0,
                "peak_severity": "failure",
                "adjourned": True,
                "adjourned_s": 60.0,
                "substitute_called": False,
                "metrics": {},
            },
        )
    assert st.flush(10)
    st.stop()
    return cfg


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "collector", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and out.stdout.startswith("likavillkor-collector 0.")


def test_incidents_csv_and_forget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _seed(tmp_path)
    assert main(["incidents", "--config", str(cfg), "--format", "csv", "--kind", "mobile_data"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["member_id"], r["adjourned_s"]) for r in rows] == [("member-1", "60.0")]
    assert main(["forget", "--config", str(cfg), "--member", "member-0"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["deleted"]["incidents"] == 1
    assert main(["incidents", "--config", str(cfg)]) == 0
    assert [r["member_id"] for r in json.loads(capsys.readouterr().out)] == ["member-1"]


def test_config_error_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nurll = 1\n")
    assert main(["incidents", "--config", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().err


def test_broker_credentials_delegates_with_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["broker-credentials", "--help"])
    except SystemExit as done:
        code = int(done.code or 0)
    assert code == 0
    assert "usage: likavillkor-collector broker-credentials" in capsys.readouterr().out
