"""The whole HTTP API is described by /openapi.json, and schemathesis (short run, authenticated with an
API token) finds no server error and no response that breaks its declared schema, against the real
collector process.

Schemathesis generates the requests and checks the responses; httpx sends them. Schemathesis' own
client rides on ``requests``, which breaks when ``urllib3-future`` (pulled in by the grafana extra)
has taken over the ``urllib3`` import name.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, checks

from tests.web.conftest import Collector

EXCLUDED = re.compile(r"/events$|^/speedtest/|^/api/mediapath/")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def send(client: httpx.Client, case: Any, base: str, headers: dict[str, str]) -> httpx.Response:
    kw = case.as_transport_kwargs(base_url=base, headers=headers)
    body = kw.get("data")
    return client.request(
        kw["method"],
        kw["url"],
        headers=kw.get("headers"),
        params=kw.get("params"),
        json=kw.get("json"),
        content=body if isinstance(body, bytes | str) else None,
    )


def test_api_conforms_to_its_schema(collector: Collector) -> None:
    """Every operation of the running collector: generated requests (valid and not), authenticated as
    IT; no 5xx, documented status codes and content types, bodies valid against their schemas."""
    schema = schemathesis.openapi.from_url(collector.base + "/openapi.json")
    tested = []
    with httpx.Client(timeout=10) as client:
        for result in schema.get_all_operations():
            op = result.ok()  # type: ignore[union-attr]  # an invalid operation raises here: a failure
            if EXCLUDED.search(op.path):
                continue
            tested.append(f"{op.method.upper()} {op.path}")

            @given(case=st.one_of(op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)))
            @settings(
                max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
            )
            def run(case: Any) -> None:
                response = send(client, case, collector.base, collector.headers)
                case.validate_response(response, checks=CHECKS)

            run()
    assert len(tested) >= 10, tested


def test_openapi_describes_the_api_with_models(collector: Collector) -> None:
    spec = httpx.get(collector.base + "/openapi.json", timeout=5).json()
    paths = spec["paths"]
    for path in (
        "/api/meetings/{meeting_id}",
        "/api/meetings/{meeting_id}/events",
        "/api/meetings/{meeting_id}/actions",
        "/api/meetings/{meeting_id}/selftest-links",
        "/selftest/{token}/result",
        "/selftest/{token}/status",
        "/api/devices/failing",
    ):
        assert path in paths, path
    view = paths["/api/meetings/{meeting_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert view == {"$ref": "#/components/schemas/MeetingView"}
    assert "ParticipantView" in spec["components"]["schemas"]
    assert {"apiToken", "session"} <= set(spec["components"]["securitySchemes"])
    # the pages themselves are not API
    assert "/chair/{meeting_id}" not in paths and "/login" not in paths


def test_a_real_meeting_view_matches_its_published_schema(collector: Collector) -> None:
    """Random ids mostly hit 404s: check a real MeetingView (with a lost participant) against the schema."""
    import jsonschema

    spec = httpx.get(collector.base + "/openapi.json", timeout=5).json()
    schema = {"$ref": "#/components/schemas/MeetingView", "components": spec["components"]}
    view = collector.api("/api/meetings/ks-test")
    jsonschema.Draft202012Validator(schema).validate(view)
    broken = {**view, "verdict": "all_fine"}
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)
