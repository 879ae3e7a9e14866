"""Every route declares who may call it (collector/web/access.py): the table below is the whole
answer, route by route. A new route without a declaration, or one whose callers change, fails here;
so does an API route that is in /openapi.json but not in the table. Then every route that is not
public is called without credentials and must refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from fastapi.testclient import TestClient

from collector import config
from collector.runtime import Runtime
from collector.web.access import allowed_of
from collector.web.app import create_app
from tests.support.collector import write_config
from tests.support.roster import write_roster

STAFF_OWN = "chair:own-body secretary:own-body it"
EXPECTED: dict[str, str] = {
    # anyone: nothing personal
    "GET /openapi.json": "public",
    "GET /docs": "public",
    "GET /docs/assets/{name}": "public",
    "GET /static/{name}": "public",
    "GET /login": "public",
    "POST /login": "public",
    "GET /login/{method}": "public",
    "GET /login/{method}/callback": "public",
    "GET /speedtest/latency.txt": "public",
    "GET /speedtest/random{width}x{height}.jpg": "public",
    "GET /speedtest/upload.php": "public",
    "POST /speedtest/upload.php": "public",
    "POST /logout": "signed-in",
    # the chair and the secretary: their own bodies' meetings (IT: every body)
    "GET /": "chair secretary it",
    "GET /chair/{meeting_id}": STAFF_OWN,
    "GET /api/meetings/{meeting_id}": STAFF_OWN,
    "GET /api/meetings/{meeting_id}/events": STAFF_OWN,
    "POST /api/meetings/{meeting_id}/actions": STAFF_OWN,
    "GET /api/meetings/{meeting_id}/actions": STAFF_OWN,
    "GET /api/meetings/{meeting_id}/selftest-links": STAFF_OWN,
    "GET /secretary/{meeting_id}/links": STAFF_OWN,
    # the secretary's planning (issue 15): her own bodies' meetings; the chair decides on late notice (H6)
    "GET /secretary/meetings/new": "secretary it",
    "POST /secretary/meetings/new": "secretary it",
    "POST /secretary/import": "secretary it",
    "GET /secretary/{meeting_id}": STAFF_OWN,
    "GET /secretary/{meeting_id}/edit": STAFF_OWN,
    "POST /secretary/{meeting_id}/edit": "secretary:own-body it",
    "POST /secretary/{meeting_id}/invitations/{member_id}": "secretary:own-body it",
    "POST /secretary/{meeting_id}/notice/{member_id}": "chair:own-body it",
    # the member, through her personal link (H7)
    "GET /selftest/{token}": "member:own-link",
    "GET /selftest/{token}/status": "member:own-link",
    "POST /selftest/{token}/result": "member:own-link",
    "POST /selftest/{token}/unequal": "member:own-link",
    "GET /companion/{token}": "member:own-link",
    "POST /companion/{token}/bye": "member:own-link",
    "POST /companion/{token}/rtc": "member:own-link",
    "WS /companion/{token}/ws": "member:own-link",
    # a device, for itself only (IT too)
    "GET /api/devices/{device_id}/meetings": "device:own it",
    "GET /api/devices/{device_id}/probe-key": "device:own it",
    "POST /api/mediapath/offer": "member:own-link device:own chair:own-body secretary:own-body it",
    # IT
    "GET /api/meetings": "it",
    "GET /api/incidents": "it",
    "GET /api/devices/failing": "it",
    "GET /api/health": "it",
    "GET /api/web/counters": "it",
    "GET /metrics": "it",
    "GET /it/incidents": "it",
    "GET /it/devices": "it",
    "GET /it/meetings/{meeting_id}/report": "it",
    "GET /secretary/{meeting_id}/report": STAFF_OWN,
    "GET /api/mediapath/status": "it",
    "GET /api/mediapath/results": "it",
    "GET /api/mediapath/results/{device_id}": "it",
}


#: mounted with ``[ha]`` only (issue 17): HAProxy checks it without credentials
HA_EXPECTED: dict[str, str] = {"GET /health/leader": "public"}


def _labels(dependant: Dependant) -> set[str]:
    found = set(allowed_of(dependant.call) or ())
    for sub in dependant.dependencies:
        found |= _labels(sub)
    return found


def route_table(app: FastAPI) -> dict[str, set[str]]:
    """``"METHOD path"`` -> the labels its dependencies declare (empty: it declares none). Every
    route of the app: API, pages, event streams, WebSockets, static files, the docs."""
    table: dict[str, set[str]] = {}
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute | APIWebSocketRoute):
            table[f"? {route.path}"] = set()  # a mounted app or a plain Starlette route: no declaration
            continue
        for method in sorted(route.methods or {"WS"}):
            table[f"{method} {route.path_format}"] = _labels(route.dependant)
    return table


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    base: Path = tmp_path_factory.mktemp("routes")
    roster = base / "roster.toml"
    write_roster(roster, ["dev-a"])
    cfg = write_config(
        base / "collector.toml",
        data_dir=base / "data",
        roster=roster,
        mqtt_url="",
        store_url="",
        influx="",
        extra="",
        silence_lost_s=None,
    )
    rt = Runtime(config.load(cfg))
    rt.start(mqtt=False)
    try:
        yield create_app(rt)
    finally:
        rt.stop()


def test_every_route_declares_who_may_call_it(app: FastAPI) -> None:
    table = route_table(app)
    undeclared = sorted(route for route, labels in table.items() if not labels)
    assert not undeclared, f"routes that declare no caller (collector/web/access.py): {undeclared}"
    assert {route: " ".join(sorted(labels)) for route, labels in table.items()} == {
        route: " ".join(sorted(labels.split())) for route, labels in EXPECTED.items()
    }


def test_the_openapi_document_lists_only_declared_routes(app: FastAPI) -> None:
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    documented = {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}
    assert documented and documented <= set(EXPECTED), sorted(documented - set(EXPECTED))


def test_a_route_without_a_declaration_is_found() -> None:
    """The check above can fail: a bare route shows up with no labels."""
    bare = FastAPI(openapi_url=None)

    @bare.get("/forgotten")
    def forgotten() -> str:
        return "open to all by mistake"

    assert route_table(bare) == {"GET /forgotten": set()}


#: (the companion socket is refused by tests/web/test_companion.py: a refused link closes it)
@pytest.mark.parametrize("route", sorted(r for r, who in EXPECTED.items() if who != "public" and r[:3] != "WS "))
def test_a_caller_without_credentials_is_refused(app: FastAPI, route: str) -> None:
    """What the table says, the routes do: without credentials nothing but a public route answers."""
    method, path = route.split(" ", 1)
    url = (
        path.replace("{meeting_id}", "ks-1")
        .replace("{device_id}", "dev-a")
        .replace("{token}", "x" * 24)
        .replace("{name}", "x")
        .replace("{member_id}", "member-0")
    )
    with TestClient(app, follow_redirects=False) as client:
        status = client.request(method, url, json={}).status_code
    assert status in (401, 403, 303), (route, status)  # 303: a page sends the visitor to sign in


def test_the_leader_endpoint_is_public_and_a_standby_serves_nothing_else(app: FastAPI) -> None:
    """With ``[ha]`` (issue 17) the app gains GET /health/leader (public: the load balancer's check)
    and, while this collector does not lead, every other route answers 503 (collector/ha/health.py)."""
    from types import SimpleNamespace

    from collector.ha.lease import Lease, LeaseConfig
    from collector.web.app import mount_ha

    lease = Lease(LeaseConfig(enabled=True), "postgresql://nowhere/none", "standby-node")
    ha_app = create_app(app.state.runtime)
    mount_ha(ha_app, SimpleNamespace(ha=SimpleNamespace(lease=lease), leading=lambda: False))
    table = route_table(ha_app)
    assert {r: " ".join(sorted(v)) for r, v in table.items() if r in HA_EXPECTED} == HA_EXPECTED
    assert set(table) - set(EXPECTED) == set(HA_EXPECTED)
    with TestClient(ha_app) as client:
        r = client.get("/health/leader")
        assert r.status_code == 503 and r.json()["role"] == "standby", r.text
        r = client.get("/login")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
