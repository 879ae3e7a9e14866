"""The committed dashboards are what dashboards/build.py generates, and follow the house rules:
InfluxQL only, the data source by uid, every variable a query uses is defined, Swedish mappings
cover every code the collector writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from collector.store.influx import STATE_CODES, VERDICT_CODES
from tests.dashboards import influxql as iq

NAMES = ("ordforandepanel.json", "incidenthistorik.json", "enhetshalsa.json")
BUILTINS = {"timeFilter", "__interval", "__to", "__from"}


def test_committed_json_is_the_generator_output() -> None:
    rendered = iq.build_module().render()
    assert sorted(rendered) == sorted(NAMES)
    for name, text in rendered.items():
        assert (iq.DASHBOARDS / name).read_text(encoding="utf-8") == text, (
            f"{name} is out of date: run .venv/bin/python dashboards/build.py"
        )
    # the script's own check agrees (and runs from any directory)
    r = subprocess.run(
        [sys.executable, str(iq.DASHBOARDS / "build.py"), "--check"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_rules(name: str) -> None:
    d = iq.load(name)
    assert d["uid"].startswith("likavillkor-") and d["title"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    defined = iq.variable_names(name)
    text = json.dumps(d)
    assert "from(bucket" not in text and "|>" not in text  # no Flux
    sources = [p["datasource"] for p in d["panels"]] + [t["datasource"] for p in d["panels"] for t in p["targets"]]
    sources += [v["datasource"] for v in d["templating"]["list"] if v["type"] == "query"]
    assert all(s == {"type": "influxdb", "uid": "likavillkor-influxdb"} for s in sources)
    queries = [q.query for q in iq.panel_queries(name)] + [q for _, q in iq.variable_queries(name)]
    for q in queries:
        used = {a or b for a, b in re.findall(r"\$\{(\w+)\}|\$(\w+)", q)}
        assert used <= defined | BUILTINS, (q, used - defined - BUILTINS)
        if not q.startswith("SHOW"):
            assert "$timeFilter" in q or "${__to}" in q, f"unbounded in time: {q}"


def _mapped(panel: dict[str, Any]) -> dict[str, str]:
    mappings = panel["fieldConfig"]["defaults"]["mappings"]
    return {k: v["text"] for m in mappings for k, v in m["options"].items()}


def test_every_verdict_and_state_code_has_a_swedish_name() -> None:
    chair = {p["title"]: p for p in iq.load("ordforandepanel.json")["panels"]}
    verdicts = _mapped(chair["Lika villkor"])
    assert set(verdicts) == {str(c) for c in VERDICT_CODES.values()}
    assert sorted(verdicts.values()) == sorted(
        [
            "Lika villkor uppfyllt",
            "Risk",
            "Ajournera",
            "Ersättare ska kallas in",
            "Övervakningen avbruten",
            "Ej påbörjat",
            "Avslutat",
            "Alla övervakas inte",
        ]
    )
    states = _mapped(chair["Deltagarnas läge"])
    assert set(states) == {str(c) for c in STATE_CODES.values()}
    assert states[str(STATE_CODES["lost"])] == "Ingen kontakt"


def test_deploy_provisioning_serves_these_dashboards() -> None:
    """deploy/grafana (another engineer's) mounts this folder and names the data source by our uid."""
    import yaml

    deploy = iq.DASHBOARDS.parent / "deploy"
    ds = yaml.safe_load((deploy / "grafana/provisioning/datasources/likavillkor.yaml").read_text(encoding="utf-8"))
    assert [d["uid"] for d in ds["datasources"]] == ["likavillkor-influxdb"]
    assert ds["datasources"][0]["jsonData"]["version"] == "InfluxQL"
    provider = yaml.safe_load(
        (deploy / "grafana/provisioning/dashboards/likavillkor.yaml").read_text(encoding="utf-8")
    )["providers"][0]
    compose = yaml.safe_load((deploy / "compose.yaml").read_text(encoding="utf-8"))
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["../dashboards"] == provider["options"]["path"]


def test_docs_name_every_panel_and_variable() -> None:
    docs = " ".join((iq.DASHBOARDS.parent / "docs" / "dashboards.md").read_text(encoding="utf-8").split())
    missing = [f"{name}: {p['title']}" for name in NAMES for p in iq.load(name)["panels"] if p["title"] not in docs]
    missing += [f"{name}: ${v}" for name in NAMES for v in iq.variable_names(name) if v not in docs]
    missing += [uid for uid in ("likavillkor-chair", "likavillkor-incidents", "likavillkor-device") if uid not in docs]
    assert missing == []
