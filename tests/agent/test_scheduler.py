"""Scheduling (H8: self-test 15 minutes before the start): pure decisions, the collector's
meetings endpoint over real HTTP, and `run` end to end (agent process, real Mosquitto)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from agent.scheduler import (
    Meeting,
    Scheduler,
    current_meeting,
    due_selftests,
    fetch_meetings,
    parse_meetings,
    parse_time,
    window_open,
)
from likavillkor import wire
from tests.agent.conftest import Subscriber, spawn_agent, write_config
from tests.support.services import Mosquitto, stop_pid

T0 = 1_800_000_000.0
KS = Meeting(id="ks-1", body="Kommunstyrelsen", start=T0, end=T0 + 3600)
SN = Meeting(id="sn-1", body="Socialnämnden", start=T0 + 7200, end=T0 + 9000)


def test_window_opens_15_minutes_before_start_and_closes_at_end() -> None:
    assert not window_open(KS, T0 - 901, 900)
    assert window_open(KS, T0 - 900, 900)
    assert window_open(KS, T0 + 3599, 900)
    assert not window_open(KS, T0 + 3600, 900)


def test_current_and_due() -> None:
    assert current_meeting([KS, SN], T0 - 100, 900) == KS
    assert current_meeting([KS, SN], T0 + 4000, 900) is None
    assert due_selftests([SN, KS], T0 - 100, 900, set()) == [KS]
    assert due_selftests([SN, KS], T0 - 100, 900, {"ks-1"}) == []


def test_parse_meetings_and_times() -> None:
    got = parse_meetings(json.dumps([{"id": "ks-1", "body": "KS", "start": T0, "end": T0 + 60}]).encode())
    assert got == [Meeting(id="ks-1", body="KS", start=T0, end=T0 + 60)]
    for bad in (b"not json", b'[{"id": "x"}]', json.dumps([{"id": "x", "start": T0, "end": T0 - 1}]).encode()):
        with pytest.raises(ValueError):
            parse_meetings(bad)
    assert parse_time("2026-12-01T09:00:00+01:00") == datetime(2026, 12, 1, 8, 0, tzinfo=UTC).timestamp()
    assert parse_time(str(T0)) == T0


class _Meetings(http.server.BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b"[]"
    paths: ClassVar[list[str]] = []
    auth: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        type(self).auth.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector_http() -> Iterator[tuple[str, type[_Meetings]]]:
    handler = type("Handler", (_Meetings,), {"body": b"[]", "paths": [], "auth": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_fetch_meetings_over_http(collector_http: tuple[str, type[_Meetings]]) -> None:
    url, handler = collector_http
    handler.body = json.dumps([{"id": "ks-1", "body": "KS", "start": T0, "end": T0 + 60}]).encode()
    assert fetch_meetings(url, "dev 1", 2.0)[0].id == "ks-1"
    assert handler.paths == ["/api/devices/dev%201/meetings"]
    assert handler.auth == [None]  # no credentials: no header


def test_fetch_meetings_signs_in_with_the_devices_broker_credentials(
    collector_http: tuple[str, type[_Meetings]],
) -> None:
    """HTTP Basic device_id:password (docs/web.md); against a real collector in tests/web/test_device_auth.py."""
    import base64

    from agent.config import AgentConfig, MqttConfig, collector_credentials

    url, handler = collector_http
    cfg = AgentConfig(device_id="dev-1", mqtt=MqttConfig(username="dev-1", password="pa:ss"))
    fetch_meetings(url, "dev-1", 2.0, collector_credentials(cfg))
    assert handler.auth == ["Basic " + base64.b64encode(b"dev-1:pa:ss").decode()]


def test_unreachable_collector_is_counted_not_fatal() -> None:
    import asyncio

    ran: list[tuple[str, bool]] = []

    async def runner(meeting: Meeting, in_session: bool) -> None:
        ran.append((meeting.id, in_session))

    sched = Scheduler(
        run_before_s=900,
        runner=runner,
        meetings=[KS],
        collector_url="http://127.0.0.1:9",
        device_id="d",
        timeout_s=0.5,
        wall=lambda: T0 + 10,
    )
    asyncio.run(sched.tick())
    asyncio.run(sched.tick())
    assert sched.fetch_errors == 1  # refreshed once, not on every tick
    assert ran == [("ks-1", True)]  # once per meeting; after the start it runs "in session" (no speed test)


def test_run_self_tests_when_the_window_opens(
    mosquitto: Mosquitto, tmp_path: Path, collector_http: tuple[str, type[_Meetings]]
) -> None:
    url, handler = collector_http
    now = time.time()
    handler.body = json.dumps([{"id": "ks-live", "body": "KS", "start": now + 300, "end": now + 3900}]).encode()
    cfg = write_config(
        tmp_path / "a.toml",
        f'device_id = "dev-run"\ndata_dir = "{tmp_path}"\n'
        f'[mqtt]\nurl = "{mosquitto.url}"\n[collector]\nurl = "{url}"\ntimeout_s = 2.0\n'
        "[monitor]\nsample_period_s = 0.2\npath_probe = false\n"
        '[selftest]\nskip = ["path", "bandwidth", "camera", "microphone", "mediapath"]\n',
    )
    sub = Subscriber(mosquitto)
    proc = spawn_agent("run", "--config", str(cfg))
    try:
        result = sub.wait_for(lambda _t, m, _r: isinstance(m, wire.SelftestResult), timeout=30)
        sample = sub.wait_for(lambda _t, m, _r: isinstance(m, wire.Sample) and m.meeting_id is not None, timeout=10)
    finally:
        stop_pid(proc)  # type: ignore[arg-type]
        sub.close()
    assert isinstance(result, wire.SelftestResult) and result.meeting_id == "ks-live"
    assert [c.id for c in result.checks][:4] == ["network.link", "battery.level", "host.cpu", "host.memory"]
    assert result.device_id == "dev-run" and result.source == "agent"
    assert isinstance(sample, wire.Sample) and sample.meeting_id == "ks-live"
    assert handler.paths and handler.paths[0] == "/api/devices/dev-run/meetings"
