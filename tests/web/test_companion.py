"""The member on the municipality's iPad (issue 11), end to end: a real collector process, a real
Mosquitto with a real device process for the agent member, and Debian's Chromium (fake media).

* Anna (``monitoring = "browser"``, an iPad): her browser self-test does not make her lost; her
  companion page, while open, makes her monitored and ``ok``; hidden or closed she is
  ``not_monitored``, never lost, never *Ajournera*; a cut network while it is open is lost (H15).
* Cecilia (``monitoring = "none"``): always not monitored; the chair sees the roll-call advice (H13).
* Forged, expired and other members' links are refused, counted in /metrics, and change nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from collector.auth import load_secret, sign
from collector.web.selftest_links import make_token
from tests.support.roster import write_companion_roster
from tests.support.services import running_mosquitto, stop_pid
from tests.support.waiting import wait_until
from tests.web.conftest import (
    SHOTS,
    SILENCE_S,
    SUBSTITUTE_S,
    Collector,
    launch_chromium,
    make_collector,
    sign_in,
    write_camera_clip,
)

#: the page stops answering on both paths (WebSocket and data channel), its sockets left open
CUT = "() => { WebSocket.prototype.send = function () {}; RTCDataChannel.prototype.send = function () {}; }"
IPAD = {"width": 820, "height": 1180}  # iPad Air, portrait: Split View gives the page a third to a half
#: generous deadlines for states on a loaded 2-core machine (the full suite runs two workers beside other
#: work): a page's start, its first samples and the debounce can take many times their idle figures
STATE_S = 60.0
PAGE_MS = 90_000


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    workdir = tmp_path_factory.mktemp("companion")
    with running_mosquitto(workdir / "mosquitto") as broker:
        c = make_collector(workdir, broker)
        write_companion_roster(workdir / "roster.toml", time.time())
        c.start()
        c.start_device("dev-b")  # Bo's agent
        try:
            wait_until(
                lambda: c.participant("ks-test", "bo")["state"] == "ok",
                timeout=STATE_S,
                what="Bo ok",
                log=c.workdir / "collector.log",
            )
            yield c
        finally:
            for proc in c.devices.values():
                stop_pid(proc)
            c.stop()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    clip = write_camera_clip(tmp_path_factory.mktemp("camera") / "face.y4m")
    with launch_chromium((f"--use-file-for-fake-video-capture={clip}",)) as b:
        yield b


def link(collector: Collector, member: str) -> str:
    urls = {x["member_id"]: x["url"] for x in collector.api("/api/meetings/ks-test/selftest-links")}
    return urls[member]


def companion_url(collector: Collector, member: str) -> str:
    return link(collector, member).replace("/selftest/", "/companion/")


def view(collector: Collector) -> dict[str, Any]:
    return collector.api("/api/meetings/ks-test")


def anna(collector: Collector) -> dict[str, Any]:
    return collector.participant("ks-test", "anna")


def watched(collector: Collector) -> str:
    """Anna's state while her page watches her: ``ok``, or ``degraded`` (H1) when the first test's browser
    self-test measured a degraded media path (a loaded machine freezes the fake camera): that result
    holds for the meeting, so later tests expect what it implies rather than depend on the load."""
    return "degraded" if (anna(collector).get("mediapath") or {}).get("verdict") == "degraded" else "ok"


def hold(collector: Collector, seconds: float) -> list[tuple[str, str]]:
    """Watch the meeting for ``seconds``; every (Anna's state, verdict) seen."""
    seen: list[tuple[str, str]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = view(collector)
        seen.append((next(p["state"] for p in v["participants"] if p["member_id"] == "anna"), v["verdict"]))
        time.sleep(0.2)
    return seen


def metric(collector: Collector, event: str) -> float:
    text = httpx.get(collector.base + "/metrics", headers=collector.headers, timeout=5).text
    m = re.search(rf'^likavillkor_companion_events_total\{{event="{event}"\}} ([0-9.]+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def open_sockets(collector: Collector) -> float:
    """The collector's companion sockets open now (``likavillkor_companion_open``)."""
    text = httpx.get(collector.base + "/metrics", headers=collector.headers, timeout=5).text
    m = re.search(r"^likavillkor_companion_open ([0-9.]+)$", text, re.M)
    assert m is not None, "no likavillkor_companion_open gauge in /metrics"
    return float(m.group(1))


def no_sockets_open(collector: Collector) -> None:
    """Wait until the sockets of earlier tests (closed by their pages or clients) are released on the
    collector's side too: a link holds at most two, a third is refused (``too_many_sockets_per_link``)."""
    wait_until(
        lambda: open_sockets(collector) == 0,
        timeout=STATE_S,
        what="no companion socket open from earlier tests",
        detail=lambda: open_sockets(collector),
        log=collector.workdir / "collector.log",
    )


def hello(ws: Any) -> dict[str, Any]:
    """The socket's first message, the hello (``{"t": "s", "sock": ...}``); a refusal fails naming it."""
    msg: dict[str, Any] = json.loads(ws.recv(timeout=30))
    assert msg.get("t") == "s" and "sock" in msg, f"the first message is not the hello (a refusal?): {msg}"
    return msg


def set_visibility(page: Any, state: str) -> None:
    """What the browser does when the iPad switches app or Split View closes: visibilitychange."""
    page.evaluate(
        "s => { Object.defineProperty(document, 'visibilityState', {value: s, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        state,
    )


def test_browser_selftest_does_not_make_the_ipad_member_lost(collector: Collector, chromium: Any) -> None:
    """Issue 11, item 1: the self-test through her link made her `lost` 10 s later, `replaced` at 5 min."""
    assert anna(collector)["state"] == "not_monitored" and anna(collector)["monitoring"] == "browser"
    context = chromium.new_context(viewport=IPAD, bypass_csp=True, permissions=["camera", "microphone"])
    page = context.new_page()
    page.set_default_timeout(PAGE_MS)
    page.goto(link(collector, "anna"))
    for box in page.locator("input[data-confirm]").all():
        box.check()
    page.click("#start")
    page.wait_for_selector("#status[data-overall]", timeout=2 * PAGE_MS)
    context.close()
    wait_until(
        lambda: (anna(collector)["selftest"] or {}).get("source") == "browser",
        timeout=STATE_S,
        what="self-test recorded",
    )
    # well past the silence limit and the (test policy's) five minutes: never lost, never replaced
    seen = hold(collector, SUBSTITUTE_S + 3 * SILENCE_S)
    assert {s for s, _ in seen} == {"not_monitored"}, seen
    assert not {v for _, v in seen} & {"adjourn", "substitute_due"}, seen
    assert view(collector)["verdict"] == "not_all_monitored"
    assert [r["code"] for r in anna(collector)["reasons"]][:2] == ["not_monitored", "selftest_passed"]


def test_companion_page_open_hidden_closed(collector: Collector, chromium: Any) -> None:
    no_sockets_open(collector)
    context = chromium.new_context(viewport={"width": 507, "height": 1180}, bypass_csp=True)  # Split View 1/2
    page = context.new_page()
    page.set_default_timeout(PAGE_MS)
    page.goto(companion_url(collector, "anna"))
    # open: monitored like an agent member, and ok; her page says so in large Swedish text
    wait_until(
        lambda: anna(collector)["state"] == watched(collector) and anna(collector)["companion_open"],
        timeout=STATE_S,
        what="Anna ok",
        detail=lambda: anna(collector),
        log=collector.workdir / "collector.log",
    )
    page.wait_for_selector(f'#companion[data-state="{watched(collector)}"][data-watched="1"]')
    if watched(collector) == "ok":
        assert page.inner_text("#headline") == "Du ses och hörs på lika villkor"
    wait_until(
        lambda: anna(collector)["rtt_ms"] is not None, timeout=STATE_S, what="round-trip time from the companion page"
    )
    assert 0 <= anna(collector)["rtt_ms"] < 1000 and anna(collector)["loss_percent"] is not None
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "companion.png"))
    # Cecilia (watched by nothing) keeps the meeting from claiming equal terms for everyone
    wait_until(
        lambda: view(collector)["verdict"] == "not_all_monitored", timeout=STATE_S, what="verdict not_all_monitored"
    )

    # the chair's view: not monitored, with the roll-call advice (H13), Swedish first
    chair = sign_in(chromium, collector.base, "ordf", path="/chair/ks-test")
    chair.set_default_timeout(PAGE_MS)
    chair.wait_for_selector('#banner[data-verdict="not_all_monitored"]')
    assert "uppropet" in chair.inner_text("#banner")
    row = chair.locator('tr[data-member="cecilia"]')
    assert row.get_attribute("data-state") == "not_monitored"
    assert "Inte övervakad" in row.inner_text() and "kontrollera vid uppropet" in row.inner_text()
    assert chair.locator('tr[data-member="anna"]').get_attribute("data-state") == watched(collector)
    chair.screenshot(path=str(SHOTS / "chair-not-monitored.png"), full_page=True)
    chair.goto(collector.base + "/chair/ks-test?lang=en")  # English on request
    chair.wait_for_selector('#banner[data-verdict="not_all_monitored"]')
    assert "Not everyone is monitored" in chair.inner_text("#banner")
    assert "check at the roll call" in chair.locator('tr[data-member="cecilia"]').inner_text()
    chair.goto(collector.base + "/chair/ks-test?lang=sv")

    # hidden (she switched app): not monitored, not lost, no Ajournera, for well past the silence limit
    set_visibility(page, "hidden")
    wait_until(lambda: anna(collector)["state"] == "not_monitored", timeout=STATE_S, what="Anna not monitored")
    seen = hold(collector, 4 * SILENCE_S)
    assert {s for s, _ in seen} == {"not_monitored"} and "adjourn" not in {v for _, v in seen}, seen
    assert "dold eller stängd" in anna(collector)["reason"]["sv"]
    chair.wait_for_selector('tr[data-member="anna"][data-state="not_monitored"]')
    # shown again: watched again
    set_visibility(page, "visible")
    wait_until(lambda: anna(collector)["state"] == watched(collector), timeout=STATE_S, what="Anna ok again")
    # closed (pagehide, the socket closed by the page): not monitored, never lost
    page.close()
    wait_until(
        lambda: anna(collector)["state"] == "not_monitored", timeout=STATE_S, what="Anna not monitored after closing"
    )
    seen = hold(collector, 4 * SILENCE_S)
    assert {s for s, _ in seen} == {"not_monitored"} and "adjourn" not in {v for _, v in seen}, seen
    assert metric(collector, "closed") + metric(collector, "bye") >= 1
    chair.context.close()
    context.close()


def test_cut_network_with_the_page_open_is_lost(collector: Collector, chromium: Any) -> None:
    """Silence while the page is open is lost contact (H15), as for an agent: no goodbye came."""
    no_sockets_open(collector)
    context = chromium.new_context(viewport=IPAD, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(PAGE_MS)
    page.goto(companion_url(collector, "anna"))
    wait_until(
        lambda: anna(collector)["state"] == watched(collector),
        timeout=STATE_S,
        what="Anna ok",
        detail=lambda: anna(collector),
        log=collector.workdir / "collector.log",
    )
    # the page stops answering (the iPad's network is gone; its socket is not closed)
    page.evaluate(CUT)
    wait_until(lambda: anna(collector)["state"] == "lost", timeout=STATE_S + 3 * SILENCE_S, what="Anna lost")
    assert view(collector)["verdict"] == "adjourn"
    assert anna(collector)["reason"]["code"] == "no_contact"
    seen = hold(collector, 2 * SILENCE_S)
    assert {s for s, _ in seen} == {"lost"}, seen  # no cover-up while nothing arrives
    context.close()  # the browser's close frame arrives: contact again, then closed -> not monitored
    wait_until(
        lambda: anna(collector)["state"] == "not_monitored",
        timeout=STATE_S,
        what="Anna not monitored after the close frame",
    )
    page2 = chromium.new_context(viewport=IPAD, bypass_csp=True).new_page()
    page2.set_default_timeout(PAGE_MS)
    page2.goto(companion_url(collector, "anna"))
    wait_until(
        lambda: anna(collector)["state"] == watched(collector),
        timeout=STATE_S,
        what="Anna back",
        detail=lambda: anna(collector),
    )
    page2.context.close()
    wait_until(
        lambda: anna(collector)["state"] == "not_monitored", timeout=STATE_S, what="Anna not monitored after closing"
    )


def _ws_url(collector: Collector, token: str) -> str:
    return collector.base.replace("http://", "ws://") + f"/companion/{token}/ws"


def test_forged_expired_and_other_members_links_are_refused_and_counted(collector: Collector) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    good = companion_url(collector, "anna").rsplit("/", 1)[-1]
    secret = load_secret(collector.data / "web-secret.key")
    now = time.time()
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    expired = make_token(secret, "ks-test", "anna", now - 10)
    # Anna's link re-aimed at Bo: his claims with her signature
    other = make_token(b"x" * 32, "ks-test", "bo", now + 3600).split(".")[0] + "." + good.split(".")[1]
    gone = make_token(secret, "ks-test", "nobody", now + 3600)  # a member not on the roster
    wrong_purpose = sign(secret, "session", {"m": "ks-test", "p": "anna", "exp": now + 3600})
    before = {k: metric(collector, f"link_{k}") for k in ("bad_signature", "expired", "not_a_participant")}
    states_before = {p["member_id"]: p["state"] for p in view(collector)["participants"]}
    verdict_before = view(collector)["verdict"]

    for token, status, text in [
        (forged, 403, "Länken är inte giltig."),
        (other, 403, "Länken är inte giltig."),
        (wrong_purpose, 403, "Länken är inte giltig."),
        (expired, 410, "Länken har gått ut"),
        (gone, 403, "Du står inte längre"),
    ]:
        r = httpx.get(f"{collector.base}/companion/{token}", timeout=5)
        assert r.status_code == status and text in r.text, (token, r.status_code)
        with connect(_ws_url(collector, token), open_timeout=30) as ws:
            msg = json.loads(ws.recv(timeout=30))
            assert msg["t"] == "error" and msg["message"].startswith(text.split(":")[0]), msg
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=30)
            assert ws.close_code == (4410 if status == 410 else 4403)
        assert httpx.post(f"{collector.base}/companion/{token}/bye", content=b"bye", timeout=5).status_code == status

    after = {k: metric(collector, f"link_{k}") for k in before}
    assert after["bad_signature"] - before["bad_signature"] >= 3 * 3  # page, socket and bye, three links
    assert after["expired"] - before["expired"] >= 3 and after["not_a_participant"] - before["not_a_participant"] >= 3
    assert {p["member_id"]: p["state"] for p in view(collector)["participants"]} == states_before
    assert view(collector)["verdict"] == verdict_before


def test_companion_socket_bounds(collector: Collector) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    token = companion_url(collector, "cecilia").rsplit("/", 1)[-1]  # "none": the page shows, nothing is sent
    no_sockets_open(collector)  # the two this test opens must be the link's only ones
    too_big, busy = metric(collector, "message_too_big"), metric(collector, "too_many_sockets_per_link")
    with connect(_ws_url(collector, token), open_timeout=30) as a, connect(_ws_url(collector, token), open_timeout=30):
        hello(a)
        with connect(_ws_url(collector, token), open_timeout=30) as third:  # a third socket for one link
            assert json.loads(third.recv(timeout=30))["t"] == "error"
            with pytest.raises(ConnectionClosed):
                third.recv(timeout=30)
            assert third.close_code == 4429
        a.send("x" * 600)  # over the 512-byte bound
        with pytest.raises(ConnectionClosed):
            while True:
                a.recv(timeout=30)
        assert a.close_code == 1009
    assert metric(collector, "message_too_big") == too_big + 1
    assert metric(collector, "too_many_sockets_per_link") == busy + 1
    # the rate bound: a flood is dropped and counted, the socket and the meeting carry on
    limited = metric(collector, "rate_limited")
    with connect(_ws_url(collector, token), open_timeout=30) as ws:
        for _ in range(200):
            ws.send('{"t":"e","n":-1}')
        wait_until(
            lambda: metric(collector, "rate_limited") > limited + 100, timeout=STATE_S, what="rate limit counted"
        )
        assert json.loads(ws.recv(timeout=30))["t"] in ("s", "p")
    assert collector.participant("ks-test", "cecilia")["state"] == "not_monitored"


def test_secretary_and_selftest_page_give_the_companion_link(collector: Collector) -> None:
    rows = {x["member_id"]: x for x in collector.api("/api/meetings/ks-test/selftest-links")}
    assert rows["anna"]["monitoring"] == "browser" and rows["cecilia"]["monitoring"] == "none"
    assert rows["anna"]["companion_url"] == rows["anna"]["url"].replace("/selftest/", "/companion/")
    assert httpx.get(rows["anna"]["companion_url"], timeout=5).status_code == 200
    page = httpx.get(rows["anna"]["url"], timeout=5).text
    assert 'id="companion-link"' in page and "Öppna följesidan" in page
    assert 'id="companion-link"' not in httpx.get(rows["bo"]["url"], timeout=5).text  # Bo has his agent


def test_two_windows_one_closes(collector: Collector) -> None:
    """The page in Split View and a second window: closing one (its beacon names its socket) leaves
    her watched by the other; closing both leaves her not monitored."""
    from websockets.sync.client import connect

    token = companion_url(collector, "anna").rsplit("/", 1)[-1]
    no_sockets_open(collector)  # a link holds two: both windows must be admitted
    with (
        connect(_ws_url(collector, token), open_timeout=30) as a,
        connect(_ws_url(collector, token), open_timeout=30) as b,
    ):
        socks = [hello(w)["sock"] for w in (a, b)]
        for w in (a, b):
            w.send('{"t":"v","visible":true}')

        def echo_until(pred: Any, what: str, timeout: float) -> None:  # both windows answer, as the page does
            stop = time.monotonic() + timeout
            while time.monotonic() < stop:
                for w in (a, b):
                    with contextlib.suppress(TimeoutError):
                        m = json.loads(w.recv(timeout=0.05))
                        if m["t"] == "p":
                            w.send(json.dumps({"t": "e", "n": m["n"]}))
                if pred():
                    return
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}; Anna: {anna(collector)}")

        echo_until(lambda: anna(collector)["state"] == watched(collector), "Anna ok", STATE_S)
        r = httpx.post(f"{collector.base}/companion/{token}/bye", content=f"bye {socks[0]}".encode(), timeout=5)
        assert r.status_code == 204
        t_end = time.monotonic() + 3 * SILENCE_S
        echo_until(lambda: time.monotonic() > t_end, "three silence limits", 4 * SILENCE_S)
        # still watched through the other window (degraded, not ok, when a loaded machine slows the echoes)
        assert anna(collector)["state"] in ("ok", "degraded")
        r = httpx.post(f"{collector.base}/companion/{token}/bye", content=f"bye {socks[1]}".encode(), timeout=5)
        assert r.status_code == 204
        wait_until(
            lambda: anna(collector)["state"] == "not_monitored", timeout=STATE_S, what="not monitored after both closed"
        )


