"""The browser self-test (H7, H8, H9, H13) in Debian's Chromium with its fake camera and microphone,
against the real collector process: camera and microphone, the media path to the collector's aiortc
peer, RTT and throughput; the result is recorded for that member and meeting as a
wire.SelftestResult with source "browser" and shows in the chair's view like an agent's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.waiting import wait_until
from tests.web.conftest import SHOTS, Collector, launch_chromium, sign_in, write_camera_clip


@pytest.fixture(scope="module")
def camera_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose fake camera shows a face (see write_camera_clip); the microphone is its beep."""
    clip = write_camera_clip(tmp_path_factory.mktemp("camera") / "face.y4m")
    with launch_chromium((f"--use-file-for-fake-video-capture={clip}",)) as b:
        yield b


def links(collector: Collector, meeting_id: str) -> dict[str, str]:
    return {x["member_id"]: x["url"] for x in collector.api(f"/api/meetings/{meeting_id}/selftest-links")}


def test_browser_selftest_reaches_the_chair(collector: Collector, camera_browser: Any) -> None:
    browser = camera_browser
    collector.start_device("dev-b")  # Bo's agent is monitoring too: the browser result joins it
    wait_until(lambda: collector.participant("ks-test", "bo")["state"] == "ok", timeout=15, what="Bo ok")
    url = links(collector, "ks-test")["bo"]
    assert url.startswith(collector.base + "/selftest/")

    context = browser.new_context(
        viewport={"width": 820, "height": 1180}, bypass_csp=True, permissions=["camera", "microphone"]
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(url)
    assert "Bo Berg" in page.inner_text("main")
    assert "mobildata" in page.inner_text("main")  # the H9 checklist says what the browser cannot see
    for box in page.locator("input[data-confirm]").all():  # the member confirms the H9 checklist
        box.check()
    page.click("#start")
    page.wait_for_selector("#status[data-overall]", timeout=60_000)
    checks = {
        li.get_attribute("data-check"): li.get_attribute("data-status") for li in page.locator("#checks li").all()
    }
    assert checks["camera.capture"] == "pass", page.inner_text("#checks")
    assert checks["microphone.level"] == "pass", page.inner_text("#checks")
    assert checks["mediapath.roundtrip"] in ("pass", "warn"), page.inner_text("#checks")
    assert checks["network.rtt"] == "pass", page.inner_text("#checks")
    assert checks["network.download"] != "error" and checks["network.upload"] != "error", page.inner_text("#checks")
    overall = page.get_attribute("#status", "data-overall")
    assert overall in ("pass", "warn"), page.inner_text("#checks")
    # plain words in the main text; figures and rule numbers in the details (issue 15)
    from tests.web.test_member_voice import JARGON, MAIN_TEXT_JS

    main = page.evaluate(MAIN_TEXT_JS)
    assert not [w for w in JARGON if w in main], main
    assert "Mikrofonen fungerar" in main and "08-606 78 00" in main
    assert "dBFS" in page.locator('[data-check="microphone.level"] details').text_content()
    assert "Handboken H13" in page.locator('[data-check="mediapath.roundtrip"] details').text_content()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "selftest.png"), full_page=True)
    context.close()

    # recorded for Bo in ks-test, as source "browser", with the media path for the roll call (H13)
    bo = collector.participant("ks-test", "bo")
    assert bo["selftest"]["source"] == "browser" and bo["selftest"]["overall"] == overall
    assert bo["mediapath"] is not None and bo["mediapath"]["verdict"] in ("good", "degraded")

    # stored as a wire.SelftestResult for Bo's device in ks-test, with the member's H9 confirmations
    def stored() -> list[tuple[str, ...]]:
        with sqlite3.connect(collector.data / "likavillkor.db") as db:
            return db.execute(
                "SELECT device_id, member_id, meeting_id, source, overall, checks FROM selftests"
            ).fetchall()

    wait_until(lambda: stored(), timeout=5, what="self-test stored")
    ((device_id, member_id, meeting_id, source, stored_overall, checks_json),) = stored()
    assert (device_id, member_id, meeting_id, source, stored_overall) == ("dev-b", "bo", "ks-test", "browser", overall)
    ids = {c["id"]: c["status"] for c in json.loads(checks_json)}
    assert ids["checklist.wifi"] == "pass" and ids["network.link"] == "skipped"  # what a browser cannot see (H9)

    chair = sign_in(browser, collector.base, "ordf", path="/chair/ks-test")
    row = chair.locator('tr[data-member="bo"]')
    assert "webbläsaren" in row.locator("td.selftest").inner_text()  # who ran it, in words (source.browser)
    assert row.locator("td.mediapath").inner_text().startswith("Ses och hörs")
    chair.context.close()
