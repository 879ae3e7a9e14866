"""The HTTP API over a real Runtime (SQLite store, engine), driven through FastAPI's test client."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.auth import local_headers
from collector.web.app import create_app
from likavillkor import wire
from tests.collector.conftest import RuntimeFactory
from tests.collector.helpers import sample, topic
from tests.support.databases import Postgres


@pytest.fixture
def client_rt(make_runtime: RuntimeFactory) -> tuple[TestClient, object]:
    rt = make_runtime(silence_lost_s=0.5)
    return TestClient(create_app(rt), headers=local_headers(rt.config.data_path)), rt


def _feed(rt: Any, device: str, **fields: Any) -> None:
    rt.ingestor.handle(topic(device), wire.encode(sample(device, meeting_id="ks-test", **fields)), time.time())


def test_meetings_view_and_404(client_rt: tuple[TestClient, object]) -> None:
    client, rt = client_rt
    for d in ("dev-a", "dev-b"):
        _feed(rt, d, link="wifi", rtt_ms=20.0, jitter_ms=3.0, loss_percent=0.0)
    listing = client.get("/api/meetings").json()
    assert [m["meeting_id"] for m in listing] == ["ks-test"]
    view = client.get("/api/meetings/ks-test").json()
    assert view["verdict"] == "equal_terms" and view["monitoring"] == "active"
    assert {p["device_id"]: p["state"] for p in view["participants"]} == {"dev-a": "ok", "dev-b": "ok"}
    assert client.get("/api/meetings/nope").status_code == 404


def test_device_meetings_for_the_agent_scheduler(client_rt: tuple[TestClient, object]) -> None:
    client, _ = client_rt
    got = client.get("/api/devices/dev-a/meetings").json()
    assert [m["id"] for m in got] == ["ks-test"] and got[0]["end"] > got[0]["start"]
    assert client.get("/api/devices/unknown/meetings").json() == []


def test_actions_recorded_and_validated(client_rt: tuple[TestClient, object]) -> None:
    client, _rt = client_rt
    r = client.post("/api/meetings/ks-test/actions", json={"kind": "adjourn", "by": "ordförande"})
    assert r.status_code == 201, r.text
    assert client.get("/api/meetings/ks-test").json()["adjourned_since"] is not None
    assert client.post("/api/meetings/nope/actions", json={"kind": "adjourn", "by": "x"}).status_code == 404
    assert client.post("/api/meetings/ks-test/actions", json={"kind": "dance", "by": "x"}).status_code == 422
    bad = client.post("/api/meetings/ks-test/actions", json={"kind": "excuse", "by": "x", "member_id": "ghost"})
    assert bad.status_code == 409 and bad.json()["detail"]
    assert [a["kind"] for a in client.get("/api/meetings/ks-test/actions").json()] == ["adjourn"]
    # H16 (issue 11): the engine validates who steps in; a refusal is a 409 with the reason
    sub = client.post(
        "/api/meetings/ks-test/actions",
        json={"kind": "substitute", "by": "x", "member_id": "member-0", "substitute_id": "ghost"},
    )
    assert sub.status_code == 409 and "not replaced" in sub.json()["detail"]
    assert [a["kind"] for a in client.get("/api/meetings/ks-test/actions").json()] == ["adjourn"]


def test_probe_key_for_a_roster_device_only(client_rt: tuple[TestClient, object]) -> None:
    """Issue 11: the agent's key for signed probes; 404 when the reflector is off (as here) or the
    device is on no roster."""
    client, rt = client_rt
    assert client.get("/api/devices/dev-a/probe-key").status_code == 404  # the tests' reflector is off
    from collector.auth.probekeys import ProbeKeys

    rt.probe_keys = ProbeKeys(b"x" * 32, ["dev-a"])  # type: ignore[attr-defined]
    doc = client.get("/api/devices/dev-a/probe-key").json()
    assert 0 < doc["ssid"] < 65536 and len(bytes.fromhex(doc["key"])) == 32
    assert client.get("/api/devices/unknown/probe-key").status_code == 404


def test_incidents_json_and_csv_with_filters(client_rt: tuple[TestClient, object]) -> None:
    client, rt = client_rt
    _feed(rt, "dev-a", link="wifi", rtt_ms=20.0)
    _feed(rt, "dev-b", link="wwan", rtt_ms=20.0)  # mobile data (H9)
    time.sleep(0.8)  # past silence_lost_s = 0.5 s: both lost
    rt.tick()  # type: ignore[attr-defined]
    rows = client.get("/api/incidents").json()
    kinds = {(r["member_id"], r["kind"]) for r in rows}
    assert ("member-0", "connection_lost") in kinds and ("member-1", "connection_lost") in kinds
    only = client.get("/api/incidents", params={"member": "member-0"}).json()
    assert {r["member_id"] for r in only} == {"member-0"}
    assert client.get("/api/incidents", params={"until": 1000}).json() == []
    text = client.get("/api/incidents", params={"format": "csv", "kind": "connection_lost"}).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["member_id"] for r in table} == {"member-0", "member-1"}
    view = client.get("/api/meetings/ks-test").json()
    assert view["verdict"] == "adjourn"


def test_health_metrics_openapi(client_rt: tuple[TestClient, object]) -> None:
    client, rt = client_rt
    rt.ingestor.handle(topic("dev-a"), b"{oops", time.time())  # type: ignore[attr-defined]
    h = client.get("/api/health").json()
    assert h["ingest"]["rejected"]["malformed"] == 1
    assert h["broker"]["connected"] is False and h["broker"]["monitoring"] == "interrupted"
    assert {"queued", "dropped", "written"} <= set(h["store"])
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    assert 'likavillkor_ingest_rejected_total{reason="malformed"} 1.0' in m.text
    assert "likavillkor_mqtt_connected 0.0" in m.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/meetings", "/api/meetings/{meeting_id}", "/api/incidents", "/api/health"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_optional_routers_mounted_and_mediapath_results_recorded(client_rt: tuple[TestClient, object]) -> None:
    client, rt = client_rt
    modules = client.get("/api/health").json()["modules"]
    assert modules.get("collector.peers.speedtest") == "loaded", modules
    assert modules.get("collector.peers.media") == "loaded", modules
    assert client.get("/speedtest/latency.txt").text == "test=test"
    # the callback the media peer calls with each result: known devices recorded, strangers not
    from collector.store import schema as s

    on_result = client.app.state.media_peer.on_result  # type: ignore[attr-defined]
    on_result({"device_id": "dev-a", "meeting_id": "ks-test", "direction": "up", "ok": True})
    on_result({"device_id": "stranger", "meeting_id": "ks-test", "ok": True})
    assert rt.store.flush(5)  # type: ignore[attr-defined]
    assert [r["device_id"] for r in rt.store.rows(s.mediapath)] == ["dev-a"]  # type: ignore[attr-defined]
    view = client.get("/api/meetings/ks-test").json()
    assert {p["device_id"]: p["mediapath"] for p in view["participants"]}["dev-a"] is not None


def test_database_down_ingest_and_verdicts_go_on(make_runtime: RuntimeFactory, postgres_server: Postgres) -> None:
    url = postgres_server.create_database(f"apidown_{int(time.time() * 1000) % 10**8}")
    rt = make_runtime(store_url=url, silence_lost_s=0.5, name="pgdown")
    client = TestClient(create_app(rt), headers=local_headers(rt.config.data_path))
    postgres_server.stop()
    try:
        _feed(rt, "dev-a", link="wifi", rtt_ms=20.0)
        _feed(rt, "dev-b", link="wifi", rtt_ms=20.0)
        assert client.get("/api/meetings/ks-test").json()["verdict"] == "equal_terms"
        time.sleep(0.7)
        rt.tick()
        assert client.get("/api/meetings/ks-test").json()["verdict"] == "adjourn"  # verdicts go on
        r = client.get("/api/incidents")
        assert r.status_code == 503 and "database" in r.json()["detail"]
        assert client.get("/api/health").json()["store"]["queued"] > 0
    finally:
        postgres_server.start()
    assert rt.store.flush(20)  # and everything lands once the database is back
    assert {i["member_id"] for i in client.get("/api/incidents").json()} == {"member-0", "member-1"}
