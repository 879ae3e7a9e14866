"""``forget --member``: nothing about the member remains in the database or in a real InfluxDB 1.x
(``DROP SERIES`` over ``/query``), the other member's data is untouched. The InfluxDB 2.x delete
request (``/api/v2/delete``) is checked for its shape against a local HTTP server that records it
(no InfluxDB 2.x in Debian), and a server that never answers is given up on at the deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector.cli import main
from collector.config import InfluxSection
from collector.store import Store, influx, retention
from collector.store.influx import InfluxWriter, V1Transport, line
from tests.collector.test_ops_seed import MEMBERS, seed, table_dump
from tests.support.databases import running_influxdb1


def _config(tmp_path: Path, url: str, influx_lines: str = "") -> Path:
    roster = tmp_path / "roster.toml"
    roster.write_text(
        '[[meeting]]\nid = "ks"\nbody = "kommunstyrelsen"\nstart = 2026-11-27T09:00:00Z\n'
        'end = 2026-11-27T12:00:00Z\n[[meeting.participant]]\nname = "Ledamot 2"\n'
        'member_id = "m2"\ndevice_id = "d2"\n',
        encoding="utf-8",
    )
    path = tmp_path / "collector.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nroster = "{roster}"\n[store]\nurl = "{url}"\n'
        f"[reflector]\nenabled = false\n" + (f"[influx]\n{influx_lines}\n" if influx_lines else ""),
        encoding="utf-8",
    )
    return path


def _others(dump: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Rows that do not name m1/d1 (what forget must leave exactly as it was)."""

    def names_m1(row: dict[str, Any]) -> bool:
        return row.get("member_id") == "m1" or row.get("device_id") == "d1"

    return {
        t: [r for r in rows if not names_m1(r)] for t, rows in dump.items() if t not in ("verdicts", "engine_snapshot")
    }


def _write_points(url: str) -> None:
    w = InfluxWriter(V1Transport(url, database="likavillkor", token="", timeout_s=5), flush_interval_s=0.02)
    w.start()
    now = time.time()
    for member, device in MEMBERS.items():
        w.put(line("sample", {"member_id": member, "device_id": device, "meeting_id": "ks"}, {"rtt_ms": 20.0}, now))
        w.put(
            line(
                "incident",
                {"member_id": member, "device_id": device, "kind": "connection_lost"},
                {"duration_s": 30.0},
                now,
            )
        )
        w.put(
            line("participant_state", {"member_id": member, "device_id": device, "state": "ok"}, {"state_code": 0}, now)
        )
    w.put(line("sample", {"device_id": "d1"}, {"rtt_ms": 25.0}, now))  # before the member was known
    w.put(line("meeting_verdict", {"meeting_id": "ks", "verdict": "equal_terms"}, {"verdict_code": 0}, now))
    assert w.flush(10)
    w.stop()


