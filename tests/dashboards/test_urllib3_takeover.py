"""grafana-client installs urllib3-future, which takes over the ``urllib3`` import name that
influxdb-client (the collector's v2 transport) is built on. In one process that has imported
grafana_client and talked to a (fake) Grafana, influxdb-client still writes to a real server:
Debian's VictoriaMetrics, which accepts ``POST /api/v2/write``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.dashboards.fake_grafana import running_fake_grafana
from tests.support.databases import running_victoria_metrics

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import importlib.metadata as md, json, sys
import grafana_client
import urllib3
from grafana_client import GrafanaApi
from collector.store.influx import V2Transport, meeting_verdict_line



def main(grafana_url, vm_url, at):
    info = GrafanaApi.from_url(grafana_url, credential="glsa_test", timeout=5).health.check()
    transport = V2Transport(vm_url, token="t", org="kommun", bucket="likavillkor", timeout_s=5)
    pool = type(transport._client.api_client.rest_client.pool_manager).__module__
    transport.write([meeting_verdict_line(meeting_id="ks-1", body="kommunstyrelsen", verdict="adjourn",
                                          adjourned=True, at=at)])
    transport.close()
    return {"urllib3": urllib3.__version__, "urllib3_future": md.version("urllib3-future"),
            "urllib3_file": urllib3.__file__, "grafana": info["version"], "influx_pool": pool}


# inside a function, so the client is released before the interpreter shuts down (as in the
# collector); an influxdb-client object still alive at exit in a process that imported grafana_client
# prints an ignored urllib3-future error from ApiClient.__del__ (docs/dashboards.md)
print(json.dumps(main(sys.argv[1], sys.argv[2], float(sys.argv[3]))))
"""


def test_influxdb_client_writes_after_grafana_client_was_imported(tmp_path: Path) -> None:
    at = time.time()
    with running_fake_grafana() as (grafana_url, _), running_victoria_metrics(tmp_path / "vm") as vm:
        r = subprocess.run(
            [sys.executable, "-c", CHILD, grafana_url, vm.url, str(at)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert r.returncode == 0, r.stderr
        facts = json.loads(r.stdout)
        got = vm.wait_export('{__name__="meeting_verdict_verdict_code"}', 1)
    # the takeover happened: the urllib3 that influxdb-client used is urllib3-future ...
    assert facts["urllib3"] == facts["urllib3_future"], facts
    assert facts["influx_pool"].startswith("urllib3."), facts
    assert facts["grafana"] == "11.4.0"
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr
    # ... and the point arrived
    assert len(got) == 1 and got[0]["values"] == [2]
    assert got[0]["metric"]["verdict"] == "adjourn"  # type: ignore[index]
    assert abs(got[0]["timestamps"][0] / 1000 - at) < 1  # type: ignore[index]
