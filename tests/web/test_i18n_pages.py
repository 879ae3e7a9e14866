"""Swedish pages name what the engine reports in Swedish (issue 13): the chair's view (a failed
self-test's checks, a refused action), the IT incident list, the failing-devices list and the meeting
report, in Debian's Chromium against a real collector, Mosquitto and device processes. No incident
kind, severity, refusal or check id appears as its English code."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import paho.mqtt.client as paho

from collector.web import i18n
from likavillkor import topics, wire
from tests.support.waiting import wait_until
from tests.web.conftest import Collector, sign_in
from tests.web.test_i18n import check_ids, incident_kinds


def until(pred: Any, timeout: float, what: str, log: Any = None) -> float:
    return wait_until(pred, timeout=timeout, what=what, log=log)


FAILED_CHECKS = ("camera.black", "network.bandwidth")


def english_codes() -> set[str]:
    """Codes that must not show on a Swedish page: incident kinds, severities, check ids, refusal codes."""
    refusal_codes = {k[len("refusal.") :] for k in i18n.CATALOGS["sv"] if k.startswith("refusal.")}
    codes = incident_kinds() | {"warning", "failure"} | refusal_codes | {c for c in check_ids() if "." in c}
    return codes | set(FAILED_CHECKS)


def assert_swedish(text: str, where: str) -> None:
    found = sorted(c for c in english_codes() if re.search(rf"(?<![\w.-]){re.escape(c)}(?![\w.-])", text))
    assert not found, f"{where} shows codes instead of Swedish words: {found}\n{text[:2000]}"


def publish_selftest(collector: Collector, device_id: str) -> None:
    """A failed agent self-test for the device, over the real broker (as the agent sends it)."""
    boot = uuid.uuid4().hex[:12]
    now = time.time()
    checks = [wire.CheckResult(id=c, status=wire.CheckStatus.FAIL) for c in FAILED_CHECKS]
    checks.append(wire.CheckResult(id="battery.level", status=wire.CheckStatus.PASS))
    msg = wire.SelftestResult(
        device_id=device_id,
        boot_id=boot,
        seq=1,
        ts=now,
        meeting_id="ks-test",
        overall=wire.CheckStatus.FAIL,
        started_at=now - 20,
        duration_s=20.0,
        checks=checks,
    )
    c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"i18n-{boot}", protocol=paho.MQTTv5)
    c.connect("127.0.0.1", collector.mosquitto.port, keepalive=5)
    c.loop_start()
    try:
        c.publish(topics.device_topic(device_id, "selftest"), wire.encode(msg), qos=1).wait_for_publish(10)
    finally:
        c.loop_stop()
        c.disconnect()


def test_swedish_pages_name_kinds_severities_refusals_and_checks(collector: Collector, browser: Any) -> None:
    # bo's agent reports a failed self-test before his device is heard, then both devices run
    publish_selftest(collector, "dev-b")
    wait_until(
        lambda: (collector.participant("ks-test", "bo").get("selftest") or {}).get("failed"),
        timeout=20,
        what="the self-test reached the engine",
        log=collector.workdir / "collector.log",
    )
    collector.start_device("dev-a")
    collector.start_device("dev-b")
    wait_until(lambda: collector.participant("ks-test", "anna")["state"] == "ok", timeout=30, what="anna ok")
    collector.kill_device("dev-a")  # H15: an incident "connection lost", severity failure
    wait_until(
        lambda: any(i["kind"] == "connection_lost" for i in collector.api("/api/incidents")),
        timeout=30,
        what="incident stored",
        log=collector.workdir / "collector.log",
    )

    chair = sign_in(browser, collector.base, "ordf", path="/chair/ks-test")
    chair.wait_for_selector('tr[data-member="bo"] td.selftest >> text=Kamera')
    selftest = chair.locator('tr[data-member="bo"] td.selftest').inner_text()
    assert "Kamera" in selftest and "Hastighet" in selftest, selftest
    assert i18n.t("source.agent", "sv") in selftest and "agent ·" not in selftest, selftest
    # a refused action (no vote is running): the chair reads why in Swedish, not the engine's English
    chair.evaluate("""() => { const b = document.querySelector('#actions button[data-kind="vote_end"]');
                              b.hidden = false; b.click(); }""")
    chair.wait_for_selector("#toast.s-bad")
    toast = chair.inner_text("#toast")
    assert toast == f"{i18n.t('act.failed', 'sv')}: {i18n.t('refusal.no_vote', 'sv')}", toast
    assert_swedish(chair.inner_text("main"), "the chair's view")
    # the roster's roles are Swedish words: the English links page translates them too
    chair.goto(collector.base + "/secretary/ks-test/links?lang=en")
    assert chair.inner_text('tr[data-member="bo"] td:nth-child(2)') == "substitute"
    chair.goto(collector.base + "/secretary/ks-test/links?lang=sv")
    assert chair.inner_text('tr[data-member="bo"] td:nth-child(2)') == "ersättare"
    chair.context.close()

    it = sign_in(browser, collector.base, "it", path="/it/incidents")
    main = it.inner_text("main")
    assert i18n.t("incident.connection_lost", "sv") in main and i18n.t("severity.failure", "sv") in main, main
    assert_swedish(main, "the incident list")
    it.goto(collector.base + "/it/devices?min_incidents=1")
    main = it.inner_text("main")
    assert "dev-a" in main and i18n.t("incident.connection_lost", "sv") in main, main
    assert_swedish(main, "the failing devices")
    it.goto(collector.base + "/it/meetings/ks-test/report")
    it.wait_for_selector("svg.timeline")
    main = it.inner_text("main")
    assert i18n.t("incident.connection_lost", "sv") in main, main
    assert_swedish(main, "the meeting report")
    # English on request: the same pages from the English catalog
    it.goto(collector.base + "/it/incidents?lang=en")
    assert "Connection lost" in it.inner_text("main")
    it.context.close()