def test_forget_removes_the_member_from_the_database_and_influxdb_1x(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'lv.db'}"
    seed(url)
    before = table_dump(url)
    with running_influxdb1(tmp_path / "influx") as db:
        db.create_database("likavillkor")
        _write_points(db.url)
        series_before = {str(r["key"]) for r in db.query("SHOW SERIES", "likavillkor")}
        assert any("member_id=m1" in k for k in series_before) and "sample,device_id=d1" in series_before
        cfg = _config(tmp_path, url, f'url = "{db.url}"\napi = "v1"\ndatabase = "likavillkor"')
        assert main(["forget", "--member", "m1", "-c", str(cfg), "--timeout", "10"]) == 0
        report = json.loads(capsys.readouterr().out)
        series_after = {str(r["key"]) for r in db.query("SHOW SERIES", "likavillkor")}
    assert report["devices"] == ["d1"] and report["deleted"]["incidents"] == 3
    assert report["influx"] == [
        "DROP SERIES FROM /.*/ WHERE member_id = 'm1'",
        "DROP SERIES FROM /.*/ WHERE device_id = 'd1'",
    ]
    assert not [k for k in series_after if "m1" in k or "d1" in k]
    assert series_after == {k for k in series_before if "m1" not in k and "d1" not in k}
    assert any("member_id=m2" in k for k in series_after)
    store = Store(url)
    try:
        assert retention.remaining(store, "m1", {"d1"}) == dict.fromkeys(
            (
                "samples",
                "selftests",
                "mediapath",
                "incidents",
                "state_changes",
                "devices",
                "actions",
                "invitations",
                "verdicts",
            ),
            0,
        )
        assert store.load_snapshot() is None  # it named m1
    finally:
        store.engine.dispose()
    after = table_dump(url)
    assert _others(after) == _others(before)  # m2's rows and the adjournment untouched
    assert [r["code"] for r in after["verdicts"][0]["reasons"]] == ["silence", "adjourned"]
    assert after["verdicts"][0]["reasons"][0]["member_id"] == "m2"
    assert "".join(str(v) for t in after.values() for r in t for v in r.values()).count("m1") == 0


def test_forget_tells_when_the_member_is_still_in_the_roster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'lv.db'}"
    seed(url)
    assert main(["forget", "--member", "m2", "-c", str(_config(tmp_path, url))]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["influx"] is None
    assert "m2 is still in the roster" in out.err


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append(
            {
                "path": self.path,
                "auth": self.headers.get("Authorization"),
                "type": self.headers.get("Content-Type"),
                "body": json.loads(body),
            }
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


def test_v2_delete_request_shape_against_a_recording_server() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        section = InfluxSection(
            url=f"http://127.0.0.1:{server.server_address[1]}",
            api="v2",
            token="tok",
            org="kommunen",
            bucket="likavillkor",
        )
        sent = influx.delete_member(section, "m1", {"d1"}, timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()
    assert sent == ['member_id="m1"', 'device_id="d1"']
    assert [r["path"] for r in _Recorder.seen] == ["/api/v2/delete?org=kommunen&bucket=likavillkor"] * 2
    assert {r["auth"] for r in _Recorder.seen} == {"Token tok"}
    assert _Recorder.seen[0]["type"] == "application/json"
    assert _Recorder.seen[0]["body"] == {
        "start": "1970-01-01T00:00:00Z",
        "stop": "2262-04-11T00:00:00Z",
        "predicate": 'member_id="m1"',
    }


def test_delete_gives_up_at_the_deadline_and_rejects_unquotable_ids() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection (backlog), never answers
    try:
        section = InfluxSection(url=f"http://127.0.0.1:{silent.getsockname()[1]}", api="v1")
        t0 = time.monotonic()
        with pytest.raises(influx.InfluxDeleteError, match=r"did not answer within 0\.3 s"):
            influx.delete_member(section, "m1", timeout_s=0.3)
        assert time.monotonic() - t0 < 3
    finally:
        silent.close()
    with pytest.raises(influx.InfluxDeleteError, match="delete predicate"):
        influx.delete_member(InfluxSection(url="http://127.0.0.1:9", api="v2"), 'a"b')


def test_influxql_quoting_survives_a_hostile_member_id(tmp_path: Path) -> None:
    with running_influxdb1(tmp_path / "influx") as db:
        db.create_database("likavillkor")
        _write_points(db.url)
        before = db.query("SHOW SERIES", "likavillkor")
        section = InfluxSection(url=db.url, api="v1", database="likavillkor")
        sent = influx.delete_member(section, "x' OR member_id =~ /.*/ OR member_id = 'y", timeout_s=10)
        assert sent == ["DROP SERIES FROM /.*/ WHERE member_id = 'x\\' OR member_id =~ /.*/ OR member_id = \\'y'"]
        assert db.query("SHOW SERIES", "likavillkor") == before  # a literal, not an injected condition
