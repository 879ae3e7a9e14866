"""``likavillkor-collector dashboards push`` against a fake Grafana (tests/dashboards/fake_grafana.py):
the HTTP contract grafana-client speaks (paths, methods, bodies, credential), errors and deadlines."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from collector import cli
from tests.dashboards import influxql as iq
from tests.dashboards.fake_grafana import State, running_fake_grafana
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
DS_PATH = "/api/datasources/uid/likavillkor-influxdb"


def push(url: str, *extra: str) -> int:
    return cli.main(["dashboards", "push", "--grafana-url", url, "--timeout", "5", *extra])


def committed() -> dict[str, dict[str, object]]:
    return {d["uid"]: d for d in (iq.load(p.name) for p in sorted(iq.DASHBOARDS.glob("*.json")))}


def test_first_push_creates_the_data_source_folder_and_dashboards(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fake_grafana() as (url, state):
        assert (
            push(
                url,
                "--token",
                state.token,
                "--influx-url",
                "http://influxdb:8086",
                "--database",
                "lv",
                "--influx-user",
                "grafana",
                "--influx-password",
                "läs",
            )
            == 0
        )
    calls = [(r.method, r.path) for r in state.requests]
    assert (
        calls
        == [
            ("GET", "/api/frontend/settings"),
            ("GET", DS_PATH),
            ("POST", "/api/datasources"),
            ("GET", "/api/folders/likavillkor"),
            ("POST", "/api/folders"),
        ]
        + [("POST", "/api/dashboards/db")] * 3
    )
    assert {r.auth for r in state.requests} == {f"Bearer {state.token}"}
    ds = state.datasources["likavillkor-influxdb"]
    assert (ds["type"], ds["access"], ds["url"], ds["user"]) == ("influxdb", "proxy", "http://influxdb:8086", "grafana")
    assert ds["jsonData"]["version"] == "InfluxQL" and ds["jsonData"]["dbName"] == "lv"
    assert ds["secureJsonData"] == {"password": "läs"} and ds["isDefault"] is False
    assert state.folders["likavillkor"]["title"] == "Likavillkor"
    files = committed()
    assert set(state.dashboards) == set(files) == {"likavillkor-chair", "likavillkor-incidents", "likavillkor-device"}
    for uid, body in state.dashboards.items():
        assert body["overwrite"] is True and body["folderUid"] == "likavillkor"
        sent = body["dashboard"]
        assert sent["id"] is None and sent["panels"] == files[uid]["panels"]
        assert sent["templating"] == files[uid]["templating"]
    out = json.loads(capsys.readouterr().out)
    assert out["grafana_version"] == "11.4.0" and out["datasource"] == "created" and out["folder"] == "created"
    assert out["dashboards"]["likavillkor-chair"] == "/d/likavillkor-chair/x"


def test_second_push_updates_and_overwrites_with_basic_auth() -> None:
    state = State()
    with running_fake_grafana(state) as (url, _):
        assert push(url, "--token", state.token, "--influx-url", "http://old:8086") == 0
        state.requests.clear()
        assert (
            push(
                url,
                "--user",
                "admin",
                "--password",
                "hemligt",
                "--influx-url",
                "http://influx.kommun.se:8086",
                "--influx-token",
                "tok",
            )
            == 0
        )
    calls = [(r.method, r.path) for r in state.requests]
    assert ("PUT", DS_PATH) in calls and ("POST", "/api/datasources") not in calls
    assert ("POST", "/api/folders") not in calls and calls.count(("POST", "/api/dashboards/db")) == 3
    assert {r.auth for r in state.requests} == {"Basic " + base64.b64encode(b"admin:hemligt").decode()}
    ds = state.datasources["likavillkor-influxdb"]
    assert ds["url"] == "http://influx.kommun.se:8086"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token tok"}


def test_a_provisioned_data_source_is_left_alone() -> None:
    state = State(
        datasources={
            "likavillkor-influxdb": {
                "uid": "likavillkor-influxdb",
                "id": 1,
                "readOnly": True,
                "url": "http://influxdb:8086",
            }
        }
    )
    with running_fake_grafana(state) as (url, _):
        assert push(url, "--token", state.token, "--influx-url", "http://elsewhere:8086") == 0
    assert ("PUT", DS_PATH) not in [(r.method, r.path) for r in state.requests]
    assert state.datasources["likavillkor-influxdb"]["url"] == "http://influxdb:8086"
    assert len(state.dashboards) == 3


def test_without_influx_url_the_data_source_must_exist(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fake_grafana() as (url, state):
        assert push(url, "--token", state.token) == 1
    assert "give --influx-url" in capsys.readouterr().err
    assert state.dashboards == {}


def test_wrong_token_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with running_fake_grafana() as (url, state):
        assert push(url, "--token", "wrong", "--influx-url", "http://influxdb:8086") == 1
    err = capsys.readouterr().err
    assert "Unauthorized" in err and "wrong token or password" in err
    assert [(r.method, r.path) for r in state.requests] == [("GET", "/api/frontend/settings")]


@pytest.mark.parametrize(
    "args, message", [(["--influx-url", "x"], "give --token"), (["--token", "t", "--user", "u"], "not both")]
)
def test_bad_credentials_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert push("http://127.0.0.1:9", *args) == 1
    assert message in capsys.readouterr().err


def test_bad_dashboards_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert push("http://127.0.0.1:9", "--token", "t", "--dashboards-dir", str(tmp_path)) == 1
    assert "not a dashboard JSON file" in capsys.readouterr().err
    assert push("http://127.0.0.1:9", "--token", "t", "--dashboards-dir", str(tmp_path / "none")) == 1
    assert "no dashboards" in capsys.readouterr().err


def test_grafana_down_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert push(url, "--token", "t", "--influx-url", "http://influxdb:8086") == 1
    assert f"cannot reach Grafana at {url}" in capsys.readouterr().err


def test_a_hung_grafana_hits_the_deadline(capsys: pytest.CaptureFixture[str]) -> None:
    state = State(hold=threading.Event())
    with running_fake_grafana(state) as (url, _):
        t0 = time.monotonic()
        code = cli.main(["dashboards", "push", "--grafana-url", url, "--timeout", "0.5", "--token", state.token])
        elapsed = time.monotonic() - t0
    assert code == 1 and elapsed < 4, elapsed
    assert "Grafana" in capsys.readouterr().err


def test_the_collector_never_imports_grafana_client() -> None:
    """grafana-client brings urllib3-future: the collector's own start-up must not load it."""
    code = (
        "import sys; from collector import cli, runtime; from collector.web import app; cli.build_parser(); "
        "bad = [m for m in ('grafana_client', 'niquests') if m in sys.modules]; "
        "assert not bad, bad"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr
