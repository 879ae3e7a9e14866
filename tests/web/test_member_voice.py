"""The member's own voice, from her pages in Debian's Chromium against a real collector process
(issue 15): "Jag deltar inte på lika villkor" (H17) reaches the chair's page at once with her name
and is recorded; after jäv (H18) her page says when she may rejoin once the chair records it; the
Servicedesk number (H20) is on both of her pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.support.waiting import wait_until
from tests.web.conftest import SHOTS, Collector, sign_in


def _links(collector: Collector) -> dict[str, dict[str, str]]:
    return {x["member_id"]: x for x in collector.api("/api/meetings/ks-test/selftest-links")}


def _member_page(browser: Any, url: str) -> Any:
    context = browser.new_context(
        viewport={"width": 820, "height": 1180}, bypass_csp=True, locale="sv-SE", timezone_id="Europe/Stockholm"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url)
    return page


def _act(collector: Collector, kind: str, **kw: str) -> httpx.Response:
    return httpx.post(
        f"{collector.base}/api/meetings/ks-test/actions",
        json={"kind": kind, "by": "ordf", **kw},
        headers=collector.headers,
        timeout=10,
    )


def test_member_tells_the_chair_from_her_page_h17(collector: Collector, browser: Any) -> None:
    collector.start_device("dev-a")
    collector.start_device("dev-b")
    wait_until(lambda: collector.meeting("ks-test")["verdict"] == "equal_terms", timeout=30, what="equal terms")
    chair = sign_in(browser, collector.base, "ordf", path="/chair/ks-test")
    chair.wait_for_function("document.getElementById('banner').getAttribute('data-verdict') === 'equal_terms'")

    anna = _member_page(browser, _links(collector)["anna"]["url"])
    main = anna.inner_text("main")
    assert "08-606 78 00" in main  # H20: the Servicedesk number, in the main text
    assert anna.get_attribute("#servicedesk a", "href") == "tel:086067800"
    anna.fill("#unequal-note", "Ljudet hackar")
    anna.click("#unequal")
    anna.wait_for_selector("#unequal-status[data-result=sent]")
    assert "Ordföranden fick ditt meddelande" in anna.inner_text("#unequal-status")

    # the chair's page shows it at once (its event stream), with her name; the meeting is at risk
    chair.wait_for_function(
        "document.getElementById('banner').textContent.includes('Anna Andersson meddelar')", timeout=15_000
    )
    assert chair.get_attribute("#banner", "data-verdict") == "at_risk"
    assert "deltar inte på lika villkor" in chair.inner_text("#banner")
    # ... and in her own row, so the chair sees whom it concerns beside her figures
    chair.wait_for_selector('tr[data-member="anna"] td.reason .told')
    assert "deltar inte på lika villkor" in chair.inner_text('tr[data-member="anna"] td.reason')
    SHOTS.mkdir(parents=True, exist_ok=True)
    chair.screenshot(path=str(SHOTS / "chair-unequal-terms.png"))
    anna.screenshot(path=str(SHOTS / "member-unequal-terms.png"), full_page=True)

    # recorded in the actions, by her link, with her words
    acts = [a for a in collector.api("/api/meetings/ks-test/actions") if a["kind"] == "unequal_terms"]
    assert [(a["member_id"], a["by"], a["note"]) for a in acts] == [("anna", "member:anna", "Ljudet hackar")]

    # ... in the database's actions table, and in the meeting report by her name with her words
    def stored() -> list[tuple[str, str, str]]:
        with sqlite3.connect(collector.data / "likavillkor.db") as db:
            return db.execute("SELECT member_id, by, note FROM actions WHERE kind = 'unequal_terms'").fetchall()

    wait_until(stored, timeout=10, what="the report stored")
    assert stored() == [("anna", "member:anna", "Ljudet hackar")]
    rep = httpx.get(f"{collector.base}/it/meetings/ks-test/report", headers=collector.headers, timeout=10).text
    assert "Anna Andersson — ”Ljudet hackar”" in rep

    # the chair adjourns and resumes: the report is answered, her page no longer says it stands
    assert _act(collector, "adjourn").status_code == 201
    assert _act(collector, "resume").status_code == 201
    chair.wait_for_function(
        "!document.getElementById('banner').textContent.includes('Anna Andersson meddelar')", timeout=15_000
    )
    anna.wait_for_function("document.getElementById('unequal-status').textContent === ''", timeout=15_000)

    # rate-limited per link: the burst is 3 (one used above), then a Swedish message, nothing recorded
    url = _links(collector)["anna"]["url"] + "/unequal"
    codes = [httpx.post(url, json={}, timeout=10).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    anna.click("#unequal")
    anna.wait_for_selector("#unequal-status[data-result=refused]")
    assert "Vänta en minut" in anna.inner_text("#unequal-status")
    assert len([a for a in collector.api("/api/meetings/ks-test/actions") if a["kind"] == "unequal_terms"]) == 3
    anna.context.close()
    chair.context.close()


def test_member_page_says_when_she_may_rejoin_after_jav_h18(collector: Collector, browser: Any) -> None:
    links = _links(collector)
    bo = _member_page(browser, links["bo"]["companion_url"])  # the companion page carries the same panel
    assert "08-606 78 00" in bo.inner_text("main")
    assert bo.is_hidden("#notice")
    assert _act(collector, "excuse", member_id="bo", item="§ 7").status_code == 201
    bo.wait_for_selector("#notice[data-kind=excused]")
    text = bo.inner_text("#notice")
    assert "§ 7" in text and "jäv" in text and "återvända" in text, text
    # an excused member's report is refused, in Swedish, and not recorded
    bo.click("#unequal")
    bo.wait_for_selector("#unequal-status[data-result=refused]")
    assert "deltar du inte" in bo.inner_text("#unequal-status")
    assert _act(collector, "return", member_id="bo").status_code == 201
    # before the meeting: a clear message, nothing recorded (Anna's link for tomorrow's meeting)
    later = {x["member_id"]: x for x in collector.api("/api/meetings/ks-later/selftest-links")}["anna"]["url"]
    early = httpx.post(later + "/unequal", json={}, timeout=10)
    assert early.status_code == 409 and "Sammanträdet pågår inte" in early.json()["message"]
    assert not [a for a in collector.api("/api/meetings/ks-later/actions") if a["kind"] == "unequal_terms"]
    bo.wait_for_selector("#notice[data-kind=returned]")
    assert "får återvända" in bo.inner_text("#notice")
    SHOTS.mkdir(parents=True, exist_ok=True)
    bo.screenshot(path=str(SHOTS / "companion-returned.png"), full_page=True)
    # and in English on request
    bo.goto(links["bo"]["companion_url"] + "?lang=en")
    bo.wait_for_selector("#notice[data-kind=returned]")
    assert "may return" in bo.inner_text("#notice")
    assert "Call the Servicedesk" in bo.inner_text("main")
    bo.context.close()


#: the page's main text, without the expandable details (figures, rule numbers) and scripts
MAIN_TEXT_JS = """() => { const m = document.querySelector('main').cloneNode(true);
    m.querySelectorAll('details, script').forEach(e => e.remove()); return m.innerText; }"""
JARGON = ("dBFS", "fps", "WebRTC", "NotAllowedError", "ICE", "DTLS", "(H", "luma", "Web Audio")


def test_a_refused_camera_says_how_to_allow_it_in_plain_swedish(collector: Collector, browser: Any) -> None:
    from tests.web.conftest import CHROMIUM_ARGS

    # a second Chromium from the same Playwright, whose permission prompts are refused
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"] + ["--deny-permission-prompts"]
    b = browser.browser_type.launch(executable_path="/usr/bin/chromium", args=args, timeout=30_000)
    try:
        page = _member_page(b, _links(collector)["bo"]["url"])
        page.check("input[data-confirm='checklist.wifi']")  # the others stay unticked
        page.click("#start")
        page.wait_for_selector("#status[data-overall]", timeout=90_000)
        assert page.is_visible("#permission-help")
        help_text = page.inner_text("#permission-help")
        assert "Inställningar > Safari > Kamera" in help_text and "hänglåset" in help_text
        cam = page.locator('[data-check="camera.capture"]')
        assert cam.get_attribute("data-status") == "fail"
        assert "Du har inte gett sidan lov" in cam.locator(".main").inner_text()
        assert "NotAllowedError" in cam.locator("details").text_content()  # the technical name: in the details
        # the media path does not contradict the camera without saying why: it was not tried
        path = page.locator('[data-check="mediapath.roundtrip"]')
        assert path.get_attribute("data-status") == "skipped"
        assert "eftersom kameran eller mikrofonen inte fungerar" in path.inner_text()
        # an unticked checklist item is a warning that names itself, in the list and the result line
        battery = page.locator('[data-check="checklist.battery"]')
        assert battery.get_attribute("data-status") == "warn" and "Inte ikryssat" in battery.inner_text()
        status = page.inner_text("#status")
        assert "Inte ikryssat" in status and "Batteriet" in status and "Du har inte gett sidan lov" in status
        main = page.evaluate(MAIN_TEXT_JS)
        assert not [w for w in JARGON if w in main], main
        assert "08-606 78 00" in main
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "selftest-camera-refused.png"), full_page=True)
        page.context.close()
    finally:
        b.close()


def test_member_panel_in_webkit_at_ipad_sizes(collector: Collector) -> None:
    """The iPad's engine (WebKitGTK, tests/web/webkit.py): the panel fits the iPad and Split View
    without sideways scrolling, shows the Servicedesk, and the H17 button reaches the chair."""
    from tests.web.test_companion_webkit import wait_js
    from tests.web.webkit import IPAD, IPAD_SPLIT, webkit

    links = _links(collector)
    fits = "return document.documentElement.scrollWidth <= window.innerWidth + 1"
    with webkit(IPAD) as safari:
        assert "AppleWebKit" in safari.execute_script("return navigator.userAgent")
        safari.get(links["bo"]["url"])
        wait_js(safari, "return document.getElementById('unequal') !== null", 10, "the self-test page")
        assert safari.execute_script(fits), "the self-test page scrolls sideways on an iPad"
        assert "08-606 78 00" in safari.execute_script("return document.getElementById('servicedesk').textContent")
        safari.set_window_size(*IPAD_SPLIT)
        safari.get(links["bo"]["companion_url"])
        wait_js(safari, "return document.getElementById('unequal') !== null", 10, "the companion page")
        assert safari.execute_script(fits), "the companion page scrolls sideways in Split View"
        safari.execute_script("document.getElementById('unequal').click()")
        wait_js(
            safari,
            "return document.getElementById('unequal-status').getAttribute('data-result') === 'sent'",
            15,
            "the report sent (WebKit)",
        )
    wait_until(
        lambda: any("Bo Berg meddelar" in r["sv"] for r in collector.meeting("ks-test")["reasons"]),
        timeout=15,
        what="the chair's view names Bo",
    )


def test_camera_works_but_the_room_gets_nothing_says_why(collector: Collector, browser: Any, tmp_path: Path) -> None:
    """The camera here passes while the media path to the room fails (its offer cannot reach the
    collector: the request is aborted in the browser, as a firewall would): the path's line says the
    fault is in the network, not the camera, so the two results do not silently contradict."""
    from tests.web.conftest import CHROMIUM_ARGS, write_camera_clip

    # a second Chromium from the module's Playwright, whose fake camera shows a face (a fair picture)
    clip = write_camera_clip(tmp_path / "face.y4m")
    b = browser.browser_type.launch(
        executable_path="/usr/bin/chromium",
        args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"],
        timeout=30_000,
    )
    try:
        page = _member_page(b, _links(collector)["anna"]["url"])
        page.context.grant_permissions(["camera", "microphone"])
        page.route("**/api/mediapath/offer", lambda route: route.abort("connectionrefused"))
        for box in page.locator("input[data-confirm]").all():
            box.check()
        page.click("#start")
        page.wait_for_selector("#status[data-overall]", timeout=90_000)
        assert page.get_attribute('[data-check="camera.capture"]', "data-status") == "pass"
        path = page.locator('[data-check="mediapath.roundtrip"]')
        assert path.get_attribute("data-status") == "fail"
        assert path.get_attribute("data-explained") == "1"
        assert "Felet ligger alltså i nätet" in path.inner_text()
        assert "Ljud och bild når rummet" in page.inner_text("#status")  # the closing line names the cause
        page.context.close()
    finally:
        b.close()
