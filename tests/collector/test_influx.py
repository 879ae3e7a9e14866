"""InfluxDB output. The v2 write transport (influxdb-client, /api/v2/write) against Debian's
VictoriaMetrics; the points themselves written into Debian's InfluxDB 1.6 (/write) and read back
with InfluxQL; a server that is down never blocks, points wait, overflow is counted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collector.engine import Incident
from collector.store.influx import InfluxWriter, V1Transport, V2Transport, incident_line, line, sample_line
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic
from tests.support.databases import running_influxdb1, running_victoria_metrics
from tests.support.services import free_port
from tests.support.waiting import wait_until


def test_line_protocol_escaping_and_types() -> None:
    got = line(
        "sample",
        {"body": "kultur- och demokratinämnden", "member_id": "a,b=c", "link": None},
        {"rtt_ms": 12.5, "state_code": 3, "charging": True, "none": None},
        1.5,
    )
    assert got == (
        "sample,body=kultur-\\ och\\ demokratinämnden,member_id=a\\,b\\=c "
        "rtt_ms=12.5,state_code=3i,charging=1i 1500000000"
    )
    assert line("m", {}, {"x": None}, 1.0) is None


def test_sample_point_has_no_tag_field_name_clash() -> None:
    msg = sample("dev-a", link="wifi", rtt_ms=10.0, battery_charging=False, meeting_id="ks")
    text = sample_line(msg, member_id="m1", body="kommunstyrelsen", at=msg.ts + 0.25)
    assert text is not None
    head, fields, _ = text.split(" ")
    tags = {kv.split("=")[0] for kv in head.split(",")[1:]}
    names = {kv.split("=")[0] for kv in fields.split(",")}
    assert tags == {"body", "device_id", "link", "meeting_id", "member_id"}
    assert not tags & names
    assert "device_lag_s=0.25" in fields and "battery_charging=0i" in fields


def test_runtime_points_through_v2_into_victoria_metrics(tmp_path: Path, make_runtime: RuntimeFactory) -> None:
    with running_victoria_metrics(tmp_path / "vm") as vm:
        rt = make_runtime(
            influx=f'url = "{vm.url}"\napi = "v2"\nflush_interval_s = 0.1\nstate_interval_s = 0.2\n'
            'org = "kommun"\nbucket = "likavillkor"'
        )
        for i in range(3):
            rt.ingestor.handle(
                topic("dev-a"),
                wire.encode(sample("dev-a", link="wifi", rtt_ms=10.0 + i, meeting_id="ks-test")),
                time.time(),
            )
        rt.write_current_state()
        assert rt.influx is not None and rt.influx.flush(10)
        rtt = vm.wait_export('{__name__="sample_rtt_ms"}', 1)
        assert rtt and sorted(rtt[0]["values"]) == [10.0, 11.0, 12.0]  # type: ignore[call-overload]
        assert rtt[0]["metric"]["member_id"] == "member-0"  # type: ignore[index]
        assert rtt[0]["metric"]["body"] == "kommunstyrelsen"  # type: ignore[index]
        states = vm.wait_export('{__name__="participant_state_state_code"}', 2)
        assert {s["metric"]["device_id"] for s in states} == {"dev-a", "dev-b"}  # type: ignore[index]
        verdict = vm.wait_export('{__name__="meeting_verdict_verdict_code"}', 1)
        assert verdict[0]["metric"]["meeting_id"] == "ks-test"  # type: ignore[index]
        assert rt.health()["influx"]["dropped"] == 0


def test_points_into_influxdb_1x_read_back_with_influxql(tmp_path: Path) -> None:
    with running_influxdb1(tmp_path / "influx") as db:
        db.create_database("likavillkor")
        w = InfluxWriter(V1Transport(db.url, database="likavillkor", token="", timeout_s=5), flush_interval_s=0.05)
        w.start()
        msg = sample("dev-a", link="wifi", rtt_ms=42.0, loss_percent=0.5, meeting_id="ks")
        now = time.time()
        w.put(sample_line(msg, member_id="m1", body="kommunstyrelsen", at=now))
        inc = Incident(
            id="ks:m1:connection_lost:1",
            meeting_id="ks",
            body="kommunstyrelsen",
            member_id="m1",
            device_id="dev-a",
            kind="connection_lost",
            started_at=now - 30,
            ended_at=now,
            peak_severity="failure",
            adjourned=True,
            adjourned_s=25.0,
            substitute_called=False,
            metrics={},
        )
        w.put(incident_line(inc, event="closed", at=now))
        assert w.flush(10)
        w.stop()
        rows = db.query("SELECT rtt_ms, loss_percent FROM sample WHERE member_id = 'm1'", "likavillkor")
        assert [(r["rtt_ms"], r["loss_percent"]) for r in rows] == [(42.0, 0.5)]
        inc_rows = db.query("SELECT duration_s, severity_code FROM incident GROUP BY *", "likavillkor")
        assert inc_rows[0]["duration_s"] == 30.0 and inc_rows[0]["severity_code"] == 2
        assert inc_rows[0]["event"] == "closed" and inc_rows[0]["kind"] == "connection_lost"


def test_server_down_buffers_then_catches_up_and_counts_overflow(tmp_path: Path) -> None:
    port = free_port()
    w = InfluxWriter(
        V2Transport(f"http://127.0.0.1:{port}", token="t", org="o", bucket="b", timeout_s=1),
        batch=50,
        max_buffer=100,
        flush_interval_s=0.05,
        retry_max_s=0.5,
    )
    w.start()
    try:
        t0 = time.monotonic()
        base = time.time()
        for i in range(150):
            w.put(line("probe", {"n": "x"}, {"v": float(i)}, base + i / 1000))
        assert time.monotonic() - t0 < 0.5  # never blocks the caller
        wait_until(lambda: w.stats.failures >= 1, timeout=30, what="w.stats.failures >= 1")
        assert w.stats.dropped == 50 and w.buffered() == 100
        with running_victoria_metrics(tmp_path / "vm", port=port) as vm:
            # buffered() is 0 as soon as the last batch is taken; it is written when stats say so
            wait_until(
                lambda: w.buffered() == 0 and w.stats.written == 100,
                timeout=30,
                what="w.buffered() == 0 and w.stats.written == 100",
            )

            def values() -> int:  # VictoriaMetrics makes what it took searchable in steps: poll
                got = vm.wait_export('{__name__="probe_v"}', 1)
                return len(got[0]["values"]) if got else 0  # type: ignore[arg-type]

            wait_until(lambda: values() >= 100, timeout=30, what="values() >= 100")
            assert values() == 100
    finally:
        w.stop(1)


def test_v1_transport_signs_in_to_an_influxdb_1x_with_authentication(tmp_path: Path) -> None:
    """InfluxDB 1.x with ``auth-enabled`` (deploy/host/influxdb.conf): the collector writes, and
    ``forget`` drops series, with ``[influx] username/password``; without them InfluxDB says 401 and
    the writer keeps the points (issue 16: the v1 transport had no credentials setting)."""
    import httpx

    from collector.config import InfluxSection
    from collector.store import influx

    with running_influxdb1(tmp_path / "influx", auth=True) as db:
        admin = ("admin", "admin-secret-1")

        def q(statement: str, auth: tuple[str, str] | None = admin) -> httpx.Response:
            return httpx.post(f"{db.url}/query", data={"q": statement}, auth=auth, timeout=10)

        assert q("CREATE USER admin WITH PASSWORD 'admin-secret-1' WITH ALL PRIVILEGES", None).status_code == 200
        assert "error" not in q("CREATE DATABASE likavillkor").text
        assert "error" not in q("CREATE USER likavillkor WITH PASSWORD 'writer-secret-1'").text
        assert "error" not in q("GRANT ALL ON likavillkor TO likavillkor").text
        line_ = sample_line(sample("dev-a", rtt_ms=12.0, meeting_id="ks"), member_id="m1", body="ks", at=time.time())
        assert line_ is not None
        anonymous = V1Transport(db.url, database="likavillkor", token="", timeout_s=5)
        with pytest.raises(RuntimeError, match="401"):
            anonymous.write([line_])
        anonymous.close()
        section = InfluxSection(url=db.url, api="v1", username="likavillkor", password="writer-secret-1")
        writer = influx.make_writer(section)
        assert writer is not None
        writer.start()
        writer.put(line_)
        assert writer.flush(10)
        writer.stop()
        rows = httpx.get(
            f"{db.url}/query", params={"db": "likavillkor", "q": "SELECT rtt_ms FROM sample"}, auth=admin, timeout=10
        ).json()["results"][0]["series"][0]["values"]
        assert [r[1] for r in rows] == [12.0]
        sent = influx.delete_member(section, "m1", {"dev-a"}, timeout_s=10)
        assert len(sent) == 2
        after = httpx.get(
            f"{db.url}/query", params={"db": "likavillkor", "q": "SELECT rtt_ms FROM sample"}, auth=admin, timeout=10
        ).json()["results"][0]
        assert "series" not in after


def test_collector_logging_writes_no_line_per_influx_write(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The collector's log (collector.cli's set-up) gets no line per InfluxDB write: httpx logs one
    INFO line per request, i.e. one a second (issue 16, "quiet logs")."""
    import logging

    from collector.cli import _setup_logging

    before = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "influxdb_client", "urllib3")}
    try:
        _setup_logging(False)
        with running_influxdb1(tmp_path / "influx") as db, caplog.at_level(logging.INFO):
            db.create_database("likavillkor")
            w = InfluxWriter(V1Transport(db.url, database="likavillkor", token="", timeout_s=5), flush_interval_s=0.01)
            w.start()
            for i in range(3):
                w.put(line("m", {"t": "x"}, {"f": float(i)}, time.time()))
                assert w.flush(10)
            w.stop()
            assert w.stats.written == 3
        assert [r.getMessage() for r in caplog.records if r.name.startswith(("httpx", "httpcore"))] == []
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
