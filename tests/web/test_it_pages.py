"""IT's and the Servicedesk's pages in Debian's Chromium against a real collector process (issue 15):
the incident filter by name (any case, datalist suggestions) and date pickers, kinds in Swedish, a
plain CSV; unknown devices (H12) and devices failing across meetings on their own page with CSV; the
meeting report naming people, each substitution once, and a legend of its timeline."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.support.waiting import wait_until
from tests.web.conftest import SHOTS, Collector, sign_in

ISO_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0[12]:00$")


def _get(collector: Collector, path: str) -> httpx.Response:
    r = httpx.get(collector.base + path, headers=collector.headers, timeout=10)
    assert r.status_code == 200, r.text
    return r


def test_it_finds_incidents_by_name_and_day_and_exports_plain_csv(collector: Collector, browser: Any) -> None:
    collector.start_device("dev-a")
    collector.start_device("dev-b")
    collector.start_device("stray-ipad")  # on no roster (H12)
    wait_until(lambda: collector.participant("ks-test", "anna")["state"] == "ok", timeout=30, what="anna ok")
    collector.kill_device("dev-a")  # H15: connection lost, an incident for Anna
    wait_until(
        lambda: any(i["kind"] == "connection_lost" for i in collector.api("/api/incidents")),
        timeout=30,
        what="incident stored",
    )
    wait_until(lambda: "stray-ipad" in collector.api("/api/health")["unknown_devices"], timeout=20, what="H12")
    r = httpx.post(
        f"{collector.base}/api/meetings/ks-test/actions",
        json={"kind": "adjourn", "by": "ordf"},
        headers=collector.headers,
        timeout=10,
    )
    assert r.status_code == 201, r.text

    today = dt.datetime.now(ZoneInfo("Europe/Stockholm")).date().isoformat()
    it = sign_in(browser, collector.base, "it", path="/it/incidents")
    # suggestions from the roster: people by name, bodies, devices
    assert "Anna Andersson" in [o.get_attribute("value") for o in it.locator("#members option").all()]
    assert "dev-a" in [o.get_attribute("value") for o in it.locator("#devices option").all()]
    it.fill("input[name=member]", "anna")  # a part of the name, any case
    it.fill("input[name=from]", today)  # the date pickers: Stockholm days
    it.fill("input[name=to]", today)
    it.select_option("select[name=kind]", label="Ingen kontakt")  # kinds in Swedish
    it.click("#filter button[type=submit]")
    it.wait_for_selector("#incident-rows")
    rows = it.locator("#incident-rows tbody tr").all()
    assert rows and {r.get_attribute("data-member") for r in rows} == {"anna"}
    assert "Anna Andersson" in it.inner_text("#incident-rows") and "connection_lost" not in it.inner_text("main")
    assert it.input_value("input[name=from]") == today
    SHOTS.mkdir(parents=True, exist_ok=True)
    it.screenshot(path=str(SHOTS / "it-incidents.png"), full_page=True)

    # nobody by that name: nothing, not everything
    it.fill("input[name=member]", "ZETTERBERG")
    it.click("#filter button[type=submit]")
    it.wait_for_load_state()
    assert it.locator("#incident-rows").count() == 0
    # a date that is not a date: a Swedish message, and the filter ignores it
    it.goto(collector.base + "/it/incidents?from=ig%C3%A5r")
    assert "kunde inte läsas" in it.inner_text("#filter-error")

    # the CSV the page links: ISO 8601 local times, names, kinds in words, no JSON, no epoch seconds
    text = _get(collector, f"/it/incidents?member=ANNA&from={today}&to={today}&format=csv").text
    got = list(csv.DictReader(io.StringIO(text)))
    assert got and {g["member"] for g in got} == {"Anna Andersson"}
    assert all(ISO_LOCAL.match(g["started"]) for g in got), got
    assert "{" not in text and not re.search(r"\b1[7-9]\d{8}(\.\d+)?\b", text)

    # the devices page: failing across meetings, and the unknown device (H12), each with CSV
    it.goto(collector.base + "/it/devices?min_incidents=1")
    assert "Anna Andersson" in it.inner_text('#failing tr[data-device="dev-a"]')
    assert it.locator('#unknown tr[data-device="stray-ipad"]').count() == 1
    it.screenshot(path=str(SHOTS / "it-devices.png"), full_page=True)
    unknown = list(csv.DictReader(io.StringIO(_get(collector, "/it/devices?format=csv&list=unknown").text)))
    assert [u["device_id"] for u in unknown] == ["stray-ipad"] and ISO_LOCAL.match(unknown[0]["first_seen"])
    failing = list(csv.DictReader(io.StringIO(_get(collector, "/it/devices?min_incidents=1&format=csv").text)))
    assert failing[0]["device_id"] == "dev-a" and failing[0]["members"] == "Anna Andersson"
    assert "Ingen kontakt" in failing[0]["kinds"]

    # the report: people by name (not "ordf"), and a legend of the timeline
    it.goto(collector.base + "/it/meetings/ks-test/report")
    it.wait_for_selector("svg.timeline")
    adjourned = it.locator("h2:has-text('Ajourneringar') + ul").inner_text()
    assert "Eva Ordförande" in adjourned and "ordf)" not in adjourned
    legend = it.inner_text("#legend")
    assert "ajournerat" in legend and "ärende" in legend
    assert it.locator('#legend [data-legend="lost"]').count() == 1
    it.screenshot(path=str(SHOTS / "report-legend.png"), full_page=True)
    it.context.close()