def test_a_link_that_leaves_the_roster_is_closed(collector: Collector) -> None:
    """The member is taken off the roster while her page is open: the socket is refused from then on."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    token = companion_url(collector, "cecilia").rsplit("/", 1)[-1]
    roster = collector.workdir / "roster.toml"
    text = roster.read_text(encoding="utf-8")
    revoked = metric(collector, "link_revoked")
    no_sockets_open(collector)
    with connect(_ws_url(collector, token), open_timeout=30) as ws:
        hello(ws)
        start, rest = text.split('[[meeting.participant]]\nname = "Cecilia Carlsson"', 1)
        roster.write_text(start + rest.split("\n\n", 1)[1], encoding="utf-8")
        try:
            wait_until(
                lambda: "cecilia" not in {p["member_id"] for p in view(collector)["participants"]},
                timeout=STATE_S,
                what="roster reloaded",
            )
            with pytest.raises(ConnectionClosed):
                while True:
                    m = json.loads(ws.recv(timeout=30))
                    if m["t"] == "error":
                        assert "Du står inte längre med" in m["message"]
            assert ws.close_code == 4403
        finally:
            roster.write_text(text, encoding="utf-8")
            wait_until(
                lambda: "cecilia" in {p["member_id"] for p in view(collector)["participants"]},
                timeout=STATE_S,
                what="roster restored",
            )
    assert metric(collector, "link_revoked") == revoked + 1


def test_webrtc_data_channel_carries_the_probes_in_chromium(collector: Collector, chromium: Any) -> None:
    """Where the browser has WebRTC, an unordered data channel (no retransmissions) carries the probes,
    so loss is the network's own; the WebSocket keeps visibility and state. An offer aimed at another
    member's socket is refused and counted."""
    from websockets.sync.client import connect

    no_sockets_open(collector)
    opened, bad = metric(collector, "rtc_open"), metric(collector, "rtc_bad_offer")
    context = chromium.new_context(viewport=IPAD, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(PAGE_MS)
    page.goto(companion_url(collector, "anna"))
    page.wait_for_selector('#companion[data-path="webrtc"]')
    wait_until(lambda: metric(collector, "rtc_open") == opened + 1, timeout=STATE_S, what="data channel open")
    wait_until(
        lambda: anna(collector)["state"] == watched(collector) and anna(collector)["loss_percent"] == 0.0,
        timeout=STATE_S,
        what="Anna ok",
        detail=lambda: anna(collector),
    )
    # another member's socket: refused, nothing changes
    c_token = companion_url(collector, "cecilia").rsplit("/", 1)[-1]
    a_token = companion_url(collector, "anna").rsplit("/", 1)[-1]
    with connect(_ws_url(collector, c_token), open_timeout=30) as ws:
        sock = hello(ws)["sock"]
        r = httpx.post(
            f"{collector.base}/companion/{a_token}/rtc", json={"sock": sock, "sdp": "v=0", "type": "offer"}, timeout=5
        )
        assert r.status_code == 409
        r = httpx.post(f"{collector.base}/companion/{c_token}/rtc", content=b"{not json", timeout=5)
        assert r.status_code == 400
    assert metric(collector, "rtc_bad_offer") == bad + 2
    # a personal link is a credential: never in the collector's log (uvicorn logs WebSocket paths)
    log = (collector.workdir / "collector.log").read_text(errors="replace")
    assert "WebSocket /companion/" in log and a_token not in log and c_token not in log
    assert anna(collector)["state"] == watched(collector)
    context.close()
    wait_until(
        lambda: anna(collector)["state"] == "not_monitored", timeout=STATE_S, what="Anna not monitored after closing"
    )


def test_screen_lock_beacon_and_a_stale_one(collector: Collector) -> None:
    """iOS may suspend the page before its socket's "hidden" leaves (screen locked): the beacon sent
    on visibilitychange says it, so she is not monitored, not lost. A beacon older than what the
    socket has said since (she came straight back) is ignored."""
    from websockets.sync.client import connect

    token = companion_url(collector, "anna").rsplit("/", 1)[-1]
    stale = metric(collector, "bye_stale")
    no_sockets_open(collector)
    with connect(_ws_url(collector, token), open_timeout=30) as ws:
        sock = hello(ws)["sock"]
        ws.send('{"t":"v","visible":true,"seq":2}')
        deadline = time.monotonic() + STATE_S + 4 * SILENCE_S

        def echo_for(seconds: float) -> None:
            end = min(deadline, time.monotonic() + seconds)
            while time.monotonic() < end:
                with contextlib.suppress(TimeoutError):
                    m = json.loads(ws.recv(timeout=0.05))
                    if m["t"] == "p":
                        ws.send(json.dumps({"t": "e", "n": m["n"]}))

        def echoing_and_ok() -> bool:
            echo_for(0.3)
            return bool(anna(collector)["state"] == watched(collector))

        wait_until(echoing_and_ok, timeout=STATE_S, what="Anna ok", detail=lambda: anna(collector))
        bye = f"{collector.base}/companion/{token}/bye"
        assert httpx.post(bye, content=f"bye {sock} 1".encode(), timeout=5).status_code == 204  # stale
        echo_for(3 * SILENCE_S)
        # still watched: the stale beacon changed nothing (degraded, not ok, when a loaded machine slows the echoes)
        assert anna(collector)["state"] in ("ok", "degraded") and metric(collector, "bye_stale") == stale + 1
        # the screen locks: only the beacon gets out, the socket stays open and silent
        assert httpx.post(bye, content=f"bye {sock} 3".encode(), timeout=5).status_code == 204
        wait_until(
            lambda: anna(collector)["state"] == "not_monitored", timeout=STATE_S, what="not monitored after the beacon"
        )
        seen = hold(collector, 3 * SILENCE_S)
        assert {s for s, _ in seen} == {"not_monitored"} and "adjourn" not in {v for _, v in seen}, seen
